#!/usr/bin/env bash
# bench/floor.sh — how close can .NET get to nginx on this machine? nginx, Meshgate's routing-only gateway and bare
# YARP next to the .NET floor (bench/dotnet-floor: forwarders that do the least work per request the runtime allows),
# interleaved, with ratios to nginx round by round. See bench/README.md.
#
#   bench/floor.sh                                  build, then 7 interleaved rounds of 5 s per target
#   MESHGATE=/tmp/mg ROUNDS=11 bench/floor.sh       reuse a `scripts/publish /tmp/mg`
#   TARGETS="nginx floor-async floor-kestrel" bench/floor.sh
#   SYSCALLS=1 bench/floor.sh                       also count each target's system calls per request (perf)
#   PROFILE=1 bench/floor.sh                        also sample each target's stacks in the last round (perf) and
#                                                   print where its CPU goes: user against kernel, and the kernel's
#                                                   top functions, in µs per request side by side
#
# Targets (the first is the baseline of the ratios):
#   nginx               nginx as a reverse proxy (templates/proxy-nginx.conf), as in run.sh
#   meshgate            Meshgate's routing-only row of run.sh: GET / on the template's catch-all route
#   meshgate-bare       the same with metrics off too (variants.sh's `bare`): only the pipeline's own work
#   meshgate-epoll      the same with a system call per send instead of its sends through io_uring (sockets: epoll;
#                       variants.sh's `epoll-sockets`)
#   meshgate-runtime    the same on .NET's sockets instead of Meshgate's epoll engine (sockets: runtime; variants.sh's
#                       `runtime-sockets`)
#   yarp                bare YARP (bench/yarp-minimal), as in run.sh
#   floor-async         System.Net.Sockets, async/await both sides, no HTTP framework: the runtime's socket engine alone
#   floor-async-inline  the same with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 (no hop to the thread pool)
#   floor-blocking      a thread per connection, blocking calls: no epoll and no speculative reads, a switch per wait
#   floor-kestrel       Kestrel and one terminal middleware forwarding over pooled raw upstream sockets
#   floor-kestrel-transport  Kestrel's socket transport and pipes, no HTTP layer: a connection handler relays as floor-async
#   floor-epoll         below the runtime's socket engine: its own edge-triggered epoll loop per core, as nginx's worker
#                       (no speculative read before each wait)
#   floor-epoll-batched-sends  floor-epoll with its sends queued in an io_uring ring and submitted once per turn of
#                       the loop (receives stay recv calls after epoll's edge)
#   floor-uring         the same forwarder with its receives and sends batched through io_uring: one io_uring_enter per
#                       turn of the loop instead of a system call per receive and per send
#   TARGET-inline       any .NET target above (meshgate, yarp, floor-*) with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
#                       (Meshgate and the floor's Kestrel modes then also schedule Kestrel's work inline)
#   TARGET-pool         the same with =0: the thread pool, which Meshgate's gateway role uses only when told so (it
#                       runs inline by default since the seventh session; the other .NET targets use the pool anyway)
# Overridable by environment: MESHGATE, TARGETS, ROUNDS, DURATION (s), WARMUP (s per target before round 1),
# CONNECTIONS, THREADS, SERVER_CPU, LOAD_CPU, SYSCALLS, PROFILE, TOP (25: kernel functions PROFILE lists), REQUEST_PATH (/ by default: the origin's 20-byte body;
# /bodies/1k and /bodies/64k as run.sh's body-size rows). Every server and the origin share the server core; only the
# one under load works, so each round's CPU µs/request is its own process's utime+stime.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/floor"
TEMPLATES="$BENCH_DIR/templates"

read -ra TARGETS <<<"${TARGETS:-nginx meshgate yarp floor-async floor-async-inline floor-blocking floor-kestrel floor-kestrel-transport}"
ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-30}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset dotnet curl; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

rm -rf "$WORK"
mkdir -p "$WORK"/{gateway,nginx-proxy/tmp}
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
needs() { [[ " ${TARGETS[*]} " == *" $1"* ]]; }
needs meshgate && publish_meshgate
if needs yarp; then
    log "building bare YARP (bench/yarp-minimal)"
    dotnet publish "$BENCH_DIR/yarp-minimal" -c Release -o "$WORK/yarp" >"$WORK/yarp-build.log" 2>&1 || { tail -30 "$WORK/yarp-build.log" >&2; die "bare YARP build failed"; }
fi
if needs floor-; then
    log "building the .NET floor (bench/dotnet-floor)"
    dotnet publish "$BENCH_DIR/dotnet-floor" -c Release -o "$WORK/floor" >"$WORK/floor-build.log" 2>&1 || { tail -30 "$WORK/floor-build.log" >&2; die "dotnet-floor build failed"; }
fi

free_port UPSTREAM_PORT
REQUEST_PATH=${REQUEST_PATH:-/}
# The bodies of run.sh's body-size rows, served from /bodies/ by the origin.
mkdir -p "$WORK/upstream/www/bodies"
head -c 1024  /dev/zero | tr '\0' 'k' >"$WORK/upstream/www/bodies/1k"
head -c 65536 /dev/zero | tr '\0' 'K' >"$WORK/upstream/www/bodies/64k"
start_origin
declare -A PID PORT
start_server() {  # start_server TARGET PORT LOG ENV... -- COMMAND...: pinned to the server core, once it accepts on PORT
    local target=$1 port=$2 logfile=$3 environment=()
    shift 3
    while [[ $1 != -- ]]; do environment+=("$1"); shift; done
    shift
    (exec env ${environment[@]+"${environment[@]}"} taskset -c "$SERVER_CPU" "$@") >"$logfile" 2>&1 &
    STARTED+=($!)
    PID[$target]=$!; PORT[$target]=$port
    for _ in $(seq 300); do
        kill -0 "${PID[$target]}" 2>/dev/null || die "$target exited (log: $logfile)"
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.2
    done
    die "$target did not accept on :$port (log: $logfile)"
}
for t in "${TARGETS[@]}"; do
    free_port port
    environment=()
    [[ $t == *-inline ]] && environment=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
    [[ $t == *-pool ]] && environment=(DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0)
    base=${t%-inline}
    case ${base%-pool} in
        nginx)
            free_port NGINX_H2C_PORT
            sed -e "s|@NGINX_PROXY_PORT@|$port|g" -e "s|@NGINX_H2C_PORT@|$NGINX_H2C_PORT|g" "$TEMPLATES/proxy-nginx.conf" >"$WORK/nginx-proxy/nginx.conf.in"
            render "$WORK/nginx-proxy/nginx.conf.in" "$WORK/nginx-proxy/nginx.conf"
            start_server nginx "$port" "$WORK/nginx-proxy/stdout.log" -- nginx -p "$WORK/nginx-proxy" -e "$WORK/nginx-proxy/error.log" -c "$WORK/nginx-proxy/nginx.conf" ;;
        meshgate|meshgate-bare|meshgate-runtime|meshgate-epoll)
            GATEWAY_PORT=$port; free_port ADMIN_PORT
            source "$BENCH_DIR/bench-jwt.sh"
            bench_jwt "$WORK/gateway/jwt.secret"
            if [[ -z ${REDIS_PORT:-} ]]; then
                free_port REDIS_PORT
                start_redis || log "redis-server not found: the gateway retries its Redis connection in the background (install redis-server)"
            fi
            render "$TEMPLATES/meshgate.yaml" "$WORK/gateway/$t.yaml"
            [[ $t == meshgate-bare* ]] && variant_settings bare "$t" >>"$WORK/gateway/$t.yaml"
            [[ $t == meshgate-runtime* ]] && variant_settings runtime-sockets "$t" >>"$WORK/gateway/$t.yaml"
            [[ $t == meshgate-epoll* ]] && variant_settings epoll-sockets "$t" >>"$WORK/gateway/$t.yaml"
            GATEWAY_ENV=(${environment[@]+"${environment[@]}"})
            start_gateway "$WORK/gateway/$t.yaml" "$WORK/gateway/$t.log" "$port"
            PID[$t]=$GATEWAY_PID; PORT[$t]=$port ;;
        yarp)
            start_server "$t" "$port" "$WORK/$t.log" ${environment[@]+"${environment[@]}"} -- \
                dotnet "$WORK/yarp/yarp-minimal.dll" "http://127.0.0.1:$port" "http://127.0.0.1:$UPSTREAM_PORT" ;;
        floor-async|floor-blocking|floor-kestrel|floor-kestrel-transport|floor-epoll|floor-epoll-batched-sends|floor-uring)
            mode=${base#floor-}
            start_server "$t" "$port" "$WORK/$t.log" ${environment[@]+"${environment[@]}"} -- \
                dotnet "$WORK/floor/dotnet-floor.dll" "${mode%-pool}" "$port" "$UPSTREAM_PORT" ;;
        *) die "unknown target '$t' (see the head of $0)" ;;
    esac
done
expected=$(curl -s "http://127.0.0.1:$UPSTREAM_PORT$REQUEST_PATH" | sha256sum)
for t in "${TARGETS[@]}"; do
    body=$(curl -s "http://127.0.0.1:${PORT[$t]}$REQUEST_PATH" | sha256sum) || die "$t does not answer"
    [[ $body == "$expected" ]] || die "$t answered GET $REQUEST_PATH with another body than the origin's"
done
log "targets: $(for t in "${TARGETS[@]}"; do printf '%s pid %s on :%s; ' "$t" "${PID[$t]}" "${PORT[$t]}"; done)"

load() {  # load TARGET SECONDS: wrk output on stdout
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency -s "$BENCH_DIR/wrk-percentiles.lua" "http://127.0.0.1:${PORT[$1]}$REQUEST_PATH"
}
log "warming up: ${WARMUP}s per target"
for t in "${TARGETS[@]}"; do load "$t" "$WARMUP" >/dev/null; done

RAW="$WORK/rounds.tsv"
# The origin shares the server core: what a target makes it spend per request is taken from the target's requests/s too.
mapfile -t origin_pids < <(proc_tree "$ORIGIN_PID")
: >"$RAW"; : >"$WORK/latency.tsv"; : >"$WORK/origin.tsv"; : >"$WORK/syscalls.tsv"; : >"$WORK/profile-cpu.tsv"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#TARGETS[@]}
    for (( i = 0; i < n; i++ )); do
        t=${TARGETS[$(( (i + r - 1) % n ))]}   # the order rotates from round to round
        mapfile -t pids < <(proc_tree "${PID[$t]}")   # nginx: its master and worker
        profiled=0; [[ -n ${PROFILE:-} ]] && (( r == ROUNDS )) && profiled=1
        if [[ -n ${SYSCALLS:-} ]]; then
            perf stat -x, -e "$SYSCALL_EVENTS" -p "$(IFS=,; echo "${pids[*]}")" -o "$WORK/syscalls-$t-$r.csv" 2>/dev/null &
            PERF_PID=$!
            sleep 0.5
        elif (( profiled )); then
            # Kernel stacks only need the kernel's symbols; the managed frames stay addresses (no perf map needed).
            perf record -q -e cpu-clock -F 4999 -g -p "$(IFS=,; echo "${pids[*]}")" -o "$WORK/profile-$t.data" >/dev/null 2>&1 &
            PERF_PID=$!
            sleep 0.5
        fi
        before=0; sw=0; for p in "${pids[@]}"; do before=$(( before + $(cpu_ticks "$p") )); sw=$(( sw - $(ctx_switches "$p") )); done
        origin_before=0; for p in "${origin_pids[@]}"; do origin_before=$(( origin_before + $(cpu_ticks "$p") )); done
        out=$(load "$t" "$DURATION")
        after=0; for p in "${pids[@]}"; do after=$(( after + $(cpu_ticks "$p") )); sw=$(( sw + $(ctx_switches "$p") )); done
        origin_after=0; for p in "${origin_pids[@]}"; do origin_after=$(( origin_after + $(cpu_ticks "$p") )); done
        if [[ -n ${SYSCALLS:-} ]] || (( profiled )); then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; fi
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; die "$t had errors"; fi
        read -r requests rps p50 p99 < <(awk '/ requests in / { n = $1 } /^Requests\/sec:/ { rps = $2 }
            /^Percentiles-us:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] } }
            END { print n, rps, p["p50"], p["p99"] }' <<<"$out")
        cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        per=$(awk -v d="$sw" -v n="$requests" 'BEGIN { printf "%.2f", d / n }')
        printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$cpu" "$per" >>"$RAW"
        printf '%s\t%s\t%s\t%s\n' "$t" "$r" "$p50" "$p99" >>"$WORK/latency.tsv"
        printf '%s\t%s\n' "$t" "$(awk -v d=$(( origin_after - origin_before )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')" >>"$WORK/origin.tsv"
        printf '  round %d  %-20s %9.0f req/s  %6s us/req CPU  p99 %6d us  %5s context switches/req\n' "$r" "$t" "$rps" "$cpu" "$p99" "$per" >&2
        if [[ -n ${SYSCALLS:-} ]]; then
            printf '%s\t%s\t%s\n' "$t" "$r" "$(syscalls_per_request "$WORK/syscalls-$t-$r.csv" "$requests")" >>"$WORK/syscalls.tsv"
        fi
        if (( profiled )); then printf '%s\t%s\n' "$t" "$cpu" >>"$WORK/profile-cpu.tsv"; fi
    done
done

median_table target "$RAW" "${TARGETS[@]}"
printf '\n| target | p50 | p99 | p99 vs %s |\n|---|---:|---:|---:|\n' "${TARGETS[0]}"
base99=$(awk -v t="${TARGETS[0]}" '$1 == t { print $4 }' "$WORK/latency.tsv" | median)
for t in "${TARGETS[@]}"; do
    awk -v l="$t" -v p50="$(awk -v t="$t" '$1 == t { print $3 }' "$WORK/latency.tsv" | median)" \
        -v p99="$(awk -v t="$t" '$1 == t { print $4 }' "$WORK/latency.tsv" | median)" -v b="$base99" \
        'BEGIN { printf "| %s | %.2f ms | %.2f ms | %.2fx |\n", l, p50 / 1000, p99 / 1000, p99 / b }'
done
printf '\n| target | origin CPU µs/req |\n|---|---:|\n'
for t in "${TARGETS[@]}"; do printf '| %s | %.1f |\n' "$t" "$(awk -v t="$t" '$1 == t { print $2 }' "$WORK/origin.tsv" | median)"; done
if [[ -n ${SYSCALLS:-} ]]; then
    printf '\n| target | system calls/req | reads | writes | epoll | futex |\n|---|---:|---:|---:|---:|---:|\n'
    for t in "${TARGETS[@]}"; do
        printf '| %s |' "$t"
        for c in 3 4 5 6 7; do printf ' %.2f |' "$(awk -v t="$t" -v c="$c" '$1 == t { print $c }' "$WORK/syscalls.tsv" | median)"; done
        echo
    done
fi
if [[ -n ${PROFILE:-} ]]; then
    # Each sample's share of its target's samples, times the round's CPU µs/request: µs per request per function.
    for t in "${TARGETS[@]}"; do
        perf report -i "$WORK/profile-$t.data" --stdio --no-children -g none --sort sym -q 2>/dev/null \
            | awk -v t="$t" -v cpu="$(awk -v t="$t" '$1 == t { print $2 }' "$WORK/profile-cpu.tsv")" \
                '$1 ~ /%$/ { pct = $1 + 0; kernel = ($2 == "[k]"); name = kernel ? $3 : "(user)"; us[name] += pct * cpu / 100; if (kernel) k += pct * cpu / 100 }
                 END { for (n in us) printf "%s\t%s\t%.2f\n", t, n, us[n]; printf "%s\t(kernel)\t%.2f\n", t, k }'
    done >"$WORK/profile.tsv"
    python3 - "$WORK/profile.tsv" "${TOP:-25}" "${TARGETS[@]}" <<'PY'
import sys, collections
path, top, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
us = collections.defaultdict(dict)
for line in open(path):
    t, name, v = line.rstrip("\n").split("\t")
    us[name][t] = float(v)
rows = sorted((n for n in us if not n.startswith("(")), key=lambda n: -max(us[n].values()))[:top]
print("\n| µs per request (last round, perf) | " + " | ".join(targets) + " |")
print("|---|" + "---:|" * len(targets))
for n in ["(user)", "(kernel)"] + rows:
    print(f"| {n} | " + " | ".join(f"{us[n].get(t, 0):.2f}" for t in targets) + " |")
PY
fi
