-- bench/wrk-percentiles.lua: run.sh loads this into wrk (-s) for the latency percentiles wrk's
-- --latency table lacks (p99.9), in microseconds. Only done() is defined, so wrk keeps its fast path
-- (no Lua call per request or response).
done = function(summary, latency, requests)
    io.write(string.format("Percentiles-us: p50=%d p99=%d p999=%d max=%d\n",
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
