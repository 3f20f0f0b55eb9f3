#!/usr/bin/env bash
# bench/memory.sh — the gateway's memory as bench/run.sh measures it (idle RSS; RSS per 1,000 idle keep-alive client
# connections), with what its RSS is made of (bench/rss_breakdown.py), for the variants of variants.sh. See bench/README.md.
#
#   bench/memory.sh                                        build, then the template gateway as shipped (`metrics`)
#   MESHGATE=/tmp/mg VARIANTS="metrics bare wks-gc" ROUNDS=3 bench/memory.sh
#
# Overridable by environment: MESHGATE, VARIANTS, ROUNDS (1: gateways started per variant, interleaved; medians),
# IDLE_CONNECTIONS (1000), SERVER_CPU, LOAD_CPU, GATEWAY_START_SECONDS.
# RSS hardly depends on what else the machine is doing, so unlike req/s this can be measured on a busy machine.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
WORK="$BENCH_DIR/.work/memory"
TEMPLATES="$BENCH_DIR/templates"

read -ra VARIANTS <<<"${VARIANTS:-metrics}"
ROUNDS=${ROUNDS:-1}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
source "$BENCH_DIR/lib.sh"
for tool in nginx curl taskset openssl dotnet gcc python3; do command -v "$tool" >/dev/null || die "$tool not found (bench/run.sh installs the tools)"; done

mkdir -p "$WORK/gateway"
publish_meshgate
gcc -O2 -Wall -o "$WORK/openloop" "$BENCH_DIR/openloop/openloop.c" || die "building bench/openloop/openloop.c failed"
free_port UPSTREAM_PORT
free_port REDIS_PORT
source "$BENCH_DIR/bench-jwt.sh"
bench_jwt "$WORK/gateway/jwt.secret"
start_origin
start_redis || log "redis-server not found: the gateway retries its Redis connection in the background (install redis-server)"

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
RAW="$WORK/memory.tsv"
printf 'variant\tround\tidle_rss_kib\tanon_kib\tfile_kib\tshmem_kib\tthreads\tassemblies\trss_before_kib\trss_with_conns_kib\trss_per_1k_conns_kib\n' >"$RAW"
measure_variant() {  # measure_variant VARIANT ROUND: one gateway, started, probed, measured and stopped
    local v=$1 r=$2 route code idle breakdown figures before with per anon file shmem threads assemblies
    free_port GATEWAY_PORT; free_port ADMIN_PORT; free_port GATEWAY_H2C_PORT
    render "$TEMPLATES/meshgate.yaml" "$WORK/gateway/$v.yaml"
    variant_settings "$v" >>"$WORK/gateway/$v.yaml"
    read -ra GATEWAY_ENV <<<"$(variant_environment "$v")"
    start_gateway "$WORK/gateway/$v.yaml" "$WORK/gateway/$v.log" "$GATEWAY_PORT"
    # What run.sh has done to the gateway when it takes its idle RSS: one request on each route it loads, and one over h2c.
    for route in "" plain/ jwt/ retry/ ratelimit/ shared-ratelimit/ cache/; do
        code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $JWT_TOKEN" "http://127.0.0.1:$GATEWAY_PORT/$route") || true
        [[ $code == 200 ]] || die "$v answered /$route with '$code' (log: $WORK/gateway/$v.log)"
    done
    code=$(curl -s -m 10 --http2-prior-knowledge -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GATEWAY_H2C_PORT/") || true
    [[ $code == 200 ]] || die "$v answered h2c with '$code'"
    sleep 1
    idle=$(rss_kib "$GATEWAY_PID")
    breakdown=$(memory_breakdown "$GATEWAY_PID")
    python3 "$BENCH_DIR/rss_breakdown.py" "$GATEWAY_PID" >"$WORK/breakdown-$v.md"
    figures=$(idle_connections_rss "$WORK/openloop" "$IDLE_CONNECTIONS" "http://127.0.0.1:$GATEWAY_PORT/" "" "$WORK/idle-$v.txt" rss_kib "$GATEWAY_PID") \
        || die "$v: could not hold $IDLE_CONNECTIONS idle connections: $(tail -2 "$WORK/idle-$v.txt")"
    read -r before with per <<<"$figures"
    read -r anon file shmem threads assemblies <<<"$(sed 's/[a-z]*=//g' <<<"$breakdown")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$r" "$idle" "$anon" "$file" "$shmem" "$threads" "$assemblies" \
        "$before" "$with" "$per" >>"$RAW"
    log "$v, round $r: idle $(mib "$idle") MiB ($breakdown); $(mib "$per") MiB per 1,000 idle connections"
    kill -TERM "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
}
for (( r = 1; r <= ROUNDS; r++ )); do
    n=${#VARIANTS[@]}
    for (( i = 0; i < n; i++ )); do measure_variant "${VARIANTS[$(( (i + r - 1) % n ))]}" "$r"; done   # the order rotates
done

column_median() { awk -F'\t' -v v="$1" -v c="$2" '$1 == v { print $c }' "$RAW" | median; }   # column_median VARIANT COLUMN
printf '\nMedians of %d round(s).\n' "$ROUNDS"
printf '\n| variant | idle RSS MiB | anonymous | file-backed | shared (JIT code, stubs) | threads | assemblies | MiB per 1,000 idle connections |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for v in "${VARIANTS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$v" "$(mib "$(column_median "$v" 3)")" "$(mib "$(column_median "$v" 4)")" \
        "$(mib "$(column_median "$v" 5)")" "$(mib "$(column_median "$v" 6)")" "$(column_median "$v" 7)" "$(column_median "$v" 8)" "$(mib "$(column_median "$v" 11)")"
done
for v in "${VARIANTS[@]}"; do
    printf '\nIdle RSS of %s by kind of mapping (its last round; bench/rss_breakdown.py):\n\n' "$v"
    cat "$WORK/breakdown-$v.md"
done
