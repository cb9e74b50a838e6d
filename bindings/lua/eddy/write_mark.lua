-- Backpressure for WebSocket connections (server handlers and client connections share it):
-- a write mark bounds how much a producer lets pile up in the connection's write buffer.
--
--   conn:set_write_mark(64 * 1024, function(conn) ... end)  -- on_drain is optional
--   for _, chunk in ipairs(chunks) do
--     conn:write_message(chunk)
--     if not conn:wait_for_drain() then break end  -- yields while the buffer is over the mark
--   end
--
-- `obj` is the Handler or Connection: obj.ws is its eddy_ws handle (nil once closed), and this
-- module keeps its state in obj._mark, obj._on_drain and obj._drain_waiters. Another kind of
-- connection (an IOStream) sets obj._mark_ops to functions of its own handle (see WS below).
local core = require("eddy.core")

local write_mark = {}

-- How a WebSocket (server handler or client connection) answers: its live handle (nil once
-- gone), whether closing has begun, setting the mark (`enabled` false removes it: rc) and the
-- buffered bytes.
local WS = {
  handle = function(obj) return obj.ws end,
  closing = function(obj) return not obj.ws or obj._ws_closed end,
  set = function(obj, mark, enabled) return core.ws_set_write_mark(obj.ws, mark, enabled) end,
  size = function(obj) return core.eddy_ws_write_buffer_size(obj.ws) end,
}

local function ops(obj) return obj._mark_ops or WS end

-- Resumes every waiter with `ok` (true: drained, false: closed).
local function wake(obj, ok)
  local waiters = obj._drain_waiters
  if not waiters or #waiters == 0 then return end
  obj._drain_waiters = {}
  for _, resume in ipairs(waiters) do resume(ok) end
end

-- Sets the mark (bytes >= 0; nil removes it). on_drain(obj), when given, runs as a coroutine
-- each time the buffer drops to the mark after it held more. Returns 0 or a negative EDDY_E*
-- code (EDDY_ECLOSED once closing has begun).
function write_mark.set(obj, bytes, on_drain)
  local o = ops(obj)
  if not o.handle(obj) then return core.EDDY_ECLOSED end
  if bytes ~= nil and (math.type(bytes) ~= "integer" or bytes < 0) then
    error("eddy: set_write_mark: the mark is a byte count (an integer >= 0) or nil", 3)
  end
  if on_drain ~= nil and type(on_drain) ~= "function" then
    error("eddy: set_write_mark: on_drain must be a function", 3)
  end
  local rc = math.tointeger(o.set(obj, bytes or 0, bytes ~= nil))
  if rc == 0 then
    obj._mark, obj._on_drain = bytes, bytes and on_drain
    obj._drain_waiters = obj._drain_waiters or {}
    -- A coroutine waiting on the old mark checks the new one (none: it stops waiting).
    wake(obj, true)
  end
  return rc
end

-- Bytes queued for sending and not yet handed to the kernel (0 once closed).
function write_mark.buffer_size(obj)
  local o = ops(obj)
  if not o.handle(obj) then return 0 end
  return math.tointeger(o.size(obj))
end

-- Returns true at once when the buffer holds no more than the mark (or the mark was removed);
-- otherwise yields the running coroutine until it drained (true) or the connection closed
-- (false).
function write_mark.wait(obj)
  if not obj._mark then error("eddy: wait_for_drain needs set_write_mark first", 3) end
  local o = ops(obj)
  while true do
    if o.closing(obj) then return false end
    if not obj._mark or o.size(obj) <= obj._mark then return true end
    local _, main = coroutine.running()
    if main then error("eddy: wait_for_drain only works inside a handler or loop.spawn coroutine", 3) end
    local waiters = obj._drain_waiters
    if not coroutine.yield(function(resume) waiters[#waiters + 1] = resume end) then return false end
  end
end

-- The drain event from eddy: wake the waiters, then run on_drain(obj) through `spawn`
-- (loop.spawn_ctx bound to the owner's error policy).
function write_mark.drained(obj, spawn)
  wake(obj, true)
  if obj._on_drain and ops(obj).handle(obj) then spawn(obj._on_drain, obj) end
end

-- The connection closed: waiters get false.
function write_mark.closed(obj) wake(obj, false) end

return write_mark
