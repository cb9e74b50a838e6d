-- Tornado's TCPServer for Lua, over eddy_listener (include/eddy/net.h).
--
--   local server = eddy.TCPServer(function(stream, address, port)
--     while true do                                  -- handle_stream runs as a coroutine
--       local line = stream:read_until("\n")
--       if not line then return end                  -- the peer left
--       stream:write(line)
--     end
--   end)
--   server:listen(8888)
--   eddy.start()
--
-- Where Tornado subclasses TCPServer and overrides handle_stream, Lua passes the function.
-- handle_stream(stream, address, port) runs as a coroutine for each accepted connection (an
-- eddy.IOStream, the peer's numeric address and port; "" and 0 over a Unix socket); the stream
-- is its to use and close. A Lua error in it is logged and closes that connection; the server
-- goes on accepting.
--
-- Life cycle: the server is attached to the loop and freed with it (eddy.close(), the end of
-- the script) unless stop() came first. Thread: the loop's.
local core = require("eddy.core")
local loop = require("eddy.loop")
local iostream = require("eddy.iostream")

local tcpserver = {}

local TCPServer = {}
TCPServer.__index = TCPServer
tcpserver.TCPServer = TCPServer

local function fail(message, level) error(message, level + 1) end

local function strerror(rc) return core.eddy_strerror(rc) end

-- handle_stream raised: log, close that connection.
local function stream_done(stream, ok, tb)
  if ok then return end
  io.stderr:write("eddy-lua: error in handle_stream (closing the connection): ", tostring(tb), "\n")
  stream:close()
end

-- Checks `opts` (nil or a table) against `known` (name -> Lua type, or "size": an integer > 0);
-- `what` names the call in errors, `hint` adds to an unknown name's message.
local function check_options(what, opts, known, hint)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail("eddy: " .. what .. ": options must be a table", 3) end
  for name, value in pairs(opts) do
    local want = known[name]
    if not want then
      fail("eddy: " .. what .. ": unsupported option " .. tostring(name) .. ((hint and hint[name]) or ""), 3)
    end
    local ok
    if want == "size" then
      ok = math.type(value) == "integer" and value > 0
      want = "an integer > 0"
    else
      ok = type(value) == want
      want = "a " .. want
    end
    if not ok then fail("eddy: " .. what .. ": option " .. name .. " must be " .. want .. ", not " .. tostring(value), 3) end
  end
  return opts
end

local SERVER_OPTIONS = { ssl_options = "table", max_buffer_size = "size", read_chunk_size = "size" }
local LISTEN_OPTIONS = { backlog = "size", reuse_port = "boolean" }
local LISTEN_HINTS = {
  ssl_options = " (give ssl_options to eddy.TCPServer: TLS applies to every socket of the server)",
}

-- Creates a server that runs handle_stream(stream, address, port) for each connection. opts
-- (Tornado's TCPServer arguments):
--   ssl_options: serve TLS — certfile, keyfile (PEM files; the key defaults to certfile's
--     file), ca_certs (CAs for client certificates) and cert_reqs ("none", "optional",
--     "required"; "required" by default with ca_certs), as Application:listen takes them. Each
--     accepted connection starts its handshake at once; reads and writes wait for it, and a
--     failed handshake closes the stream with EDDY_ETLS (its close callback and a pending read
--     report it). A bad file or field raises an error naming it.
--   max_buffer_size (bytes): each accepted stream's read buffer limit (default 100 MiB).
--   read_chunk_size: accepted and ignored (eddy reads what the socket has).
-- An unknown option or a value of the wrong type raises an error.
function tcpserver.new(handle_stream, opts)
  if type(handle_stream) ~= "function" then
    fail("eddy: TCPServer(handle_stream [, opts]): handle_stream must be a function", 2)
  end
  opts = check_options("TCPServer", opts, SERVER_OPTIONS)
  local max_buffer_size = opts.max_buffer_size
  local function dispatch(handle, address, port)
    local stream = iostream.wrap(handle)
    if max_buffer_size then stream:set_max_buffer_size(max_buffer_size) end
    loop.spawn_ctx(handle_stream, stream_done, stream, stream, address, math.tointeger(port))
  end
  local handle = core.listener_new(loop.get(), dispatch)
  if not handle then fail("eddy: cannot create the TCP server (out of memory)", 2) end
  if opts.ssl_options then
    local rc, option = core.listener_set_tls(handle, opts.ssl_options)
    rc = math.tointeger(rc)
    if rc ~= 0 then
      core.eddy_listener_free(handle)
      fail("eddy: ssl_options: " .. (option and (option .. ": ") or "") .. strerror(rc), 2)
    end
  end
  local server = setmetatable({ handle = handle }, TCPServer)
  loop.attach("servers", server, TCPServer.stop)
  return server
end

local function live(self)
  local h = self.handle
  if not h then fail("eddy: the TCP server is stopped", 3) end
  return h
end

-- Listens on `port` (0 picks a free one) and `address` (nil: every local address, one socket
-- per address family; "127.0.0.1", "::1", "localhost", a numeric address). opts: backlog
-- (default 128) and reuse_port (SO_REUSEPORT: several processes or servers share the port).
-- May be called more than once. Returns the port: the one given, or for port 0 the one picked
-- (that of the server's first socket: after another listen, bind with eddy.bind_socket and
-- add_socket instead to learn it). Raises an error when the address cannot be bound
-- ("eddy: listen on 127.0.0.1:80 failed: permission denied").
function TCPServer:listen(port, address, opts)
  local h = live(self)
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    fail("eddy: listen: port must be an integer in 0..65535", 2)
  end
  if address ~= nil and type(address) ~= "string" then fail("eddy: listen: address must be a string or nil", 2) end
  opts = check_options("listen", opts, LISTEN_OPTIONS, LISTEN_HINTS)
  -- An IPv6 socket takes IPv6 only, as Tornado's bind_sockets makes it: listen(p, "0.0.0.0")
  -- and listen(p, "::") can both be done (dual-stack, the second was EADDRINUSE).
  local flags = core.EDDY_LISTEN_IPV6ONLY | (opts.reuse_port and core.EDDY_LISTEN_REUSEPORT or 0)
  local rc = math.tointeger(core.eddy_listener_bind(h, address, port, opts.backlog or 0, flags))
  if rc ~= 0 then
    fail(("eddy: listen on %s:%d failed: %s"):format(address or "*", port, strerror(rc)), 2)
  end
  if port ~= 0 then return port end
  return self:port()
end

-- Accepts on `fd`, a listening socket (from eddy.bind_socket, or inherited). The server owns it
-- from then on. Raises an error when it is not a listening socket (the fd stays the caller's).
function TCPServer:add_socket(fd)
  local h = live(self)
  if math.type(fd) ~= "integer" then fail("eddy: add_socket: fd must be an integer", 2) end
  local rc = math.tointeger(core.eddy_listener_add_fd(h, fd))
  if rc ~= 0 then fail(("eddy: add_socket(%d) failed: %s"):format(fd, strerror(rc)), 2) end
end

-- add_socket for each fd of a list (Tornado's add_sockets).
function TCPServer:add_sockets(fds)
  for _, fd in ipairs(fds) do
    local ok, err = pcall(self.add_socket, self, fd)
    if not ok then error(err, 2) end
  end
end

-- Listens on a Unix socket at `path` (a stale socket file nobody answers on is replaced; any
-- other existing file is an error). handle_stream gets "" and 0 for its address and port.
function TCPServer:bind_unix(path, backlog)
  local h = live(self)
  if type(path) ~= "string" then fail("eddy: bind_unix: path must be a string", 2) end
  if backlog ~= nil and (math.type(backlog) ~= "integer" or backlog <= 0) then
    fail("eddy: bind_unix: backlog must be an integer > 0 or nil", 2)
  end
  local rc = math.tointeger(core.eddy_listener_bind_unix(h, path, backlog or 0))
  if rc ~= 0 then fail(("eddy: bind_unix %s failed: %s"):format(path, strerror(rc)), 2) end
end

-- The local port of the server's first TCP socket, or nil when it has none.
function TCPServer:port()
  local p = math.tointeger(core.eddy_listener_port(live(self)))
  if p < 0 then return nil end
  return p
end

-- The local address of every listening socket, in the order they were bound or added: a
-- list of {ip, port} tables for TCP sockets and path strings for Unix sockets (eddy's
-- addition; Tornado keeps the socket objects in TCPServer._sockets and calls getsockname).
-- port() gives the first TCP socket's port only: listen(0, "localhost") or add_sockets with
-- sockets bound to port 0 apart make sockets with ports of their own. Empty after stop().
function TCPServer:local_addresses()
  local out = {}
  local h = self.handle
  if not h then return out end
  for i = 0, math.tointeger(core.eddy_listener_socket_count(h)) - 1 do
    local ip, port = core.socket_address(math.tointeger(core.eddy_listener_socket_fd(h, i)))
    if port then
      out[#out + 1] = {ip, math.tointeger(port)}
    elseif ip then
      out[#out + 1] = ip
    end
  end
  return out
end

-- Stops accepting and closes the listening sockets (a Unix socket's file is removed), then
-- releases handle_stream; connections already accepted go on. Safe inside handle_stream;
-- stopping twice is harmless. Afterwards listen and add_socket raise an error.
function TCPServer:stop()
  local h = self.handle
  if not h then return end
  self.handle = nil
  loop.detach("servers", self)
  core.eddy_listener_free(h)
end

return tcpserver
