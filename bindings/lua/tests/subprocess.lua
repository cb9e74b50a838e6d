-- eddy.process.Subprocess for test_subprocess.py: real children (cat, sh, sleep) over real
-- pipes; each scenario prints one JSON line of what it saw. Usage:
--   lua5.4 subprocess.lua --mode main --fd N --dir D --noexec F
--     every scenario in turn: N is an inheritable pipe's write end that the Python test reads,
--     D an empty directory, F a file without the execute bit.
--   lua5.4 subprocess.lua --mode loop_freed   a child still running when eddy.close() frees
--     the loop (then the script ends: lua_close, under valgrind when the test has it).
--   lua5.4 subprocess.lua --mode exit_running  the script ends with a child running (lua_close
--     frees the loop).
--   lua5.4 subprocess.lua --mode lost         run with SIGCHLD ignored: the status is lost.
local eddy = require("eddy")
local core = eddy.core
local process = eddy.process
local harness = require("tests.script_harness")
local args = harness.args()
local STREAM = process.STREAM

-- The values pinned with luaL_ref (integer keys), where eddy keeps the Lua objects and
-- functions it holds. (core.registry_size also counts the named entries Lua itself adds on
-- first use, such as the _UBOX* metatable of a large string.format.)
local function pinned()
  local n = 0
  for k, v in pairs(debug.getregistry()) do
    if math.type(k) == "integer" and type(v) ~= "number" then n = n + 1 end
  end
  return n
end

local registry_at_start = pinned() -- before the watchdog's timer: close() drops it
harness.watchdog("subprocess.lua", 40)

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or tostring(err)
end

local null = eddy.json.null
local function jv(v) if v == nil then return null end return v end

-- The process group of `pid` (field 5 of /proc/<pid>/stat, after the command's parentheses).
local function pgrp_of(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local stat = f:read("a")
  f:close()
  return tonumber(stat:match("%) %S+ %d+ (%d+)"))
end

-- `sh -c script` with stdout piped (plus opts); returns its output and returncode.
local function run_sh(script, opts)
  opts = opts or {}
  opts.stdout = opts.stdout or STREAM
  local p = eddy.Subprocess({ "sh", "-c", script }, opts)
  local out = p.stdout:read_until_close()
  return out, p:wait_for_exit(false), p
end

local scenarios = {}

-- cat echoes stdin to stdout; closing stdin (after the write went out) is its EOF.
function scenarios.cat_echo()
  local p = process.Subprocess({ "cat" }, { stdin = STREAM, stdout = STREAM })
  local facts = { pid_ok = math.type(p.pid) == "integer" and p.pid > 0,
                  streams = { getmetatable(p.stdin) == eddy.iostream.IOStream,
                              getmetatable(p.stdout) == eddy.iostream.IOStream,
                              p.stderr == nil },
                  running = p.returncode == nil and p.handle ~= nil }
  p.stdin:write("hello\nworld\n", function() p.stdin:close() end)
  facts.out = p.stdout:read_until_close()
  facts.returncode = p:wait_for_exit()
  facts.released = p.handle == nil and p.returncode == 0
  return facts
end

-- Exit codes: wait_for_exit raises a CalledProcessError unless raise_error is false; the exit
-- callback gets the code; set after the exit, it still runs.
function scenarios.exit_code()
  local p = eddy.Subprocess({ "sh", "-c", "exit 7" })
  local from_callback = eddy.Future()
  p:set_exit_callback(function(rc) from_callback:set_result(rc) end)
  local ok, err = pcall(p.wait_for_exit, p)
  local facts = {
    raised = not ok and process.is_called_process_error(err),
    raised_code = type(err) == "table" and err.returncode or null,
    message = tostring(err),
    no_raise = p:wait_for_exit(false),
    callback = from_callback:wait(),
  }
  local late = eddy.Future()
  p:set_exit_callback(function(rc) late:set_result(rc) end)
  facts.late_callback = late:wait()
  facts.zero = eddy.Subprocess({ "true" }):wait_for_exit()
  return facts
end

-- Death by a signal: returncode is minus its number; after the exit signals are no-ops.
function scenarios.signals()
  local sig = process.signals
  local p = eddy.Subprocess({ "sleep", "30" })
  local facts = { check = p:send_signal(0), bad_signal = err_of(p.send_signal, p, 100000),
                  not_integer = err_of(p.send_signal, p, "TERM") }
  facts.terminate = p:terminate()
  facts.returncode = p:wait_for_exit(false)
  facts.sigterm = sig.SIGTERM
  facts.after_exit = { p:send_signal(sig.SIGTERM), p:kill(), p:terminate() }
  local q = eddy.Subprocess({ "sleep", "30" })
  facts.kill = q:kill()
  facts.killed = q:wait_for_exit(false)
  facts.sigkill = sig.SIGKILL
  local ok, err = pcall(q.wait_for_exit, q)
  facts.killed_message = ok and "no error" or tostring(err)
  -- Inside the exit callback the child is gone too: a no-op, never another process.
  local r = eddy.Subprocess({ "true" })
  local inside = eddy.Future()
  r:set_exit_callback(function() inside:set_result(r:kill()) end)
  facts.kill_in_callback = inside:wait()
  return facts
end

-- /dev/null, 2>&1, and inherit.
function scenarios.stdio_modes()
  local facts = {}
  facts.devnull = run_sh("cat; echo done", { stdin = process.DEVNULL })
  facts.stderr_to_stdout = run_sh("echo out; echo err >&2", { stderr = "stdout" })
  local err_null = run_sh("echo out; echo err >&2", { stderr = "devnull" })
  facts.stderr_devnull = err_null
  -- stderr as its own pipe, stdin inherited (the test's /dev/null).
  local p = eddy.Subprocess({ "sh", "-c", "echo to-err >&2; exit 3" },
                            { stdout = "devnull", stderr = STREAM, stdin = "inherit" })
  facts.stderr_pipe = p.stderr:read_until_close()
  facts.stderr_pipe_rc = p:wait_for_exit(false)
  return facts
end

-- A child that exits without reading its stdin: writes fail (EPIPE under the hood, never a
-- SIGPIPE that would end this script), and the stream closes with an error.
function scenarios.stdin_reader_gone()
  local p = eddy.Subprocess({ "true" }, { stdin = STREAM })
  local rc = p:wait_for_exit()
  local closed = eddy.Future()
  p.stdin:set_close_callback(function(err, code) closed:set_result(err, code) end)
  -- eddy may have seen the pipe break already (write returns EDDY_ECLOSED, no callback), or
  -- see it when the bytes go (write returns 0, the callback gets EDDY_ECLOSED).
  local written = eddy.Future()
  local queued = p.stdin:write(string.rep("x", 1 << 20), function(ok, err, code)
    written:set_result(ok == true, code)
  end)
  if queued ~= 0 then written:set_result(false, queued) end
  local write_ok, write_code = written:wait()
  local close_err, close_code = closed:wait()
  return { returncode = rc, write_ok = write_ok, write_code = jv(write_code),
           close_err = jv(close_err), close_code = close_code, eclosed = core.EDDY_ECLOSED }
end

-- A caller's fd: the child's stdout is a copy of the pipe the Python test reads.
function scenarios.fd()
  local fd = math.tointeger(tonumber(args.fd))
  local p = eddy.Subprocess({ "sh", "-c", "echo via-fd" }, { stdout = fd })
  return { returncode = p:wait_for_exit(),
           -- close_fds: the pipe's fd reaches the child only with close_fds = false.
           default = run_sh(("[ -e /proc/self/fd/%d ] && echo open || echo closed"):format(fd)),
           kept = run_sh(("[ -e /proc/self/fd/%d ] && echo open || echo closed"):format(fd),
                         { close_fds = false }) }
end

-- cwd, env (the whole environment), a new process group.
function scenarios.cwd_env()
  local facts = {}
  facts.cwd = run_sh("pwd -P", { cwd = args.dir })
  facts.env = run_sh('echo "$EDDY_TEST_VAR|${HOME-unset}|$EMPTY|"',
                     { env = { EDDY_TEST_VAR = "from eddy", EMPTY = "" } })
  facts.env_inherited = run_sh('echo "${EDDY_TEST_PARENT-unset}"')
  local p = eddy.Subprocess({ "sleep", "30" }, { new_process_group = true })
  local q = eddy.Subprocess({ "sleep", "30" })
  facts.own_group = pgrp_of(p.pid) == p.pid
  facts.parent_group = pgrp_of(q.pid) == pgrp_of("self")
  p:kill()
  q:kill()
  facts.groups_rc = { p:wait_for_exit(false), q:wait_for_exit(false) }
  return facts
end

-- Children that cannot start, and bad arguments: errors naming the cause; nothing kept.
function scenarios.errors()
  local before = pinned()
  local S = eddy.Subprocess
  local facts = {
    no_program = err_of(S, { "eddy-test-no-such-program" }),
    no_path = err_of(S, { "/nonexistent/eddy-test" }),
    not_executable = err_of(S, { args.noexec }),
    no_cwd = err_of(S, { "true" }, { cwd = "/nonexistent/eddy-dir" }),
    bad_fd = err_of(S, { "true" }, { stdout = 999999 }),
    args_string = err_of(S, "ls -l"),
    args_empty = err_of(S, {}),
    args_empty_program = err_of(S, { "" }),
    args_number = err_of(S, { "echo", 1 }),
    args_nul = err_of(S, { "echo", "a\0b" }),
    unknown_option = err_of(S, { "true" }, { shell = true }),
    bad_stdin = err_of(S, { "true" }, { stdin = "pipe" }),
    stdout_to_stdout = err_of(S, { "true" }, { stdout = "stdout" }),
    negative_fd = err_of(S, { "true" }, { stdin = -1 }),
    bad_env = err_of(S, { "true" }, { env = { A = 1 } }),
    bad_env_name = err_of(S, { "true" }, { env = { ["A=B"] = "x" } }),
    bad_cwd = err_of(S, { "true" }, { cwd = "" }),
    bad_close_fds = err_of(S, { "true" }, { close_fds = 1 }),
  }
  facts.registry_kept = pinned() - before
  return facts
end

-- Many children at once, each with its own pipe: every exit is seen once, with its status.
function scenarios.many()
  local N = 40
  local children = {}
  for i = 1, N do
    children[i] = eddy.Subprocess({ "sh", "-c", "echo child " .. i .. "; exit " .. i },
                                  { stdout = STREAM })
  end
  local good, exits = 0, 0
  for i = 1, N do
    local p = children[i]
    p:set_exit_callback(function() exits = exits + 1 end)
    local out = p.stdout:read_until_close()
    if out == "child " .. i .. "\n" and p:wait_for_exit(false) == i then good = good + 1 end
  end
  eddy.sleep(0) -- a pass for the last exit callbacks
  return { good = good, exits = exits, n = N }
end

-- An error in an exit callback is logged; the loop goes on.
function scenarios.callback_error()
  local p = eddy.Subprocess({ "true" })
  p:set_exit_callback(function() error("boom in exit callback") end)
  return { returncode = p:wait_for_exit() }
end

if args.mode == "main" then
  local base = pinned()
  local order = { "cat_echo", "exit_code", "signals", "stdio_modes", "stdin_reader_gone", "fd",
                  "cwd_env", "errors", "many", "callback_error" }
  eddy.spawn(function()
    for _, name in ipairs(order) do
      local ok, facts = pcall(scenarios[name])
      if not ok then facts = { failed = tostring(facts) } end
      harness.emit_named(name, facts)
    end
    eddy.stop()
  end)
  eddy.start()
  local p = eddy.Subprocess({ "true" })
  local outside = err_of(p.wait_for_exit, p)
  -- Every child has exited and been released: the registry holds no more than before (the
  -- Subprocess objects, their callbacks and streams were all released).
  p:set_exit_callback(function() eddy.stop() end)
  eddy.start()
  collectgarbage()
  harness.emit_named("end", { outside_coroutine = outside,
                              registry_delta = pinned() - base })
elseif args.mode == "loop_freed" then
  -- stderr to /dev/null: the child outlives this script and must not hold the test's pipe.
  local p = eddy.Subprocess({ "sleep", "30" }, { stdin = STREAM, stdout = STREAM,
                                                 stderr = "devnull" })
  local ran = {}
  p:set_exit_callback(function() ran.callback = true end)
  p.stdout:set_close_callback(function() ran.stdout_close = true end)
  eddy.spawn(function() p:wait_for_exit(); ran.waiter = true end)
  eddy.spawn(function() eddy.sleep(0.1); eddy.stop() end)
  eddy.start()
  eddy.close()
  harness.emit_named("after_close", {
    pid = p.pid,
    handle = p.handle == nil,
    returncode = jv(p.returncode),
    ran = next(ran) ~= nil,
    send_signal = err_of(p.send_signal, p, 15),
    kill = err_of(p.kill, p),
    set_exit_callback = err_of(p.set_exit_callback, p, function() end),
    streams_closed = p.stdin:closed() and p.stdout:closed(),
    write = p.stdin:write("x"),
    eclosed = core.EDDY_ECLOSED,
    new = err_of(eddy.Subprocess, { "true" }),
  })
  -- The registry is checked once the pending coroutine is gone (it pins nothing in eddy).
  collectgarbage()
  harness.emit_named("registry", { delta = pinned() - registry_at_start })
elseif args.mode == "lost" then
  local p = eddy.Subprocess({ "sh", "-c", "exit 3" })
  eddy.spawn(function()
    local rc = p:wait_for_exit(false)
    local ok, err = pcall(p.wait_for_exit, p)
    harness.emit_named("lost", { returncode = rc, raised = not ok and tostring(err) })
    eddy.stop()
  end)
  eddy.start()
elseif args.mode == "exit_running" then
  -- The script ends with a child running and a pipe open: lua_close frees the loop.
  local p = eddy.Subprocess({ "sleep", "30" }, { stdout = STREAM, stderr = "devnull" })
  p:set_exit_callback(function() end)
  harness.emit_named("started", { pid = p.pid })
end
