#!/usr/bin/env bash
# bench/variants.sh — what a process-wide setting (metrics, tracing, the access log) costs: gateway
# processes that differ only by that setting, /plain on each, interleaved. See bench/README.md.
#
#   bench/variants.sh                         build, then 5 interleaved rounds of all variants
#   MESHGATE=/tmp/mg VARIANTS="bare observed" ROUNDS=9 bench/variants.sh
#   MESHGATE=/tmp/mg VARIANTS="bare@/tmp/mg-before bare" ROUNDS=15 bench/variants.sh
#                                             VARIANT@DIR runs that variant from another publish: two builds, interleaved
#
# Variants (the first one given is the baseline):
#   bare       metrics, tracing and the access log all off
#   metrics    metrics on (the default), nothing else
#   tracing    1% of new traces exported over OTLP/HTTP (to the origin nginx, which answers 200)
#   accesslog  the access log to a file rotating at 64 MiB
#   observed   all three on: the issue-7 row of the bench table
# and runtime settings (environment variables; the config as shipped, metrics on — compare with `metrics`):
#   gen0-64m   DOTNET_GCgen0size=0x4000000: a 64 MiB gen0 budget, so fewer GCs
#   no-pgo     DOTNET_TieredPGO=0: no instrumented tier (less JIT work, maybe slower steady-state code)
#   no-spin    DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0: idle pool threads sleep at once instead of spinning
#   wks-gc     DOTNET_gcServer=0 DOTNET_gcConcurrent=0: workstation GC without the background GC thread
#   no-datas   DOTNET_GCDynamicAdaptationMode=0: Server GC with a heap per core from the start instead of DATAS
#   pool-sockets  DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0: socket completions and Kestrel's connection work
#              go through the thread pool, as before the gateway role ran inline by default (seventh session)
#   epoll-sockets  sockets: epoll: the epoll engine with a system call per send, not its sends through io_uring (the
#              default where the kernel allows io_uring since the eighteenth session, docs/sockets.md)
#   runtime-sockets  sockets: runtime: .NET's sockets under the listeners and upstreams instead of Meshgate's epoll
#              engine, the default on Linux since the thirteenth session (docs/sockets.md)
# (the variants are defined in lib.sh, shared with memory.sh)
# Overridable by environment: MESHGATE, VARIANTS, ROUNDS, DURATION (s), WARMUP (s per variant before
# round 1), CONNECTIONS, SERVER_CPU, LOAD_CPU; SYSCALLS=1 also counts the process's system calls per request
# (perf's syscall tracepoints; counts, valid on a busy machine, though counting costs a little time). All gateways and the origin share the server core; only
# the one under load works, so each round's CPU µs/request is its own process's utime+stime.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/variants"
TEMPLATES="$BENCH_DIR/templates"

read -ra VARIANTS <<<"${VARIANTS:-bare metrics tracing accesslog observed}"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
# The shipped build JIT-compiles the framework (trimmed, not ReadyToRun): 10 s left the first rounds still tiering up.
WARMUP=${WARMUP:-40}
CONNECTIONS=${CONNECTIONS:-64}   # the timed runs' 64: at 32, a buffer pool that keeps 32 per core never missed (docs/performance.md, twelfth session)
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset openssl dotnet; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

mkdir -p "$WORK/gateway"
publish_meshgate
free_port UPSTREAM_PORT
source "$BENCH_DIR/bench-jwt.sh"
bench_jwt "$WORK/gateway/jwt.secret"

start_origin
free_port REDIS_PORT
start_redis || log "redis-server not found: the gateways retry their Redis connection in the background (install redis-server)"
declare -A PID PORT
declare -A FILE   # a variant's name as a file name ("bare@/tmp/mg-before" holds slashes)
for v in "${VARIANTS[@]}"; do
    free_port GATEWAY_PORT; free_port ADMIN_PORT
    setting=${v%%@*}; build=$MESHGATE
    if [[ $v == *@* ]]; then build=${v#*@}; [[ -f $build/meshgate.dll || -x $build/meshgate ]] || die "variant $v: no meshgate.dll or meshgate executable in $build"; fi
    FILE[$v]=${v//\//_}
    render "$TEMPLATES/meshgate.yaml" "$WORK/gateway/${FILE[$v]}.yaml"
    variant_settings "$setting" "${FILE[$v]}" >>"$WORK/gateway/${FILE[$v]}.yaml"
    read -ra GATEWAY_ENV <<<"$(variant_environment "$setting")"
    MESHGATE=$build start_gateway "$WORK/gateway/${FILE[$v]}.yaml" "$WORK/gateway/${FILE[$v]}.log" "$GATEWAY_PORT"
    PID[$v]=$GATEWAY_PID; PORT[$v]=$GATEWAY_PORT
    echo "$GATEWAY_PID" >"$WORK/${FILE[$v]}.pid"
done
log "gateways: $(for v in "${VARIANTS[@]}"; do printf '%s pid %s on :%s; ' "$v" "${PID[$v]}" "${PORT[$v]}"; done)"

load() {  # load VARIANT SECONDS: wrk output on stdout
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$2s" "http://127.0.0.1:${PORT[$1]}/plain/"
}
for v in "${VARIANTS[@]}"; do
    body=$(curl -s "http://127.0.0.1:${PORT[$v]}/plain/") || die "$v does not answer"
    [[ $body == "hello from upstream" ]] || die "$v answered '$body'"
done
log "warming up: ${WARMUP}s per variant"
for v in "${VARIANTS[@]}"; do load "$v" "$WARMUP" >/dev/null; done

RAW="$WORK/rounds.tsv"
: >"$RAW"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#VARIANTS[@]}
    for (( i = 0; i < n; i++ )); do
        v=${VARIANTS[$(( (i + r - 1) % n ))]}   # the order rotates from round to round
        if [[ -n ${SYSCALLS:-} ]]; then
            perf stat -x, -e "$SYSCALL_EVENTS" -p "${PID[$v]}" -o "$WORK/syscalls-${FILE[$v]}-$r.csv" 2>/dev/null &
            PERF_PID=$!
            sleep 0.5
        fi
        before=$(cpu_ticks "${PID[$v]}"); switches_before=$(ctx_switches "${PID[$v]}")
        out=$(load "$v" "$DURATION")
        after=$(cpu_ticks "${PID[$v]}"); switches_after=$(ctx_switches "${PID[$v]}")
        if [[ -n ${SYSCALLS:-} ]]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
        requests=$(awk '/requests in/ { print $1 }' <<<"$out")
        rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; die "$v had errors"; fi
        cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        switches=$(awk -v d=$(( switches_after - switches_before )) -v n="$requests" 'BEGIN { printf "%.2f", d / n }')
        printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$r" "$rps" "$cpu" "$switches" >>"$RAW"
        printf '  round %d  %-24s %9.0f req/s  %6s us/req CPU  %5s context switches/req\n' "$r" "$v" "$rps" "$cpu" "$switches" >&2
        # The count window opens half a second before the load and closes just after it: idle time adds a few timer wake-ups.
        [[ -n ${SYSCALLS:-} ]] && printf '           system calls per request: %s (reads %s, writes %s, epoll %s, futex %s)\n' $(syscalls_per_request "$WORK/syscalls-${FILE[$v]}-$r.csv" "$requests") >&2
    done
done

median_table variant "$RAW" "${VARIANTS[@]}"
