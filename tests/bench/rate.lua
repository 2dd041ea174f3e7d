-- Paces wrk at a fixed total rate (plain wrk has no rate option):
--   wrk -t THREADS -c CONNECTIONS -s rate.lua URL -- RATE THREADS
-- Each thread sends its k-th request at start + k × THREADS / RATE seconds, on whichever of its
-- connections is free; slots missed by more than a second are dropped (the achieved rate shows
-- it). wrk's latency is from the write of a request to its answer. done() prints one JSON line.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } sy_timespec;
int clock_gettime(int clock, sy_timespec *tp);
]])
local ts = ffi.new("sy_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval = 1
local next_at = nil

function init(args)
  local rate = tonumber(args[1])
  local threads = tonumber(args[2]) or 1
  interval = threads * 1000 / rate
end

function delay()
  local now = now_ms()
  if next_at == nil or next_at < now - 1000 then next_at = now end
  next_at = next_at + interval
  local wait = next_at - now
  if wait < 1 then return 0 end
  return math.floor(wait)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
