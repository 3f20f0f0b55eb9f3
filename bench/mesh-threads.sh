#!/usr/bin/env bash
# bench/mesh-threads.sh — which threads of the mesh wake up, and how often, per request at a fixed moderate rate.
# See bench/README.md ("Mesh: thread wake-ups per request").
#
#   bench/mesh-threads.sh [MESH ...]
#
# Each MESH argument is one two-sidecar mesh (bench/mesh-up.sh: its own control plane, client and app sidecars) in front
# of one shared origin, given as comma-separated NAME=VALUE words for its processes' environment, or `-` for none:
#
#   MESHGATE=/tmp/mg bench/mesh-threads.sh - MESH_FORWARDER=direct      the HTTP/2 hop (default) and the direct HTTP/1.1 hop
#   bench/mesh-threads.sh MESHGATE=/tmp/a MESHGATE=/tmp/b               two publishes (MESHGATE= picks a mesh's build)
#   bench/mesh-threads.sh - DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
#
# The meshes are warmed up with wrk, then loaded in turn (interleaved, ROUNDS rounds) by bench/openloop at RATE req/s for
# DURATION s each. Around every load the script reads each thread's voluntary context switches (the thread went to sleep
# and was woken: a hand-off, a socket wait, a timer), involuntary ones (preempted) and CPU time
# (/proc/PID/task/TID/status and schedstat), and prints them per request, summed over threads of the same name
# (/proc/PID/task/TID/comm: ".NET TP Worker", ".NET Sockets", ".NET Timer", ...) per process (client sidecar, app
# sidecar, control plane). Counts, not timings: they hold up on a busy machine.
#
# Environment: MESHGATE (default publish dir; empty = build into bench/.work/mesh-threads/meshgate), RATE (1000), DURATION
# (s, 10), ROUNDS (2), WARMUP (s of wrk load per mesh, 20), CONNECTIONS (open-loop connections, 64), SERVER_CPU, LOAD_CPU.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/mesh-threads"
TEMPLATES="$BENCH_DIR/templates"
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-20}
CONNECTIONS=${CONNECTIONS:-64}
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset openssl curl sha256sum gcc; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done
(( $# > 0 )) || set -- -

mkdir -p "$WORK"
MESHGATE_BUILD=${MESHGATE_BUILD:-jit} publish_meshgate   # it starts meshgate.dll
DEFAULT_MESHGATE=$MESHGATE
gcc -O2 -Wall -o "$WORK/openloop" "$BENCH_DIR/openloop/openloop.c" || die "building bench/openloop/openloop.c failed"
free_port UPSTREAM_PORT
start_origin

MESHES=("$@")
declare -A PID URL
for (( m = 0; m < ${#MESHES[@]}; m++ )); do
    free_port service_port; free_port cp_port; free_port cp_admin_port
    build=$DEFAULT_MESHGATE
    IFS=, read -ra words <<<"${MESHES[$m]}"
    for word in "${words[@]}"; do [[ $word == MESHGATE=* ]] && build=${word#MESHGATE=}; done
    [[ -f $build/meshgate.dll ]] || die "no meshgate.dll in $build"
    (for word in "${words[@]}"; do [[ $word == - || $word == MESHGATE=* ]] || export "$word"; done
     exec taskset -c "$SERVER_CPU" "$BENCH_DIR/mesh-up.sh" "$build/meshgate.dll" "$WORK/mesh-$m" "$UPSTREAM_PORT" \
        "$service_port" "$cp_port" "$cp_admin_port") >"$WORK/mesh-up-$m.log" 2>&1 &
    STARTED+=($!)
    PID[$m]=$!
    URL[$m]="http://127.0.0.1:$service_port/"
done
for (( m = 0; m < ${#MESHES[@]}; m++ )); do
    for _ in $(seq 300); do
        kill -0 "${PID[$m]}" 2>/dev/null || { tail -n 20 "$WORK/mesh-up-$m.log" "$WORK/mesh-$m"/*.log >&2 || true; die "mesh '${MESHES[$m]}' exited"; }
        [[ $(curl -s -m 2 "${URL[$m]}" 2>/dev/null) == "hello from upstream" ]] && continue 2
        sleep 0.3
    done
    die "mesh '${MESHES[$m]}' never answered like the origin (logs in $WORK/mesh-$m)"
done
log "warming up: ${WARMUP}s of wrk per mesh"
for (( m = 0; m < ${#MESHES[@]}; m++ )); do
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${URL[$m]}" >/dev/null
done

# threads MESH: one line per thread of the mesh's processes: mesh, process, thread name, tid, voluntary and involuntary
# switches, CPU ns (tab-separated; thread names have spaces).
threads() {
    local p role tid comm
    for p in $(proc_tree "${PID[$1]}"); do
        role=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
        case $role in
            *" sidecar "*"--service app "*) role="app sidecar" ;;
            *" sidecar "*"--service client "*) role="client sidecar" ;;
            *" control-plane "*) role="control plane" ;;
            *) continue ;;   # mesh-up.sh's shell
        esac
        for tid in /proc/"$p"/task/*; do
            { read -r comm <"$tid/comm"; } 2>/dev/null || continue
            awk -v m="$1" -v r="$role" -v c="$comm" -v t="${tid##*/}" -v ns="$(cut -d' ' -f1 "$tid/schedstat" 2>/dev/null || echo 0)" \
                '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 }
                 END { printf "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", m, r, c, t, v, n, ns }' "$tid/status" 2>/dev/null || true
        done
    done
}

rm -f "$WORK/behind"
RAW="$WORK/threads.tsv"   # mesh, process, thread name, tid, voluntary, involuntary, CPU ns (deltas), requests, round
: >"$RAW"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#MESHES[@]}
    for (( i = 0; i < n; i++ )); do
        m=$(( (i + r - 1) % n ))
        threads "$m" >"$WORK/before.tsv"
        out=$(taskset -c "$LOAD_CPU" "$WORK/openloop" -r "$RATE" -d "$DURATION" -c "$CONNECTIONS" "${URL[$m]}") || die "mesh '${MESHES[$m]}': openloop failed: $out"
        threads "$m" >"$WORK/after.tsv"
        read -r completed failed p50 < <(awk '/^scheduled=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            print v["completed"], v["errors"] + v["non2xx"] + v["unfinished"], v["p50_us"] }' <<<"$out")
        # A mesh that fell behind still has counts, but they are a backlog's (batched), not a moderate rate's: said in the table.
        (( failed == 0 )) || { log "mesh '${MESHES[$m]}' at $RATE req/s: $failed requests failed or unanswered ($out)"; echo "$m" >>"$WORK/behind"; }
        # A thread that started during the load counts from zero; one that ended is lost (its counts go with it).
        awk -F'\t' -v OFS='\t' -v req="$completed" -v round="$r" 'NR == FNR { b[$4] = $5 "\t" $6 "\t" $7; next }
            { split(($4 in b) ? b[$4] : "0\t0\t0", o, "\t"); print $1, $2, $3, $4, $5 - o[1], $6 - o[2], $7 - o[3], req, round }' \
            "$WORK/before.tsv" "$WORK/after.tsv" >>"$RAW"
        printf '  round %d  mesh %d (%s): %d requests, p50 %d us (timings on a busy machine are noise)\n' "$r" "$m" "${MESHES[$m]}" "$completed" "$p50" >&2
    done
done

# Requests per process: each round's count once (every thread line of a round carries it).
printf '\nPer request at %d req/s (open loop, %d connections, %d round(s) of %d s; sums over threads of one name):\n' "$RATE" "$CONNECTIONS" "$ROUNDS" "$DURATION"
for (( m = 0; m < ${#MESHES[@]}; m++ )); do
    behind=; grep -qx "$m" "$WORK/behind" 2>/dev/null && behind=" (fell behind the rate in some round: these counts are a backlog's)"
    printf '\nMesh %d: %s%s\n\n| process | threads | threads woken | wake-ups/req | preempted/req | CPU µs/req |\n|---|---|---:|---:|---:|---:|\n' "$m" "${MESHES[$m]}" "$behind"
    awk -F'\t' -v m="$m" '$1 == m {
            key = $2 "\t" $3; v[key] += $5; n[key] += $6; ns[key] += $7
            if ($5 > 0 && !(($2, $4) in seen)) { seen[$2, $4] = 1; woken[key]++ }
            if (!(($2, $4) in all)) { all[$2, $4] = 1; count[key]++ }
            if (!(($2, $9) in counted)) { counted[$2, $9] = 1; total[$2] += $8 }
        }
        END {
            for (key in v) {
                split(key, k, "\t"); t = total[k[1]]
                printf "| %s | %s (%d) | %d | %.3f | %.3f | %.1f |\n", k[1], k[2], count[key], woken[key], v[key] / t, n[key] / t, ns[key] / 1000 / t
                pv[k[1]] += v[key]; pn[k[1]] += n[key]; pns[k[1]] += ns[key]
            }
            for (p in pv) printf "| %s | **all** | | **%.3f** | %.3f | **%.1f** |\n", p, pv[p] / total[p], pn[p] / total[p], pns[p] / 1000 / total[p]
        }' "$RAW" | sort -t'|' -k2,2 -k5,5gr
done
