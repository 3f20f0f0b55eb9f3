#!/usr/bin/env bash
# bench/mesh-up.sh — the mesh of the two-sidecar bench row, as one foreground process tree (see bench/README.md):
#
#   bench/mesh-up.sh MESHGATE_DLL DIR APP_PORT SERVICE_PORT CP_PORT CP_ADMIN_PORT
#
# starts `meshgate control-plane` (its CA on, a self-made root in DIR/ca, gRPC over TLS on 127.0.0.1:CP_PORT, admin
# API on CP_ADMIN_PORT) and two `meshgate sidecar` processes with freshly generated bootstrap tokens:
#
#   load ─▶ 127.0.0.1:SERVICE_PORT ─▶ sidecar "client" ══ mTLS ══▶ sidecar "app" ─▶ 127.0.0.1:APP_PORT (the origin)
#
# The client sidecar reaches the app through its fixed service port (--service-port app=SERVICE_PORT), since wrk
# cannot use an HTTP proxy; the route, cluster and mTLS are the same as for a call through HTTP_PROXY. The app sidecar
# forwards to the origin. Both sidecars find each other through the control plane's registry, as in production.
#
# MESH_FORWARDER=direct (or yarp) in the environment starts the client sidecar with --mesh-forwarder direct: the mesh hop
# then goes over the direct HTTP/1.1 path (mTLS) instead of YARP's forwarder over HTTP/2 (auto, the default, and yarp).
#
# It runs until SIGTERM or SIGINT, then stops its three processes. run.sh and mesh.sh start it pinned to the server
# core (taskset is inherited), so its whole tree is one target: CPU and RSS are both sidecars' plus the (idle) control
# plane's. Logs: DIR/control-plane.log, DIR/sidecar-client.log, DIR/sidecar-app.log.
set -euo pipefail

(( $# == 6 )) || { echo "usage: $0 MESHGATE_DLL DIR APP_PORT SERVICE_PORT CP_PORT CP_ADMIN_PORT" >&2; exit 2; }
DLL=$1 DIR=$2 APP_PORT=$3 SERVICE_PORT=$4 CP_PORT=$5 CP_ADMIN_PORT=$6
source "$(dirname "${BASH_SOURCE[0]}")/meshgate-command.sh"
meshgate_command "$(dirname "$DLL")"

rm -rf "$DIR"
mkdir -p "$DIR"
CHILDREN=()
stop() {
    trap - EXIT INT TERM
    local pid
    for pid in "${CHILDREN[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${CHILDREN[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# One bootstrap token per service: the sidecars read theirs from a file (mode 0600), the CA knows only its SHA-256
# (what `meshgate hash-key` prints; sha256sum of the token without a newline is the same).
umask 077
: >"$DIR/ca-tokens.txt"
for service in client app; do
    token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$token" >"$DIR/$service.token"
    printf 'default %s %s\n' "$service" "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" >>"$DIR/ca-tokens.txt"
done
umask 022

"${MESHGATE_CMD[@]}" control-plane --listen "127.0.0.1:$CP_PORT" --admin "127.0.0.1:$CP_ADMIN_PORT" \
    --ca-state-dir "$DIR/ca" --ca-trust-domain bench.mesh --ca-tokens-file "$DIR/ca-tokens.txt" \
    --write-trust-bundle "$DIR/control-plane-ca.pem" >"$DIR/control-plane.log" 2>&1 &
CHILDREN+=($!)
for _ in $(seq 300); do
    kill -0 "${CHILDREN[0]}" 2>/dev/null || { tail -n 20 "$DIR/control-plane.log" >&2; echo "the control plane exited" >&2; exit 1; }
    [[ -s $DIR/control-plane-ca.pem ]] && (exec 3<>"/dev/tcp/127.0.0.1/$CP_PORT") 2>/dev/null && break
    sleep 0.2
done

# Listeners nobody else calls (the app sidecar's outbound, the client's inbound, both admin APIs) take port 0.
sidecar() {  # sidecar SERVICE APP_PORT [ARGS...]
    local service=$1 port=$2
    shift 2
    "${MESHGATE_CMD[@]}" sidecar --service "$service" --app-port "$port" --instance-id "$service-1" \
        --control-plane "https://127.0.0.1:$CP_PORT" --control-plane-ca "$DIR/control-plane-ca.pem" --token-file "$DIR/$service.token" \
        --inbound 127.0.0.1:0 --outbound 127.0.0.1:0 --admin 127.0.0.1:0 "$@" >"$DIR/sidecar-$service.log" 2>&1 &
    CHILDREN+=($!)
}
sidecar app "$APP_PORT"
# The client sidecar's own app is never called; it needs a port, and the origin's is as good as any.
sidecar client "$APP_PORT" --service-port "app=$SERVICE_PORT" --mesh-forwarder "${MESH_FORWARDER:-auto}"

# Until stopped; if any of the three exits, the others are stopped too (the caller sees this process gone).
wait -n "${CHILDREN[@]}" || true
echo "a mesh process exited; logs in $DIR" >&2
exit 1
