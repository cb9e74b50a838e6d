-- A Lua HTTPS server for test_request_tls.py: what a handler learns of its connection's TLS
-- (Handler:tls_server_name, Handler:get_ssl_certificate). Usage:
--   lua5.4 request_tls_server.lua --port 0 --cert FILE --key FILE --client-ca FILE
-- It asks clients for a certificate signed by --client-ca without requiring one
-- (cert_reqs "optional"), prints "listening <port>" (HTTPS), "plain <port>" (the same
-- routes over plain HTTP) and "raw <port>" (eddy.HTTPServer over HTTPS: every path answers
-- /who's sni, cert and code). GET /who answers JSON: sni, cert (hex of the DER) or code (the
-- EDDY_E* name), and what get_ssl_certificate(false) raised. GET /late holds its request until
-- the client leaves, then reads the same facts; GET /late_result waits for and answers them.
local eddy = require("eddy")
local core, json = eddy.core, eddy.json

local args = {}
for i = 1, #arg - 1 do
  if arg[i]:sub(1, 2) == "--" then args[arg[i]:sub(3)] = arg[i + 1] end
end

local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

local function facts(self)
  local der, code = self:get_ssl_certificate()
  local _, refused = pcall(self.get_ssl_certificate, self, false)
  return { sni = self:tls_server_name() or json.null, cert = der and hex(der) or json.null,
           code = code and core.eddy_err_name(code) or json.null, dict_form = tostring(refused) }
end

local late = eddy.Future()
local handlers = {
  { "/who", { get = function(self) self:write(facts(self)) end } },
  { "/late", {
      get = function(self) self:detach() end,
      -- The client is gone: the handler is still alive, its connection is not.
      on_connection_close = function(self)
        late:set_result(facts(self))
        self:finish()
      end } },
  { "/late_result", { get = function(self) self:write(late:wait()) end } },
}

local tls_app = eddy.Application(handlers)
print("listening " .. tls_app:listen(math.tointeger(args.port) or 0, "127.0.0.1", { ssl_options = {
  certfile = args.cert, keyfile = args.key, ca_certs = args["client-ca"], cert_reqs = "optional" } }))
print("plain " .. eddy.Application(handlers):listen(0, "127.0.0.1"))
-- The raw server (eddy.HTTPServer) reads the same facts from its eddy_request with eddy.core.
local raw = eddy.HTTPServer(function(req)
  local der, code = core.request_tls_peer_certificate(req)
  core.eddy_request_write(req, json.encode({ sni = core.eddy_request_tls_server_name(req) or json.null,
    cert = der and hex(der) or json.null, code = code and core.eddy_err_name(code) or json.null }))
end)
print("raw " .. raw:listen(0, "127.0.0.1", { ssl_options = {
  certfile = args.cert, keyfile = args.key, ca_certs = args["client-ca"], cert_reqs = "optional" } }))
io.stdout:flush()
eddy.start()
