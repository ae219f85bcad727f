-- wrk script for the pipelined scenario: every write carries DEPTH requests
-- (16 by default, or the first script argument) for the URL's path, built
-- once in init(). wrk parses the string it is given, learns that it holds
-- DEPTH requests, and counts each response as one request, so "requests"
-- and requests/s below are individual HTTP requests.
init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, wrk.path)
   end
   req = table.concat(r)
end

request = function()
   return req
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
