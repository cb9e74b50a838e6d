-- STARTTLS with eddy on both ends of one connection, for test_starttls.py. Usage:
--   lua5.4 starttls.lua --certs DIR
-- A plain eddy.TCPServer answers "STARTTLS" with "220 go ahead", upgrades (start_tls, server
-- side) and answers one line over TLS; an eddy.TCPClient says STARTTLS, upgrades (client side,
-- verifying "localhost" against DIR/ca.crt) and sends "hello". Also: the refusals (a pending
-- read, unsent output, a verifying client without a host name), the spent plain stream, the
-- close callback moved to the TLS stream, wait_for_handshake, an untrusted certificate. Emits one
-- JSON line per case and exits 0.
local eddy = require("eddy")
local harness = require("tests.script_harness")
local args = harness.args()
harness.watchdog("starttls.lua", 40)
local function cert(name) return args.certs .. "/" .. name end

local server_options = { certfile = cert("server.crt"), keyfile = cert("server.key") }
local server = eddy.TCPServer(function(stream)
  local line = stream:read_until("\r\n")
  if line ~= "STARTTLS\r\n" then return stream:close() end
  -- Upgraded from the write callback of the answer: once it is out, before the client's hello.
  stream:write("220 go ahead\r\n", function()
    local tls, err, code = stream:start_tls(true, server_options)
    harness.emit_named("server_upgrade", { ok = tls ~= nil, err = err, code = code,
                                           spent = stream:closed() })
    if not tls then return end
    local hello = tls:read_until("\r\n")
    if hello then tls:write("250 tls " .. hello) end
  end)
  -- Not idle while the answer is unsent: refused, the stream unchanged.
  local _, _, busy = stream:start_tls(true, server_options)
  harness.emit_named("server_busy", { code = busy })
end)
local port = server:listen(0, "127.0.0.1")

-- Connects, says STARTTLS, upgrades with `ssl_options` and `hostname`, sends hello.
local function client_case(name, ssl_options, hostname)
  local stream = assert(eddy.TCPClient():connect("127.0.0.1", port))
  local closed = eddy.Future()
  stream:set_close_callback(function(err, code) closed:set_result(code) end)
  stream:write("STARTTLS\r\n")
  local answer = stream:read_until("\r\n")
  local _, _, no_name = stream:start_tls(false, { ca_certs = cert("ca.crt") })
  local tls, err, code = stream:start_tls(false, ssl_options, hostname)
  local r = { answer = answer, no_name = no_name, ok = tls ~= nil, err = err, code = code,
              spent = stream:closed() }
  if tls then
    local same = tls:wait_for_handshake()
    r.waited = same == tls
    local _, _, again = tls:start_tls(false, ssl_options, hostname)
    r.again = again
    tls:write("hello\r\n")
    r.reply = tls:read_until("\r\n")
    tls:close()
  end
  r.close_code = closed:wait() -- the plain stream's close callback, moved to the TLS stream
  harness.emit_named(name, r)
end

eddy.spawn(function()
  client_case("client", { ca_certs = cert("ca.crt") }, "localhost")
  client_case("untrusted", {}, "localhost")
  server:stop()
  eddy.stop()
end)
eddy.start()
