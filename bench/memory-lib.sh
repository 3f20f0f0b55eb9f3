# bench/memory-lib.sh — how bench/run.sh and bench/memory.sh measure memory (sourced, not run; through lib.sh
# for memory.sh). Expects LOAD_CPU from the caller.

rss_kib() {  # rss_kib PID...: the sum of VmRSS (KiB) over the given PIDs
    local total=0 pid kb
    for pid in "$@"; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || kb=0
        total=$(( total + ${kb:-0} ))
    done
    echo "$total"
}

# idle_connections_rss OPENLOOP N URL HEADER RAW RSS_COMMAND...: hold N idle keep-alive client connections on URL
# (each has served one request, with HEADER if not empty) with bench/openloop's -i mode, and print
# "RSS_BEFORE RSS_WITH KIB_PER_1000" (KiB), RSS as RSS_COMMAND prints it. Returns 1 (the reason in RAW) if the
# connections could not be held. Take it before any load: afterwards a .NET heap has room left from the load,
# and new connections would not show in RSS. The holder stops by itself after 60 s (it is usually called in $(...),
# where a caller's clean-up cannot see it).
idle_connections_rss() {
    local openloop=$1 n=$2 url=$3 header=$4 raw=$5 before with="" holder
    shift 5
    before=$("$@")
    taskset -c "$LOAD_CPU" "$openloop" -i "$n" -d 60 ${header:+-H "$header"} "$url" >"$raw" 2>&1 &
    holder=$!
    for _ in $(seq 300); do
        grep -q '^ready' "$raw" 2>/dev/null && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^ready' "$raw"; then
        sleep 1   # let the proxy settle (buffers returned to pools)
        with=$("$@")
    fi
    kill -TERM "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    [[ -n $with ]] || return 1
    awk -v a="$before" -v b="$with" -v n="$n" 'BEGIN { printf "%s %s %.0f\n", a, b, (b - a) * 1000 / n }'
}

memory_breakdown() {  # memory_breakdown PID: one line of what its RSS is made of (KiB), from /proc/PID/status and maps
    local pid=$1 anon file shmem threads assemblies
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
    file=$(awk '/^RssFile:/ {print $2}' "/proc/$pid/status")
    shmem=$(awk '/^RssShmem:/ {print $2}' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")
    # Every managed assembly the runtime loaded is mapped from its file (R2R image or IL).
    assemblies=$(grep -o '[^/]*\.dll$' "/proc/$pid/maps" | sort -u | wc -l)
    printf 'anon=%s file=%s shmem=%s threads=%s assemblies=%s\n' "$anon" "$file" "$shmem" "$threads" "$assemblies"
}
