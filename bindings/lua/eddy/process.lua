-- Many processes on one port (Tornado's process.fork_processes, task_id, cpu_count and
-- netutil.bind_sockets), over include/eddy/process.h; and child processes (Tornado's
-- process.Subprocess, in eddy/subprocess.lua), re-exported here as Tornado has them.
--
--   local fd = eddy.bind_socket(8888, "127.0.0.1")  -- before forking: the children share it
--   local id = eddy.fork_processes(4)               -- the parent stays in here, supervising
--   local server = eddy.TCPServer(handle_stream)    -- each child: its own loop and server
--   server:add_socket(fd)
--   eddy.start()
--
-- Thread: Lua's only one; fork_processes must come before the event loop exists.
local core = require("eddy.core")
local loop = require("eddy.loop")
local subprocess = require("eddy.subprocess")

local process = {}

-- Child processes with pipes as IOStreams: see eddy/subprocess.lua.
process.Subprocess = subprocess.Subprocess
process.STREAM, process.INHERIT = subprocess.STREAM, subprocess.INHERIT
process.DEVNULL, process.STDOUT = subprocess.DEVNULL, subprocess.STDOUT
process.signals = subprocess.signals
process.CalledProcessError = subprocess.CalledProcessError
process.is_called_process_error = subprocess.is_called_process_error

local function fail(message, level) error(message, level + 1) end

-- Binds and listens on a TCP socket without a loop, for sharing across processes (Tornado's
-- bind_sockets, one socket). `address` nil: every IPv4 address. opts: backlog (default 128),
-- reuse_port. Returns the fd (non-blocking, close-on-exec), which is the caller's: hand it to
-- TCPServer:add_socket. Raises an error when the address cannot be bound.
function process.bind_socket(port, address, opts)
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    fail("eddy: bind_socket: port must be an integer in 0..65535", 2)
  end
  if address ~= nil and type(address) ~= "string" then fail("eddy: bind_socket: address must be a string or nil", 2) end
  opts = opts or {}
  if type(opts) ~= "table" then fail("eddy: bind_socket: options must be a table", 2) end
  for name in pairs(opts) do
    if name ~= "backlog" and name ~= "reuse_port" then
      fail("eddy: bind_socket: unsupported option " .. tostring(name), 2)
    end
  end
  local backlog = opts.backlog
  if backlog ~= nil and (math.type(backlog) ~= "integer" or backlog <= 0) then
    fail("eddy: bind_socket: backlog must be an integer > 0", 2)
  end
  local flags = opts.reuse_port and core.EDDY_LISTEN_REUSEPORT or 0
  local fd = math.tointeger(core.eddy_bind_socket(address, port, backlog or 0, flags))
  if fd < 0 then
    fail(("eddy: bind_socket %s:%d failed: %s"):format(address or "*", port, core.eddy_strerror(fd)), 2)
  end
  return fd
end

-- The local port of a bound socket `fd`. Raises an error for an fd that is not one.
function process.socket_port(fd)
  if math.type(fd) ~= "integer" then fail("eddy: socket_port: fd must be an integer", 2) end
  local port = math.tointeger(core.eddy_socket_port(fd))
  if port < 0 then fail(("eddy: socket_port(%d): %s"):format(fd, core.eddy_strerror(port)), 2) end
  return port
end

-- Forks `num_processes` children (nil or <= 0: one per CPU) and returns in each child its task
-- id, 0 .. num_processes-1. The parent never returns: it supervises — a child that dies from a
-- signal or exits with a non-zero status is forked again with the same id (at most
-- `max_restarts` times in all, default 100), SIGTERM / SIGINT / SIGHUP are forwarded to the
-- children, and the parent exits (status 0) once they all exited, or with 1 after too many
-- restarts. Must come before the event loop exists (before any call that uses it: a server, a
-- timer, a client...): a forked loop would share its epoll and threads with the parent's, so
-- that raises an error; so does calling it in a child.
function process.fork_processes(num_processes, max_restarts)
  if num_processes ~= nil and math.type(num_processes) ~= "integer" then
    fail("eddy: fork_processes: num_processes must be an integer or nil", 2)
  end
  if max_restarts ~= nil and (math.type(max_restarts) ~= "integer" or max_restarts < 0) then
    fail("eddy: fork_processes: max_restarts must be an integer >= 0 or nil", 2)
  end
  if loop.ever_created() then
    fail("eddy: fork_processes must be called before the event loop exists"
         .. " (before any server, timer, client or loop call)", 2)
  end
  local id = math.tointeger(core.eddy_fork_processes(num_processes or 0, max_restarts or -1))
  if id < 0 then
    local why = id == core.EDDY_ESTATE and " (already forked: this is a child)" or ""
    fail("eddy: fork_processes: " .. core.eddy_strerror(id) .. why, 2)
  end
  return id
end

-- This process's task id from fork_processes, or nil when it was not forked.
function process.task_id()
  local id = math.tointeger(core.eddy_task_id())
  if id < 0 then return nil end
  return id
end

-- The number of CPUs this process may run on (at least 1).
function process.cpu_count() return math.tointeger(core.eddy_cpu_count()) end

return process
