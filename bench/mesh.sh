#!/usr/bin/env bash
# bench/mesh.sh — the mesh rows of bench/run.sh on their own: a call through two sidecars (with mTLS between them)
# next to the direct call, the call through the gateway alone and through nginx; and, as a lower bound for what two
# hops with mTLS cost on this machine, two nginx and two HAProxy processes chained the same way. See bench/README.md.
#
#   bench/mesh.sh                               build, then 3 interleaved rounds of 10 s per target
#   MESHGATE=/tmp/mg ROUNDS=5 bench/mesh.sh     reuse a `scripts/publish /tmp/mg`
#   MESH_VARIANT="MESH_FORWARDER=direct" bench/mesh.sh
#                                               also a second two-sidecar mesh whose control plane and sidecars start with
#                                               these NAME=VALUE words in their environment (here: the mesh hop on the direct
#                                               HTTP/1.1 path; or e.g. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1),
#                                               interleaved with the first, so one run compares the two
#   MESH_RATE=0 bench/mesh.sh                   skip the fixed-rate (open-loop) rounds
#   MESH_PEERS=0 bench/mesh.sh                  leave out the two peer pairs (two nginx hops, two HAProxy hops, mTLS)
#
# Overridable by environment: MESHGATE (publish dir; empty = build into bench/.work/mesh/meshgate), ROUNDS,
# DURATION (s), WARMUP (s of load per target before round 1; .NET needs ~20-30 s on a busy core), CONNECTIONS,
# THREADS, SERVER_CPU, LOAD_CPU, MESH_VARIANT, MESH_RATE (req/s of the open-loop rounds; 1000), RATE_DURATION (s; 10),
# MESH_PEERS (1), MESH_HAPROXY_ALPN (the ALPN HAProxy hop A offers hop B: h2, or http/1.1).
# Prints every round, the medians of req/s, p50 and p99 per target, and what each proxy adds to the direct call, with
# the aim "two sidecar hops cost no more than one nginx hop": saturated (wrk, closed loop), then at MESH_RATE req/s
# (bench/openloop, constant arrival), where nothing queues and the added latency is the hops' own. The same aim is
# printed for the peer pairs: what two hops of the fastest proxies here cost against one nginx hop.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/mesh"
TEMPLATES="$BENCH_DIR/templates"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-30}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
source "$BENCH_DIR/lib.sh"
MESH_PEERS=${MESH_PEERS:-1}
MESH_HAPROXY_ALPN=${MESH_HAPROXY_ALPN:-h2}
tools=(nginx wrk taskset openssl curl sha256sum dotnet gcc)
if (( MESH_PEERS )); then tools+=(haproxy); fi
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

mkdir -p "$WORK"/{gateway,nginx-proxy/tmp}
publish_meshgate
free_port UPSTREAM_PORT; free_port NGINX_PROXY_PORT; free_port GATEWAY_PORT; free_port ADMIN_PORT; free_port REDIS_PORT
free_port MESH_SERVICE_PORT; free_port MESH_CP_PORT; free_port MESH_CP_ADMIN_PORT; free_port NGINX_H2C_PORT
MESH_VARIANT=${MESH_VARIANT:-}
MESH_RATE=${MESH_RATE:-1000}
RATE_DURATION=${RATE_DURATION:-10}
if [[ -n $MESH_VARIANT ]]; then free_port MESH_B_SERVICE_PORT; free_port MESH_B_CP_PORT; free_port MESH_B_CP_ADMIN_PORT; fi
gcc -O2 -Wall -o "$WORK/openloop" "$BENCH_DIR/openloop/openloop.c" || die "building bench/openloop/openloop.c failed"

# The origin, the nginx proxy and the catch-all gateway of bench/run.sh (templates/).
source "$BENCH_DIR/bench-jwt.sh"
bench_jwt "$WORK/gateway/jwt.secret"
render "$TEMPLATES/meshgate.yaml" "$WORK/gateway/meshgate.yaml"
sed -e "s|@NGINX_PROXY_PORT@|$NGINX_PROXY_PORT|g" -e "s|@NGINX_H2C_PORT@|$NGINX_H2C_PORT|g" "$TEMPLATES/proxy-nginx.conf" >"$WORK/nginx-proxy/nginx.conf.in"
render "$WORK/nginx-proxy/nginx.conf.in" "$WORK/nginx-proxy/nginx.conf"
start_origin
(exec taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx-proxy" -e "$WORK/nginx-proxy/error.log" -c "$WORK/nginx-proxy/nginx.conf") >"$WORK/nginx-proxy/stdout.log" 2>&1 &
STARTED+=($!)
declare -A PID=([upstream]=${STARTED[0]} [nginx]=${STARTED[1]})
start_gateway "$WORK/gateway/meshgate.yaml" "$WORK/gateway/meshgate.log" "$GATEWAY_PORT"
PID[meshgate]=$GATEWAY_PID
(exec taskset -c "$SERVER_CPU" "$BENCH_DIR/mesh-up.sh" "$MESHGATE/meshgate.dll" "$WORK/mesh" "$UPSTREAM_PORT" "$MESH_SERVICE_PORT" "$MESH_CP_PORT" "$MESH_CP_ADMIN_PORT") \
    >"$WORK/mesh-up.log" 2>&1 &
STARTED+=($!)
PID[sidecars]=$!

TARGETS=(upstream meshgate nginx sidecars)
declare -A URL=(
    [upstream]="http://127.0.0.1:$UPSTREAM_PORT/" [meshgate]="http://127.0.0.1:$GATEWAY_PORT/"
    [nginx]="http://127.0.0.1:$NGINX_PROXY_PORT/" [sidecars]="http://127.0.0.1:$MESH_SERVICE_PORT/"
)
declare -A LABEL=([upstream]="upstream direct" [meshgate]="Meshgate gateway" [nginx]="nginx proxy" [sidecars]="two sidecars (mTLS)")

if (( MESH_PEERS )); then
    # The peer pairs: load -> hop A (plaintext, like the client sidecar's service port) == TLS 1.3, client certificate ==>
    # hop B (client certificate required) -> the origin. Each hop its own process on the server core, like the two
    # sidecars; a target's PID holds both, so its CPU is the pair's.
    CERTS="$WORK/peer-certs"
    rm -rf "$CERTS"; mkdir -p "$CERTS"
    # A CA and one leaf per side, ECDSA P-256 like the mesh CA's workload certificates (MeshCertificateAuthority), with
    # the workload's SPIFFE id beside a DNS name (what nginx and HAProxy check), for client and server use alike.
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 -subj "/CN=bench peer CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" 2>"$CERTS/openssl.log" || die "openssl: the CA failed ($CERTS/openssl.log)"
    for side in client app; do
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$side.bench.mesh" \
            -keyout "$CERTS/$side.key" -out "$CERTS/$side.csr" 2>>"$CERTS/openssl.log" || die "openssl: $side's key failed ($CERTS/openssl.log)"
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
            "subjectAltName=DNS:$side.bench.mesh,URI:spiffe://bench.mesh/ns/default/sa/$side" >"$CERTS/$side.ext"
        openssl x509 -req -in "$CERTS/$side.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
            -sha256 -days 2 -extfile "$CERTS/$side.ext" -out "$CERTS/$side.crt" 2>>"$CERTS/openssl.log" || die "openssl: $side's certificate failed ($CERTS/openssl.log)"
        cat "$CERTS/$side.crt" "$CERTS/$side.key" >"$CERTS/$side.pem"   # HAProxy takes certificate and key in one file
    done
    free_port NGINX_HOP_A_PORT; free_port NGINX_HOP_B_PORT; free_port HAPROXY_HOP_A_PORT; free_port HAPROXY_HOP_B_PORT
    render_peer() {  # render_peer TEMPLATE OUT: render, with the peer pairs' placeholders too
        sed -e "s|@CERTS@|$CERTS|g" -e "s|@NGINX_HOP_A_PORT@|$NGINX_HOP_A_PORT|g" -e "s|@NGINX_HOP_B_PORT@|$NGINX_HOP_B_PORT|g" \
            -e "s|@HAPROXY_HOP_A_PORT@|$HAPROXY_HOP_A_PORT|g" -e "s|@HAPROXY_HOP_B_PORT@|$HAPROXY_HOP_B_PORT|g" \
            -e "s|@HAPROXY_HOP_ALPN@|$MESH_HAPROXY_ALPN|g" "$1" >"$2.in"
        render "$2.in" "$2"
    }
    PID[nginx-hops]=; PID[haproxy-hops]=
    for hop in a b; do
        mkdir -p "$WORK/nginx-hop-$hop/tmp" "$WORK/haproxy-hop-$hop"
        render_peer "$TEMPLATES/mesh-nginx-$hop.conf" "$WORK/nginx-hop-$hop/nginx.conf"
        (exec taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx-hop-$hop" -e "$WORK/nginx-hop-$hop/error.log" -c "$WORK/nginx-hop-$hop/nginx.conf") \
            >"$WORK/nginx-hop-$hop/stdout.log" 2>&1 &
        STARTED+=($!)
        PID[nginx-hops]+=" $!"
        render_peer "$TEMPLATES/mesh-haproxy-$hop.cfg" "$WORK/haproxy-hop-$hop/haproxy.cfg"
        (exec taskset -c "$SERVER_CPU" haproxy -db -f "$WORK/haproxy-hop-$hop/haproxy.cfg") >"$WORK/haproxy-hop-$hop/stdout.log" 2>&1 &
        STARTED+=($!)
        PID[haproxy-hops]+=" $!"
    done
    TARGETS+=(nginx-hops haproxy-hops)
    URL[nginx-hops]="http://127.0.0.1:$NGINX_HOP_A_PORT/"; URL[haproxy-hops]="http://127.0.0.1:$HAPROXY_HOP_A_PORT/"
    LABEL[nginx-hops]="two nginx hops (mTLS)"; LABEL[haproxy-hops]="two HAProxy hops (mTLS)"
    [[ $MESH_HAPROXY_ALPN == h2 ]] || LABEL[haproxy-hops]="two HAProxy hops (mTLS, $MESH_HAPROXY_ALPN)"
fi
if [[ -n $MESH_VARIANT ]]; then
    # The same mesh once more (its own control plane and sidecars), started with MESH_VARIANT in its environment.
    read -ra variant_environment <<<"$MESH_VARIANT"
    (for word in "${variant_environment[@]}"; do export "$word"; done
     exec taskset -c "$SERVER_CPU" "$BENCH_DIR/mesh-up.sh" "$MESHGATE/meshgate.dll" "$WORK/mesh-b" "$UPSTREAM_PORT" \
        "$MESH_B_SERVICE_PORT" "$MESH_B_CP_PORT" "$MESH_B_CP_ADMIN_PORT") >"$WORK/mesh-up-b.log" 2>&1 &
    STARTED+=($!)
    PID[sidecars-b]=$!
    TARGETS+=(sidecars-b)
    URL[sidecars-b]="http://127.0.0.1:$MESH_B_SERVICE_PORT/"
    LABEL[sidecars-b]="two sidecars, $MESH_VARIANT"
fi

# target_pids TARGET: every process of TARGET (a PID entry may name several trees: the peer pairs' two hops)
target_pids() { local p; for p in ${PID[$1]}; do proc_tree "$p"; done; }
# Every target answers the origin's body before it is loaded; the mesh needs its certificates, the registration and
# the first snapshot first.
for t in "${TARGETS[@]}"; do
    for _ in $(seq 300); do
        for p in ${PID[$t]}; do
            kill -0 "$p" 2>/dev/null || { tail -n 20 "$WORK/mesh-up.log" "$WORK"/mesh/*.log "$WORK"/*-hop-?/*.log >&2 || true; die "${LABEL[$t]} exited"; }
        done
        [[ $(curl -s -m 2 "${URL[$t]}" 2>/dev/null) == "hello from upstream" ]] && continue 2
        sleep 0.3
    done
    die "${LABEL[$t]} never answered like the origin (logs in $WORK)"
done

load() {  # load TARGET SECONDS: wrk output on stdout
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency -s "$BENCH_DIR/wrk-percentiles.lua" "${URL[$1]}"
}
log "warming up: ${WARMUP}s per target"
for t in "${TARGETS[@]}"; do load "$t" "$WARMUP" >/dev/null; done

# Voluntary context switches of a process's threads (a thread waking up for a socket or a hand-off; preemption by the
# rest of a busy machine is left out, so this count holds up where timings do not).
wakeups() { { cat /proc/"$1"/task/*/status 2>/dev/null || true; } | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'; }
RAW="$WORK/rounds.tsv"
: >"$RAW"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#TARGETS[@]}
    for (( i = 0; i < n; i++ )); do
        t=${TARGETS[$(( (i + r - 1) % n ))]}   # the order rotates from round to round
        mapfile -t pids < <(target_pids "$t")   # the mesh: both sidecars and the control plane, under mesh-up.sh; a peer pair: both hops
        before=0; for p in "${pids[@]}"; do before=$(( before + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
        woken=0; for p in "${pids[@]}"; do woken=$(( woken - $(wakeups "$p") )); done
        out=$(load "$t" "$DURATION")
        after=0; for p in "${pids[@]}"; do after=$(( after + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
        for p in "${pids[@]}"; do woken=$(( woken + $(wakeups "$p") )); done
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; die "${LABEL[$t]} had errors"; fi
        read -r requests rps p50 p99 < <(awk '/ requests in / { n = $1 } /^Requests\/sec:/ { rps = $2 }
            /^Percentiles-us:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); p[kv[1]] = kv[2] } }
            END { print n, rps, p["p50"], p["p99"] }' <<<"$out")
        cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        switches=$(awk -v d="$woken" -v n="$requests" 'BEGIN { printf "%.2f", d / n }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$rps" "$p50" "$p99" "$cpu" "$switches" >>"$RAW"
        printf '  round %d  %-24s %9.0f req/s  p50 %7d us  p99 %7d us  %7s us/req CPU  %5s wake-ups/req\n' "$r" "${LABEL[$t]}" "$rps" "$p50" "$p99" "$cpu" "$switches" >&2
    done
done

col() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$RAW" | median; }   # col TARGET COLUMN: median over rounds (of RAW)
# added_by_round TARGET COLUMN: what TARGET adds to the direct call in each round (both measured seconds apart), as
# "median ms (middle half)": a change in the machine's speed between rounds moves both alike and cancels here.
added_by_round() {
    awk -v t="$1" -v c="$2" '$1 == "upstream" { d[$2] = $c } $1 == t { v[$2] = $c } END { for (r in v) if (r in d) print (v[r] - d[r]) / 1000 }' "$RAW" |
        sort -g | awk '{ v[NR] = $1 }
            function q(f,   i, k) { i = 1 + (NR - 1) * f; k = int(i); return v[k] + (i - k) * (k < NR ? v[k + 1] - v[k] : 0) }
            END { if (NR) printf "%+.2f ms (%+.2f to %+.2f)", q(0.5), q(0.25), q(0.75); else printf "-" }'
}
by_round_table() {  # the added p50 and p99 of every proxy, round by round
    printf '\nRound by round (each round against the direct call in that round; median, then the middle half):\n\n'
    printf '| target | added p50 | added p99 |\n|---|---:|---:|\n'
    for t in "${TARGETS[@]}"; do
        [[ $t == upstream ]] && continue
        printf '| %s | %s | %s |\n' "${LABEL[$t]}" "$(added_by_round "$t" 4)" "$(added_by_round "$t" 5)"
    done
}
# aim TARGET: the issue-8 aim for one two-sidecar target against nginx, from RAW's medians; for a peer pair, whether any
# proxy here does two hops with mTLS for one nginx hop
aim() {
    local intro="Aim, two sidecar hops cost no more than one nginx hop (${LABEL[$1]}): added" against="nginx"
    [[ $1 == sidecars* ]] || { intro="The same aim for a peer pair: ${LABEL[$1]} add"; against="one nginx hop"; }
    awk -v intro="$intro" -v against="$against" -v s50="$(col "$1" 4)" -v s99="$(col "$1" 5)" -v n50="$(col nginx 4)" -v n99="$(col nginx 5)" -v d50="$(col upstream 4)" -v d99="$(col upstream 5)" '
        BEGIN {
            a50 = s50 - d50; a99 = s99 - d99; b50 = n50 - d50; b99 = n99 - d99
            printf "%s p50 %.2f ms against %s %.2f ms, added p99 %.2f ms against %.2f ms: %s\n",
                intro, a50 / 1000, against, b50 / 1000, a99 / 1000, b99 / 1000, (a50 <= b50 && a99 <= b99) ? "met" : "not met"
        }'
}
aims() { local t; for t in "${TARGETS[@]}"; do case $t in sidecars*|*-hops) aim "$t" ;; esac; done; }
printf '\nSaturated (wrk, %d connections, closed loop):\n\n' "$CONNECTIONS"
printf '| target | req/s | p50 | p99 | CPU us/req | wake-ups/req | added p50 | added p99 | req/s vs direct |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for t in "${TARGETS[@]}"; do
    awk -v l="${LABEL[$t]}" -v rps="$(col "$t" 3)" -v p50="$(col "$t" 4)" -v p99="$(col "$t" 5)" -v cpu="$(col "$t" 6)" -v sw="$(col "$t" 7)" \
        -v d50="$(col upstream 4)" -v d99="$(col upstream 5)" -v drps="$(col upstream 3)" \
        'BEGIN { printf "| %s | %.0f | %.2f ms | %.2f ms | %.1f | %.2f | %+.2f ms | %+.2f ms | %.2fx |\n", l, rps, p50 / 1000, p99 / 1000, cpu, sw, (p50 - d50) / 1000, (p99 - d99) / 1000, rps / drps }'
done
by_round_table
echo
aims
(( MESH_RATE > 0 )) || exit 0

# The same question at a fixed rate every target sustains: constant arrival (bench/openloop), so a stall shows in
# every request due meanwhile, and nothing queues behind saturation.
log "open loop at $MESH_RATE req/s: ${RATE_DURATION}s per target per round, $ROUNDS round(s)"
RAW="$WORK/rate-rounds.tsv"
: >"$RAW"
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#TARGETS[@]}
    for (( i = 0; i < n; i++ )); do
        t=${TARGETS[$(( (i + r - 1) % n ))]}
        mapfile -t pids < <(target_pids "$t")
        before=0; for p in "${pids[@]}"; do before=$(( before + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
        out=$(taskset -c "$LOAD_CPU" "$WORK/openloop" -r "$MESH_RATE" -d "$RATE_DURATION" -c "$CONNECTIONS" "${URL[$t]}") || die "${LABEL[$t]}: openloop failed: $out"
        after=0; for p in "${pids[@]}"; do after=$(( after + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
        read -r achieved p50 p99 completed failed < <(awk '/^scheduled=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            print v["achieved_rps"], v["p50_us"], v["p99_us"], v["completed"], v["errors"] + v["non2xx"] + v["unfinished"] }' <<<"$out")
        (( failed == 0 )) || die "${LABEL[$t]} at $MESH_RATE req/s: $failed requests failed or unanswered ($out)"
        cpu=$(awk -v d=$(( after - before )) -v hz="$CLK_TCK" -v n="$completed" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$r" "$achieved" "$p50" "$p99" "$cpu" >>"$RAW"
        printf '  round %d  %-24s %9.0f req/s  p50 %7d us  p99 %7d us  %7s us/req CPU\n' "$r" "${LABEL[$t]}" "$achieved" "$p50" "$p99" "$cpu" >&2
    done
done
printf '\nAt a fixed %d req/s (open loop, %d connections):\n\n' "$MESH_RATE" "$CONNECTIONS"
printf '| target | p50 | p99 | CPU us/req | added p50 | added p99 |\n|---|---:|---:|---:|---:|---:|\n'
for t in "${TARGETS[@]}"; do
    awk -v l="${LABEL[$t]}" -v p50="$(col "$t" 4)" -v p99="$(col "$t" 5)" -v cpu="$(col "$t" 6)" -v d50="$(col upstream 4)" -v d99="$(col upstream 5)" \
        'BEGIN { printf "| %s | %.2f ms | %.2f ms | %.1f | %+.2f ms | %+.2f ms |\n", l, p50 / 1000, p99 / 1000, cpu, (p50 - d50) / 1000, (p99 - d99) / 1000 }'
done
by_round_table
echo
aims
exit 0
