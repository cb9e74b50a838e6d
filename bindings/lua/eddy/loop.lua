-- The event loop for Lua (Tornado's IOLoop): one loop per Lua state, created on first use and
-- freed by loop.close() or, at the latest, when the Lua state closes. Callbacks are plain Lua
-- functions; an error in one is logged with its traceback and the loop keeps running.
local core = require("eddy.core")

local loop = {}
local current      -- the eddy_loop handle; nil before first use and once freed
local holder       -- its sentinel: collected when the Lua state closes (lua_close), see at_exit
local closing, closed = false, false
local running = 0  -- start()/run_once() calls in progress: the loop must not be freed inside one

-- ---- what is attached to the loop -----------------------------------------------------------
-- eddy_loop_free must come last: what owns watches and timers of the loop is closed first, in
-- the order of GROUPS: applications and raw servers (this may run on_connection_close hooks),
-- the handlers they left open (finished), HTTP clients (cancelled fetches run their
-- callbacks), periodic callbacks and signal handlers. The loop frees WebSocket client
-- connections itself, without callbacks: their Lua objects are only marked closed, so that
-- nothing touches the freed handles.
-- Each group maps an object to the function that closes it, closer(obj, finalizing); a
-- weak group holds objects that something else keeps alive while they need closing.
local GROUPS = { "servers", "handlers", "clients", "timers", "connections" }
local attached = {
  servers = {},                                   -- kept until closed, like the C objects
  handlers = setmetatable({}, { __mode = "k" }),  -- pinned by eddy until finished
  clients = setmetatable({}, { __mode = "k" }),   -- a collected client closes itself (__gc)
  timers = {},
  connections = setmetatable({}, { __mode = "k" }),
}
local closed_groups = {} -- the groups loop.close() is done with

-- Registers `obj` of `group` to be closed by closer(obj, finalizing) before the loop is freed.
-- A callback that close() runs may still attach to a group it has not reached; to one it is
-- done with, obj is closed at once and an error raised (nothing may stay on a freed loop).
function loop.attach(group, obj, closer)
  if closed_groups[group] then
    closer(obj, false)
    error("eddy: the event loop is closing", 0)
  end
  attached[group][obj] = closer
end

-- Forgets `obj` (it was closed by its owner).
function loop.detach(group, obj) attached[group][obj] = nil end

-- Closes what is attached, group by group; returns the first error a closer raised (the others
-- are closed all the same: nothing may outlive the loop). A closer may run Lua code that
-- closes other objects, so each step takes whatever is first in its group now.
local function close_attached(finalizing)
  local first_err
  for _, name in ipairs(GROUPS) do
    local group = attached[name]
    local obj, closer = next(group)
    while obj ~= nil do
      group[obj] = nil
      local ok, err = pcall(closer, obj, finalizing)
      if not ok and first_err == nil then first_err = err end
      obj, closer = next(group)
    end
    closed_groups[name] = true
  end
  return first_err
end

-- Closes what is attached, then frees the loop. `finalizing` (the Lua state is closing) keeps
-- HTTP clients from running their callbacks.
local function close_loop(finalizing)
  if closing or closed then return end
  closing = true
  local err = close_attached(finalizing)
  if current then core.eddy_loop_free(current) end
  current, closing, closed = nil, false, true
  if err ~= nil then error(err, 0) end
end

-- Frees the loop after closing everything attached to it (Tornado's IOLoop.close): pending
-- callbacks never run and later loop functions raise "eddy: the event loop is closed". As in
-- Tornado the loop must be stopped first: calling this inside a loop callback is an error.
-- Closing twice, or before the loop was ever used, is harmless.
function loop.close()
  if running > 0 then
    error("eddy: close() inside a loop callback: stop the loop, let start() return, then close", 2)
  end
  return close_loop(false)
end

-- The sentinel's __gc: lua_close collects it (and the Lua values that eddy holds are still
-- alive then). A state closed from inside a callback (os.exit(code, true) in a handler) keeps
-- its loop: freeing it there would pull the loop out from under the running iteration.
local function at_exit()
  if running == 0 then close_loop(true) end
end

-- Returns the process's loop (an eddy_loop handle), creating it on first use.
function loop.get()
  if current then return current end
  if closed then error("eddy: the event loop is closed (eddy.close() was called)", 0) end
  current = core.eddy_loop_new()
  if not current then error("eddy: cannot create the event loop") end
  holder = holder or setmetatable({}, { __gc = at_exit })
  return current
end

-- True once the loop was created (even if it was closed since): what may not come after it
-- (process.fork_processes) asks.
function loop.ever_created() return current ~= nil or closed end

-- Runs fn(...) (an eddy_loop_run*) with the loop marked as running: close() is refused meanwhile.
local function run(fn, ...)
  running = running + 1
  local ok, rc = pcall(fn, ...)
  running = running - 1
  if not ok then error(rc, 0) end
  return rc
end

-- Runs the loop until loop.stop() (Tornado's IOLoop.start).
function loop.start()
  local rc = run(core.eddy_loop_run, loop.get())
  if rc ~= 0 then error("eddy: loop run failed: " .. core.eddy_strerror(rc)) end
end

-- Makes loop.start() return after the current iteration.
function loop.stop() core.eddy_loop_stop(loop.get()) end

-- Runs one iteration, waiting at most `timeout_ms` (default 0) for something to happen.
function loop.run_once(timeout_ms) return run(core.eddy_loop_run_once, loop.get(), timeout_ms or 0) end

-- The loop's monotonic clock in seconds.
function loop.time() return core.eddy_loop_time(loop.get()) end

local Timeout = {}
Timeout.__index = Timeout
-- Cancels the pending call; returns true when it had not run yet.
function Timeout:cancel() return core.eddy_loop_cancel(loop.get(), self.id) == 0 end

local function schedule(delay, fn, ...)
  local args = table.pack(...)
  local f = fn
  if args.n > 0 then f = function() return fn(table.unpack(args, 1, args.n)) end end
  local id = core.call_later(loop.get(), delay, f)
  if id == 0 then error("eddy: cannot schedule a callback") end
  return setmetatable({ id = id }, Timeout)
end

-- Runs fn(...) `delay` seconds from now; returns a handle with :cancel().
function loop.call_later(delay, fn, ...) return schedule(math.max(delay, 0), fn, ...) end
-- Runs fn(...) on the next iteration (Tornado's add_callback).
function loop.add_callback(fn, ...) return schedule(-1, fn, ...) end

local Periodic = {}
Periodic.__index = Periodic
local function periodic_handle(self)
  if not self.handle then error("eddy: the periodic callback is closed", 3) end
  return self.handle
end
function Periodic:start() core.eddy_periodic_start(periodic_handle(self)); return self end
function Periodic:stop() core.eddy_periodic_stop(periodic_handle(self)); return self end
function Periodic:is_running() return self.handle ~= nil and core.eddy_periodic_is_running(self.handle) == 1 end
-- Stops it for good and releases the Lua function.
function Periodic:close()
  local h = self.handle
  if not h then return end
  self.handle = nil
  loop.detach("timers", self)
  core.eddy_periodic_free(h)
end

-- A stopped PeriodicCallback running fn every `interval` seconds once :start()ed.
function loop.periodic(interval, fn)
  local h = core.periodic_new(loop.get(), interval, fn)
  if not h then error("eddy: bad periodic interval " .. tostring(interval)) end
  local p = setmetatable({ handle = h }, Periodic)
  loop.attach("timers", p, Periodic.close)
  return p
end

-- Calls fn() on the loop thread whenever signal `signum` arrives; returns a handle to free.
function loop.on_signal(signum, fn)
  local h = core.signal_new(loop.get(), signum, fn)
  if not h then error("eddy: cannot handle signal " .. tostring(signum)) end
  local handle = {}
  function handle.close()
    if not h then return end
    local s = h
    h = nil
    loop.detach("timers", handle)
    core.eddy_signal_free(s)
  end
  loop.attach("timers", handle, handle.close)
  return handle
end

-- ---- coroutines ---------------------------------------------------------------------------
-- A coroutine run by loop.spawn (and every handler method) may yield a "waiter": a function
-- that receives `resume` and arranges for it to be called later. loop.sleep and Future:wait
-- are built on that.
--
-- Coroutines are pooled: a worker runs one task, yields DONE with its results, and waits for
-- the next task (a proper tail call, so the stack does not grow). A task that fails kills its
-- worker, which is simply not returned to the pool.

local DONE = {}
local idle = {}
local MAX_IDLE = 64

-- Two functions tail-calling each other so that an idle worker's frame holds only the last
-- task's results, not the task function and its arguments (which would keep them alive).
local worker_idle
local function worker_main(fn, ...)
  return worker_idle(fn(...))
end
function worker_idle(...)
  return worker_main(coroutine.yield(DONE, ...))
end

local function default_done(ctx, ok, tb)
  if not ok then io.stderr:write("eddy-lua: error: ", tostring(tb), "\n") end
end

local step
local function make_resume(co, on_done, ctx)
  local resumed = false
  return function(...)
    if resumed then return end
    resumed = true
    return step(co, on_done, ctx, coroutine.resume(co, ...))
  end
end

function step(co, on_done, ctx, ok, first, ...)
  if not ok then
    on_done(ctx, false, debug.traceback(co, first), first)
    return true
  end
  if first == DONE then
    if #idle < MAX_IDLE then idle[#idle + 1] = co end
    on_done(ctx, true, ...)
    return true
  end
  if type(first) ~= "function" or coroutine.status(co) ~= "suspended" then
    on_done(ctx, false, debug.traceback(co, "eddy: a coroutine yielded something that is not a waiter"))
    return true
  end
  first(make_resume(co, on_done, ctx))
  return false
end

-- Runs fn(...) as a coroutine driven by the loop. on_done(ctx, ok, ...) runs when it returns
-- (ok = true and its results) or fails (ok = false, a traceback, the error value).
-- Returns true when it completed (or failed) without yielding.
function loop.spawn_ctx(fn, on_done, ctx, ...)
  local n = #idle
  local co
  if n > 0 then
    co = idle[n]
    idle[n] = nil
  else
    co = coroutine.create(worker_main)
  end
  return step(co, on_done, ctx, coroutine.resume(co, fn, ...))
end

-- Runs fn(...) as a loop-driven coroutine; on_done(ok, results_or_traceback, err) (optional)
-- runs at its end.
function loop.spawn(fn, on_done, ...)
  if on_done then
    return loop.spawn_ctx(fn, function(_, ...) return on_done(...) end, nil, ...)
  end
  return loop.spawn_ctx(fn, default_done, nil, ...)
end

local function in_coroutine()
  local _, main = coroutine.running()
  if main then error("eddy: sleep/wait only work inside a handler or loop.spawn coroutine", 3) end
end

-- Suspends the running coroutine for `seconds` (Tornado's gen.sleep).
function loop.sleep(seconds)
  in_coroutine()
  return coroutine.yield(function(resume) loop.call_later(seconds, resume) end)
end

local Future = {}
Future.__index = Future
-- Completes the future: every coroutine waiting on it resumes with `...` on the next iteration.
function Future:set_result(...)
  if self.done then return end
  self.done, self.result = true, table.pack(...)
  local waiters = self.waiters
  self.waiters = {}
  for _, resume in ipairs(waiters) do loop.add_callback(resume, table.unpack(self.result, 1, self.result.n)) end
end
-- Waits (yielding the running coroutine) until the future has a result; returns it.
function Future:wait()
  if self.done then return table.unpack(self.result, 1, self.result.n) end
  in_coroutine()
  return coroutine.yield(function(resume) self.waiters[#self.waiters + 1] = resume end)
end
function loop.Future() return setmetatable({ done = false, waiters = {} }, Future) end

return loop
