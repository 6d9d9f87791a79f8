-- Shared by create.lua and poll.lua: prints one machine-readable line at the end of a run,
--   BENCH {"requests":N,"duration_us":N,...}
-- which bench/load.py parses. Latencies are in microseconds, as wrk records them.
-- errors.status is wrk's count of answers with a status of 400 or more (non-2xx for these routes).

function done(summary, latency, requests)
  local e = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors_connect":%d', e.connect),
    string.format('"errors_read":%d', e.read),
    string.format('"errors_write":%d', e.write),
    string.format('"errors_status":%d', e.status),
    string.format('"errors_timeout":%d', e.timeout),
    string.format('"latency_min_us":%d', latency.min),
    string.format('"latency_mean_us":%.1f', latency.mean),
    string.format('"latency_max_us":%d', latency.max),
    string.format('"latency_p50_us":%d', latency:percentile(50)),
    string.format('"latency_p90_us":%d', latency:percentile(90)),
    string.format('"latency_p99_us":%d', latency:percentile(99)),
    string.format('"latency_p999_us":%d', latency:percentile(99.9)),
  }
  io.write("BENCH {" .. table.concat(fields, ",") .. "}\n")
end
