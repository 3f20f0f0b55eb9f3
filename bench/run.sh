#!/usr/bin/env bash
# bench/run.sh — compare Meshgate with its peers (nginx, HAProxy, bare YARP)
# in one run, on loopback, on this machine. See bench/README.md.
#
#   bench/run.sh            full run (~20 minutes after the builds)
#   bench/run.sh --quick    ~4-minute smoke run (1 short round of everything)
#
# Overridable by environment: ROUNDS, DURATION (s), WARMUP (s),
# INITIAL_WARMUP (s), CONNECTIONS, THREADS, SERVER_CPU, LOAD_CPU,
# SKIP_BUILD=1 (reuse the builds already in bench/.work), MESHGATE_BUILD=il (the IL-only
# publish instead of the shipped one of scripts/publish), and for the
# body-size, h2c, open-loop and memory sections: SCENARIOS, EXTRA_ROUNDS,
# EXTRA_DURATION (s), H2_INITIAL_WARMUP (s), H2_CONNECTIONS, H2_STREAMS,
# OPENLOOP_FRACTION, OPENLOOP_RATE, OPENLOOP_CONNECTIONS, IDLE_CONNECTIONS, MESH_RATE.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work"
RESULTS_DIR="$BENCH_DIR/results"
source "$BENCH_DIR/meshgate-command.sh"
source "$BENCH_DIR/cpus.sh"
TEMPLATES="$BENCH_DIR/templates"

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

# --quick only changes the defaults, so an explicit env var still wins.
# INITIAL_WARMUP is a one-time load per target before round 1: .NET's tiered
# JIT needs 20-30 s of load on one busy core to reach steady state, and
# measuring before that would compare YARP's JIT with nginx's proxying.
if (( QUICK )); then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}; INITIAL_WARMUP=${INITIAL_WARMUP:-5}
    EXTRA_ROUNDS=${EXTRA_ROUNDS:-1}; EXTRA_DURATION=${EXTRA_DURATION:-3}; H2_INITIAL_WARMUP=${H2_INITIAL_WARMUP:-2}
else
    ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; INITIAL_WARMUP=${INITIAL_WARMUP:-30}
    EXTRA_ROUNDS=${EXTRA_ROUNDS:-2}; EXTRA_DURATION=${EXTRA_DURATION:-6}; H2_INITIAL_WARMUP=${H2_INITIAL_WARMUP:-10}
fi
CONNECTIONS=${CONNECTIONS:-64}
# The sections after the main table (README: "Body sizes, h2c, open loop, memory"). An empty
# SCENARIOS= skips them all; the idle-connection memory figures are always taken.
SCENARIOS=${SCENARIOS-h1-1k h1-64k h2c open mesh-rate}
for s in $SCENARIOS; do
    case $s in h1-1k|h1-64k|h2c|open|mesh-rate) ;; *) echo "unknown scenario in SCENARIOS: $s (known: h1-1k h1-64k h2c open mesh-rate)" >&2; exit 2 ;; esac
done
H2_CONNECTIONS=${H2_CONNECTIONS:-8}      # h2load -c
H2_STREAMS=${H2_STREAMS:-8}              # h2load -m: concurrent streams per connection
OPENLOOP_FRACTION=${OPENLOOP_FRACTION:-0.5}   # open-loop rate as a fraction of nginx's measured req/s
OPENLOOP_RATE=${OPENLOOP_RATE:-}              # or a fixed rate (req/s), which wins
OPENLOOP_RATE_FIXED=$OPENLOOP_RATE
OPENLOOP_CONNECTIONS=${OPENLOOP_CONNECTIONS:-$CONNECTIONS}
# Issue 8's latency at a fixed, moderate rate (open loop), below every target's maximum: what a hop adds to a request
# when nothing queues, as service-mesh benchmarks measure it, beside the saturated figures of the main table.
MESH_RATE=${MESH_RATE:-1000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
THREADS=${THREADS:-2}
# Servers (origin and proxy under test) share one core and the load generator
# gets the other, so wrk never steals cycles from the thing it measures.
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
SKIP_BUILD=${SKIP_BUILD:-0}

EXPECTED_BODY=$'hello from upstream\n'   # what templates/upstream-nginx.conf returns
CLK_TCK=$(getconf CLK_TCK)

log()  { printf '==> %s\n' "$*" >&2; }
warn() { printf '\n!!!!!!!! WARNING: %s\n\n' "$*" >&2; WARNINGS+=("$*"); }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
WARNINGS=()

# ---------------------------------------------------------------------------
# 1. Tools. Check first so a machine that has them never touches apt.
# ---------------------------------------------------------------------------
install_missing() {
    local need=()
    command -v nginx   >/dev/null || need+=(nginx)
    command -v haproxy >/dev/null || need+=(haproxy)
    command -v wrk     >/dev/null || need+=(wrk)
    command -v taskset >/dev/null || need+=(util-linux)
    command -v curl    >/dev/null || need+=(curl)
    command -v redis-server >/dev/null || need+=(redis-server)
    command -v h2load  >/dev/null || need+=(nghttp2-client)
    command -v gcc     >/dev/null || need+=(gcc libc6-dev)
    command -v python3 >/dev/null || need+=(python3)
    (( ${#need[@]} == 0 )) && return 0
    (( EUID == 0 )) || die "missing ${need[*]}; run as root or install them first"
    log "installing: ${need[*]}"
    # A fresh machine may have no package lists yet: update once and retry.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    }
}
install_missing
command -v dotnet >/dev/null || die "dotnet SDK not found on PATH"

if (( $(nproc) < 2 )); then
    warn "only $(nproc) CPU: load generator and servers will share a core; figures are not comparable with 2-core runs"
    SERVER_CPU=0; LOAD_CPU=0
fi

# ---------------------------------------------------------------------------
# Process bookkeeping: every server we start goes into PIDS, and the EXIT
# trap stops exactly those (and their children, e.g. nginx workers).
# ---------------------------------------------------------------------------
declare -A PIDS=()
WRK_PID=""   # the wrk currently running, if any

children_of() {  # print direct children of $1, found through /proc (no procps needed)
    local stat rest f
    for stat in /proc/[0-9]*/stat; do
        # read, not $(<file): under set -e a vanished process would make
        # $(<file) abort the script. 2>/dev/null must come before the <.
        read -r rest 2>/dev/null <"$stat" || continue
        rest=${rest##*) }          # comm may contain spaces: cut after the last ')'
        read -ra f <<<"$rest"
        [[ ${f[1]} == "$1" ]] && { local p=${stat#/proc/}; echo "${p%/stat}"; }
    done
    return 0
}

proc_tree() {  # print $1 and all its descendants
    local c
    echo "$1"
    for c in $(children_of "$1"); do proc_tree "$c"; done
}

cleanup() {
    local rc=$? name pid all=()
    trap - EXIT INT TERM
    [[ -n $WRK_PID ]] && kill -TERM "$WRK_PID" 2>/dev/null
    for name in "${!PIDS[@]}"; do
        pid=${PIDS[$name]}
        kill -0 "$pid" 2>/dev/null || continue
        # Collect children first: once the master dies they are re-parented.
        mapfile -t -O "${#all[@]}" all < <(proc_tree "$pid")
    done
    if (( ${#all[@]} )); then
        log "stopping ${#all[@]} process(es): ${all[*]}"
        kill -TERM "${all[@]}" 2>/dev/null || true
        for _ in $(seq 50); do
            local alive=0
            for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            (( alive )) || break
            sleep 0.1
        done
        kill -KILL "${all[@]}" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT     # Ctrl-C: background servers ignore SIGINT, so the
trap 'exit 143' TERM    # EXIT trap is what actually stops them.

# ---------------------------------------------------------------------------
# 2. Build (before starting anything, so compilers don't compete for CPU).
# ---------------------------------------------------------------------------
mkdir -p "$WORK" "$RESULTS_DIR"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

MESHGATE_OK=1
if (( ! SKIP_BUILD )); then
    log "building bare YARP (bench/yarp-minimal)"
    dotnet publish "$BENCH_DIR/yarp-minimal" -c Release -o "$WORK/yarp" \
        >"$WORK/yarp-build.log" 2>&1 || { tail -30 "$WORK/yarp-build.log" >&2; die "bare YARP build failed"; }

    # As it ships (scripts/publish: Native AOT); MESHGATE_BUILD=jit for the JIT build, il for the IL-only publish.
    log "building Meshgate (src/Meshgate, ${MESHGATE_BUILD:-aot})"
    rm -rf "$WORK/meshgate"
    if ! "$REPO_DIR/scripts/publish" "$WORK/meshgate" >"$WORK/meshgate-build.log" 2>&1; then
        tail -30 "$WORK/meshgate-build.log" >&2
        warn "Meshgate build failed (log: $WORK/meshgate-build.log); Meshgate is skipped"
        MESHGATE_OK=0
    fi
fi
# The open-loop generator and idle-connection holder: small, so always rebuilt.
gcc -O2 -Wall -o "$WORK/openloop" "$BENCH_DIR/openloop/openloop.c" || die "building bench/openloop/openloop.c failed"
[[ -f $WORK/yarp/yarp-minimal.dll ]] || die "missing $WORK/yarp/yarp-minimal.dll (SKIP_BUILD=1 without a previous build?)"
if (( MESHGATE_OK )) && [[ ! -f $WORK/meshgate/meshgate.dll && ! -x $WORK/meshgate/meshgate ]]; then
    warn "missing $WORK/meshgate/meshgate.dll or meshgate; Meshgate is skipped"
    MESHGATE_OK=0
fi

# ---------------------------------------------------------------------------
# 3. Ports and configs. Ports are picked now, among those nothing listens on,
#    below the kernel's ephemeral range so wrk's client ports can't collide.
# ---------------------------------------------------------------------------
declare -A TAKEN=()
free_port() {  # free_port VAR: store a free loopback port in VAR
    local p
    for _ in $(seq 500); do
        p=$(( 20000 + RANDOM % 10000 ))
        [[ -n ${TAKEN[$p]:-} ]] && continue
        # A refused connection means no listener on that port.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            TAKEN[$p]=1; printf -v "$1" '%s' "$p"; return 0
        fi
    done
    die "no free port found"
}
free_port UPSTREAM_PORT
free_port NGINX_PROXY_PORT
free_port HAPROXY_PORT
free_port YARP_PORT
free_port GATEWAY_PORT
free_port ADMIN_PORT
free_port REDIS_PORT
free_port BARE_PORT; free_port BARE_ADMIN_PORT
free_port OBSERVED_PORT; free_port OBSERVED_ADMIN_PORT
free_port NGINX_H2C_PORT; free_port HAPROXY_H2C_PORT; free_port YARP_H2C_PORT; free_port GATEWAY_H2C_PORT; free_port GATEWAY_KESTREL_PORT
# The two-sidecar row (bench/mesh-up.sh): where the load enters the client sidecar, and the control plane's two listeners.
free_port MESH_SERVICE_PORT; free_port MESH_CP_PORT; free_port MESH_CP_ADMIN_PORT

render() {  # render TEMPLATE OUT: fill the placeholders between at-signs
    sed -e "s|@WORKDIR@|$WORK|g" \
        -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@NGINX_PROXY_PORT@|$NGINX_PROXY_PORT|g" \
        -e "s|@HAPROXY_PORT@|$HAPROXY_PORT|g" \
        -e "s|@GATEWAY_PORT@|$GATEWAY_PORT|g" \
        -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" \
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@NGINX_H2C_PORT@|$NGINX_H2C_PORT|g" \
        -e "s|@HAPROXY_H2C_PORT@|$HAPROXY_H2C_PORT|g" \
        -e "s|@GATEWAY_H2C_PORT@|$GATEWAY_H2C_PORT|g" \
        -e "s|@GATEWAY_KESTREL_PORT@|$GATEWAY_KESTREL_PORT|g" \
        -e "s|@NGINX_WORKERS@|$(cpu_count "$SERVER_CPU")|g" \
        "$TEMPLATES/$1" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then die "unfilled placeholder in $2"; fi
}
rm -rf "$WORK/upstream" "$WORK/nginx-proxy" "$WORK/haproxy" "$WORK/gateway" "$WORK/raw" "$WORK/redis"
mkdir -p "$WORK"/{upstream,nginx-proxy}/tmp "$WORK/haproxy" "$WORK/gateway" "$WORK/raw" "$WORK/redis"
render upstream-nginx.conf "$WORK/upstream/nginx.conf"
# The bodies of the h1-1k and h1-64k rows (served from /bodies/ by the origin).
mkdir -p "$WORK/upstream/www/bodies"
head -c 1024  /dev/zero | tr '\0' 'k' >"$WORK/upstream/www/bodies/1k"
head -c 65536 /dev/zero | tr '\0' 'K' >"$WORK/upstream/www/bodies/64k"
render proxy-nginx.conf    "$WORK/nginx-proxy/nginx.conf"
render haproxy.cfg         "$WORK/haproxy/haproxy.cfg"
# HS256 secret and one token for the JWT route; the gateway validates it once and caches the result.
source "$BENCH_DIR/bench-jwt.sh"
bench_jwt "$WORK/gateway/jwt.secret"
render meshgate.yaml       "$WORK/gateway/meshgate.yaml"
# Two more gateway processes for the observability row: the same config on other ports, one with metrics,
# tracing and the access log all off, one with all three on (1% of traces exported over OTLP/HTTP to the
# origin nginx, which answers 200; the access log to a file that rotates at 64 MiB).
variant() {  # variant OUT PORT ADMIN_PORT EXTRA_YAML
    sed -e "s|127.0.0.1:$GATEWAY_PORT|127.0.0.1:$2|" -e "s|127.0.0.1:$ADMIN_PORT|127.0.0.1:$3|" \
        -e "s|127.0.0.1:$GATEWAY_H2C_PORT|127.0.0.1:0|" -e "s|127.0.0.1:$GATEWAY_KESTREL_PORT|127.0.0.1:0|" "$WORK/gateway/meshgate.yaml" >"$1"
    printf '%s\n' "$4" >>"$1"
}
variant "$WORK/gateway/meshgate-bare.yaml" "$BARE_PORT" "$BARE_ADMIN_PORT" "metrics: { enabled: false }"
variant "$WORK/gateway/meshgate-observed.yaml" "$OBSERVED_PORT" "$OBSERVED_ADMIN_PORT" "metrics: { enabled: true }
accessLog: { output: $WORK/gateway/access.log, maxFileSize: 64MiB, maxFiles: 2 }
tracing: { protocol: http/protobuf, endpoint: \"http://127.0.0.1:$UPSTREAM_PORT/v1/traces\", sampling: 0.01 }"

# ---------------------------------------------------------------------------
# 4. Start servers, all pinned to SERVER_CPU. taskset execs the server, so $!
#    is the server's own PID (nginx master, haproxy, the dotnet host).
# ---------------------------------------------------------------------------
start() {  # start NAME LOGFILE CMD...
    local name=$1 logf=$2; shift 2
    # cd to the repo root: a .NET app reads appsettings*.json from its cwd.
    (cd "$REPO_DIR" && exec taskset -c "$SERVER_CPU" "$@") >"$logf" 2>&1 &
    PIDS[$name]=$!
}

WHY=""
wait_port() {  # wait_port NAME PORT SECONDS: 0 once it accepts; 1 (reason in WHY) if it exited or timed out
    local name=$1 port=$2 deadline=$(( SECONDS + $3 )) rc
    while (( SECONDS < deadline )); do
        if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
            rc=0; wait "${PIDS[$name]}" || rc=$?
            unset "PIDS[$name]"
            WHY="it exited with code $rc before listening"; return 1
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.2
    done
    WHY="it did not listen on 127.0.0.1:$port within $3 s"
    return 1
}

stop_one() {  # stop a single target we gave up on, so it doesn't idle-burn CPU
    local pid=${PIDS[$1]} p
    for p in $(proc_tree "$pid"); do kill -TERM "$p" 2>/dev/null || true; done
    unset "PIDS[$1]"
}

log "ports: upstream=$UPSTREAM_PORT nginx=$NGINX_PROXY_PORT haproxy=$HAPROXY_PORT yarp=$YARP_PORT meshgate=$GATEWAY_PORT admin=$ADMIN_PORT"
start upstream "$WORK/upstream/stdout.log" \
    nginx -p "$WORK/upstream" -e "$WORK/upstream/error.log" -c "$WORK/upstream/nginx.conf"
start nginx "$WORK/nginx-proxy/stdout.log" \
    nginx -p "$WORK/nginx-proxy" -e "$WORK/nginx-proxy/error.log" -c "$WORK/nginx-proxy/nginx.conf"
# -db: stay in the foreground as one process (no master/worker, no daemon).
start haproxy "$WORK/haproxy/stdout.log" haproxy -db -f "$WORK/haproxy/haproxy.cfg"
start yarp "$WORK/yarp.log" \
    dotnet "$WORK/yarp/yarp-minimal.dll" "http://127.0.0.1:$YARP_PORT" "http://127.0.0.1:$UPSTREAM_PORT" "$YARP_H2C_PORT"
# The shared-limit route counts in this Redis (no persistence); started before the gateway connects to it.
start redis "$WORK/redis/stdout.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
wait_port redis "$REDIS_PORT" 10 || { cat "$WORK/redis/stdout.log" >&2; die "redis-server did not start: $WHY"; }
if (( MESHGATE_OK )); then
    meshgate_command "$WORK/meshgate"
    start meshgate "$WORK/gateway/meshgate.log" \
        "${MESHGATE_CMD[@]}" gateway -c "$WORK/gateway/meshgate.yaml"
    start meshgate-bare "$WORK/gateway/meshgate-bare.log" \
        "${MESHGATE_CMD[@]}" gateway -c "$WORK/gateway/meshgate-bare.yaml"
    start meshgate-observed "$WORK/gateway/meshgate-observed.log" \
        "${MESHGATE_CMD[@]}" gateway -c "$WORK/gateway/meshgate-observed.yaml"
    # A control plane and two sidecars, one process tree: load -> client sidecar -> mTLS -> app sidecar -> origin.
    start sidecars "$WORK/mesh-up.log" \
        "$BENCH_DIR/mesh-up.sh" "$WORK/meshgate/meshgate.dll" "$WORK/mesh" "$UPSTREAM_PORT" "$MESH_SERVICE_PORT" "$MESH_CP_PORT" "$MESH_CP_ADMIN_PORT"
fi

declare -A URL=(
    [upstream]="http://127.0.0.1:$UPSTREAM_PORT/"
    [meshgate]="http://127.0.0.1:$GATEWAY_PORT/"
    [meshgate-plain]="http://127.0.0.1:$GATEWAY_PORT/plain/"
    [meshgate-pipeline]="http://127.0.0.1:$GATEWAY_KESTREL_PORT/plain/"
    [meshgate-jwt]="http://127.0.0.1:$GATEWAY_PORT/jwt/"
    [meshgate-retry]="http://127.0.0.1:$GATEWAY_PORT/retry/"
    [meshgate-cache]="http://127.0.0.1:$GATEWAY_PORT/cache/"
    [meshgate-ratelimit]="http://127.0.0.1:$GATEWAY_PORT/ratelimit/"
    [meshgate-shared]="http://127.0.0.1:$GATEWAY_PORT/shared-ratelimit/"
    [meshgate-bare]="http://127.0.0.1:$BARE_PORT/plain/"
    [meshgate-observed]="http://127.0.0.1:$OBSERVED_PORT/plain/"
    [sidecars]="http://127.0.0.1:$MESH_SERVICE_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_PROXY_PORT/"
    [haproxy]="http://127.0.0.1:$HAPROXY_PORT/"
    [yarp]="http://127.0.0.1:$YARP_PORT/"
)
# h2c (prior knowledge) endpoints, for the h2c rows; the origin speaks only HTTP/1.1 and has none.
declare -A H2URL=(
    [meshgate]="http://127.0.0.1:$GATEWAY_H2C_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_H2C_PORT/"
    [haproxy]="http://127.0.0.1:$HAPROXY_H2C_PORT/"
    [yarp]="http://127.0.0.1:$YARP_H2C_PORT/"
)
declare -A LABEL=(
    [upstream]="upstream direct" [meshgate]="Meshgate" [meshgate-plain]="Meshgate /plain (baseline)" [meshgate-pipeline]="Meshgate /plain through the pipeline (frontEnd: kestrel)" [meshgate-jwt]="Meshgate + JWT" [meshgate-retry]="Meshgate + retries"
    [meshgate-bare]="Meshgate /plain, metrics off" [meshgate-observed]="Meshgate /plain + metrics, 1% traces, access log"
    [meshgate-ratelimit]="Meshgate + local rate limit" [meshgate-shared]="Meshgate + shared rate limit (Redis)" [meshgate-cache]="Meshgate + cache hit" [sidecars]="two sidecars (mTLS)" [nginx]="nginx proxy"
    [haproxy]="HAProxy" [yarp]="bare YARP"
)
# Request headers per target. The /plain, /jwt and /retry routes get the same request (the same
# bearer token, the same stripPrefix), so their ratios measure only authentication, resilience or rate limiting.
declare -A HEADER=([meshgate-plain]="Authorization: Bearer $JWT_TOKEN" [meshgate-pipeline]="Authorization: Bearer $JWT_TOKEN" [meshgate-jwt]="Authorization: Bearer $JWT_TOKEN" [meshgate-retry]="Authorization: Bearer $JWT_TOKEN"
    [meshgate-ratelimit]="Authorization: Bearer $JWT_TOKEN" [meshgate-shared]="Authorization: Bearer $JWT_TOKEN"
    [meshgate-bare]="Authorization: Bearer $JWT_TOKEN" [meshgate-observed]="Authorization: Bearer $JWT_TOKEN")
declare -A LOGFILE=(
    [upstream]="$WORK/upstream/error.log" [meshgate]="$WORK/gateway/meshgate.log" [meshgate-jwt]="$WORK/gateway/meshgate.log"
    [meshgate-plain]="$WORK/gateway/meshgate.log" [meshgate-pipeline]="$WORK/gateway/meshgate.log" [meshgate-retry]="$WORK/gateway/meshgate.log" [meshgate-cache]="$WORK/gateway/meshgate.log"
    [meshgate-ratelimit]="$WORK/gateway/meshgate.log" [meshgate-shared]="$WORK/gateway/meshgate.log"
    [meshgate-bare]="$WORK/gateway/meshgate-bare.log" [meshgate-observed]="$WORK/gateway/meshgate-observed.log"
    [sidecars]="$WORK/mesh-up.log (and $WORK/mesh/*.log)"
    [nginx]="$WORK/nginx-proxy/error.log" [haproxy]="$WORK/haproxy/stdout.log"
    [yarp]="$WORK/yarp.log"
)
TARGETS=(upstream nginx haproxy yarp)
wait_port upstream "$UPSTREAM_PORT" 10   || { cat "${LOGFILE[upstream]}" >&2; die "upstream nginx did not start: $WHY"; }
wait_port nginx "$NGINX_PROXY_PORT" 10   || { cat "${LOGFILE[nginx]}" >&2; die "nginx proxy did not start: $WHY"; }
wait_port haproxy "$HAPROXY_PORT" 10     || { cat "${LOGFILE[haproxy]}" >&2; die "HAProxy did not start: $WHY"; }
wait_port yarp "$YARP_PORT" 60           || { cat "${LOGFILE[yarp]}" >&2; die "bare YARP did not start: $WHY"; }
if (( MESHGATE_OK )); then
    # The gateway is young: if it can't serve `gateway -c` yet, measure the
    # others rather than fail the whole run.
    if wait_port meshgate "$GATEWAY_PORT" 60 && wait_port meshgate-bare "$BARE_PORT" 60 && wait_port meshgate-observed "$OBSERVED_PORT" 60; then
        TARGETS=(upstream meshgate meshgate-plain meshgate-pipeline meshgate-jwt meshgate-retry meshgate-ratelimit meshgate-shared meshgate-cache meshgate-bare meshgate-observed nginx haproxy yarp)
        PIDS[meshgate-plain]=${PIDS[meshgate]}
        PIDS[meshgate-pipeline]=${PIDS[meshgate]}
        PIDS[meshgate-jwt]=${PIDS[meshgate]}   # the same process, another route
        PIDS[meshgate-retry]=${PIDS[meshgate]}
        PIDS[meshgate-ratelimit]=${PIDS[meshgate]}
        PIDS[meshgate-shared]=${PIDS[meshgate]}
        PIDS[meshgate-cache]=${PIDS[meshgate]}
        # The mesh answers once both sidecars have certificates, the app sidecar is registered and the client has the snapshot.
        mesh_up=0
        for _ in $(seq 300); do
            kill -0 "${PIDS[sidecars]}" 2>/dev/null || break
            [[ $(curl -s -m 2 "${URL[sidecars]}" 2>/dev/null) == "${EXPECTED_BODY%$'\n'}" ]] && { mesh_up=1; break; }
            sleep 0.3
        done
        if (( mesh_up )); then
            with_mesh=()
            for t in "${TARGETS[@]}"; do [[ $t == nginx ]] && with_mesh+=(sidecars); with_mesh+=("$t"); done
            TARGETS=("${with_mesh[@]}")
        else
            tail -n 30 "$WORK/mesh-up.log" "$WORK"/mesh/*.log >&2 || true
            warn "the two sidecars did not answer like the origin within 90 s (logs: ${LOGFILE[sidecars]}); the mesh row is skipped"
            [[ -n ${PIDS[sidecars]:-} ]] && stop_one sidecars
        fi
    else
        tail -30 "${LOGFILE[meshgate]}" >&2 || true
        warn "Meshgate failed to start: $WHY (log: ${LOGFILE[meshgate]}); Meshgate is skipped"
        for t in meshgate meshgate-bare meshgate-observed sidecars; do [[ -n ${PIDS[$t]:-} ]] && stop_one "$t"; done
        MESHGATE_OK=0
    fi
fi

# One plain request per target before loading it: a proxy that answers
# quickly but wrongly must not show up as fast.
for t in "${TARGETS[@]}"; do
    # The status code goes on its own last line; "x" keeps the body's own
    # trailing newline from being eaten by $(...).
    resp=$(curl -sS -m 5 -w '\n%{http_code}' ${HEADER[$t]:+-H "${HEADER[$t]}"} "${URL[$t]}" 2>&1; echo x) || true
    resp=${resp%x}; resp=${resp%$'\n'}
    code=${resp##*$'\n'}; body=${resp%$'\n'*}
    if [[ $code != 200 || $body != "$EXPECTED_BODY" ]]; then
        warn "${LABEL[$t]} answered a probe with status '$code' and body $(printf '%q' "${body:0:200}") (expected 200 $(printf '%q' "$EXPECTED_BODY"))"
    fi
done

has_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

# The extra measurements, as SCENARIO:TARGET pairs. Only the peers (and the routing-only Meshgate):
# the feature rows keep their ratio to /plain from the main table.
EXTRA=()
for s in $SCENARIOS; do
    case $s in
        h2c) ts=(meshgate nginx haproxy yarp) ;;
        mesh-rate) ts=(upstream sidecars meshgate nginx) ;;
        *)   ts=(upstream meshgate nginx haproxy yarp) ;;
    esac
    for t in "${ts[@]}"; do has_target "$t" && EXTRA+=("$s:$t"); done
done
# The same probe for the bodies and h2c: right size, right protocol.
for pair in "${EXTRA[@]}"; do
    s=${pair%%:*}; t=${pair#*:}
    case $s in
        h1-1k)  got=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{size_download}' "${URL[$t]}bodies/1k" 2>&1) || true; want="200 1024" ;;
        h1-64k) got=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{size_download}' "${URL[$t]}bodies/64k" 2>&1) || true; want="200 65536" ;;
        h2c)    got=$(curl -sS -m 5 --http2-prior-knowledge -o /dev/null -w '%{http_code} %{size_download} HTTP/%{http_version}' "${H2URL[$t]}" 2>&1) || true; want="200 ${#EXPECTED_BODY} HTTP/2" ;;
        *) continue ;;
    esac
    [[ $got == "$want" ]] || warn "${LABEL[$t]} ($s) answered a probe with '$got' (expected '$want')"
done

# ---------------------------------------------------------------------------
# Measurement helpers.
# ---------------------------------------------------------------------------
cpu_ticks() {  # sum of utime+stime (clock ticks) over the given PIDs
    local total=0 pid stat f
    for pid in "$@"; do
        read -r stat 2>/dev/null <"/proc/$pid/stat" || continue
        stat=${stat##*) }
        read -ra f <<<"$stat"
        # After the comm field, index 0 is field 3 (state); utime is field 14, stime 15.
        total=$(( total + f[11] + f[12] ))
    done
    echo "$total"
}

# rss_kib and idle_connections_rss: shared with bench/memory.sh.
source "$BENCH_DIR/memory-lib.sh"

target_rss() {  # target_rss TARGET: RSS (KiB) of the target's processes now
    local pids
    mapfile -t pids < <(proc_tree "${PIDS[$1]}")
    rss_kib "${pids[@]}"
}

# Idle memory: every server is up, has answered one probe and has not been loaded yet.
MEM_TARGETS=()
for t in upstream meshgate nginx haproxy yarp; do has_target "$t" && MEM_TARGETS+=("$t"); done
declare -A IDLE_RSS=()
sleep 1
for t in "${MEM_TARGETS[@]}"; do IDLE_RSS[$t]=$(target_rss "$t"); done

# Memory per idle keep-alive client connection: hold IDLE_CONNECTIONS connections (each has
# served one request) on each target and compare its RSS with and without them. Before any load:
# afterwards a .NET heap has room left from the load, and new connections would not show in RSS.
MEM="$WORK/raw/memory.tsv"
printf 'target\tidle_rss_kib\trss_before_kib\trss_with_conns_kib\tconnections\trss_per_1k_conns_kib\n' >"$MEM"
if (( IDLE_CONNECTIONS > 0 )); then
    log "memory: $IDLE_CONNECTIONS idle keep-alive connections per target"
    for t in "${MEM_TARGETS[@]}"; do
        if figures=$(idle_connections_rss "$WORK/openloop" "$IDLE_CONNECTIONS" "${URL[$t]}" "${HEADER[$t]:-}" "$WORK/raw/idle-$t.txt" target_rss "$t"); then
            read -r before with per <<<"$figures"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${IDLE_RSS[$t]}" "$before" "$with" "$IDLE_CONNECTIONS" "$per" >>"$MEM"
            printf '    %-16s idle %6.1f MiB, %6.1f MiB before, %6.1f MiB with %d connections: %6.1f MiB per 1,000\n' "${LABEL[$t]}" \
                "$(awk -v k="${IDLE_RSS[$t]}" 'BEGIN{print k/1024}')" "$(awk -v k="$before" 'BEGIN{print k/1024}')" \
                "$(awk -v k="$with" 'BEGIN{print k/1024}')" "$IDLE_CONNECTIONS" "$(awk -v k="$per" 'BEGIN{print k/1024}')" >&2
        else
            warn "${LABEL[$t]}: could not hold $IDLE_CONNECTIONS idle connections: $(tail -2 "$WORK/raw/idle-$t.txt")"
            printf '%s\t%s\t\t\t%s\t\n' "$t" "${IDLE_RSS[$t]}" "$IDLE_CONNECTIONS" >>"$MEM"
        fi
    done
else
    for t in "${MEM_TARGETS[@]}"; do printf '%s\t%s\t\t\t0\t\n' "$t" "${IDLE_RSS[$t]}" >>"$MEM"; done
fi

# Each parser turns one load tool's output (on stdin) into
# "rps p50_us p99_us p999_us requests socket_errors non2xx unfinished".
parse_wrk() {  # wrk --latency -s wrk-percentiles.lua
    awk '
        / requests in /           { req = $1 }
        /^Requests\/sec:/         { rps = $2 }
        /^Percentiles-us:/        { for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] } }
        /Socket errors:/          { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END { printf "%s %s %s %s %s %d %d 0\n", rps, p["p50"], p["p99"], p["p999"], req, sock, bad }
    '
}

parse_h2load() {  # parse_h2load LOGFILE, h2load's summary on stdin; percentiles from its per-request log
    local pcts
    pcts=$(cut -f3 "$1" | sort -n | awk '{ v[NR] = $1 }
        function at(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; return v[k] }
        END { if (NR) printf "%d %d %d", at(0.50), at(0.99), at(0.999); else print "0 0 0" }')
    awk -v pcts="$pcts" '
        /^finished in/  { rps = $4 }
        /^requests:/    { req = $6; sock = $12 + $14 }   # N total, N started, N done, N succeeded, N failed, N errored, N timeout
        /^status codes:/ { bad = $7 + $9 }               # N 2xx, N 3xx, N 4xx, N 5xx
        END { split(pcts, p, " "); printf "%s %s %s %s %s %d %d 0\n", rps, p[1], p[2], p[3], req, sock, bad }
    '
}

parse_openloop() {  # openloop's key=value line
    awk '/^scheduled=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %s %s %s %s %d %d %d\n", v["achieved_rps"], v["p50_us"], v["p99_us"], v["p999_us"], v["completed"], v["errors"], v["non2xx"], v["unfinished"] }'
}

tool_run() {  # tool_run OUTFILE CMD...: run a load tool on LOAD_CPU
    local out=$1; shift
    # Background + wait rather than a foreground run: bash acts on a trapped
    # signal only once its foreground child exits (and drops SIGINT if that
    # child exits normally), while `wait` returns at once.
    taskset -c "$LOAD_CPU" "$@" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "$1 failed: $(tail -3 "$out")"
    WRK_PID=""
}

wrk_run() {  # wrk_run SECONDS URL OUTFILE [HEADER]: load from LOAD_CPU
    tool_run "$3" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1"s --latency -s "$BENCH_DIR/wrk-percentiles.lua" ${4:+-H "$4"} "$2"
}

load_run() {  # load_run SCENARIO TARGET SECONDS OUTFILE: SCENARIO's load against TARGET
    case $1 in
        h1)     wrk_run "$3" "${URL[$2]}" "$4" "${HEADER[$2]:-}" ;;
        h1-1k)  wrk_run "$3" "${URL[$2]}bodies/1k" "$4" "${HEADER[$2]:-}" ;;
        h1-64k) wrk_run "$3" "${URL[$2]}bodies/64k" "$4" "${HEADER[$2]:-}" ;;
        h2c)    tool_run "$4" h2load -c"$H2_CONNECTIONS" -m"$H2_STREAMS" -t"$THREADS" -D"$3" --log-file="$4.log" "${H2URL[$2]}" ;;
        open)   tool_run "$4" "$WORK/openloop" -r "$OPENLOOP_RATE" -d "$3" -c "$OPENLOOP_CONNECTIONS" ${HEADER[$2]:+-H "${HEADER[$2]}"} "${URL[$2]}" ;;
        mesh-rate) tool_run "$4" "$WORK/openloop" -r "$MESH_RATE" -d "$3" -c "$OPENLOOP_CONNECTIONS" ${HEADER[$2]:+-H "${HEADER[$2]}"} "${URL[$2]}" ;;
    esac
}

parse_run() {  # parse_run SCENARIO OUTFILE
    case $1 in
        h2c)  parse_h2load "$2.log" <"$2" ;;
        open|mesh-rate) parse_openloop <"$2" ;;
        *)    parse_wrk <"$2" ;;
    esac
}

RAW="$WORK/raw/results.tsv"
# The first ten columns are those of earlier runs; the rest were added with the scenarios.
printf 'target\tround\trps\tp50_us\tp99_us\tcpu_us_per_req\trss_kib\trequests\tsocket_errors\tnon2xx\tp999_us\tscenario\tunfinished\n' >"$RAW"

measure() {  # measure TARGET ROUND [SCENARIO [SECONDS]]
    local t=$1 r=$2 s=${3:-h1} secs=${4:-$DURATION} pids file before after rss rps p50 p99 p999 req sock bad unfinished cpu
    mapfile -t pids < <(proc_tree "${PIDS[$t]}")
    load_run "$s" "$t" "$WARMUP" "$WORK/raw/warmup.txt"   # JIT, connection pools, caches
    file="$WORK/raw/round$r-$t.txt"
    [[ $s == h1 ]] || file="$WORK/raw/$s-round$r-$t.txt"
    before=$(cpu_ticks "${pids[@]}")
    load_run "$s" "$t" "$secs" "$file"
    after=$(cpu_ticks "${pids[@]}")
    rss=$(rss_kib "${pids[@]}")
    read -r rps p50 p99 p999 req sock bad unfinished < <(parse_run "$s" "$file")
    [[ -n $req && $req -gt 0 ]] || { cat "$file" >&2; die "no request completed against $t ($s), or the load tool's output could not be parsed: $file"; }
    cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$p50" "$p99" "$cpu" "$rss" "$req" "$sock" "$bad" "$p999" "$s" "$unfinished" >>"$RAW"
    printf '    %-7s %-16s %10.0f req/s  p50 %8.0f us  p99 %8.0f us  p99.9 %8.0f us  %7s us/req CPU  %6.1f MiB\n' \
        "$s" "${LABEL[$t]}" "$rps" "$p50" "$p99" "$p999" "$cpu" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" >&2
    if (( sock > 0 || bad > 0 )); then
        grep -E 'Socket errors|Non-2xx|^requests:|^status codes:|^scheduled=' "$file" >&2 || true
        warn "${LABEL[$t]} ($s) round $r: $bad non-2xx/3xx responses, $sock socket errors (output: $file)"
    fi
    if (( unfinished > 0 )); then
        # Not a warning: an overloaded target is a result of the open loop, not a broken measurement.
        log "${LABEL[$t]} ($s) round $r: $unfinished requests unanswered 2 s after the last one was due: it cannot sustain $( [[ $s == mesh-rate ]] && echo "$MESH_RATE" || echo "$OPENLOOP_RATE") req/s"
    fi
    if ! kill -0 "${PIDS[$t]}" 2>/dev/null; then
        die "${LABEL[$t]} died during the run (log: ${LOGFILE[$t]})"
    fi
}

median() {  # median COLUMN TARGET [SCENARIO]: over rounds
    awk -F'\t' -v t="$2" -v c="$1" -v s="${3:-h1}" 'NR > 1 && $1 == t && $12 == s { print $c }' "$RAW" | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ---------------------------------------------------------------------------
# 5. Rounds. Targets are interleaved, and the order rotates each round, so
#    slow drift on the machine (thermal, noisy neighbours) spreads over all
#    targets instead of landing on whichever ran last.
# ---------------------------------------------------------------------------
LOADAVG_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
n_h2c=0; for pair in "${EXTRA[@]}"; do [[ $pair == h2c:* ]] && n_h2c=$(( n_h2c + 1 )); done
total=$(( ${#TARGETS[@]} * (INITIAL_WARMUP + ROUNDS * (WARMUP + DURATION)) + n_h2c * H2_INITIAL_WARMUP
          + ${#EXTRA[@]} * EXTRA_ROUNDS * (WARMUP + EXTRA_DURATION) + ${#MEM_TARGETS[@]} * 3 ))
log "measuring ${TARGETS[*]}: $ROUNDS round(s) x ${DURATION}s (+${WARMUP}s warmup), wrk -t$THREADS -c$CONNECTIONS;" \
    "then ${EXTRA[*]:-nothing more}: $EXTRA_ROUNDS round(s) x ${EXTRA_DURATION}s; ~${total}s in all"
if (( INITIAL_WARMUP > 0 )); then
    log "initial warmup: ${INITIAL_WARMUP}s per target"
    for t in "${TARGETS[@]}"; do wrk_run "$INITIAL_WARMUP" "${URL[$t]}" /dev/null "${HEADER[$t]:-}"; done
fi
for (( r = 1; r <= ROUNDS; r++ )); do
    log "round $r/$ROUNDS"
    n=${#TARGETS[@]}
    for (( i = 0; i < n; i++ )); do
        measure "${TARGETS[$(( (i + r - 1) % n ))]}" "$r"
    done
done

# Body sizes, h2c and the open loop: the same interleaving over SCENARIO:TARGET pairs.
if [[ " ${EXTRA[*]} " == *" open:"* && -z $OPENLOOP_RATE ]]; then
    nginx_rps=$(median 3 nginx)
    if [[ -n $nginx_rps ]]; then
        OPENLOOP_RATE=$(awk -v r="$nginx_rps" -v f="$OPENLOOP_FRACTION" 'BEGIN { printf "%d", r * f }')
    else
        warn "nginx was not measured, so the open-loop rate is unknown (set OPENLOOP_RATE); the open loop is skipped"
        mapfile -t EXTRA < <(printf '%s\n' "${EXTRA[@]}" | grep -v '^open:')
    fi
fi
if (( ${#EXTRA[@]} )); then
    if (( H2_INITIAL_WARMUP > 0 && n_h2c > 0 )); then
        log "h2c initial warmup: ${H2_INITIAL_WARMUP}s per target"
        for pair in "${EXTRA[@]}"; do [[ $pair == h2c:* ]] && load_run h2c "${pair#*:}" "$H2_INITIAL_WARMUP" "$WORK/raw/warmup.txt"; done
    fi
    [[ -n $OPENLOOP_RATE ]] && log "open loop at $OPENLOOP_RATE req/s"
    for (( r = 1; r <= EXTRA_ROUNDS; r++ )); do
        log "body sizes, h2c, open loop: round $r/$EXTRA_ROUNDS"
        n=${#EXTRA[@]}
        for (( i = 0; i < n; i++ )); do
            pair=${EXTRA[$(( (i + r - 1) % n ))]}
            measure "${pair#*:}" "$r" "${pair%%:*}" "$EXTRA_DURATION"
        done
    done
fi

# ---------------------------------------------------------------------------
# 6. Medians and the table.
# ---------------------------------------------------------------------------
declare -A M_RPS M_P50 M_P99 M_P999 M_CPU M_RSS
for t in "${TARGETS[@]}"; do
    M_RPS[$t]=$(median 3 "$t"); M_P50[$t]=$(median 4 "$t"); M_P99[$t]=$(median 5 "$t"); M_P999[$t]=$(median 11 "$t")
    M_CPU[$t]=$(median 6 "$t"); M_RSS[$t]=$(median 7 "$t")
done

round_ratio() {  # round_ratio COLUMN TARGET BASE -> "0.85× (0.80–0.90×)": each round's TARGET over BASE in that round, median and middle half
    # A round runs every target within minutes, so a change in the machine's speed between rounds cancels here.
    awk -F'\t' -v t="$2" -v b="$3" -v c="$1" 'NR > 1 && $12 == "h1" && $1 == b { base[$2] = $c } NR > 1 && $12 == "h1" && $1 == t { this[$2] = $c }
        END { for (r in this) if ((r in base) && base[r] > 0) print this[r] / base[r] }' "$RAW" | sort -g |
        awk '{ v[NR] = $1 }
            function q(f,   i, k) { i = 1 + (NR - 1) * f; k = int(i); return v[k] + (i - k) * (k < NR ? v[k + 1] - v[k] : 0) }
            END { if (NR) printf "%.2f× (middle half %.2f–%.2f×)\n", q(0.5), q(0.25), q(0.75); else print "—" }'
}

ratio() {  # ratio VALUE BASE -> "0.85×", or "—" when there is no base
    [[ -n ${2:-} ]] || { echo "—"; return; }
    awk -v v="$1" -v b="$2" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×\n", v / b }'
}

TABLE="$WORK/table.md"
{
    echo "| target | req/s | p50 | p99 | p99.9 | CPU µs/req | RSS MiB | req/s vs nginx | req/s vs YARP | p99 vs YARP | CPU vs YARP |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in upstream meshgate meshgate-plain meshgate-pipeline meshgate-jwt meshgate-retry meshgate-ratelimit meshgate-shared meshgate-cache meshgate-bare meshgate-observed sidecars nginx haproxy yarp; do
        if [[ -z ${M_RPS[$t]:-} ]]; then
            echo "| ${LABEL[$t]} | not measured | | | | | | | | | |"
            continue
        fi
        name=${LABEL[$t]}
        if awk -F'\t' -v t="$t" 'NR > 1 && $1 == t && $12 == "h1" && ($9 > 0 || $10 > 0) { found = 1 } END { exit !found }' "$RAW"; then
            name="$name ⚠ errors"
        fi
        printf '| %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %.1f | %.1f | %s | %s | %s | %s |\n' \
            "$name" "${M_RPS[$t]}" \
            "$(awk -v v="${M_P50[$t]}" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="${M_P99[$t]}" 'BEGIN { print v / 1000 }')" \
            "$(awk -v v="${M_P999[$t]:-0}" 'BEGIN { print v / 1000 }')" \
            "${M_CPU[$t]}" \
            "$(awk -v v="${M_RSS[$t]}" 'BEGIN { print v / 1024 }')" \
            "$(ratio "${M_RPS[$t]}" "${M_RPS[nginx]:-}")" \
            "$(ratio "${M_RPS[$t]}" "${M_RPS[yarp]:-}")" \
            "$(ratio "${M_P99[$t]}" "${M_P99[yarp]:-}")" \
            "$(ratio "${M_CPU[$t]}" "${M_CPU[yarp]:-}")"
    done
    # The feature routes take the pipeline, /plain the direct front end: each feature row against /plain through the
    # pipeline too (docs/performance.md, tenth session).
    against_pipeline() {  # against_pipeline TARGET
        [[ -n ${M_RPS[meshgate-pipeline]:-} ]] || return 0
        echo "; against /plain through the pipeline (frontEnd: kestrel), the path this route takes: req/s $(ratio "${M_RPS[$1]}" "${M_RPS[meshgate-pipeline]}"), CPU µs/req $(ratio "${M_CPU[$1]}" "${M_CPU[meshgate-pipeline]}")"
    }
    if [[ -n ${M_RPS[meshgate-jwt]:-} && -n ${M_RPS[meshgate-plain]:-} ]]; then
        echo
        echo "Meshgate + JWT against the same route without auth (/plain): req/s $(ratio "${M_RPS[meshgate-jwt]}" "${M_RPS[meshgate-plain]}"), p99 $(ratio "${M_P99[meshgate-jwt]}" "${M_P99[meshgate-plain]}"), CPU µs/req $(ratio "${M_CPU[meshgate-jwt]}" "${M_CPU[meshgate-plain]}") (aim: req/s >= 0.90x)$(against_pipeline meshgate-jwt)"
    fi
    if [[ -n ${M_RPS[meshgate-retry]:-} && -n ${M_RPS[meshgate-plain]:-} ]]; then
        echo "Meshgate + retries and timeouts (no faults) against the same route without (/plain): req/s $(ratio "${M_RPS[meshgate-retry]}" "${M_RPS[meshgate-plain]}"), p99 $(ratio "${M_P99[meshgate-retry]}" "${M_P99[meshgate-plain]}"), CPU µs/req $(ratio "${M_CPU[meshgate-retry]}" "${M_CPU[meshgate-plain]}") (aim: req/s >= 0.95x)$(against_pipeline meshgate-retry)"
    fi
    if [[ -n ${M_RPS[meshgate-ratelimit]:-} && -n ${M_RPS[meshgate-plain]:-} ]]; then
        echo "Meshgate + local rate limit (never triggers) against the same route without (/plain): req/s $(ratio "${M_RPS[meshgate-ratelimit]}" "${M_RPS[meshgate-plain]}"), p99 $(ratio "${M_P99[meshgate-ratelimit]}" "${M_P99[meshgate-plain]}"), CPU µs/req $(ratio "${M_CPU[meshgate-ratelimit]}" "${M_CPU[meshgate-plain]}") (aim: req/s >= 0.95x)$(against_pipeline meshgate-ratelimit)"
    fi
    if [[ -n ${M_RPS[meshgate-shared]:-} && -n ${M_RPS[meshgate-plain]:-} ]]; then
        echo "Meshgate + shared rate limit in Redis (never triggers) against the same route without (/plain): req/s $(ratio "${M_RPS[meshgate-shared]}" "${M_RPS[meshgate-plain]}"), p99 $(ratio "${M_P99[meshgate-shared]}" "${M_P99[meshgate-plain]}"), CPU µs/req $(ratio "${M_CPU[meshgate-shared]}" "${M_CPU[meshgate-plain]}") (aim: req/s >= 0.80x)$(against_pipeline meshgate-shared)"
    fi
    if [[ -n ${M_RPS[meshgate-cache]:-} && -n ${M_RPS[meshgate-plain]:-} ]]; then
        # No bearer token on /cache: a shared cache does not answer requests with Authorization from a non-public entry.
        echo "Meshgate + cache hit (upstream not touched) against the proxied route (/plain): req/s $(ratio "${M_RPS[meshgate-cache]}" "${M_RPS[meshgate-plain]}"), p99 $(ratio "${M_P99[meshgate-cache]}" "${M_P99[meshgate-plain]}"), CPU µs/req $(ratio "${M_CPU[meshgate-cache]}" "${M_CPU[meshgate-plain]}") (aim: req/s >= 1.5x)"
    fi
    if [[ -n ${M_RPS[meshgate-observed]:-} && -n ${M_RPS[meshgate-bare]:-} ]]; then
        echo "Meshgate /plain with metrics, 1% trace sampling and the access log against /plain with all three off (two more processes, same config otherwise): req/s $(ratio "${M_RPS[meshgate-observed]}" "${M_RPS[meshgate-bare]}"), p99 $(ratio "${M_P99[meshgate-observed]}" "${M_P99[meshgate-bare]}"), CPU µs/req $(ratio "${M_CPU[meshgate-observed]}" "${M_CPU[meshgate-bare]}") (aim: req/s >= 0.85x); round by round: req/s $(round_ratio 3 meshgate-observed meshgate-bare), CPU µs/req $(round_ratio 6 meshgate-observed meshgate-bare); the default (metrics on, /plain of the main process) against metrics off: req/s $(ratio "${M_RPS[meshgate-plain]:-}" "${M_RPS[meshgate-bare]}"), CPU µs/req $(ratio "${M_CPU[meshgate-plain]:-}" "${M_CPU[meshgate-bare]}")"
    fi
} >"$TABLE"

# The sections after the main table: body sizes, h2c, the open loop, memory. Only the peers and the
# routing-only Meshgate; ratios to nginx, as the issue-10 aims are put.
ms()  { awk -v v="$1" 'BEGIN { printf "%.2f ms", v / 1000 }'; }
added() { awk -v v="$1" -v b="$2" 'BEGIN { printf "%+.2f ms", (v - b) / 1000 }'; }   # added VALUE_US BASE_US
mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
scenario_table() {  # scenario_table SCENARIO TITLE
    local s=$1 t name
    awk -F'\t' -v s="$s" 'NR > 1 && $12 == s { f = 1 } END { exit !f }' "$RAW" || return 0
    echo
    echo "### $2"
    echo
    if [[ $s == open || $s == mesh-rate ]]; then
        echo "| target | req/s achieved | p50 | p99 | p99.9 | CPU µs/req | unanswered | p50 vs nginx | p99 vs nginx | p99.9 vs nginx |"
    else
        echo "| target | req/s | p50 | p99 | p99.9 | CPU µs/req | RSS MiB | req/s vs nginx | CPU vs nginx | p99 vs nginx |"
    fi
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in upstream sidecars meshgate nginx haproxy yarp; do
        local rps p50 p99 p999 cpu rss unanswered
        rps=$(median 3 "$t" "$s"); [[ -n $rps ]] || continue
        p50=$(median 4 "$t" "$s"); p99=$(median 5 "$t" "$s"); p999=$(median 11 "$t" "$s")
        cpu=$(median 6 "$t" "$s"); rss=$(median 7 "$t" "$s")
        name=${LABEL[$t]}
        if awk -F'\t' -v t="$t" -v s="$s" 'NR > 1 && $1 == t && $12 == s && ($9 > 0 || $10 > 0) { f = 1 } END { exit !f }' "$RAW"; then
            name="$name ⚠ errors"
        fi
        if [[ $s == open || $s == mesh-rate ]]; then
            unanswered=$(awk -F'\t' -v t="$t" -v s="$s" 'NR > 1 && $1 == t && $12 == s { n += $13 } END { print n + 0 }' "$RAW")
            printf '| %s | %.0f | %s | %s | %s | %.1f | %s | %s | %s | %s |\n' "$name" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$(ms "$p999")" "$cpu" \
                "$unanswered" "$(ratio "$p50" "$(median 4 nginx "$s")")" "$(ratio "$p99" "$(median 5 nginx "$s")")" "$(ratio "$p999" "$(median 11 nginx "$s")")"
        else
            printf '| %s | %.0f | %s | %s | %s | %.1f | %s | %s | %s | %s |\n' "$name" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$(ms "$p999")" "$cpu" \
                "$(mib "$rss")" "$(ratio "$rps" "$(median 3 nginx "$s")")" "$(ratio "$cpu" "$(median 6 nginx "$s")")" "$(ratio "$p99" "$(median 5 nginx "$s")")"
        fi
    done
}
{
    if [[ -n ${M_RPS[sidecars]:-} && -n ${M_RPS[upstream]:-} ]]; then
        # Issue 8's benchmark: what two sidecar hops add to the direct call, beside one proxy hop.
        echo
        echo "Mesh, added to the direct call (p50 / p99 / req/s ratio): two sidecars with mTLS between them" \
             "$(added "${M_P50[sidecars]}" "${M_P50[upstream]}") / $(added "${M_P99[sidecars]}" "${M_P99[upstream]}") / $(ratio "${M_RPS[sidecars]}" "${M_RPS[upstream]}");" \
             "$( [[ -n ${M_RPS[meshgate]:-} ]] && echo "the gateway alone $(added "${M_P50[meshgate]}" "${M_P50[upstream]}") / $(added "${M_P99[meshgate]}" "${M_P99[upstream]}") / $(ratio "${M_RPS[meshgate]}" "${M_RPS[upstream]}");")" \
             "$( [[ -n ${M_RPS[nginx]:-} ]] && echo "nginx proxy $(added "${M_P50[nginx]}" "${M_P50[upstream]}") / $(added "${M_P99[nginx]}" "${M_P99[upstream]}") / $(ratio "${M_RPS[nginx]}" "${M_RPS[upstream]}").")"
        if [[ -n ${M_RPS[nginx]:-} ]]; then
            echo "Issue-8 aim, two sidecar hops cost no more than one nginx hop (added p50 and p99): $(awk -v s50="${M_P50[sidecars]}" -v s99="${M_P99[sidecars]}" \
                -v n50="${M_P50[nginx]}" -v n99="${M_P99[nginx]}" 'BEGIN { print (s50 <= n50 && s99 <= n99) ? "met" : "not met" }')."
        fi
        if [[ -n $(median 4 sidecars mesh-rate) && -n $(median 4 upstream mesh-rate) ]]; then
            # The same question without saturation: at MESH_RATE every target keeps up, so the added latency is the hops'
            # own work and wire time rather than each target's queue at its maximum.
            u50=$(median 4 upstream mesh-rate); u99=$(median 5 upstream mesh-rate)
            mesh_rate_added() { echo "$(added "$(median 4 "$1" mesh-rate)" "$u50") / $(added "$(median 5 "$1" mesh-rate)" "$u99")"; }
            echo "At a fixed $MESH_RATE req/s (open loop, $OPENLOOP_CONNECTIONS connections; added p50 / p99): two sidecars $(mesh_rate_added sidecars);" \
                 "$( [[ -n $(median 4 meshgate mesh-rate) ]] && echo "the gateway alone $(mesh_rate_added meshgate);")" \
                 "$( [[ -n $(median 4 nginx mesh-rate) ]] && echo "nginx proxy $(mesh_rate_added nginx).")"
            if [[ -n $(median 4 nginx mesh-rate) ]]; then
                echo "Issue-8 aim at $MESH_RATE req/s: $(awk -v s50="$(median 4 sidecars mesh-rate)" -v s99="$(median 5 sidecars mesh-rate)" \
                    -v n50="$(median 4 nginx mesh-rate)" -v n99="$(median 5 nginx mesh-rate)" 'BEGIN { print (s50 <= n50 && s99 <= n99) ? "met" : "not met" }')."
            fi
        fi
    fi
    if [[ -n ${M_RPS[meshgate]:-} && -n ${M_RPS[nginx]:-} ]]; then
        echo
        echo "Issue-10 aims, routing-only Meshgate against nginx (HTTP/1.1, small body): req/s $(ratio "${M_RPS[meshgate]}" "${M_RPS[nginx]}") (aim ≥ 0.80×)," \
             "CPU µs/req $(ratio "${M_CPU[meshgate]}" "${M_CPU[nginx]}") (aim ≤ 1.50×), p99 $(ratio "${M_P99[meshgate]}" "${M_P99[nginx]}") (aim ≤ 1.00×);" \
             "idle RSS $( [[ -n ${IDLE_RSS[meshgate]:-} ]] && mib "${IDLE_RSS[meshgate]}" || echo "–") MiB (aim < 60)." \
             "Round by round: req/s $(round_ratio 3 meshgate nginx), CPU µs/req $(round_ratio 6 meshgate nginx); against bare YARP: req/s $(round_ratio 3 meshgate yarp), CPU µs/req $(round_ratio 6 meshgate yarp)."
    fi
    scenario_table h1-1k "HTTP/1.1, 1 KiB body (wrk, as above)"
    scenario_table h1-64k "HTTP/1.1, 64 KiB body (wrk, as above)"
    scenario_table h2c "h2c, small body (h2load -c$H2_CONNECTIONS -m$H2_STREAMS -t$THREADS; to the origin over HTTP/1.1)"
    scenario_table open "Open loop at ${OPENLOOP_RATE:-?} req/s, small body (constant arrival over $OPENLOOP_CONNECTIONS connections; latency from each request's due time)"
    scenario_table mesh-rate "Mesh at a fixed $MESH_RATE req/s, small body (open loop as above; issue 8's hops without saturation)"
    if awk -F'\t' 'NR > 1 && ($12 == "open" || $12 == "mesh-rate") { f = 1 } END { exit !f }' "$RAW"; then
        echo
        echo "A target whose achieved req/s stays below the rate cannot sustain it: its requests queue, and its latency is mostly" \
             "that queue (which a closed-loop tool like wrk would hide). \"unanswered\": requests still waiting 2 s after the last one was due, summed over rounds."
    fi
    if awk -F'\t' 'NR > 1 { f = 1 } END { exit !f }' "$MEM"; then
        echo
        echo "### Memory"
        echo
        echo "| target | idle RSS MiB | with $IDLE_CONNECTIONS idle connections MiB | MiB per 1,000 idle connections | after the load MiB |"
        echo "|---|---:|---:|---:|---:|"
        while IFS=$'\t' read -r t idle before with conns per; do
            [[ $t == target ]] && continue
            printf '| %s | %s | %s | %s | %s |\n' "${LABEL[$t]}" "$(mib "$idle")" "${with:+$(mib "$with")}" "${per:+$(mib "$per")}" \
                "$( [[ -n ${M_RSS[$t]:-} ]] && mib "${M_RSS[$t]}")"
        done <"$MEM"
    fi
} >>"$TABLE"

{
    echo "# Meshgate benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Commit $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')" \
         "on $(nproc) CPU(s), $(uname -r). Servers pinned to CPU $SERVER_CPU, wrk to CPU $LOAD_CPU."
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency after ${WARMUP}s warmup;" \
         "$ROUNDS interleaved round(s); medians over rounds."
    if (( ${#EXTRA[@]} )); then
        echo "Body sizes, h2c and open loop: $EXTRA_ROUNDS interleaved round(s) of ${EXTRA_DURATION}s after ${WARMUP}s warmup each;" \
             "open loop at ${OPENLOOP_RATE:-–} req/s ($( [[ -n ${OPENLOOP_RATE_FIXED:-} ]] && echo "fixed" || echo "$OPENLOOP_FRACTION × nginx's req/s above"))."
    fi
    echo "Idle RSS: after start-up and one request, before any load. Idle connections: $IDLE_CONNECTIONS keep-alive connections held open after one request each."
    echo "$(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v 2>&1 | head -1 | awk '{print "HAProxy " $3}')," \
         "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(h2load --version 2>&1 | head -1 | sed 's/^h2load //')," \
         "ASP.NET Core $(dotnet --list-runtimes | awk '/^Microsoft.AspNetCore.App/ { v = $2 } END { print v }'), YARP 2.3.0."
    # Other work on the machine is the main source of noise: record it.
    echo "Load average before the run: $LOADAVG_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    cat "$TABLE"
    echo
    echo "CPU µs/req and RSS are the proxy's own processes (nginx: master + worker);" \
         "for \"upstream direct\" they are the origin nginx's. Ratios: below 1× is less (better for CPU and p99, worse for req/s)."
    if (( ${#WARNINGS[@]} )); then
        echo
        echo "**Warnings:**"
        for w in "${WARNINGS[@]}"; do echo "- $w"; done
    fi
} >"$RESULTS_DIR/latest.md"
cp "$RAW" "$RESULTS_DIR/latest.tsv"
cp "$MEM" "$RESULTS_DIR/latest-memory.tsv"
# The chart of the main ratios, redrawn from the figures of this run.
python3 "$BENCH_DIR/chart.py" "$RESULTS_DIR/latest.tsv" "$RESULTS_DIR/latest-memory.tsv" >"$RESULTS_DIR/latest.svg" ||
    warn "drawing $RESULTS_DIR/latest.svg failed"

echo
cat "$TABLE"
echo
log "written to $RESULTS_DIR/latest.md (per-round figures: $RESULTS_DIR/latest.tsv, memory: latest-memory.tsv, chart: latest.svg; load tools' output: $WORK/raw/)"
if (( ${#WARNINGS[@]} )); then
    printf '\n!!!!!!!! %d WARNING(S) — read before trusting the table:\n' "${#WARNINGS[@]}" >&2
    for w in "${WARNINGS[@]}"; do printf '  - %s\n' "$w" >&2; done
fi
