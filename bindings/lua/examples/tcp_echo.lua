-- A line echo server on eddy.TCPServer: lua5.4 examples/tcp_echo.lua [--port N]
-- Prints "listening <port>" once it accepts connections; --port 0 picks a free port. Each
-- connection gets "> " before every line it sent; "quit" ends it (after the goodbye is sent).
local eddy = require("eddy")

local port = 8888
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

local server = eddy.TCPServer(function(stream, address)
  while true do
    -- A line of at most 4 KiB: a longer one closes the connection (EDDY_ETOOBIG).
    local line = stream:read_until("\n", 4096)
    if not line then return end -- the peer left (or sent too long a line)
    if line:match("^quit\r?\n$") then
      -- close() drops unsent bytes: close once the goodbye has left.
      stream:write("bye " .. address .. "\n", function() stream:close() end)
      return
    end
    stream:write("> " .. line)
  end
end)
port = server:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
