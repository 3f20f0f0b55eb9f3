# bench/cpus.sh — sourced by lib.sh and run.sh: how many cores a taskset list names ("1", "0,1", "0-3").
# The nginx templates take it as their worker count, so nginx gets one worker per server core, as `worker_processes
# auto` would, and Meshgate one event loop per core (it counts the cores it may run on).
cpu_count() {
    local n=0 part
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then n=$(( n + ${part#*-} - ${part%-*} + 1 )); else n=$(( n + 1 )); fi
    done
    echo "$n"
}
