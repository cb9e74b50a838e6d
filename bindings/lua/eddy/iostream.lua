-- Tornado's IOStream for Lua, over eddy_stream (include/eddy/stream.h): a connected socket
-- with a read buffer and a write buffer. Streams come from eddy.TCPServer (handle_stream's
-- first argument), eddy.TCPClient():connect and IOStream:start_tls (STARTTLS).
--
--   -- in a coroutine (handle_stream, a connect callback, eddy.spawn, a handler method):
--   local line, err, code = stream:read_until("\r\n")   -- nil, message, EDDY_E* once closed
--   stream:write("echo: " .. line)
--   -- or with a callback, from anywhere on the loop's thread:
--   stream:read_bytes(4, function(data, err, code) ... end)
--
-- Reads: one at a time. Without a callback a read yields the running coroutine and returns the
-- data, or nil, a message and the EDDY_E* code when the stream closed first: the close's own
-- error (EDDY_EOF: the peer closed, EDDY_ECONNRESET, EDDY_ETOOBIG: a limit was exceeded,
-- EDDY_ETLS: the TLS handshake failed, ...) or EDDY_ECLOSED after close(). With a callback it
-- returns true at once and callback(data) or callback(nil, message, code) runs later, as a
-- coroutine. On a stream already closed either form returns nil, message, code at once (and
-- the callback is not called). A second read while one is pending raises an error.
--
-- Callbacks (read, write, close, on_drain) run as coroutines; an error in one is logged and
-- closes the stream (as Tornado's IOStream does).
--
-- Life cycle: the stream lives until its close callback ran — after close(), the peer's close
-- or reset, or an error — and is then released with everything the Lua object handed to it.
-- The Lua object stays usable: closed() is true, reads return nil and EDDY_ECLOSED, writes
-- return EDDY_ECLOSED. Streams still open when the loop is freed (eddy.close(), the end of the
-- script) are closed without their callbacks. Thread: the loop's (Lua's only one).
local core = require("eddy.core")
local loop = require("eddy.loop")
local write_mark = require("eddy.write_mark")

local iostream = {}

local IOStream = {}
IOStream.__index = IOStream
iostream.IOStream = IOStream

-- "connection refused (-7)": eddy's message and the code, as the WebSocket client reports.
local function error_text(code)
  return core.eddy_strerror(code) .. " (" .. math.tointeger(code) .. ")"
end
iostream.error_text = error_text

-- A callback failed: log it and close the stream (Tornado: "Uncaught exception, closing
-- connection").
local function callback_done(stream, ok, tb)
  if ok then return end
  io.stderr:write("eddy-lua: error in IOStream callback (closing the stream): ", tostring(tb), "\n")
  if stream then stream:close() end
end

local function run(stream, fn, ...) loop.spawn_ctx(fn, callback_done, stream, ...) end

-- The write mark's view of a stream (eddy/write_mark.lua).
local MARK_OPS = {
  handle = function(s) return s.handle end,
  closing = function(s) return s.handle == nil or core.eddy_stream_closed(s.handle) == 1 end,
  set = function(s, mark, enabled) return core.stream_set_write_mark(s.handle, mark, enabled) end,
  size = function(s) return core.eddy_stream_write_buffer_size(s.handle) end,
}

-- Wraps a new eddy_stream handle (from accept or connect; internal). The C stream holds the Lua
-- object from now on (stream_attach) and clears obj.handle when it releases itself.
function iostream.wrap(handle)
  local self = setmetatable({ handle = handle, _writes = { first = 1, last = 0 },
                              _mark_ops = MARK_OPS }, IOStream)
  local rc = math.tointeger(core.stream_attach(handle, self))
  if rc ~= 0 then error("eddy: cannot attach the stream: " .. error_text(rc)) end
  return self
end

-- The error a read gets on a closed stream: the close's own, else EDDY_ECLOSED.
local function closed_code(self)
  local code = self.error_code
  if code and code ~= 0 then return code end
  return core.EDDY_ECLOSED
end

-- The nil, message, code a call on a closed stream returns.
local function closed_result(self)
  local code = closed_code(self)
  return nil, error_text(code), code
end

-- Hands a read's outcome to whoever waits for it.
local function complete(self, pending, ...)
  if pending.callback then
    run(self, pending.callback, ...)
  elseif pending.resume then
    pending.resume(...)
  else
    pending.result = table.pack(...)
  end
end

-- The callback argument of `name`: a function, or nil inside a coroutine (the call then waits
-- there). `level`: the error's level as seen from here (3: the caller of a method that calls
-- this directly).
local function check_callback(name, callback, level)
  if callback ~= nil and type(callback) ~= "function" then
    error("eddy: " .. name .. ": the callback must be a function", level)
  end
  if callback == nil then
    local _, main = coroutine.running()
    if main then
      error("eddy: " .. name .. " without a callback only works inside a coroutine"
            .. " (handle_stream, a callback, eddy.spawn)", level)
    end
  end
end

-- Starts a read with starter(handle, ...) (a core.stream_read_* native); see the header.
local function start_read(self, name, callback, starter, ...)
  check_callback(name, callback, 4)
  if self._pending then
    error("eddy: " .. name .. ": a read is already pending (" .. error_text(core.EDDY_EBUSY) .. ")", 3)
  end
  local h = self.handle
  if not h then return closed_result(self) end
  local pending = { callback = callback }
  self._pending = pending -- before the call: nothing may arrive unclaimed
  local rc = math.tointeger(starter(h, ...))
  if rc ~= 0 then
    self._pending = nil
    if rc == core.EDDY_ECLOSED then rc = closed_code(self) end
    return nil, error_text(rc), rc
  end
  if callback then return true end
  if pending.result then return table.unpack(pending.result, 1, pending.result.n) end
  return coroutine.yield(function(resume) pending.resume = resume end)
end

-- The arguments of read_until / read_until_regex: `what` (the delimiter or pattern, named
-- `noun`) a non-empty string, max_bytes an integer > 0 or nil; returns max_bytes as the natives
-- take it (0: none). Errors name the method's caller.
local function until_args(name, noun, what, max_bytes)
  if type(what) ~= "string" or what == "" then
    error("eddy: " .. name .. ": the " .. noun .. " must be a non-empty string", 3)
  end
  if max_bytes ~= nil and (math.type(max_bytes) ~= "integer" or max_bytes <= 0) then
    error("eddy: " .. name .. ": max_bytes must be an integer > 0 or nil", 3)
  end
  return max_bytes or 0
end

-- Reads until `delimiter` (a non-empty string) and returns the data including it. With
-- `max_bytes` (an integer > 0), no delimiter within that many bytes closes the stream with
-- EDDY_ETOOBIG (the read gets nil, message, EDDY_ETOOBIG). read_until(delimiter, callback)
-- works too.
function IOStream:read_until(delimiter, max_bytes, callback)
  if callback == nil and type(max_bytes) == "function" then max_bytes, callback = nil, max_bytes end
  max_bytes = until_args("read_until", "delimiter", delimiter, max_bytes)
  return start_read(self, "read_until", callback, core.stream_read_until, delimiter, max_bytes)
end

-- Reads up to and including the first match of `pattern` (Tornado's read_until_regex). The
-- pattern is PCRE2 syntax (not Lua's string patterns: "\r?\n\r?\n", "[0-9]+;") matched over
-- the raw bytes; an empty match does not count, so a pattern that can only match "" never
-- completes. The stream keeps the compiled pattern: reading again with the same one compiles
-- nothing. A pattern PCRE2 refuses raises an error (eddy's log line says why). `max_bytes` as
-- read_until's: a match ending beyond it, or that many bytes without one, closes the stream
-- with EDDY_ETOOBIG. read_until_regex(pattern, callback) works too.
function IOStream:read_until_regex(pattern, max_bytes, callback)
  if callback == nil and type(max_bytes) == "function" then max_bytes, callback = nil, max_bytes end
  max_bytes = until_args("read_until_regex", "pattern", pattern, max_bytes)
  -- eddy answers EDDY_EINVAL at once for a bad pattern (the handle and the callback are
  -- valid); a read that fails later reports through the usual nil, message, code instead.
  local refused = false
  local function starter(h, ...)
    local rc = math.tointeger(core.stream_read_until_regex(h, ...))
    refused = rc == core.EDDY_EINVAL
    return rc
  end
  local r = table.pack(start_read(self, "read_until_regex", callback, starter, pattern,
                                   max_bytes))
  if refused then
    error(("eddy: read_until_regex: PCRE2 refuses the pattern %q (eddy's log says why)")
          :format(pattern), 2)
  end
  return table.unpack(r, 1, r.n)
end

-- Reads exactly `n` bytes (an integer > 0), or with `partial` true returns as soon as 1..n
-- bytes are there. read_bytes(n, callback) works too.
function IOStream:read_bytes(n, partial, callback)
  if callback == nil and type(partial) == "function" then partial, callback = nil, partial end
  if math.type(n) ~= "integer" or n <= 0 then error("eddy: read_bytes: n must be an integer > 0", 2) end
  if partial ~= nil and type(partial) ~= "boolean" then
    error("eddy: read_bytes: partial must be a boolean or nil", 2)
  end
  return start_read(self, "read_bytes", callback, core.stream_read_bytes, n, partial == true)
end

-- Reads everything until the peer closes and returns it (possibly ""); the close callback then
-- gets no error. The max buffer size applies (over it: nil, message, EDDY_ETOOBIG).
function IOStream:read_until_close(callback)
  return start_read(self, "read_until_close", callback, core.stream_read_until_close)
end

-- Queues `data` (a string) for sending; it leaves at the end of this loop pass. Never waits.
-- Returns 0 or an EDDY_E* code (EDDY_ECLOSED once closing has begun: the bytes are dropped).
-- callback(true) runs once the bytes were handed to the kernel, or callback(nil, message,
-- EDDY_ECLOSED) when the stream closed first; it runs only when write returned 0. The write
-- buffer is unbounded: a producer bounds it with set_write_mark / wait_for_drain.
function IOStream:write(data, callback)
  if type(data) ~= "string" then error("eddy: write: data must be a string, not " .. type(data), 2) end
  if callback ~= nil and type(callback) ~= "function" then
    error("eddy: write: the callback must be a function", 2)
  end
  local h = self.handle
  if not h then return core.EDDY_ECLOSED end
  local q = self._writes
  if callback then q.last = q.last + 1; q[q.last] = callback end
  local rc = math.tointeger(core.stream_write(h, data, callback ~= nil))
  if rc ~= 0 and callback then q[q.last] = nil; q.last = q.last - 1 end
  return rc
end

-- Closes the stream now: the socket is closed, buffered data in both directions is dropped —
-- written bytes leave at the end of the loop pass, so a write followed by close() sends nothing:
-- close in the last write's callback instead — pending write callbacks get EDDY_ECLOSED, a
-- pending read gets nil and EDDY_ECLOSED, and the close callback runs (with no error), all on a
-- later loop iteration. Closing twice is harmless.
function IOStream:close()
  local h = self.handle
  if h then core.eddy_stream_close(h) end
end

-- True once the stream is closed or closing.
function IOStream:closed()
  local h = self.handle
  return h == nil or core.eddy_stream_closed(h) == 1
end

-- cb(err, code) runs once, as a coroutine, when the stream has closed: err is nil and code 0
-- after close() (or a completed read_until_close), else eddy's message and the EDDY_E* code
-- (EDDY_EOF: the peer closed, EDDY_ECONNRESET, EDDY_ETOOBIG, EDDY_ETLS, ...). Set on a stream
-- that has already closed, it runs on the next iteration. nil removes it. After the close the
-- same values are in stream.error and stream.error_code.
function IOStream:set_close_callback(cb)
  if cb ~= nil and type(cb) ~= "function" then
    error("eddy: set_close_callback: the callback must be a function or nil", 2)
  end
  if self._close_seen then
    if cb then loop.add_callback(run, self, cb, self.error, self.error_code) end
    return
  end
  self._close_callback = cb
end

-- True while a read is pending.
function IOStream:reading() return self._pending ~= nil end
-- True while written bytes wait to be handed to the kernel.
function IOStream:writing() return self:write_buffer_size() > 0 end
-- Bytes waiting in the write buffer (0 once released).
function IOStream:write_buffer_size() return write_mark.buffer_size(self) end

-- Limits the read buffer (default 100 MiB, as Tornado's max_buffer_size); more closes the
-- stream with EDDY_ETOOBIG. `bytes` is an integer > 0. Returns 0 or EDDY_ECLOSED.
function IOStream:set_max_buffer_size(bytes)
  if math.type(bytes) ~= "integer" or bytes <= 0 then
    error("eddy: set_max_buffer_size: bytes must be an integer > 0", 2)
  end
  if not self.handle then return core.EDDY_ECLOSED end
  return math.tointeger(core.eddy_stream_set_max_buffer_size(self.handle, bytes))
end

-- Turns TCP_NODELAY on (true) or off. Returns 0, EDDY_ENOTSUP (not a TCP socket: a Unix
-- socket) or EDDY_ECLOSED.
function IOStream:set_nodelay(on)
  if not self.handle then return core.EDDY_ECLOSED end
  return math.tointeger(core.eddy_stream_set_nodelay(self.handle, on and 1 or 0))
end

-- The socket's fd (owned by the stream), or nil once closed.
function IOStream:fileno()
  local fd = self.handle and math.tointeger(core.eddy_stream_fd(self.handle)) or -1
  if fd < 0 then return nil end
  return fd
end

-- True when the stream speaks TLS.
function IOStream:is_tls() return self.handle ~= nil and core.eddy_stream_is_tls(self.handle) == 1 end

-- STARTTLS (Tornado's start_tls): upgrades this idle stream to TLS on the same connection and
-- returns the new TLS IOStream once its handshake has completed, or nil, a message and the
-- EDDY_E* code (EDDY_ETLS: a handshake, certificate or host name failure, or the peer leaving;
-- EDDY_ETIMEDOUT: the handshake timeout; then the close callback runs too, as in Tornado).
--   server_side true: ssl_options is a table of certfile, keyfile, ca_certs, cert_reqs (as
--     TCPServer's); false: nil or the table eddy.TCPClient():connect takes (ca_certs,
--     certfile, keyfile, cert_reqs), and server_hostname the name sent as SNI and verified (a
--     verifying client needs it).
-- The stream must be idle: no read pending, nothing written still unsent (call it in the
-- callback of the last plaintext write: write never yields, so right after it the bytes are
-- still queued and the upgrade is refused with EDDY_EBUSY), no unread input
-- (bytes sent behind the command are refused, not dropped: CVE-2011-0411). Refused: nil,
-- message, EDDY_EBUSY / EDDY_ESTATE / EDDY_ECLOSED / EDDY_EINVAL, and the stream is unchanged.
-- Once accepted this stream is spent (closed() is true; reads return EDDY_ECLOSED) and its close
-- callback moves to the TLS stream. Without a callback it must run in a coroutine; with one it
-- returns true (or nil, message, code when refused) and callback(tls_stream) or callback(nil,
-- message, code) runs later. Bad option types raise an error.
function IOStream:start_tls(server_side, ssl_options, server_hostname, callback)
  if callback == nil and type(server_hostname) == "function" then
    server_hostname, callback = nil, server_hostname
  end
  if ssl_options ~= nil and type(ssl_options) ~= "table" then
    error("eddy: start_tls: ssl_options must be a table or nil", 2)
  end
  if server_hostname ~= nil and type(server_hostname) ~= "string" then
    error("eddy: start_tls: server_hostname must be a string or nil", 2)
  end
  check_callback("start_tls", callback, 3)
  local tls
  if server_side then
    if not ssl_options then error("eddy: start_tls: server_side needs ssl_options with a certfile", 2) end
    tls = ssl_options
  elseif ssl_options then
    local ok, t = pcall(require("eddy.tcpclient")._tls_table, ssl_options, "start_tls")
    if not ok then error(t, 2) end
    tls = t
  end
  local h = self.handle
  if not h then return closed_result(self) end
  local result, waiter
  local function finish(...)
    if callback then return loop.spawn_ctx(callback, callback_done, (...), ...) end
    result = table.pack(...)
    if waiter then waiter(...) end
  end
  local close_callback = self._close_callback
  local function dispatch(handle, status)
    status = math.tointeger(status)
    if status ~= 0 then
      if close_callback then run(nil, close_callback, error_text(status), status) end
      return finish(nil, error_text(status), status)
    end
    local upgraded = iostream.wrap(handle)
    upgraded._close_callback = close_callback
    return finish(upgraded)
  end
  local rc, option = core.stream_start_tls(h, server_side and true or false, tls,
                                           server_hostname, dispatch)
  rc = math.tointeger(rc)
  if rc ~= 0 then
    local err = error_text(rc)
    if option then err = "ssl_options." .. option .. ": " .. err end
    return nil, err, rc
  end
  -- The C stream is eddy's now: it releases it later, without a close event.
  self.handle = nil
  self._close_callback = nil
  if callback then return true end
  if not result then coroutine.yield(function(resume) waiter = resume end) end
  return table.unpack(result, 1, result.n)
end

-- Tornado's wait_for_handshake: in a coroutine, returns the stream once its TLS handshake has
-- completed (at once when it had: always for a stream from start_tls), or nil, a message and
-- the error the stream closed with first (EDDY_ETLS, EDDY_ETIMEDOUT, ...). callback(stream) /
-- callback(nil, message, code) instead when given. Not a TLS stream: nil, message,
-- EDDY_EINVAL; a wait already registered: EDDY_EBUSY.
function IOStream:wait_for_handshake(callback)
  check_callback("wait_for_handshake", callback, 3)
  local h = self.handle
  if not h then return closed_result(self) end
  local result, waiter
  local function dispatch(status)
    status = math.tointeger(status)
    local r = status == 0 and table.pack(self) or table.pack(nil, error_text(status), status)
    if callback then return run(self, callback, table.unpack(r, 1, r.n)) end
    result = r
    if waiter then waiter(table.unpack(r, 1, r.n)) end
  end
  local rc = math.tointeger(core.stream_wait_for_handshake(h, dispatch))
  if rc ~= 0 then return nil, error_text(rc), rc end
  if callback then return true end
  if not result then coroutine.yield(function(resume) waiter = resume end) end
  return table.unpack(result, 1, result.n)
end

-- Backpressure: on_drain(stream) (optional) runs each time the write buffer drops to `bytes`
-- after it held more; nil removes the mark. Returns 0 or EDDY_E*.
function IOStream:set_write_mark(bytes, on_drain) return write_mark.set(self, bytes, on_drain) end
-- In a coroutine: true once the write buffer is at or below the mark (waiting if needed),
-- false when the stream closed first.
function IOStream:wait_for_drain() return write_mark.wait(self) end

-- Events from the C stream (stream.i): "read" (data), "write" (status), "drain", "close"
-- (error). After "close" the C stream is released (stream_ref_free clears self.handle).
function IOStream:_event(event, a)
  if event == "read" then
    local pending = self._pending
    self._pending = nil
    if pending then complete(self, pending, a) end
  elseif event == "write" then
    local q = self._writes
    local cb = q[q.first]
    if not cb then return end
    q[q.first], q.first = nil, q.first + 1
    if a == 0 then
      run(self, cb, true)
    else
      run(self, cb, nil, error_text(a), math.tointeger(a))
    end
  elseif event == "drain" then
    write_mark.drained(self, function(fn, s) run(s, fn, s) end)
  elseif event == "close" then
    local code = math.tointeger(a)
    self._close_seen = true
    self.error_code = code
    self.error = code ~= 0 and error_text(code) or nil
    local pending = self._pending
    self._pending = nil
    if pending then
      local c = closed_code(self)
      complete(self, pending, nil, error_text(c), c)
    end
    write_mark.closed(self)
    local cb = self._close_callback
    self._close_callback = nil
    if cb then run(self, cb, self.error, code) end
  end
end

return iostream
