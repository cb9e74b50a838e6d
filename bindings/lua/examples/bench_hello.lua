-- The Lua hello server of the bindings benchmark (bench-peers' "Hello, World!" contract):
--   lua5.4 bindings/lua/examples/bench_hello.lua --port N [--web]
-- Answers every path with text/plain "Hello, World!"; prints "listening <port>" when ready.
-- Default: the raw HTTP server (eddy.HTTPServer, like bench/hello_server.c); --web: through
-- Application + route + handler (like bench/web_hello_server.c).
local eddy = require("eddy")
local core = eddy.core

local port, web = 8888, false
for i = 1, #arg do
  if arg[i] == "--port" then port = tonumber(arg[i + 1]) end
  if arg[i] == "--web" then web = true end
end

if web then
  local app = eddy.Application({
    { "/.*", { get = function(self)
        self:set_header("Content-Type", "text/plain")
        self:write("Hello, World!")
      end } },
  })
  port = app:listen(port, "127.0.0.1")
else
  local set_header, write = core.eddy_request_set_header, core.eddy_request_write
  local server = eddy.HTTPServer(function(req)
    set_header(req, "Content-Type", "text/plain")
    write(req, "Hello, World!")
  end)
  core.eddy_server_set_idle_timeout(server.handle, 120)
  port = server:listen(port, "127.0.0.1")
end
print("listening " .. port)
io.stdout:flush()
eddy.start()
