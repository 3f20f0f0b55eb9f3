// openloop: a constant-arrival (open-loop, wrk2-style) HTTP/1.1 load generator for bench/run.sh,
// and a holder of idle keep-alive connections for the memory figures. Built by run.sh with gcc.
//
//   openloop -r RATE -d SECONDS [-c CONNECTIONS] [-H 'Name: value'] http://127.0.0.1:PORT/path
//       Request k is due at t0 + k/RATE whatever happened before it. It goes out on the first idle
//       keep-alive connection; when none is idle it waits, and its latency still counts from the
//       time it was due. A closed-loop tool (wrk) only sends when a response came back, so when the
//       server stalls it stops sending and the stall shows up in a handful of samples instead of in
//       every request that should have been sent meanwhile ("coordinated omission").
//       Prints one line: scheduled= completed= errors= non2xx= unfinished= rate= achieved_rps= p50_us=
//       p99_us= p999_us= max_us= max_queue= (requests still unanswered 2 s after the last one was due
//       count as unfinished, with their waiting time so far as latency, so they land in the tail).
//
//   openloop -i N [-d SECONDS] [-H ...] URL
//       Opens N keep-alive connections, sends one GET on each and reads the answer, prints
//       "ready N", then holds them idle until SIGTERM or SECONDS (default 60) have passed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_NS 2000000000LL

static void die(const char *msg) { fprintf(stderr, "openloop: %s%s%s\n", msg, errno ? ": " : "", errno ? strerror(errno) : ""); exit(1); }

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// ---- response parser: one response at a time (no pipelining), Content-Length or chunked ----
enum state { S_HEAD, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF, S_TRAILER };

struct conn {
    int fd;
    int busy;            // a request is outstanding
    int64_t due_ns;      // when the outstanding request was due
    int64_t index;       // its number, to tell warm-up from measured requests
    enum state st;
    char line[8192];     // header block, or the current chunk-size / trailer line
    size_t len;
    long long remaining; // body or chunk bytes still to come
    int status;
};

static void reset_parser(struct conn *c) { c->st = S_HEAD; c->len = 0; c->remaining = 0; c->status = 0; }

// Parses the header block in c->line (c->len bytes, ending with CRLFCRLF). Returns -1 on malformed input.
static int parse_head(struct conn *c) {
    c->line[c->len] = 0;
    if (sscanf(c->line, "HTTP/1.%*d %d", &c->status) != 1) return -1;
    c->remaining = 0;
    int chunked = 0;
    for (char *p = strstr(c->line, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        char *h = p + 2;
        if (strncasecmp(h, "content-length:", 15) == 0) c->remaining = atoll(h + 15);
        else if (strncasecmp(h, "transfer-encoding:", 18) == 0 && strcasestr(h, "chunked") && strcasestr(h, "chunked") < strstr(h, "\r\n")) chunked = 1;
    }
    c->len = 0;
    if (chunked) c->st = S_CHUNK_SIZE;
    else c->st = S_BODY;
    return 0;
}

// Feeds n bytes; returns 1 when the response is complete (and no bytes follow), 0 for more, -1 on error.
static int feed(struct conn *c, const char *d, size_t n) {
    size_t i = 0;
    while (i < n) {
        switch (c->st) {
        case S_HEAD:
        case S_CHUNK_SIZE:
        case S_TRAILER:
            if (c->len >= sizeof c->line - 1) return -1;
            c->line[c->len++] = d[i++];
            if (c->st == S_HEAD) {
                if (c->len >= 4 && memcmp(c->line + c->len - 4, "\r\n\r\n", 4) == 0 && parse_head(c) < 0) return -1;
            } else if (c->line[c->len - 1] == '\n') {
                if (c->st == S_TRAILER) {
                    if (c->len <= 2) c->st = S_HEAD + 100;   // empty line: done
                    c->len = 0;
                } else {
                    c->line[c->len] = 0;
                    c->remaining = strtoll(c->line, NULL, 16);
                    c->len = 0;
                    c->st = c->remaining ? S_CHUNK_DATA : S_TRAILER;
                }
            }
            break;
        case S_BODY:
        case S_CHUNK_DATA: {
            size_t take = (size_t)c->remaining < n - i ? (size_t)c->remaining : n - i;
            c->remaining -= take; i += take;
            if (c->remaining == 0 && c->st == S_CHUNK_DATA) { c->st = S_CHUNK_CRLF; c->remaining = 2; }
            break;
        }
        case S_CHUNK_CRLF:
            i++;
            if (--c->remaining == 0) c->st = S_CHUNK_SIZE;
            break;
        default:
            return -1;   // bytes after the end of the response
        }
        if (c->st == S_BODY && c->remaining == 0) c->st = S_HEAD + 100;
    }
    return c->st == S_HEAD + 100 ? (i == n ? 1 : -1) : 0;
}

// ---- target and request ----
static struct sockaddr_in target;
static char request[4096];
static size_t request_len;

static void parse_url(const char *url, const char *header) {
    char host[256], path[2048] = "/";
    int port = 80;
    if (sscanf(url, "http://%255[^:/]:%d%2047s", host, &port, path) < 2 &&
        sscanf(url, "http://%255[^:/]%2047s", host, path) < 1) die("URL must be http://IPv4:PORT/path");
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1) die("host must be an IPv4 address");
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s\r\n",
                                   path, host, port, header ? header : "", header ? "\r\n" : "", "");
}

static int connect_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(const int64_t *v, int64_t n, double p) {
    if (n == 0) return 0;
    int64_t k = (int64_t)(p * (double)n + 0.999999) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

// ---- idle mode ----
static int hold_idle(int n, int seconds) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct conn *c = calloc(1, sizeof *c);
    char buf[65536];
    int bad = 0;
    for (int k = 0; k < n; k++) {
        int fd = connect_one();
        if (write(fd, request, request_len) != (ssize_t)request_len) die("write");
        reset_parser(c);
        int r = 0;
        while (r == 0) {
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) die("connection closed before the answer");
            r = feed(c, buf, (size_t)got);
        }
        if (r < 0) die("malformed response");
        if (c->status < 200 || c->status > 399) bad++;
    }
    printf("ready %d non2xx=%d\n", n, bad);
    fflush(stdout);
    sleep((unsigned)seconds);   // SIGTERM ends it earlier; the kernel closes the sockets
    return 0;
}

// ---- open-loop mode ----
int main(int argc, char **argv) {
    double rate = 0;
    int seconds = 0, nconn = 64, idle = 0, opt;
    const char *header = NULL;
    while ((opt = getopt(argc, argv, "r:d:c:H:i:")) != -1) {
        switch (opt) {
        case 'r': rate = atof(optarg); break;
        case 'd': seconds = atoi(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'H': header = optarg; break;
        case 'i': idle = atoi(optarg); break;
        default: fprintf(stderr, "usage: openloop -r RATE -d SECONDS [-c CONNS] [-H header] URL | openloop -i N [-d SECONDS] URL\n"); return 2;
        }
    }
    if (optind != argc - 1) die("one URL expected");
    errno = 0;
    parse_url(argv[optind], header);
    signal(SIGPIPE, SIG_IGN);
    if (idle > 0) return hold_idle(idle, seconds > 0 ? seconds : 60);
    if (rate <= 0 || seconds <= 0 || nconn <= 0) die("-r RATE and -d SECONDS must be positive");

    int64_t total = (int64_t)(rate * seconds);
    if (total < 1) total = 1;
    double interval = 1e9 / rate;
    int64_t *lat = malloc(sizeof(int64_t) * (size_t)total);
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    int *idle_list = malloc(sizeof(int) * (size_t)nconn), nidle = 0;
    if (!lat || !conns || !idle_list) die("out of memory");

    int ep = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    if (ep < 0 || tfd < 0) die("epoll/timerfd");
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    for (int i = 0; i < nconn; i++) {
        conns[i].fd = connect_one();
        ev.events = EPOLLIN; ev.data.u64 = (uint64_t)i;
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
        idle_list[nidle++] = i;
    }

    int64_t t0 = now_ns() + 1000000, next = 0, completed = 0, nlat = 0, errors = 0, non2xx = 0, max_queue = 0;
    // achieved_rps counts the answers that arrived within the scheduled window (not the drain after it), so
    // a target that keeps up shows the rate and one that falls behind shows what it could serve.
    int64_t window_end = t0 + (int64_t)seconds * 1000000000LL, in_window = 0;
    int64_t end = t0 + (int64_t)((double)(total - 1) * interval) + DRAIN_NS;
    char buf[65536];
    struct epoll_event events[256];
    int outstanding = 0;

    for (;;) {
        int64_t now = now_ns();
        // Send everything that is due, as long as a connection is idle.
        while (next < total && t0 + (int64_t)((double)next * interval) <= now && nidle > 0) {
            struct conn *c = &conns[idle_list[--nidle]];
            c->busy = 1; c->due_ns = t0 + (int64_t)((double)next * interval); c->index = next++;
            reset_parser(c);
            if (write(c->fd, request, request_len) != (ssize_t)request_len) { errors++; c->busy = 0; idle_list[nidle++] = (int)(c - conns); continue; }
            outstanding++;
        }
        int64_t due = now < t0 ? 0 : (int64_t)((double)(now - t0) / interval) + 1;
        int64_t queued = (due < total ? due : total) - next;
        if (queued > max_queue) max_queue = queued;
        if ((next >= total && outstanding == 0) || now >= end) break;

        // Wake up for the next due request (if a connection is free to take it) or the drain deadline.
        int64_t wake = end;
        if (next < total && nidle > 0) wake = t0 + (int64_t)((double)next * interval);
        struct itimerspec its = { .it_value = { .tv_sec = wake / 1000000000LL, .tv_nsec = wake % 1000000000LL } };
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int e = 0; e < n; e++) {
            if (events[e].data.u64 == UINT64_MAX) { uint64_t x; if (read(tfd, &x, sizeof x) < 0) {} continue; }
            int i = (int)events[e].data.u64;
            struct conn *c = &conns[i];
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            int r = got > 0 && c->busy ? feed(c, buf, (size_t)got) : -1;
            if (r == 0) continue;
            int64_t done = now_ns();
            if (r > 0) {
                completed++;
                if (c->status < 200 || c->status > 399) non2xx++;
                lat[nlat++] = (done - c->due_ns) / 1000;
                if (done <= window_end) in_window++;
            } else {
                // Closed or garbled: count an error and reconnect, so the connection count stays fixed.
                if (c->busy) errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = connect_one();
                ev.events = EPOLLIN; ev.data.u64 = (uint64_t)i;
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
            if (c->busy) outstanding--;
            c->busy = 0;
            idle_list[nidle++] = i;
        }
    }

    // Requests not answered by the deadline (sent or still queued) enter the tail with what they waited so far.
    int64_t stop = now_ns(), unfinished = 0;
    for (int i = 0; i < nconn; i++)
        if (conns[i].busy) { lat[nlat++] = (stop - conns[i].due_ns) / 1000; unfinished++; }
    for (; next < total; next++) { lat[nlat++] = (stop - (t0 + (int64_t)((double)next * interval))) / 1000; unfinished++; }
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_i64);
    printf("scheduled=%lld completed=%lld errors=%lld non2xx=%lld unfinished=%lld rate=%.0f achieved_rps=%.1f "
           "p50_us=%lld p99_us=%lld p999_us=%lld max_us=%lld max_queue=%lld\n",
           (long long)total, (long long)completed, (long long)errors, (long long)non2xx, (long long)unfinished, rate,
           (double)in_window / seconds, (long long)pct(lat, nlat, 0.50), (long long)pct(lat, nlat, 0.99),
           (long long)pct(lat, nlat, 0.999), (long long)(nlat ? lat[nlat - 1] : 0), (long long)max_queue);
    return 0;
}
