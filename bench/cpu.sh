#!/usr/bin/env bash
# bench/cpu.sh — where the gateway's CPU goes on one route, by component: Kestrel, routing, Meshgate's own
# middleware, YARP's forwarder, HttpClient, sockets and the kernel, GC, JIT. See bench/README.md.
#
#   bench/cpu.sh                                /plain of templates/meshgate.yaml
#   ROUTE=all bench/cpu.sh                      the catch-all route (GET /all/) against the default /plain (pathPrefix + stripPrefix)
#   BEARER=0 bench/cpu.sh                       without the bench's Authorization header (run.sh sends none to its catch-all row)
#   ROUTE=retry TOP=40 bench/cpu.sh
#   EXTRA_YAML='metrics: { enabled: false }' bench/cpu.sh
#   INCLUSIVE="DfaMatcher Http1RequestWriter" bench/cpu.sh   also the inclusive share of frames containing each word
#   METHODS=Meshgate bench/cpu.sh               also the shares of that assembly's own methods (innermost such frame, and inclusive)
#   VARIANT=observed bench/cpu.sh               a variant of variants.sh (bare, metrics, tracing, accesslog, observed, ...)
#   MESH=1 bench/cpu.sh                         the calling sidecar of bench/mesh-up.sh's mesh (MESH_SIDECAR=app: the called one;
#                                               MESH_FORWARDER=direct|yarp as for alloc.sh)
#
# It samples the gateway with Linux perf (call stacks, 999 Hz) under wrk load, with the runtime writing a
# perf map so JIT-compiled methods have names, and sorts each sample into a component by its stack
# (bench/cpu_components.py). Shares of the gateway's own CPU hardly depend on what else the machine does,
# so, unlike the timing scripts, this one can run on a busy machine; its absolute figures cannot.
# Overridable by environment: MESHGATE, ROUTE, BEARER, VARIANT, EXTRA_YAML, MESH, MESH_FORWARDER, MESH_SIDECAR, TOP, INCLUSIVE, METHODS, SECONDS_SAMPLED, WARMUP, CONNECTIONS, SERVER_CPU, LOAD_CPU.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/cpu"
TEMPLATES="$BENCH_DIR/templates"
ROUTE=${ROUTE:-plain}
TOP=${TOP:-25}
SECONDS_SAMPLED=${SECONDS_SAMPLED:-8}
WARMUP=${WARMUP:-30}
CONNECTIONS=${CONNECTIONS:-64}   # the timed runs' 64: at 32, a buffer pool that keeps 32 per core never missed (docs/performance.md, twelfth session)
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset openssl dotnet perf python3; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools; perf is Debian's linux-perf)"; done

mkdir -p "$WORK/gateway"
MESHGATE_BUILD=${MESHGATE_BUILD:-jit} publish_meshgate   # its components are told apart by the JIT's method names (perf map)
# The perf map names JIT-compiled code; without it managed frames are bare addresses.
# W^X off, or JIT code runs from a memfd double mapping that perf cannot match with the map.
GATEWAY_ENV=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0)
if (( ${MESH:-0} )); then
    start_mesh_sidecar
else
    start_template_gateway
fi

# Long enough for tiered compilation to finish (instrumented and quick-jitted code would be profiled otherwise).
log "warming up /$ROUTE for $WARMUP s"
load "$WARMUP" >/dev/null
load $(( SECONDS_SAMPLED + 2 )) >"$WORK/wrk.txt" &
load_pid=$!
sleep 1
perf record -e cpu-clock -F 999 -g -p "$GATEWAY_PID" -o "$WORK/perf.data" -- sleep "$SECONDS_SAMPLED" >"$WORK/perf.log" 2>&1 || { rc=$?; cat "$WORK/perf.log" >&2; die "perf record failed (exit $rc)"; }
wait "$load_pid"
log "/$ROUTE: $(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk.txt") req/s under the profiler (not a benchmark figure)"
# The text is kept for bench/cpu_compare.py (copy it away before the next run).
perf script -i "$WORK/perf.data" --no-demangle 2>/dev/null | tee "$WORK/perf.txt" | python3 "$BENCH_DIR/cpu_components.py" --top "$TOP" --inclusive "${INCLUSIVE:-}" --methods "${METHODS:-}"
