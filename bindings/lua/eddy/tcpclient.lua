-- Tornado's TCPClient for Lua, over eddy_connect_with_options / eddy_connect_tls_with_options
-- (include/eddy/net.h, tls.h).
--
--   -- in a coroutine (a handler method, handle_stream, eddy.spawn):
--   local stream, err, code = eddy.TCPClient():connect("127.0.0.1", 8888, { timeout = 5 })
--   if not stream then error(err) end
--   -- or with a callback, from anywhere on the loop's thread:
--   eddy.TCPClient():connect(host, port, opts, function(stream, err, code) ... end)
--
-- Thread: the loop's. The connect never blocks the loop (names are looked up on a worker
-- thread).
local core = require("eddy.core")
local loop = require("eddy.loop")
local iostream = require("eddy.iostream")

local tcpclient = {}

local TCPClient = {}
TCPClient.__index = TCPClient
tcpclient.TCPClient = TCPClient

local error_text = iostream.error_text

local CONNECT_OPTIONS = { timeout = "number", ssl_options = "table", max_buffer_size = "integer",
                          af = "string", source_ip = "string", source_port = "integer" }
-- af's names (Tornado's socket.AF_*) → eddy_connect_options_set_family's EDDY_FAMILY_*.
local FAMILIES = { unspec = core.EDDY_FAMILY_ANY, inet = core.EDDY_FAMILY_IPV4,
                   inet6 = core.EDDY_FAMILY_IPV6 }
local SSL_OPTIONS = { ca_certs = "string", certfile = "string", keyfile = "string",
                      cert_reqs = "string", server_hostname = "string" }
-- What the C side (client_tls_context in eddy_core.i) calls Tornado's ssl_options fields.
local C_NAMES = { validate_cert = "cert_reqs", ca_certs = "ca_certs", client_cert = "certfile",
                  client_key = "keyfile", server_hostname = "server_hostname" }

local function fail(message) error(message, 0) end

-- Tornado's ssl_options (the dict form) → the TLS table tcp_connect (and stream_start_tls)
-- take; `who` names the caller in errors ("connect" by default).
local function tls_table(ssl, who)
  who = who or "connect"
  for name, value in pairs(ssl) do
    local want = SSL_OPTIONS[name]
    if not want then fail("eddy: " .. who .. ": unsupported ssl_options field " .. tostring(name)) end
    if type(value) ~= want then
      fail("eddy: " .. who .. ": ssl_options." .. name .. " must be a " .. want .. ", not " .. tostring(value))
    end
  end
  local reqs = ssl.cert_reqs
  if reqs ~= nil and reqs ~= "none" and reqs ~= "required" then
    fail("eddy: " .. who .. ': ssl_options.cert_reqs must be "none" or "required", not ' .. reqs)
  end
  local t = { ca_certs = ssl.ca_certs, client_cert = ssl.certfile, client_key = ssl.keyfile,
              server_name = ssl.server_hostname }
  if reqs ~= nil then t.validate_cert = reqs == "required" end
  return t
end

-- Checks connect's options; returns the TLS table (nil: plain TCP) and the connect options
-- table tcp_connect takes (nil: none).
local function check_options(opts)
  for name, value in pairs(opts) do
    local want = CONNECT_OPTIONS[name]
    if not want then fail("eddy: connect: unsupported option " .. tostring(name)) end
    -- source_port may be 0 (the system picks one); max_buffer_size must be positive.
    local least = name == "source_port" and 0 or 1
    local ok = want == "integer" and math.type(value) == "integer" and value >= least or type(value) == want
    if not ok then fail("eddy: connect: option " .. name .. " must be a " .. want .. ", not " .. tostring(value)) end
  end
  if opts.af ~= nil and not FAMILIES[opts.af] then
    fail('eddy: connect: option af must be "inet", "inet6" or "unspec", not ' .. opts.af)
  end
  local connect
  if opts.af or opts.source_ip or opts.source_port then
    connect = { family = FAMILIES[opts.af or "unspec"], source_ip = opts.source_ip,
                source_port = opts.source_port }
  end
  local tls
  if opts.ssl_options then tls = tls_table(opts.ssl_options) end
  return tls, connect
end

-- A connect callback failed: log it and close the stream it got.
local function callback_done(stream, ok, tb)
  if ok then return end
  io.stderr:write("eddy-lua: error in connect callback (closing the stream): ", tostring(tb), "\n")
  if stream then stream:close() end
end

-- Connects to host:port (a numeric IPv4/IPv6 address or a name; every address it resolves to is
-- tried as Happy Eyeballs: the next when one fails or 250 ms after it started).
-- opts (Tornado's TCPClient.connect arguments):
--   timeout (seconds): bounds the whole attempt (default: none);
--   ssl_options: connect with TLS — a table of ca_certs (PEM file of CAs trusted besides the
--     system's), certfile and keyfile (a client certificate for a server that asks; the key
--     defaults to certfile's file), cert_reqs ("required", the default: the certificate chain
--     and the host name are checked; "none": nothing is), server_hostname (the name sent as
--     SNI and checked; default `host`). {} connects with the defaults. The handshake runs after
--     the connect: a failed one (an untrusted certificate) closes the stream with EDDY_ETLS, so
--     the first read returns nil, message, EDDY_ETLS.
--   max_buffer_size (bytes): the stream's read buffer limit;
--   af: "inet" (IPv4) or "inet6" (IPv6) tries only the host's addresses of that family
--     (Tornado's af=socket.AF_INET / AF_INET6; "unspec", the default: both, staggered as
--     Happy Eyeballs); a host without one fails with EDDY_ERESOLVE;
--   source_ip (a numeric IPv4/IPv6 address; then only addresses of its family are tried) /
--     source_port (0..65535): the local end each attempt binds before it connects (Tornado's
--     source_ip / source_port; a source_port alone binds the wildcard address). A name, or a
--     port out of range, is EDDY_EINVAL at once (the message names the option); an address
--     that is not local fails the connect with EDDY_EADDRNOTAVAIL, a port in use with
--     EDDY_EADDRINUSE.
-- Without a callback it must run in a coroutine and returns the stream, or nil, a message and
-- the EDDY_E* code (EDDY_ECONNREFUSED, EDDY_ETIMEDOUT, EDDY_ERESOLVE, EDDY_EINVAL for a bad
-- port or an unreadable certificate file, whose option the message names). A failed connect's
-- message ends with eddy's reason ("connection refused (-7): connect to 127.0.0.1:9:
-- Connection refused"; eddy_connect_error_detail). With a callback it
-- returns at once and callback(stream) or callback(nil, message, code) runs later as a
-- coroutine. An unknown option or a value of the wrong type raises an error at once.
function tcpclient.connect(host, port, opts, callback)
  if callback == nil and type(opts) == "function" then opts, callback = nil, opts end
  if type(host) ~= "string" then error("eddy: connect: host must be a string", 2) end
  if math.type(port) ~= "integer" then error("eddy: connect: port must be an integer", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("eddy: connect: options must be a table", 2) end
  if callback ~= nil and type(callback) ~= "function" then error("eddy: connect: the callback must be a function", 2) end
  opts = opts or {}
  local ok, tls, connect_opts = pcall(check_options, opts)
  if not ok then error(tls, 2) end
  if not callback then
    local _, main = coroutine.running()
    if main then error("eddy: connect without a callback only works inside a coroutine", 2) end
  end
  local connected -- the values connect returns, once known
  local waiter    -- resume of the coroutine waiting for them

  local function finish(...)
    if callback then return loop.spawn_ctx(callback, callback_done, (...), ...) end
    connected = table.pack(...)
    if waiter then waiter(...) end
  end

  local function dispatch(handle, status)
    status = math.tointeger(status)
    if status ~= 0 then
      -- Why, beyond the code (eddy_connect_error_detail, only readable now, inside eddy's
      -- failed callback): it ends the message, as a WebSocket connect error's.
      local err = error_text(status)
      local detail = core.eddy_connect_error_detail(loop.get())
      if detail ~= nil and detail ~= "" then err = err .. ": " .. detail end
      return finish(nil, err, status)
    end
    local stream = iostream.wrap(handle)
    if opts.max_buffer_size then stream:set_max_buffer_size(opts.max_buffer_size) end
    return finish(stream)
  end

  local rc, option = core.tcp_connect(loop.get(), host, port, opts.timeout, tls, dispatch,
                                      connect_opts)
  rc = math.tointeger(rc)
  if rc ~= 0 then
    local err = error_text(rc)
    if option == "af" or option == "source_ip" or option == "source_port" then
      -- a connect option eddy refused: a source_ip that is a name, a source_port out of range
      err = option .. " " .. tostring(opts[option]) .. ": " .. err
    elseif option then -- an option eddy refused (an unreadable ca_certs file, ...); the log says why
      local name = C_NAMES[option] or option
      local value = opts.ssl_options and opts.ssl_options[name]
      err = "ssl_options." .. name .. (type(value) == "string" and (" " .. value) or "") .. ": " .. err
    end
    if callback then
      loop.add_callback(function() loop.spawn_ctx(callback, callback_done, nil, nil, err, rc) end)
      return nil
    end
    return nil, err, rc
  end
  if callback then return nil end
  if not connected then coroutine.yield(function(resume) waiter = resume end) end
  return table.unpack(connected, 1, connected.n)
end

-- For IOStream:start_tls (internal): the client ssl_options conversion and the C names.
tcpclient._tls_table = tls_table
tcpclient._c_names = C_NAMES

-- A client (Tornado's TCPClient; it holds nothing: eddy resolves names itself).
function tcpclient.new() return setmetatable({}, TCPClient) end

-- See tcpclient.connect.
function TCPClient:connect(host, port, opts, callback)
  if callback == nil and type(opts) == "function" then opts, callback = nil, opts end
  local results = table.pack(pcall(tcpclient.connect, host, port, opts, callback))
  if not results[1] then error(results[2], 2) end
  return table.unpack(results, 2, results.n)
end

-- Nothing to release (Tornado's TCPClient.close).
function TCPClient:close() end

return tcpclient
