-- Lua servers for test_server_options.py: Application:listen and RawServer:listen with
-- Tornado's HTTPServer keywords. Usage: lua5.4 server_options.lua --port 0
-- Prints "listening <port>" (the first server), then one JSON line: the port of each server
-- by name, and `refused`: what listen raised (pcall's message) for each bad option table.
local eddy = require("eddy")
local harness = require("tests.script_harness")
local core, json = eddy.core, eddy.json
local args = harness.args()

-- GET /ip answers "<remote ip> <scheme>"; POST /echo the consumed encoding and the body;
-- POST /form the body argument a ("-" without one) and the body.
local function app()
  return eddy.Application({
    { "/ip", { get = function(self)
      self:write(self:remote_ip() .. " " .. self:protocol())
    end } },
    { "/echo", { post = function(self)
      self:write((self:header("X-Consumed-Content-Encoding") or "-") .. ":" .. self:body())
    end } },
    { "/form", { post = function(self)
      self:write((self:get_body_argument("a", false) or "-") .. ":" .. self:body())
    end } },
    { "/", { get = function(self) self:write("ok") end } },
  })
end

local ports = {}
ports.trusting = app():listen(math.tointeger(args.port) or 0, "127.0.0.1",
  { xheaders = true, trusted_downstream = { "192.0.2.1", "127.0.0.1" } })
print("listening " .. ports.trusting)
io.stdout:flush()
ports.untrusted = app():listen(0, "127.0.0.1", { xheaders = true, trusted_downstream = { "192.0.2.1" } })
ports.off = app():listen(0, "127.0.0.1")
ports.https_proxy = app():listen(0, "127.0.0.1", { protocol = "https", xheaders = true })
ports.limits = app():listen(0, "127.0.0.1", { max_header_size = 1024, max_header_fields = 5 })
ports.timeout = app():listen(0, "127.0.0.1", { header_timeout = 0.2 })
ports.body_memory = app():listen(0, "127.0.0.1", { max_body_memory = 100000 })
ports.no_keep_alive = app():listen(0, "127.0.0.1", { no_keep_alive = true })
ports.max_connections = app():listen(0, "127.0.0.1", { max_connections = 1 })
ports.no_body_arguments = app():listen(0, "127.0.0.1", { body_arguments = false })
ports.misc = app():listen(0, "127.0.0.1", { decompress_request = true, server_header = "test-server/1",
  max_body_size = 1000, idle_connection_timeout = 30, body_timeout = 30, chunk_size = 65536,
  body_min_rate = 1000, body_min_rate_grace = 30 })

-- The raw server takes the same options: PROXY protocol, no Server header, 5 header lines.
local raw = eddy.HTTPServer(function(req)
  core.eddy_request_write(req, core.eddy_request_remote_ip(req))
end)
ports.raw = raw:listen(0, "127.0.0.1", { proxy_protocol = true, server_header = false, max_header_fields = 5 })

-- Bad option tables: each raises an error naming the option, at the caller's line.
local refused = {}
local bad = {
  unknown = { max_header_sise = 10 },
  header_size = { max_header_size = 10 },
  header_fields = { max_header_fields = 0 },
  negative_body = { max_body_size = -1 },
  negative_body_memory = { max_body_memory = -1 },
  fractional_connections = { max_connections = 1.5 },
  header_timeout = { header_timeout = -1 },
  body_timeout = { body_timeout = -0.5 },
  min_rate = { body_min_rate = -1 },
  min_rate_inf = { body_min_rate = math.huge },
  min_rate_grace = { body_min_rate_grace = 0 / 0 },
  idle_timeout = { idle_connection_timeout = -1 },
  nan_timeout = { header_timeout = 0 / 0 },
  xheaders_type = { xheaders = "yes" },
  body_arguments_type = { body_arguments = 0 },
  trusted = { trusted_downstream = { "127.0.0.1", "not-an-ip" } },
  trusted_type = { trusted_downstream = "127.0.0.1" },
  trusted_map = { trusted_downstream = { proxy = "127.0.0.1" } },
  trusted_entry = { trusted_downstream = { "127.0.0.1", 10 } },
  server_header = { server_header = "a\r\nX-Evil: 1" },
  server_header_true = { server_header = true },
  not_a_table = "xheaders",
  protocol = { protocol = "ftp" },
}
for name, opts in pairs(bad) do
  local a = app()
  local ok, err = pcall(a.listen, a, 0, "127.0.0.1", opts)
  refused[name] = ok and "accepted" or tostring(err)
  local raw_ok, raw_err = pcall(raw.listen, raw, 0, "127.0.0.1", opts)
  refused["raw_" .. name] = raw_ok and "accepted" or tostring(raw_err)
end
-- The error points at the line that called listen.
local _, where = pcall(function() app():listen(0, "127.0.0.1", { nope = true }) end)
refused.where = tostring(where)
-- A port that is not an integer in 0..65535 (C's int would cut 1.5 to port 1) or a host that
-- is not a string is refused, on both servers, as TCPServer:listen refuses them.
for name, address in pairs({ fractional_port = { 1.5 }, string_port = { "80" }, big_port = { 70000 },
                             number_host = { 0, 127 } }) do
  local a = app()
  local ok, err = pcall(a.listen, a, address[1], address[2] or "127.0.0.1")
  refused[name] = ok and "accepted" or tostring(err)
  local raw_ok, raw_err = pcall(raw.listen, raw, address[1], address[2] or "127.0.0.1")
  refused["raw_" .. name] = raw_ok and "accepted" or tostring(raw_err)
end

-- All or nothing: a listen refused for one option leaves the server as it was, so a later
-- correct listen of the same application does not serve with the options before the refused
-- one. `then_refused` holds each refused call's message.
local then_refused = {}
local function refuse(key, a, opts)
  local ok, err = pcall(a.listen, a, 0, "127.0.0.1", opts)
  then_refused[key] = ok and "accepted" or tostring(err)
end
local tls = { certfile = args.cert, keyfile = args.key }
-- A: then a listen without options: xheaders off, no PROXY header expected, plain HTTP, the
-- default Server header, the default head size.
local a = app()
refuse("xheaders", a, { xheaders = true, protocol = "ftp" })
refuse("proxy", a, { proxy_protocol = true, protocol = "ftp" })
refuse("tls", a, { ssl_options = tls, server_header = "edge/1", proxy_protocol = true, protocol = "ftp" })
refuse("header_size", a, { max_header_size = 1024, header_timeout = -1 })
refuse("server_header", a, { server_header = "edge/2", protocol = "ftp" })
ports.after_refused = a:listen(0, "127.0.0.1")
-- B: then a listen with xheaders: no trusted proxy was added, so every peer is believed.
local b = app()
refuse("trusted", b, { trusted_downstream = { "192.0.2.1" }, max_header_size = 10 })
refuse("trusted_nul", b, { trusted_downstream = { "192.0.2.2", "127.0.0.1\0x" } })
ports.after_refused_trusted = b:listen(0, "127.0.0.1", { xheaders = true })
-- The PROXY protocol in front of TLS (a proxy passing TLS through): each connection's PROXY
-- header, then its TLS handshake. A listen that gives both, on an application and on a raw
-- server, and a raw server given one option by a listen and the other by a later one (its
-- options stay for later listens). ssl_options with proxy_protocol = false after a listen that
-- turned the PROXY protocol on turns it off. `then_refused` holds the message of any of these
-- listens that raised (the test reports it). The raw servers answer "<remote ip> <scheme>".
local function listen_reporting(key, server, opts)
  local ok, port = pcall(server.listen, server, 0, "127.0.0.1", opts)
  if ok then ports[key] = port else then_refused[key] = tostring(port) end
end
local function raw_ip_scheme()
  return eddy.HTTPServer(function(req)
    core.eddy_request_write(req, core.eddy_request_remote_ip(req) .. " " .. core.eddy_request_scheme(req))
  end)
end
listen_reporting("proxy_tls", app(), { ssl_options = tls, proxy_protocol = true, server_header = "pt/1" })
listen_reporting("raw_proxy_tls", raw_ip_scheme(), { ssl_options = tls, proxy_protocol = true })
local c = raw_ip_scheme()
c:listen(0, "127.0.0.1", { proxy_protocol = true })
listen_reporting("tls_after_proxy", c, { ssl_options = tls })
local d = raw_ip_scheme()
d:listen(0, "127.0.0.1", { ssl_options = tls })
listen_reporting("proxy_after_tls", d, { server_header = "edge/3", proxy_protocol = true })
local g = raw_ip_scheme()
g:listen(0, "127.0.0.1", { proxy_protocol = true })
listen_reporting("tls_proxy_off", g, { ssl_options = tls, proxy_protocol = false })

-- One application listening three times, each listen a server of its own with only its own
-- options (as Tornado's app.listen): plain HTTP with the defaults (the application's default
-- server), HTTPS with its own Server header and a 10-byte body limit, and plain HTTP again
-- with xheaders. `default_server_port` is the port of Application:server().
local e = app()
ports.two_plain = e:listen(0, "127.0.0.1")
ports.two_https = e:listen(0, "127.0.0.1", { ssl_options = tls, server_header = "tls/1", max_body_size = 10 })
ports.two_xheaders = e:listen(0, "127.0.0.1", { xheaders = true })
ports.default_server_port = math.tointeger(core.eddy_server_port(e:server()))
-- A listen refused for its certificate files leaves the server it took unchanged, for the next
-- listen (then_refused.bad_cert holds its message).
local f = app()
ports.bad_cert_first = f:listen(0, "127.0.0.1")
refuse("bad_cert", f, { ssl_options = { certfile = args.cert .. ".missing" }, server_header = "edge/4" })
ports.bad_cert_then = f:listen(0, "127.0.0.1")

-- Unix sockets (--unix DIR, --abstract NAME): Application:listen_unix with the default mode
-- (0600), with mode 0660 and server options, on an abstract name; and what it refuses.
if args.unix then
  local u = app()
  u:listen_unix(args.unix .. "/app.sock")
  u:listen_unix(args.unix .. "/group.sock", { mode = tonumber("660", 8), server_header = "unix/1" })
  u:listen_unix("@" .. args.abstract)
  local function refuse_unix(key, path, opts)
    local ok, err = pcall(u.listen_unix, u, path, opts)
    refused[key] = ok and "accepted" or tostring(err)
  end
  refuse_unix("unix_in_use", args.unix .. "/app.sock")
  refuse_unix("unix_empty", "")
  refuse_unix("unix_mode", args.unix .. "/bad.sock", { mode = 4095 })
  refuse_unix("unix_mode_type", args.unix .. "/bad.sock", { mode = "600" })
  refuse_unix("unix_option", args.unix .. "/bad.sock", { nope = true })
end

harness.emit({ ports = ports, refused = refused, then_refused = then_refused })
harness.watchdog("server_options.lua", 120)
eddy.start()
