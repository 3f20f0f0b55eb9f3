# bench/lib.sh — shared by bench/ab.sh, variants.sh, memory.sh, alloc.sh, cpu.sh and mesh.sh (sourced, not run).
# Expects WORK and TEMPLATES to be set by the caller.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

CLK_TCK=$(getconf CLK_TCK)
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
if (( $(nproc) < 2 )); then SERVER_CPU=0; LOAD_CPU=0; fi
source "$(dirname "${BASH_SOURCE[0]}")/cpus.sh"

# Only the processes started here are stopped, by PID, also on Ctrl-C or failure.
STARTED=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -f "$WORK"/*.pid
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TAKEN_PORTS=" "
free_port() {  # free_port VAR: a loopback port nothing listens on (nor handed out before), below the ephemeral range
    local p
    for _ in $(seq 500); do
        p=$(( 20000 + RANDOM % 10000 ))
        [[ $TAKEN_PORTS == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf -v "$1" '%s' "$p"; TAKEN_PORTS+="$p "; return 0; fi
    done
    die "no free port found"
}

render() {  # render TEMPLATE OUT: fill the placeholders between at-signs from the caller's variables
    sed -e "s|@WORKDIR@|$WORK|g" -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" \
        -e "s|@GATEWAY_PORT@|${GATEWAY_PORT:-}|g" -e "s|@ADMIN_PORT@|${ADMIN_PORT:-}|g" \
        -e "s|@REDIS_PORT@|${REDIS_PORT:-}|g" -e "s|@GATEWAY_H2C_PORT@|${GATEWAY_H2C_PORT:-0}|g" \
        -e "s|@GATEWAY_KESTREL_PORT@|${GATEWAY_KESTREL_PORT:-0}|g" -e "s|@NGINX_WORKERS@|$(cpu_count "$SERVER_CPU")|g" "$1" >"$2"
    if grep -q '@[A-Z_]*@' "$2"; then die "unfilled placeholder in $2"; fi
}

publish_meshgate() {  # MESHGATE: an existing publish dir, or built here into $WORK/meshgate by scripts/publish (Native AOT; MESHGATE_BUILD=jit or il for the others)
    export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
    if [[ -z ${MESHGATE:-} ]]; then
        MESHGATE="$WORK/meshgate"
        log "building Meshgate (${MESHGATE_BUILD:-aot}) into $MESHGATE"
        rm -rf "$MESHGATE"   # a self-contained publish and an IL-only one must not mix
        "$REPO_DIR/scripts/publish" "$MESHGATE" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
    fi
    [[ -f $MESHGATE/meshgate.dll || -x $MESHGATE/meshgate ]] || die "no meshgate.dll or meshgate executable in $MESHGATE"
}

# meshgate_command DIR: MESHGATE_CMD, the words that start the publish in DIR (shared with run.sh and mesh-up.sh).
source "$BENCH_DIR/meshgate-command.sh"

start_origin() {  # the nginx origin of templates/upstream-nginx.conf, on the server core; ORIGIN_PID: its master
    mkdir -p "$WORK/upstream/tmp"
    render "$TEMPLATES/upstream-nginx.conf" "$WORK/upstream/nginx.conf"
    (exec taskset -c "$SERVER_CPU" nginx -p "$WORK/upstream" -e "$WORK/upstream/error.log" -c "$WORK/upstream/nginx.conf") >"$WORK/upstream/stdout.log" 2>&1 &
    STARTED+=($!)
    ORIGIN_PID=$!
    # On a busy machine nginx can take a moment: the first requests would be refused and counted as errors.
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$UPSTREAM_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    die "the nginx origin did not accept on :$UPSTREAM_PORT (log: $WORK/upstream/error.log)"
}

start_redis() {  # a Redis on REDIS_PORT (no persistence) for the template's shared-limit route, when redis-server is installed
    # Without one, every gateway of the template retries its Redis connection in the background (exceptions,
    # stack traces), and that CPU lands on the server core the measured gateway shares.
    command -v redis-server >/dev/null || return 1
    (exec taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no) >"$WORK/redis.log" 2>&1 &
    STARTED+=($!)
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && return 0; sleep 0.1; done
    die "redis-server did not accept on :$REDIS_PORT (log: $WORK/redis.log)"
}

start_mesh_sidecar() {  # bench/mesh-up.sh's two-sidecar mesh before its origin; GATEWAY_PID: the MESH_SIDECAR sidecar (client: the calling
    # one, app: the called one), url (the client sidecar's fixed service port), ROUTE (mesh-FORWARDER-SIDECAR), load SECONDS.
    # The sidecars inherit this shell's environment (GATEWAY_ENV is exported into it for them).
    local mesh_pid p environment
    for environment in ${GATEWAY_ENV[@]+"${GATEWAY_ENV[@]}"}; do export "$environment"; done
    free_port UPSTREAM_PORT; free_port MESH_SERVICE_PORT; free_port MESH_CP_PORT; free_port MESH_CP_ADMIN_PORT
    start_origin
    (exec taskset -c "$SERVER_CPU" "$BENCH_DIR/mesh-up.sh" "$MESHGATE/meshgate.dll" "$WORK/mesh" "$UPSTREAM_PORT" "$MESH_SERVICE_PORT" "$MESH_CP_PORT" "$MESH_CP_ADMIN_PORT") \
        >"$WORK/mesh-up.log" 2>&1 &
    STARTED+=($!)
    mesh_pid=$!
    url="http://127.0.0.1:$MESH_SERVICE_PORT/"
    for _ in $(seq 300); do
        kill -0 "$mesh_pid" 2>/dev/null || { tail -n 20 "$WORK/mesh-up.log" "$WORK"/mesh/*.log >&2 || true; die "the mesh exited"; }
        [[ $(curl -s -m 2 "$url" 2>/dev/null) == "hello from upstream" ]] && break
        sleep 0.3
    done
    GATEWAY_PID=
    for p in $(proc_tree "$mesh_pid"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--service ${MESH_SIDECAR:-client} " && GATEWAY_PID=$p
    done
    [[ -n $GATEWAY_PID ]] || die "no ${MESH_SIDECAR:-client} sidecar under the mesh (logs in $WORK/mesh)"
    ROUTE="mesh-${MESH_FORWARDER:-auto}-${MESH_SIDECAR:-client}"
    load() { taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$1s" "$url"; }
}

start_template_gateway() {  # the gateway of templates/meshgate.yaml (+ VARIANT's settings + EXTRA_YAML) with its origin and Redis; defines url and load SECONDS for ROUTE
    free_port UPSTREAM_PORT; free_port GATEWAY_PORT; free_port ADMIN_PORT; free_port REDIS_PORT
    source "$BENCH_DIR/bench-jwt.sh"
    bench_jwt "$WORK/gateway/jwt.secret"
    # EXTRA_YAML is rendered with the template, so it may name @UPSTREAM_PORT@ (an OTLP endpoint) or @WORKDIR@ (a log file).
    { cat "$TEMPLATES/meshgate.yaml"; printf '%s\n' "${EXTRA_YAML:-}"; } >"$WORK/gateway/meshgate.yaml.in"
    render "$WORK/gateway/meshgate.yaml.in" "$WORK/gateway/meshgate.yaml"
    # VARIANT (one of variants.sh's, e.g. bare, metrics, observed): its lines and runtime settings, as variants.sh starts it.
    if [[ -n ${VARIANT:-} ]]; then
        variant_settings "$VARIANT" >>"$WORK/gateway/meshgate.yaml"
        local environment
        read -ra environment <<<"$(variant_environment "$VARIANT")"
        GATEWAY_ENV+=(${environment[@]+"${environment[@]}"})
    fi
    start_origin
    start_redis || log "redis-server not found: the gateway retries its Redis connection in the background (install redis-server)"
    start_gateway "$WORK/gateway/meshgate.yaml" "$WORK/gateway/meshgate.log" "$GATEWAY_PORT"
    url="http://127.0.0.1:$GATEWAY_PORT/$ROUTE/"
    # The bench's bearer token goes with every request (only /jwt checks it), as run.sh sends it to /plain and the feature
    # routes; BEARER=0 leaves it off, as run.sh's routing-only row (the catch-all, GET /) has none.
    LOAD_HEADERS=(-H "Authorization: Bearer $JWT_TOKEN")
    (( ${BEARER:-1} )) || LOAD_HEADERS=()
    load() { taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$1s" ${LOAD_HEADERS[@]+"${LOAD_HEADERS[@]}"} "$url"; }
}

start_gateway() {  # start_gateway CONFIG LOG PORT -> GATEWAY_PID, once it accepts on PORT; GATEWAY_ENV: NAME=VALUE words to add
    # GATEWAY_START_SECONDS (60): a busy machine can take 40 s to start a gateway pinned to one core.
    meshgate_command "$MESHGATE"
    (cd "$REPO_DIR" && exec env ${GATEWAY_ENV[@]+"${GATEWAY_ENV[@]}"} taskset -c "$SERVER_CPU" "${MESHGATE_CMD[@]}" gateway -c "$1") >"$2" 2>&1 &
    GATEWAY_PID=$!
    STARTED+=("$GATEWAY_PID")
    for _ in $(seq $(( ${GATEWAY_START_SECONDS:-60} * 5 ))); do
        kill -0 "$GATEWAY_PID" 2>/dev/null || die "the gateway exited (log: $2)"
        (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null && return 0
        sleep 0.2
    done
    die "the gateway did not accept on :$3 (log: $2)"
}

cpu_ticks() {  # cpu_ticks PID: utime+stime in clock ticks
    local stat f
    read -r stat <"/proc/$1/stat"
    stat=${stat##*) }
    read -ra f <<<"$stat"
    echo $(( f[11] + f[12] ))
}

proc_tree() {  # proc_tree PID: PID and all its descendants, found through /proc (no procps needed)
    local stat rest f p
    echo "$1"
    for stat in /proc/[0-9]*/stat; do
        read -r rest 2>/dev/null <"$stat" || continue   # a process may vanish meanwhile
        rest=${rest##*) }                                # comm may contain spaces: cut after the last ')'
        read -ra f <<<"$rest"
        if [[ ${f[1]} == "$1" ]]; then p=${stat#/proc/}; proc_tree "${p%/stat}"; fi
    done
    return 0
}

ctx_switches() {  # ctx_switches PID: context switches of all its threads (a thread hop or timer wake-up per request shows here)
    # A thread can end between the glob and cat: cat then fails, and under pipefail and set -e so would the script, silently.
    { cat /proc/"$1"/task/*/status 2>/dev/null || true; } | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# System calls counted with perf's syscall tracepoints (perf stat -x, -e "$SYSCALL_EVENTS" -p PIDS -o PERF_CSV).
SYSCALL_EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex
syscalls_per_request() {  # syscalls_per_request PERF_CSV REQUESTS: all, reads, writes, epoll, futex per request, tab-separated
    awk -F, -v n="$2" '{ c = $1 + 0; e = $3 }
        e ~ /raw_syscalls/ { all += c } e ~ /_(read|readv|recvfrom|recvmsg)$/ { rd += c } e ~ /_(write|writev|sendto|sendmsg)$/ { wr += c }
        e ~ /_epoll_(wait|pwait|ctl)$/ { ep += c } e ~ /_futex$/ { fx += c }
        END { printf "%.2f\t%.2f\t%.2f\t%.2f\t%.2f", all / n, rd / n, wr / n, ep / n, fx / n }' "$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

median_table() {  # median_table KIND RAW NAME...: medians of req/s (column 3), CPU µs/req (column 4) and, when there, context switches/req (column 5) per NAME, and ratios to the first
    local kind=$1 raw=$2 name rps cpu switches base_rps base_cpu
    shift 2
    base_rps=$(awk -v t="$1" '$1 == t { print $3 }' "$raw" | median)
    base_cpu=$(awk -v t="$1" '$1 == t { print $4 }' "$raw" | median)
    printf '\n| %s | req/s | CPU us/req | req/s vs %s | CPU vs %s | context switches/req |\n|---|---:|---:|---:|---:|---:|\n' "$kind" "$1" "$1"
    for name in "$@"; do
        rps=$(awk -v t="$name" '$1 == t { print $3 }' "$raw" | median)
        cpu=$(awk -v t="$name" '$1 == t { print $4 }' "$raw" | median)
        switches=
        if awk -v t="$name" '$1 == t && NF >= 5 { found = 1 } END { exit !found }' "$raw"; then
            switches=$(awk -v t="$name" '$1 == t && NF >= 5 { print $5 }' "$raw" | median)
        fi
        awk -v t="$name" -v rps="$rps" -v cpu="$cpu" -v brps="$base_rps" -v bcpu="$base_cpu" -v sw="${switches:-}" \
            'BEGIN { printf "| %s | %.0f | %.1f | %.2fx | %.2fx | %s |\n", t, rps, cpu, rps / brps, cpu / bcpu, (sw == "" ? "-" : sprintf("%.2f", sw)) }'
    done
    paired_ratios "$raw" "$@"
}

# The same ratios taken round by round: each round's figure over the baseline's in the same round (they ran seconds
# apart), then the median and the middle half (25th to 75th percentile) of those. A change in the machine's speed
# between rounds moves both figures of a round alike and cancels here; in the ratio of two medians above it does not.
paired_ratios() {  # paired_ratios RAW BASE NAME...
    local raw=$1 base=$2 name column
    shift 2
    (( $# > 0 )) || return 0
    printf '\n| round by round, vs %s | req/s: median | middle half | CPU us/req: median | middle half | rounds |\n|---|---:|---:|---:|---:|---:|\n' "$base"
    for name in "$@"; do
        [[ $name == "$base" ]] && continue
        local -a cells=()
        for column in 3 4; do
            cells+=("$(awk -v b="$base" -v t="$name" -v c="$column" '
                    $1 == b { base[$2] = $c } $1 == t { this[$2] = $c }
                    END { for (r in this) if (r in base) print this[r] / base[r] }' "$raw" | sort -g |
                awk '{ v[NR] = $1 }
                    function q(f,   i, k) { i = 1 + (NR - 1) * f; k = int(i); return v[k] + (i - k) * (k < NR ? v[k + 1] - v[k] : 0) }
                    END { if (NR) printf "%.2fx | %.2f-%.2fx | %d", q(0.5), q(0.25), q(0.75), NR; else printf "- | - | 0" }')")
        done
        # cells: "median | middle | n" for req/s and for CPU; the count is printed once.
        printf '| %s | %s | %s |\n' "$name" "${cells[0]% | *}" "${cells[1]}"
    done
}

# The variants of variants.sh and memory.sh: each is templates/meshgate.yaml with a few lines added and, for the
# runtime settings, environment variables (the config as shipped, metrics on: compare them with `metrics`).
VARIANT_NAMES="bare metrics tracing accesslog observed gen0-64m no-pgo no-spin wks-gc no-datas pool-sockets runtime-sockets epoll-sockets"
variant_settings() {  # variant_settings VARIANT [FILE]: the YAML appended to the template for it (FILE names its access log; VARIANT by default)
    local off="metrics: { enabled: false }"
    local tracing="tracing: { protocol: http/protobuf, endpoint: \"http://127.0.0.1:$UPSTREAM_PORT/v1/traces\", sampling: 0.01 }"
    local accesslog="accessLog: { output: $WORK/gateway/access-${2:-$1}.log, maxFileSize: 64MiB, maxFiles: 2 }"
    case $1 in
        bare) echo "$off" ;;
        metrics) echo "metrics: { enabled: true }" ;;
        tracing) printf '%s\n%s\n' "$off" "$tracing" ;;
        accesslog) printf '%s\n%s\n' "$off" "$accesslog" ;;
        observed) printf '%s\n%s\n%s\n' "metrics: { enabled: true }" "$tracing" "$accesslog" ;;
        gen0-64m|no-pgo|no-spin|wks-gc|no-datas|pool-sockets) echo "metrics: { enabled: true }" ;;
        runtime-sockets) printf '%s\n%s\n' "metrics: { enabled: true }" "sockets: runtime" ;;
        epoll-sockets) printf '%s\n%s\n' "metrics: { enabled: true }" "sockets: epoll" ;;
        *) die "unknown variant '$1' (${VARIANT_NAMES// /, })" ;;
    esac
}

variant_environment() {  # variant_environment VARIANT: the runtime settings it starts with, as NAME=VALUE words
    case $1 in
        gen0-64m) echo "DOTNET_GCgen0size=0x4000000" ;;
        no-pgo) echo "DOTNET_TieredPGO=0" ;;
        no-spin) echo "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0" ;;
        wks-gc) echo "DOTNET_gcServer=0 DOTNET_gcConcurrent=0" ;;
        no-datas) echo "DOTNET_GCDynamicAdaptationMode=0" ;;
        pool-sockets) echo "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0" ;;
    esac
}

# rss_kib, idle_connections_rss, memory_breakdown: shared with run.sh.
source "$BENCH_DIR/memory-lib.sh"
