-- Hello world: lua5.4 examples/hello.lua [--port N]   (see ../README.md for LUA_PATH/LUA_CPATH)
-- Prints "listening <port>" once it accepts connections; --port 0 picks a free port.
local eddy = require("eddy")

local port = 8888
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

local app = eddy.Application({
  { "/", { get = function(self) self:write("Hello, world") end } },
})
port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
