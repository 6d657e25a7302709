-- Prints wrk's results as one JSON line (latencies in microseconds) for bench/src/load.rs.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,"min":%d,"p50":%d,"p99":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency.min, latency:percentile(50), latency:percentile(99)))
end
