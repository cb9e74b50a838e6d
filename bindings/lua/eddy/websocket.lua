-- The WebSocket client for Lua (Tornado's websocket_connect and WebSocketClientConnection) on
-- eddy_websocket_connect.
--
--   -- in a handler method or an eddy.spawn coroutine:
--   local conn, err = eddy.websocket_connect("ws://127.0.0.1:8888/ws", { subprotocols = { "chat" } })
--   if not conn then error(err) end
--   conn:write_message("hello")
--   local msg, binary = conn:read_message()   -- nil once the connection is closed
--   conn:close(1000, "bye")
--
--   -- or with callbacks, from anywhere on the loop's thread:
--   eddy.websocket_connect(url, { on_message_callback = function(msg, binary) ... end },
--                          function(conn, err) ... end)
--
-- Options: subprotocols (list, in order of preference), headers ({ Name = value } or a list of
-- { name, value }), timeout (alias connect_timeout, seconds for TCP connect + handshake;
-- default 20), compression (true or { server_no_context_takeover, client_no_context_takeover,
-- max_window_bits, compression_level (zlib's 0..9 or -1: 6), mem_level (1..9 or 0: 8) }),
-- max_message_size, max_message_memory (bytes of the message being received;
-- over it the connection closes with 1013), ping_interval, ping_timeout, close_timeout,
-- on_message_callback(msg, binary) (every message, then nil at the close; read_message is then
-- unavailable), on_pong(conn, data), unix_socket (eddy's extension, as HTTPRequest's: the path of
-- a Unix-domain socket, "@name" for an abstract one, to connect to instead of the URL's host
-- and port; the URL still gives Host, the target and the name wss:// checks; a missing path
-- fails with EDDY_ENOENT, one nobody listens on with EDDY_ECONNREFUSED).
-- TLS for wss:// (Tornado's names): validate_cert (default true: the server's certificate chain
-- and the URL's host name are checked), ca_certs (PEM file of CAs to trust besides the
-- system's), client_cert and client_key (PEM files; the key defaults to client_cert's file).
-- A failed handshake or verification is reported as EDDY_ETLS, the failed check as the detail.
--
-- Backpressure: conn:set_write_mark(bytes [, on_drain]), conn:write_buffer_size() and
-- conn:wait_for_drain() (see eddy/write_mark.lua).
local core = require("eddy.core")
local loop = require("eddy.loop")
local json = require("eddy.json")
local write_mark = require("eddy.write_mark")

local websocket = {}

-- The WebSocket options: a route's kwargs.websocket over the application's websocket_*
-- settings, and websocket_connect's opts (CLIENT_OPTIONS too). name → the Lua type it takes.
local WS_OPTIONS = { max_message_size = "number", max_message_memory = "number", compression = "compression",
                     ping_interval = "number", ping_timeout = "number", close_timeout = "number" }
-- (The TLS options are checked by eddy's C side, whose error names the option first.)
local CLIENT_OPTIONS = { subprotocols = "table", headers = "table", timeout = "number", connect_timeout = "number",
                         validate_cert = "any", ca_certs = "any", client_cert = "any", client_key = "any",
                         on_pong = "function", on_message_callback = "function", unix_socket = "string" }

-- nil when `opts` holds only WebSocket options (client: also websocket_connect's) of the types
-- they take, else what is wrong. An unknown name (a misspelt option) or a value of another
-- type would otherwise be ignored — the default applying silently, where listen's and
-- HTTPRequest's options raise; eddy's C setters check the ranges after this.
function websocket.options_error(opts, client)
  if opts == nil then return nil end
  if type(opts) ~= "table" then return "the options must be a table, not " .. type(opts) end
  for name, value in pairs(opts) do
    local want = WS_OPTIONS[name] or (client and CLIENT_OPTIONS[name])
    if not want then return "unsupported option " .. tostring(name) end
    local ok = want == "any" or type(value) == want
    if want == "compression" then ok = type(value) == "boolean" or type(value) == "table" end
    if not ok then
      return "option " .. name .. " must be a " .. (want == "compression" and "boolean or a table" or want)
             .. ", not " .. type(value)
    end
  end
  return nil
end

local Conn = {}
Conn.__index = Conn
websocket.Connection = Conn

-- Sends a message: a string (text, or binary when `binary` is true) or a table as JSON text.
-- Returns 0 or a negative EDDY_E* code (EDDY_ECLOSED once closing has begun).
function Conn:write_message(msg, binary)
  if not self.ws then return core.EDDY_ECLOSED end
  if type(msg) == "table" then msg = json.encode(msg) end
  return math.tointeger(core.ws_write(self.ws, msg, binary))
end

-- The next message and whether it is binary; waits (yielding the running coroutine) when none
-- is queued. nil once the connection is closed and every received message was read.
function Conn:read_message()
  if self._on_message then error("eddy: read_message with an on_message_callback", 2) end
  local q = self._queue
  if q.first <= q.last then
    local item = q[q.first]
    q[q.first], q.first = nil, q.first + 1
    return item[1], item[2]
  end
  if self.closed then return nil end
  local _, main = coroutine.running()
  if main then error("eddy: read_message only works inside a handler or loop.spawn coroutine", 2) end
  return coroutine.yield(function(resume) self._readers[#self._readers + 1] = resume end)
end

-- Sends a ping with up to 125 bytes of payload (on_pong gets the answer). Returns 0 or EDDY_E*.
function Conn:ping(data)
  if not self.ws then return core.EDDY_ECLOSED end
  return math.tointeger(core.eddy_ws_ping(self.ws, data or ""))
end

-- Starts the close handshake (code default 1000); read_message returns nil once it completed,
-- then close_code / close_reason hold the server's close frame. Returns 0 or EDDY_E*.
function Conn:close(code, reason)
  if not self.ws then return core.EDDY_ECLOSED end
  return math.tointeger(core.eddy_ws_close(self.ws, code or 1000, reason))
end

-- Bounds the write buffer: on_drain(conn) (optional) runs each time it drops to `bytes` after
-- it held more; nil removes the mark. Returns 0 or EDDY_E*.
function Conn:set_write_mark(bytes, on_drain) return write_mark.set(self, bytes, on_drain) end
-- Bytes queued for sending and not yet handed to the kernel.
function Conn:write_buffer_size() return write_mark.buffer_size(self) end
-- In a coroutine: true once the write buffer is at or below the mark (waiting if needed),
-- false when the connection closed first.
function Conn:wait_for_drain() return write_mark.wait(self) end

-- Queues a message for read_message, or hands it to the first waiting reader.
local function deliver(conn, msg, binary)
  if #conn._readers > 0 then
    return table.remove(conn._readers, 1)(msg, binary)
  end
  local q = conn._queue
  q.last = q.last + 1
  q[q.last] = { msg, binary }
end

-- Callbacks run as coroutines (they may read_message, sleep, ...); an error in one is logged
-- and closes the connection with 1011, as in a server handler.
local function callback_done(conn, ok, tb)
  if ok then return end
  io.stderr:write("eddy-lua: error in WebSocket client callback: ", tostring(tb), "\n")
  if conn and conn.ws then core.eddy_ws_close(conn.ws, 1011, "handler error") end
end

-- The loop's closer (loop.attach): the loop frees a connection itself, without callbacks, so
-- the Lua object only forgets its handle (sending then returns EDDY_ECLOSED).
local function abandon(conn)
  conn.ws, conn.closed = nil, true
end

local function error_text(status)
  return core.eddy_strerror(status) .. " (" .. math.tointeger(status) .. ")"
end

-- Connects to `url` (ws:// or wss://). With `callback`, returns at once and later runs
-- callback(conn) or callback(nil, err, code, detail). Without, it must run in a coroutine (a
-- handler method or eddy.spawn) and returns conn, or nil, an error message, the EDDY_E* code
-- (e.g. a refused connection, a timeout, EDDY_EPROTO when the server refused the handshake)
-- and eddy's detail of a connect that failed (eddy_websocket_connect_error_detail, e.g.
-- "certificate verification: hostname mismatch"; nil when none, or when eddy refused the call
-- itself), which also ends the message.
function websocket.connect(url, opts, callback)
  local bad = websocket.options_error(opts, true)
  if bad then
    local err = "eddy: websocket_connect: " .. bad
    if callback then
      loop.add_callback(function() loop.spawn_ctx(callback, callback_done, nil, nil, err, core.EDDY_EINVAL) end)
      return nil
    end
    return nil, err, core.EDDY_EINVAL
  end
  opts = opts or {}
  if not callback then
    local _, main = coroutine.running()
    if main then error("eddy: websocket_connect without a callback only works inside a coroutine", 2) end
  end
  local conn = setmetatable({ url = url, closed = false, _readers = {},
                              _queue = { first = 1, last = 0 },
                              _on_message = opts.on_message_callback }, Conn)
  local on_pong = opts.on_pong
  local connected -- set by the connect event: the values websocket_connect returns
  local waiter -- resume of the coroutine waiting for the connect

  local function finish_connect(...)
    if callback then
      return loop.spawn_ctx(callback, callback_done, conn, ...)
    end
    connected = table.pack(...)
    if waiter then waiter(...) end
  end

  local function dispatch(event, ws, a, b)
    if event == "message" then
      if conn._on_message then return loop.spawn_ctx(conn._on_message, callback_done, conn, a, b) end
      return deliver(conn, a, b)
    elseif event == "connect" then
      if a ~= 0 then
        conn.closed = true
        loop.detach("connections", conn)
        local err = error_text(a)
        -- Why, beyond the code (only readable now, inside eddy's failed on_connect): it ends
        -- the message and comes alone fourth, as a fetch error's message and `detail`.
        local detail = core.eddy_websocket_connect_error_detail(loop.get())
        if detail == "" then detail = nil end
        if detail then err = err .. ": " .. detail end
        if a == core.EDDY_ETLS and opts.validate_cert ~= false then
          -- Mostly an untrusted certificate (the detail says which check failed).
          err = err .. "; to trust the server's certificate give its CA in ca_certs"
        end
        return finish_connect(nil, err, math.tointeger(a), detail)
      end
      conn.ws = ws
      local sub = core.eddy_ws_subprotocol(ws)
      conn.selected_subprotocol = (sub ~= nil and sub ~= "") and sub or nil
      conn.compressed = core.eddy_ws_compressed(ws) == 1
      return finish_connect(conn)
    elseif event == "close" then
      -- After this event the handle is gone.
      conn.ws, conn.closed = nil, true
      loop.detach("connections", conn)
      conn.close_code, conn.close_reason = math.tointeger(a), b
      write_mark.closed(conn)
      local readers = conn._readers
      conn._readers = {}
      for _, resume in ipairs(readers) do resume(nil) end
      if conn._on_message then loop.spawn_ctx(conn._on_message, callback_done, conn, nil) end
    elseif event == "pong" then
      if on_pong then loop.spawn_ctx(on_pong, callback_done, conn, conn, a) end
    elseif event == "drain" then
      write_mark.drained(conn, function(fn, c) loop.spawn_ctx(fn, callback_done, c, c) end)
    end
  end

  local copts = {}
  for k, v in pairs(opts) do copts[k] = v end
  copts.on_pong = on_pong ~= nil
  copts.on_message_callback = nil
  local handle = loop.get()
  loop.attach("connections", conn, abandon)
  local rc, option = core.websocket_connect(handle, url, copts, dispatch)
  rc = math.tointeger(rc)
  if rc ~= 0 then
    conn.closed = true
    loop.detach("connections", conn)
    local err = error_text(rc)
    -- An option eddy refused (an unreadable ca_certs file, ...) is named; the log says why.
    if option then
      local value = opts[option]
      err = option .. (type(value) == "string" and (" " .. value) or "") .. ": " .. err
    end
    if callback then
      loop.add_callback(function() loop.spawn_ctx(callback, callback_done, nil, nil, err, rc) end)
      return nil
    end
    return nil, err, rc
  end
  if callback then return nil end
  if not connected then
    coroutine.yield(function(resume) waiter = resume end)
  end
  return table.unpack(connected, 1, connected.n)
end

return websocket
