-- A Lua WebSocket (and HTTP) server over TLS for test_wss.py. Usage:
--   lua5.4 wss_server.lua --port 0 --cert FILE --key FILE [--client-ca FILE]
-- (with --client-ca, clients must show a certificate signed by it); prints "listening <port>"
-- then "raw <port>". /ws greets with the request's scheme then echoes; GET /scheme answers the
-- scheme; the raw server answers "raw <scheme>" on every path.
local eddy = require("eddy")
local core = eddy.core

local args = {}
for i = 1, #arg - 1 do
  if arg[i]:sub(1, 2) == "--" then args[arg[i]:sub(3)] = arg[i + 1] end
end

local function scheme(self) return core.eddy_request_scheme(self:request()) end

local app = eddy.Application({
  { "/ws", {
    open = function(self) self:write_message("open scheme=" .. scheme(self)) end,
    on_message = function(self, data, binary) self:write_message(data, binary) end,
  } },
  { "/scheme", { get = function(self) self:write(scheme(self)) end } },
})
local port = app:listen(math.tointeger(args.port) or 0, "127.0.0.1", {
  ssl_options = { certfile = args.cert, keyfile = args.key, ca_certs = args["client-ca"] } })
print("listening " .. port)
-- The raw server (eddy.HTTPServer) takes the same ssl_options; its port on a second line.
local raw = eddy.HTTPServer(function(req) core.eddy_request_write(req, "raw " .. core.eddy_request_scheme(req)) end)
print("raw " .. raw:listen(0, "127.0.0.1", {
  ssl_options = { certfile = args.cert, keyfile = args.key, ca_certs = args["client-ca"] } }))
io.stdout:flush()
eddy.start()
