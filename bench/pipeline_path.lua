-- wrk script: 16-deep pipelining of the URL's own path (the shared pipeline.lua always asks
-- for "/"), e.g. the demo's /plaintext:
--   wrk -t1 -c50 -d4s -s bench/pipeline_path.lua http://127.0.0.1:8888/plaintext
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
