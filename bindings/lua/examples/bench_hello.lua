-- The Lua hello server of the bindings benchmark (bench-peers' "Hello, World!" contract):
--   lua5.4 bindings/lua/examples/bench_hello.lua --port N
-- Answers every path with text/plain "Hello, World!"; prints "listening <port>" when ready.
local eddy = require("eddy")

local port = 8888
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

local app = eddy.Application({
  { "/.*", { get = function(self)
      self:set_header("Content-Type", "text/plain")
      self:write("Hello, World!")
    end } },
})
port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
