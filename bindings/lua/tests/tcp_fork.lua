-- fork_processes for test_process.py. Usage:
--   lua5.4 tcp_fork.lua --children N      bind a socket, print "listening <port>", fork N
--     children that each serve it with a TCPServer (add_socket) and answer every connection
--     "<fork_processes' id> <task_id()> <pid>\n"; the parent supervises.
--   lua5.4 tcp_fork.lua --checks          print one JSON line of what the helpers return and
--     raise outside a fork (task_id before forking, cpu_count, bind_socket / socket_port
--     errors, fork_processes once the loop exists).
local eddy = require("eddy")
local harness = require("tests.script_harness")
local args = harness.args()

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or tostring(err)
end

if args.checks then
  local fd = eddy.bind_socket(0, "127.0.0.1", { backlog = 16 })
  local port = eddy.socket_port(fd)
  local facts = {
    task_id = eddy.task_id() or eddy.json.null,
    cpu_count = eddy.cpu_count(),
    port_ok = port > 0,
    in_use = err_of(eddy.bind_socket, port, "127.0.0.1"),
    bad_address = err_of(eddy.bind_socket, 0, "not an address"),
    bad_option = err_of(eddy.bind_socket, 0, "127.0.0.1", { flags = 1 }),
    socket_port_bad = err_of(eddy.socket_port, 0),  -- stdin is not a socket
    add_socket_bad = err_of(function() eddy.TCPServer(function() end):add_socket(0) end),
  }
  -- The TCPServer above made the loop: forking is refused now.
  facts.fork_after_loop = err_of(eddy.fork_processes, 2)
  harness.emit_named("checks", facts)
  return
end

local fd = eddy.bind_socket(0, "127.0.0.1")
print("listening " .. eddy.socket_port(fd))
io.stdout:flush()
local id = eddy.fork_processes(tonumber(args.children))
-- In a child from here on.
local stat = assert(io.open("/proc/self/stat"))
local pid = stat:read("n")
stat:close()
local server = eddy.TCPServer(function(stream)
  -- close() would drop what is not sent yet: close once the answer is out.
  stream:write(("%d %d %d\n"):format(id, eddy.task_id(), pid), function() stream:close() end)
end)
server:add_socket(fd)
local again = err_of(eddy.fork_processes, 2) -- refused in a child (the loop exists, too)
assert(again:find("fork_processes"), again)
eddy.start()
