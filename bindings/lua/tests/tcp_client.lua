-- eddy.TCPClient against tcp_server.lua, for test_tcp.py. Usage:
--   lua5.4 tcp_client.lua --port P --refused P2 --full P3
-- --refused: a port nothing listens on; --full: a listener whose accept queue is full (a
-- connect there times out). Emits one JSON line per scenario and exits 0.
local eddy = require("eddy")
local core = eddy.core
local harness = require("tests.script_harness")
local args = harness.args()
harness.watchdog("tcp_client.lua", 40)
local port, refused, full = tonumber(args.port), tonumber(args.refused), tonumber(args.full)
local client = eddy.TCPClient()

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or tostring(err)
end

-- Outside any coroutine, without a callback: an error.
local no_coroutine = err_of(client.connect, client, "127.0.0.1", port)

eddy.spawn(function()
  -- Coroutine style: connect, echo a line.
  local stream = assert(client:connect("127.0.0.1", port, { timeout = 10 }))
  stream:write("echo\n")
  local hello = stream:read_until("\n"):match("^(hello %S+)")
  stream:write("round trip\n")
  harness.emit_named("coroutine", { hello = hello, echo = stream:read_until("\n"),
                                    nodelay = stream:set_nodelay(true), is_tls = stream:is_tls(),
                                    fileno = stream:fileno() ~= nil })

  -- A name, looked up off the loop ("localhost": ::1 may come first and be refused, then
  -- 127.0.0.1 answers).
  local named = assert(client:connect("localhost", port, { timeout = 10 }))
  named:write("echo\n")
  harness.emit_named("by_name", { hello = named:read_until("\n"):match("^(hello %S+)") })
  named:close()

  -- Bad input.
  local errors = {
    unknown_option = err_of(client.connect, client, "127.0.0.1", port, { bind = "127.0.0.1" }),
    bad_timeout = err_of(client.connect, client, "127.0.0.1", port, { timeout = "soon" }),
    second_read = err_of(function()
      stream:read_until("\n", function() end)
      stream:read_bytes(1, function() end)
    end),
    bad_max_bytes = err_of(stream.read_until, stream, "\n", 0),
    bad_write = err_of(stream.write, stream, { "not a string" }),
    listen_in_use = err_of(function() eddy.TCPServer(function() end):listen(port, "127.0.0.1") end),
    listen_bad_port = err_of(function() eddy.TCPServer(function() end):listen(-1) end),
    listen_bad_option = err_of(function() eddy.TCPServer(function() end):listen(0, nil, { backlog = 0 }) end),
    server_not_function = err_of(eddy.TCPServer, "handle_stream"),
  }
  local _, _, code = client:connect("127.0.0.1", 0)
  errors.bad_port = code
  errors.no_coroutine = no_coroutine

  -- A closed stream.
  stream:close()
  eddy.sleep(0.05)
  local closed = {}
  local data, _, rcode = stream:read_bytes(1)
  closed.read_code = data == nil and rcode or "read returned data"
  closed.write = stream:write("x")
  closed.closed = stream:closed()
  closed.fileno = stream:fileno() or eddy.json.null
  local f = eddy.Future()
  stream:set_close_callback(function(err, c) f:set_result(err, c) end) -- after the close: runs once
  local e, c = f:wait()
  closed.late_close_cb = { e or eddy.json.null, c }

  -- Refused and timed out.
  local s, err, rc = client:connect("127.0.0.1", refused)
  harness.emit_named("refused", { ok = s ~= nil, err = err, code = rc })
  s, err, rc = client:connect("127.0.0.1", full, { timeout = 0.3 })
  if s then s:close() end
  harness.emit_named("timeout", { err = err or eddy.json.null, code = rc or 0 })

  -- Callback style.
  local done = eddy.Future()
  client:connect("127.0.0.1", refused, function(st, cerr, ccode)
    harness.emit_named("refused_cb", { ok = st ~= nil, err = cerr, code = ccode })
    done:set_result()
  end)
  done:wait()
  done = eddy.Future()
  client:connect("127.0.0.1", port, {}, function(st)
    st:write("echo\n")
    st:read_until("\n", function()
      st:write("by callback\n")
      st:read_until("\n", function(line)
        st:set_close_callback(function()
          harness.emit_named("callback", { echo = line, closed_after = st:closed() })
          done:set_result()
        end)
        st:close()
      end)
    end)
  end)
  done:wait()
  harness.emit_named("errors", errors)
  harness.emit_named("closed", closed)
  eddy.stop()
end)

eddy.start()
