#!/usr/bin/env bash
# bench/alloc.sh — what one request allocates, by type and by stack: the allocation profile behind the
# "bytes per request" figures in docs/performance.md and the issue notes. See bench/README.md.
#
#   bench/alloc.sh                       /plain of templates/meshgate.yaml
#   ROUTE=all bench/alloc.sh             the catch-all route (GET /all/) against the default /plain (pathPrefix + stripPrefix)
#   BEARER=0 bench/alloc.sh              without the bench's Authorization header (run.sh sends none to its catch-all row)
#   ROUTE=retry STACKS=30 bench/alloc.sh
#   EXTRA_YAML='metrics: { enabled: false }' bench/alloc.sh
#   VARIANT=observed bench/alloc.sh      a variant of variants.sh (bare, metrics, tracing, accesslog, observed, ...)
#   EXTRA_YAML='tracing: { protocol: http/protobuf, endpoint: "http://127.0.0.1:@UPSTREAM_PORT@/v1/traces", sampling: 0.01 }' bench/alloc.sh
#   MESH=1 bench/alloc.sh                  the client sidecar of bench/mesh-up.sh's two-sidecar mesh (the mesh hop, mTLS)
#   MESH=1 MESH_FORWARDER=yarp bench/alloc.sh   the same with the mesh hop on YARP's forwarder (--mesh-forwarder yarp)
#   MESH=1 MESH_SIDECAR=app bench/alloc.sh      the called sidecar instead (mTLS inbound -> the origin)
#
# It runs one gateway under wrk load and captures LOAD_SECONDS (6) + 2 s of dotnet-trace's gc-verbose profile (the runtime's
# allocation ticks with stacks), then divides by the requests served meanwhile. Allocation counts do not
# depend on what else the machine is doing, so unlike the timing scripts this one can run on a busy machine.
# With MESH=1 the profiled process is the calling sidecar of the mesh bench/mesh.sh loads (its fixed service port ->
# the mesh cluster -> mTLS to the app sidecar), not a template gateway.
# Overridable by environment: MESHGATE, ROUTE, BEARER, VARIANT, EXTRA_YAML, MESH, MESH_FORWARDER, MESH_SIDECAR, STACKS, STACK_DEPTH, LOAD_SECONDS, CONNECTIONS, SERVER_CPU, LOAD_CPU.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/alloc"
TEMPLATES="$BENCH_DIR/templates"
ROUTE=${ROUTE:-plain}
STACKS=${STACKS:-15}
CONNECTIONS=${CONNECTIONS:-64}   # the timed runs' 64: at 32, a buffer pool that keeps 32 per core never missed (docs/performance.md, twelfth session)
# Seconds of measured load; more load means more allocation ticks, so steadier figures per type.
LOAD_SECONDS=${LOAD_SECONDS:-6}
source "$BENCH_DIR/lib.sh"
for tool in nginx wrk taskset openssl dotnet; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

mkdir -p "$WORK/gateway"
TRACE="$WORK/tools/dotnet-trace"
if [[ ! -x $TRACE ]]; then
    log "installing dotnet-trace into $WORK/tools"
    dotnet tool install dotnet-trace --tool-path "$WORK/tools" >"$WORK/tool.log" 2>&1 || { cat "$WORK/tool.log" >&2; die "dotnet-trace install failed"; }
fi
dotnet build "$BENCH_DIR/allocations" -c Release -o "$WORK/allocations" >"$WORK/allocations-build.log" 2>&1 || { tail -20 "$WORK/allocations-build.log" >&2; die "allocations build failed"; }
MESHGATE_BUILD=${MESHGATE_BUILD:-jit} publish_meshgate   # dotnet-trace needs the JIT build's event pipe
if (( ${MESH:-0} )); then
    start_mesh_sidecar
else
    start_template_gateway
fi

log "warming up /$ROUTE for 5 s"
load 5 >/dev/null
printf -v capture '00:00:%02d:%02d' $(( (LOAD_SECONDS + 2) / 60 )) $(( (LOAD_SECONDS + 2) % 60 ))
# dotnet-trace is a .NET program too: with inline socket completions (exported for the gateway) its capture never ended.
env -u DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS "$TRACE" collect -p "$GATEWAY_PID" --profile gc-verbose --duration "$capture" -o "$WORK/$ROUTE.nettrace" >"$WORK/trace.log" 2>&1 &
trace_pid=$!
sleep 1
requests=$(load "$LOAD_SECONDS" | awk '/requests in/ { print $1 }')
wait "$trace_pid" || { cat "$WORK/trace.log" >&2; die "dotnet-trace failed"; }
log "/$ROUTE: $requests requests during the capture ($WORK/$ROUTE.nettrace)"
dotnet "$WORK/allocations/allocations.dll" "$WORK/$ROUTE.nettrace" "$requests" "$STACKS" "${STACK_DEPTH:-8}"
