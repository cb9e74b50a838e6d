-- eddy.TCPClient over TLS, for test_tcp_tls.py. Usage:
--   lua5.4 tcp_tls_client.lua --certs DIR --trusted P --self P --other P --mutual P
-- Each port is a TLS server on 127.0.0.1 that echoes lines (Python's ssl echo servers, or
-- tcp_server.lua with ssl_options, which greets first): --trusted has a certificate for
-- 127.0.0.1 signed by DIR/ca.crt, --self a self-signed one, --other one for "other.test" signed
-- by the CA, --mutual the trusted one and requires a client certificate signed by the CA.
-- Emits one JSON line per case ({ ok, echo, tls } or { ok = false, err, code, stage }) and
-- exits 0.
local eddy = require("eddy")
local harness = require("tests.script_harness")
local args = harness.args()
harness.watchdog("tcp_tls_client.lua", 40)
local client = eddy.TCPClient()
local function cert(name) return args.certs .. "/" .. name end

-- Connects, writes a line, reads the answer.
local function exchange(port, ssl_options)
  local stream, err, code = client:connect("127.0.0.1", tonumber(port), { ssl_options = ssl_options, timeout = 10 })
  if not stream then return { ok = false, err = err, code = code, stage = "connect" } end
  local tls = stream:is_tls()
  -- tcp_server.lua answers "echo\n" with its greeting, then echoes; Python's servers echo all.
  stream:write("echo\nping\n")
  local first, line, rerr, rcode
  for _ = 1, 2 do
    line, rerr, rcode = stream:read_until("\n")
    if not line or line == "ping\n" then break end
    first = first or line
  end
  stream:close()
  if not line then return { ok = false, err = rerr, code = rcode, stage = "read", tls = tls } end
  return { ok = line == "ping\n", echo = line, first = first, tls = tls }
end

eddy.spawn(function()
  local ca = cert("ca.crt")
  local r = {
    trusted = exchange(args.trusted, { ca_certs = ca }),
    default_self = exchange(args.self, {}),
    self_unverified = exchange(args.self, { cert_reqs = "none" }),
    self_trusted = exchange(args.self, { ca_certs = cert("self.crt") }),
    other_name = exchange(args.other, { ca_certs = ca }),
    other_sni = exchange(args.other, { ca_certs = ca, server_hostname = "other.test" }),
    mutual_without = exchange(args.mutual, { ca_certs = ca }),
    mutual_with = exchange(args.mutual, { ca_certs = ca, certfile = cert("client.crt"),
                                          keyfile = cert("client.key") }),
    bad_ca = exchange(args.trusted, { ca_certs = cert("missing.pem") }),
  }
  local ok, err = pcall(client.connect, client, "127.0.0.1", 1, { ssl_options = { verify = false } })
  r.unknown_field = { ok = ok, err = tostring(err) }
  ok, err = pcall(client.connect, client, "127.0.0.1", 1, { ssl_options = { cert_reqs = "optional" } })
  r.bad_reqs = { ok = ok, err = tostring(err) }
  -- A TLS server's bad options (TCPServer raises, naming the field).
  local function server_err(opts)
    local sok, serr = pcall(eddy.TCPServer, function() end, opts)
    return sok and "no error" or tostring(serr)
  end
  r.server_errors = {
    missing_cert = server_err({ ssl_options = { certfile = cert("missing.pem") } }),
    no_certfile = server_err({ ssl_options = { keyfile = cert("server.key") } }),
    bad_reqs = server_err({ ssl_options = { certfile = cert("server.crt"), keyfile = cert("server.key"),
                                            cert_reqs = "sometimes" } }),
    bad_type = server_err({ ssl_options = "yes" }),
    in_listen = (function()
      local server = eddy.TCPServer(function() end)
      local lok, lerr = pcall(server.listen, server, 0, "127.0.0.1", { ssl_options = {} })
      server:stop()
      return lok and "no error" or tostring(lerr)
    end)(),
  }
  for name, v in pairs(r) do harness.emit_named(name, v) end
  eddy.stop()
end)
eddy.start()
