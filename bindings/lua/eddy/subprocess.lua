-- Tornado's process.Subprocess for Lua, over eddy_subprocess (include/eddy/subprocess.h): a
-- child process whose standard streams can be pipes read and written as IOStreams, and whose
-- exit the loop reports (no SIGCHLD handler: eddy watches the child itself).
--
--   local p = eddy.process.Subprocess({ "cat" }, { stdin = eddy.process.STREAM,
--                                                 stdout = eddy.process.STREAM })
--   -- in a coroutine (handle_stream, a handler method, eddy.spawn):
--   p.stdin:write("hello\n", function() p.stdin:close() end)  -- closing stdin is the child's EOF
--   local out = p.stdout:read_until_close()
--   local code = p:wait_for_exit(false)                      -- 0, or -15 when SIGTERM killed it
--
-- Life cycle: the C handle lives until the child exited and the exit has been reported (the
-- exit callback and wait_for_exit's waiters ran); then eddy releases it with the Lua object's
-- registry entry, and p.handle is nil. The Lua object stays usable: returncode, pid and the
-- streams remain, and signals become no-ops (as Popen.send_signal after the child exited). The
-- pipe streams are the caller's IOStreams from the start, independent of the handle: output
-- the child wrote before exiting may still arrive after the exit. If the loop is freed first
-- (eddy.close(), the end of the script) the handle is released without an exit report, the
-- child is left running (eddy does not signal it), the streams close with the loop, and
-- signalling the child or waiting for it raises "eddy: the event loop is closed".
-- Thread: the loop's (Lua's only one).
local core = require("eddy.core")
local loop = require("eddy.loop")
local iostream = require("eddy.iostream")

local subprocess = {}

-- What a child's stdin, stdout or stderr is connected to (Tornado's Subprocess.STREAM, Popen's
-- DEVNULL and STDOUT). Plain strings, so "stream" etc. work as well; nil is "inherit"; an
-- integer fd >= 0 connects it to a copy of that fd (the fd stays the caller's).
subprocess.STREAM = "stream"   -- a pipe: the object's .stdin / .stdout / .stderr IOStream
subprocess.INHERIT = "inherit" -- the parent's own fd 0, 1 or 2 (the default)
subprocess.DEVNULL = "devnull" -- /dev/null
subprocess.STDOUT = "stdout"   -- stderr only: wherever stdout goes (2>&1)

-- This platform's signal numbers, for send_signal (they differ between architectures).
subprocess.signals = {}
for _, name in ipairs({ "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGPIPE",
                        "SIGALRM", "SIGTERM", "SIGCHLD", "SIGCONT", "SIGSTOP" }) do
  subprocess.signals[name] = math.tointeger(core[name])
end

-- ---- CalledProcessError -----------------------------------------------------------------------
local CalledProcessError = {}
CalledProcessError.__index = CalledProcessError
CalledProcessError.__tostring = function(e)
  local rc, why = e.returncode
  if rc == false then
    why = "exited with an unknown status (SIGCHLD ignored, or another waitpid took it)"
  elseif rc < 0 then
    why = "died with signal " .. -rc
  else
    why = "returned non-zero exit status " .. rc
  end
  return ("eddy: command %s %s"):format(table.concat(e.cmd, " "), why)
end

-- The error wait_for_exit raises (Tornado's CalledProcessError): `returncode` (as the
-- Subprocess's) and `cmd` (its argument list).
function subprocess.CalledProcessError(returncode, cmd)
  return setmetatable({ returncode = returncode, cmd = cmd }, CalledProcessError)
end

-- True when `value` is a CalledProcessError.
function subprocess.is_called_process_error(value)
  return getmetatable(value) == CalledProcessError
end

-- ---- argument checks --------------------------------------------------------------------------
local function fail(message, level) error("eddy: Subprocess: " .. message, level + 1) end

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

-- A string that reaches C as is: no NUL byte (a C string would end there, silently).
local function c_string(v) return type(v) == "string" and not v:find("\0", 1, true) end

local STDIO_NAMES = { "stdin", "stdout", "stderr" }
local MODES = {
  [subprocess.INHERIT] = core.EDDY_STDIO_INHERIT,
  [subprocess.STREAM] = core.EDDY_STDIO_PIPE,
  [subprocess.DEVNULL] = core.EDDY_STDIO_DEVNULL,
}

-- The (mode, fd) pair the native takes for child fd `i` (0-2) given `value`.
local function stdio_mode(i, value, level)
  if value == nil then return math.tointeger(core.EDDY_STDIO_INHERIT), nil end
  if math.type(value) == "integer" and value >= 0 then return -1, value end
  if i == 2 and value == subprocess.STDOUT then return math.tointeger(core.EDDY_STDIO_STDOUT), nil end
  local mode = MODES[value]
  if mode then return math.tointeger(mode), nil end
  fail(("%s must be eddy.process.STREAM, \"inherit\", \"devnull\"%s or an fd (an integer >= 0),"
        .. " not %s"):format(STDIO_NAMES[i + 1], i == 2 and ", \"stdout\"" or "", describe(value)),
       level + 1)
end

-- env = { NAME = "value", ... } as the sorted "NAME=value" list the native takes.
local function env_list(env, level)
  if type(env) ~= "table" then fail("env must be a table of NAME = value strings", level + 1) end
  local list = {}
  for name, value in pairs(env) do
    if not c_string(name) or name == "" or name:find("=", 1, true) then
      fail("env: a name must be a non-empty string without '=' or NUL, not " .. describe(name),
           level + 1)
    end
    if not c_string(value) then
      fail(("env.%s must be a string without NUL, not %s"):format(name, describe(value)), level + 1)
    end
    list[#list + 1] = name .. "=" .. value
  end
  table.sort(list)
  return list
end

local OPTIONS = { stdin = true, stdout = true, stderr = true, cwd = true, env = true,
                  close_fds = true, new_process_group = true }

-- Checks args and opts; returns the spec for core.subprocess_spawn and a copy of args.
local function build_spec(args, opts, level)
  if type(args) ~= "table" then
    fail("args must be a list of strings (program first; there is no shell: use"
         .. " { \"sh\", \"-c\", command }), not " .. describe(args), level + 1)
  end
  local argv = {}
  for i = 1, #args do
    if not c_string(args[i]) then
      fail(("args[%d] must be a string without NUL, not %s"):format(i, describe(args[i])), level + 1)
    end
    argv[i] = args[i]
  end
  if #argv == 0 or argv[1] == "" then fail("args needs a program (args[1], non-empty)", level + 1) end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then fail("options must be a table", level + 1) end
  for name in pairs(opts) do
    if not OPTIONS[name] then fail("unsupported option " .. describe(name), level + 1) end
  end
  local spec = { argv = argv, modes = {}, fds = {} }
  for i = 0, 2 do
    spec.modes[i + 1], spec.fds[i + 1] = stdio_mode(i, opts[STDIO_NAMES[i + 1]], level + 1)
  end
  if opts.cwd ~= nil then
    if not c_string(opts.cwd) or opts.cwd == "" then
      fail("cwd must be a non-empty string without NUL, not " .. describe(opts.cwd), level + 1)
    end
    spec.cwd = opts.cwd
  end
  if opts.env ~= nil then spec.env = env_list(opts.env, level + 1) end
  for _, name in ipairs({ "close_fds", "new_process_group" }) do
    if opts[name] ~= nil and type(opts[name]) ~= "boolean" then
      fail(name .. " must be a boolean, not " .. describe(opts[name]), level + 1)
    end
    spec[name] = opts[name]
  end
  return spec, argv
end

-- Why a spawn failed, from eddy's code: the cause in words, then the code's name.
local function spawn_error(code, argv, cwd)
  local why
  if code == core.EDDY_ENOENT then
    why = cwd and ("no such program, or no such working directory %q"):format(cwd)
              or "no such program"
  elseif code == core.EDDY_EACCES then
    why = "permission denied (not an executable file, or a directory on the way not searchable)"
  elseif code == core.EDDY_EMFILE then
    why = "too many open files (no fds left for the pipes)"
  elseif code == core.EDDY_EINVAL then
    why = "invalid argument (is every fd given for stdin / stdout / stderr open?)"
  elseif code == core.EDDY_EIO then
    why = "cannot start it (eddy's log line names the errno)"
  else
    why = core.eddy_strerror(code)
  end
  return ("eddy: Subprocess: cannot run %q: %s (%s)"):format(argv[1], why, core.eddy_err_name(code))
end

-- ---- Subprocess -------------------------------------------------------------------------------
local Subprocess = {}
Subprocess.__index = Subprocess
subprocess.Subprocess_class = Subprocess

-- A callback failed: log it; the loop goes on.
local function callback_done(_, ok, tb)
  if not ok then io.stderr:write("eddy-lua: error in Subprocess exit callback: ", tostring(tb), "\n") end
end

local function run(fn, ...) loop.spawn_ctx(fn, callback_done, nil, ...) end

-- Starts `args[1]` (looked up in PATH when it has no '/') with the arguments args[2..] (Tornado's
-- Subprocess(args, **popen_kwargs) without a shell). opts:
--   stdin, stdout, stderr: eddy.process.STREAM (a pipe: .stdin / .stdout / .stderr is an
--     IOStream, yours to read, write and close; closing .stdin is the child's EOF), "inherit"
--     (nil: the default), "devnull", an fd (an integer >= 0: the child gets a copy; the fd stays
--     yours), and for stderr "stdout" (2>&1);
--   cwd: the child's working directory;
--   env: { NAME = "value" } — the child's whole environment instead of this process's (the
--     program is still looked up in this process's PATH);
--   close_fds (default true): every fd above 2 is closed in the child; false hands it the fds
--     without close-on-exec;
--   new_process_group (default false): the child leads a new process group (a terminal's Ctrl-C
--     does not reach it).
-- The child starts with an empty signal mask and default signal dispositions. Returns the
-- Subprocess at once; bad arguments raise an error naming them, and so does a child that
-- cannot be started, naming the cause: `eddy: Subprocess: cannot run "nope": no such program
-- (EDDY_ENOENT)`, `... permission denied (...) (EDDY_EACCES)`, `... too many open files ...
-- (EDDY_EMFILE)`. Nothing is started then.
-- The object's fields: pid; args (a copy); stdin, stdout, stderr (IOStreams, or nil where there
-- is no pipe); returncode (nil while the child runs, then its exit status, minus the signal
-- that killed it, or false when the status was lost; see _event); handle (the C handle, nil
-- once released: internal).
function subprocess.Subprocess(args, opts)
  local spec, argv = build_spec(args, opts, 2)
  local self = setmetatable({ args = argv }, Subprocess)
  local r = table.pack(core.subprocess_spawn(loop.get(), self, spec))
  local rc = math.tointeger(r[1])
  if rc ~= 0 then error(spawn_error(rc, argv, spec.cwd), 2) end
  self.handle, self.pid = r[2], math.tointeger(r[3])
  for i = 1, 3 do
    if r[i + 3] then self[STDIO_NAMES[i]] = iostream.wrap(r[i + 3]) end
  end
  return self
end

-- Runs cb(returncode) once, as a coroutine, when the child has exited (Tornado's
-- set_exit_callback); returncode is as self.returncode. Set after the exit it runs on the next
-- iteration. nil removes it; a second call replaces the first. An error in it is logged.
-- Raises once the loop was freed before the child's exit was seen.
function Subprocess:set_exit_callback(cb)
  if cb ~= nil and type(cb) ~= "function" then
    error("eddy: set_exit_callback: the callback must be a function or nil", 2)
  end
  if self.returncode ~= nil then
    if cb then loop.add_callback(run, cb, self.returncode) end
    return
  end
  if not self.handle then error("eddy: the event loop is closed (the child was left running)", 2) end
  self._exit_callback = cb
end

-- In a coroutine: waits for the child's exit and returns its returncode (Tornado's
-- wait_for_exit, which returns a Future). With raise_error (true by default, as Tornado's) a
-- returncode other than 0 raises a CalledProcessError instead (eddy.process.
-- is_called_process_error tells it; .returncode and .cmd say what). Works alongside
-- set_exit_callback, and after the exit (it returns at once). Outside a coroutine, or once the
-- loop was freed before the exit was seen, it raises.
function Subprocess:wait_for_exit(raise_error)
  if raise_error ~= nil and type(raise_error) ~= "boolean" then
    error("eddy: wait_for_exit: raise_error must be a boolean or nil", 2)
  end
  if self.returncode == nil then
    if not self.handle then error("eddy: the event loop is closed (the child was left running)", 2) end
    local _, main = coroutine.running()
    if main then
      error("eddy: wait_for_exit only works inside a coroutine (a handler, a callback,"
            .. " eddy.spawn); set_exit_callback works anywhere", 2)
    end
    local waiters = self._waiters or {}
    self._waiters = waiters
    coroutine.yield(function(resume) waiters[#waiters + 1] = resume end)
  end
  local rc = self.returncode
  if raise_error ~= false and rc ~= 0 then error(subprocess.CalledProcessError(rc, self.args), 0) end
  return rc
end

-- Sends signal `signum` (an integer: eddy.process.signals.SIGTERM, ...; 0 only checks) to the
-- child. Returns true when it was sent, false when the child has already exited (a no-op, as
-- Popen.send_signal: its pid may belong to another process by now). Raises for a bad signal
-- number, when the system refuses (permission denied), and once the loop was freed before the
-- exit was seen (the child was left running; signal it by pid yourself if you must).
function Subprocess:send_signal(signum)
  if math.type(signum) ~= "integer" then error("eddy: send_signal: signum must be an integer", 2) end
  if self.returncode ~= nil then return false end
  local h = self.handle
  if not h then error("eddy: the event loop is closed (the child was left running)", 2) end
  local rc = math.tointeger(core.eddy_subprocess_kill(h, signum))
  if rc == 0 then return true end
  if rc == core.EDDY_ESTATE then return false end -- exited; the loop has not noticed yet
  if rc == core.EDDY_EINVAL then error("eddy: send_signal: bad signal number " .. signum, 2) end
  error(("eddy: send_signal(%d): %s (%s)"):format(signum, core.eddy_strerror(rc),
                                                  core.eddy_err_name(rc)), 2)
end

-- send_signal(SIGTERM) (Popen.terminate).
function Subprocess:terminate() return self:send_signal(subprocess.signals.SIGTERM) end
-- send_signal(SIGKILL) (Popen.kill).
function Subprocess:kill() return self:send_signal(subprocess.signals.SIGKILL) end

-- The exit, from the C handle (subprocess.i): sets returncode — the exit status, or minus the
-- signal that killed the child (Popen's), or false when the status was lost (SIGCHLD ignored
-- process-wide, or another waitpid(-1) reaped the child) — then runs the exit callback and
-- resumes the waiters (on the next iteration). eddy releases the handle when this returns
-- (self.handle becomes nil).
function Subprocess:_event(event, exit_status, term_signal)
  if event ~= "exit" then return end
  exit_status, term_signal = math.tointeger(exit_status), math.tointeger(term_signal)
  local rc
  if exit_status < 0 then
    rc = false
  elseif term_signal ~= 0 then
    rc = -term_signal
  else
    rc = exit_status
  end
  self.returncode = rc
  local cb, waiters = self._exit_callback, self._waiters
  self._exit_callback, self._waiters = nil, nil
  if cb then run(cb, rc) end
  -- Waiters resume on the next iteration, once eddy has released the handle (as a Future's
  -- callbacks run after it resolved): wait_for_exit then returns with everything settled.
  for _, resume in ipairs(waiters or {}) do loop.add_callback(resume) end
end

return subprocess
