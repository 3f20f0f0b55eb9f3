#!/usr/bin/env bash
# bench/ab.sh — quick A/B of routes on ONE Meshgate process: what a feature on a
# route costs against the same request on the plain route. See bench/README.md.
#
#   bench/ab.sh                     build, then 5 interleaved rounds of plain, retry, jwt
#   MESHGATE=/tmp/mg bench/ab.sh    use an existing publish (scripts/publish, or MESHGATE_BUILD=il scripts/publish) instead of building
#   ROUTES="plain retry" ROUNDS=7 bench/ab.sh
#   ROUTES="plain-tls-yarp plain-tls" bench/ab.sh   an https origin: the direct path over TLS against YARP's forwarder
#   ROUTES="all plain" bench/ab.sh  the catch-all route (GET /all/) against the prefix route with stripPrefix
#   BEARER=0 ROUTES="all plain" bench/ab.sh   the same without the bench's Authorization header on every request
#
# Overridable by environment: MESHGATE (publish dir; empty = build into bench/.work/ab/meshgate),
# ROUTES (first one is the baseline), BEARER (0: no Authorization header), ROUNDS, DURATION (s), WARMUP (s of load per route before
# round 1), CONNECTIONS, SERVER_CPU, LOAD_CPU.
# Prints per-round figures and, per route, the median CPU us/request and req/s and their ratio to
# the baseline. The gateway's PID is in bench/.work/ab/gateway.pid while it runs (for dotnet-trace
# or dotnet-counters). Everything started here is stopped on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/ab"
TEMPLATES="$BENCH_DIR/templates"
CONFIG=${CONFIG:-$TEMPLATES/meshgate.yaml}   # gateway config template (placeholders as in templates/)

read -ra ROUTES <<<"${ROUTES:-plain retry jwt}"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-15}
CONNECTIONS=${CONNECTIONS:-64}   # the timed runs' 64: at 32, a buffer pool that keeps 32 per core never missed (docs/performance.md, twelfth session)
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset openssl dotnet; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

mkdir -p "$WORK/gateway"
publish_meshgate
free_port UPSTREAM_PORT; free_port GATEWAY_PORT; free_port ADMIN_PORT
free_port REDIS_PORT

# The same origin and gateway config as bench/run.sh (templates/), with the same JWT set-up.
source "$BENCH_DIR/bench-jwt.sh"
bench_jwt "$WORK/gateway/jwt.secret"
render "$CONFIG" "$WORK/gateway/meshgate.yaml"

# The shared-limit route counts in a Redis of its own (no persistence) when redis-server is installed;
# without one it allows every request (onStoreFailure: allow), so measure it only with Redis.
if ! start_redis && [[ " ${ROUTES[*]} " == *" shared-ratelimit "* ]]; then
    die "redis-server not found: the shared-ratelimit route needs it"
fi
start_origin

# Routes to an https origin, added when ROUTES names one: plain-tls (the direct HTTP/1.1 path over TLS, forwarder: direct) and
# plain-tls-yarp (the same through YARP's forwarder, which takes HTTP/1.1 too: nginx here offers no h2). A second nginx
# on the server core with a self-signed certificate for 127.0.0.1, which the clusters trust as their tls.ca.
if [[ " ${ROUTES[*]} " == *" plain-tls"* ]]; then
    free_port UPSTREAM_TLS_PORT
    mkdir -p "$WORK/upstream-tls/tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=origin.bench" -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$WORK/upstream-tls/origin.key" -out "$WORK/upstream-tls/origin.crt" >"$WORK/upstream-tls/openssl.log" 2>&1 \
        || { cat "$WORK/upstream-tls/openssl.log" >&2; die "openssl could not make the origin's certificate"; }
    sed -e "s|@WORKDIR@/upstream/|@WORKDIR@/upstream-tls/|g" \
        -e "s|listen 127.0.0.1:@UPSTREAM_PORT@;|listen 127.0.0.1:$UPSTREAM_TLS_PORT ssl; ssl_certificate $WORK/upstream-tls/origin.crt; ssl_certificate_key $WORK/upstream-tls/origin.key;|" \
        "$TEMPLATES/upstream-nginx.conf" >"$WORK/upstream-tls/nginx.conf.in"
    render "$WORK/upstream-tls/nginx.conf.in" "$WORK/upstream-tls/nginx.conf"
    (exec taskset -c "$SERVER_CPU" nginx -p "$WORK/upstream-tls" -e "$WORK/upstream-tls/error.log" -c "$WORK/upstream-tls/nginx.conf") >"$WORK/upstream-tls/stdout.log" 2>&1 &
    STARTED+=($!)
    tls_routes='  - { id: plain-tls, match: { pathPrefix: /plain-tls }, cluster: upstream-tls, transforms: { stripPrefix: /plain-tls } }\n  - { id: plain-tls-yarp, match: { pathPrefix: /plain-tls-yarp }, cluster: upstream-tls-yarp, transforms: { stripPrefix: /plain-tls-yarp } }'
    tls_clusters="  - { id: upstream-tls, endpoints: [\"https://127.0.0.1:$UPSTREAM_TLS_PORT\"], tls: { ca: \"$WORK/upstream-tls/origin.crt\" }, forwarder: direct }\n  - { id: upstream-tls-yarp, endpoints: [\"https://127.0.0.1:$UPSTREAM_TLS_PORT\"], tls: { ca: \"$WORK/upstream-tls/origin.crt\" }, forwarder: yarp }"
    sed -i -e "s|^routes:\$|routes:\n$tls_routes|" -e "s|^clusters:\$|clusters:\n$tls_clusters|" "$WORK/gateway/meshgate.yaml"
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$UPSTREAM_TLS_PORT") 2>/dev/null && break; sleep 0.1; done
fi
start_gateway "$WORK/gateway/meshgate.yaml" "$WORK/gateway/meshgate.log" "$GATEWAY_PORT"
echo "$GATEWAY_PID" >"$WORK/gateway.pid"
log "gateway pid $GATEWAY_PID on 127.0.0.1:$GATEWAY_PORT, origin on :$UPSTREAM_PORT"

url() { echo "http://127.0.0.1:$GATEWAY_PORT/$1/"; }
# The bench's bearer token goes with every request (only /jwt checks it); BEARER=0 leaves it off (not for /jwt; needed
# for /cache, which answers no request with Authorization from the cache, as run.sh's cache row sends none).
LOAD_HEADERS=(-H "Authorization: Bearer $JWT_TOKEN")
(( ${BEARER:-1} )) || LOAD_HEADERS=()
load() {  # load ROUTE SECONDS: wrk output on stdout
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$2s" ${LOAD_HEADERS[@]+"${LOAD_HEADERS[@]}"} "$(url "$1")"
}

for route in "${ROUTES[@]}"; do
    body=$(curl -s ${LOAD_HEADERS[@]+"${LOAD_HEADERS[@]}"} "$(url "$route")") || die "/$route does not answer"
    [[ $body == "hello from upstream" ]] || die "/$route answered '$body'"
done
log "warming up: ${WARMUP}s per route"
for route in "${ROUTES[@]}"; do load "$route" "$WARMUP" >/dev/null; done

RAW="$WORK/rounds.tsv"
: >"$RAW"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#ROUTES[@]}
    for (( i = 0; i < n; i++ )); do
        route=${ROUTES[$(( (i + r - 1) % n ))]}   # the order rotates from round to round
        before=$(cpu_ticks "$GATEWAY_PID"); switches_before=$(ctx_switches "$GATEWAY_PID")
        out=$(load "$route" "$DURATION")
        after=$(cpu_ticks "$GATEWAY_PID"); switches_after=$(ctx_switches "$GATEWAY_PID")
        requests=$(awk '/requests in/ { print $1 }' <<<"$out")
        rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; die "/$route had errors"; fi
        cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        switches=$(awk -v d=$(( switches_after - switches_before )) -v n="$requests" 'BEGIN { printf "%.2f", d / n }')
        printf '%s\t%s\t%s\t%s\t%s\n' "$route" "$r" "$rps" "$cpu" "$switches" >>"$RAW"
        printf '  round %d  %-8s %9.0f req/s  %6s us/req CPU  %5s context switches/req\n' "$r" "$route" "$rps" "$cpu" "$switches" >&2
    done
done

# Medians per route, and their ratio to the first (baseline) route.
median_table route "$RAW" "${ROUTES[@]}"
