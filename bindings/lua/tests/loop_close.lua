-- The loop's life cycle, run by test_leak.py under valgrind. Usage:
--   lua5.4 loop_close.lua --mode exit|close
-- Both modes attach one of everything to the loop — an application (with a handler suspended in
-- eddy.sleep and a WebSocket route), a raw HTTPServer, a pending timer, a started periodic
-- callback, the shared HTTP client with a fetch in flight and a second client, a WebSocket
-- client connection, a TCPServer with an accepted stream whose handle_stream waits in a read,
-- a TCPClient stream with a pending read callback, an unflushed write callback and a close
-- callback, and a stream closed and released before — and stop the loop. "exit" then lets the script end: lua_close must free
-- all of it, the loop last. "close" calls eddy.close() and reports, as JSON lines, what using
-- the loop and the closed objects afterwards raised.
local eddy = require("eddy")
local core = eddy.core
local harness = require("tests.script_harness")
local args = harness.args()

local registry_at_start = core.registry_size()
harness.watchdog("loop_close.lua", 30)

local server_ws -- the server side of the WebSocket, kept past its life on purpose
local app = eddy.Application({
  { "/", { get = function(self) self:write("hello") end } },
  { "/slow", { get = function(self) eddy.sleep(60); self:write("late") end } },
  { "/ws", { open = function(self) server_ws = self; self:write_message("hi") end } },
})
local port = app:listen(0, "127.0.0.1")
local base = "http://127.0.0.1:" .. port
local raw = eddy.HTTPServer(function(req) core.eddy_request_write(req, "raw") end)
local raw_port = raw:listen(0, "127.0.0.1")
local tcp_accepted -- the server side of the TCP connection, waiting in a read for ever
local tcp = eddy.TCPServer(function(stream)
  tcp_accepted = stream
  stream:read_until("\n")
end)
local tcp_port = tcp:listen(0, "127.0.0.1")
local tcp_stream
local timeout = eddy.call_later(60, function() end)
local ticker = eddy.periodic(0.01, function() end):start()
local client = eddy.AsyncHTTPClient()
local other = eddy.AsyncHTTPClient({ force_instance = true })
local conn
local facts = {}

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  return ok and "no error" or tostring(err)
end

eddy.spawn(function()
  facts.hello = client:fetch(base .. "/").body
  facts.raw = other:fetch("http://127.0.0.1:" .. raw_port .. "/").body
  conn = assert(eddy.websocket_connect("ws://127.0.0.1:" .. port .. "/ws"))
  facts.ws = conn:read_message()
  -- A stream closed and released while the loop runs, and one left open with callbacks set.
  local gone = assert(eddy.TCPClient():connect("127.0.0.1", tcp_port))
  gone:close()
  tcp_stream = assert(eddy.TCPClient():connect("127.0.0.1", tcp_port, { timeout = 10 }))
  tcp_stream:set_close_callback(function() facts.tcp_close_ran = true end)
  tcp_stream:read_bytes(10, function() facts.tcp_read_ran = true end)
  tcp_stream:write("no newline", function() end)
  facts.tcp = tcp_stream:write("!") == 0 and "written" or "refused"
  -- Left in flight: the fetch, and on the server the handler suspended in eddy.sleep(60).
  client:fetch(base .. "/slow", function() facts.slow_callback_ran = true end)
  eddy.sleep(0.2)
  facts.close_in_callback = err_of(eddy.close)
  eddy.stop()
end)
eddy.start()
harness.emit_named("ran", facts)

if args.mode == "close" then
  eddy.close()
  local after = {
    call_later = err_of(eddy.call_later, 0, function() end),
    start = err_of(eddy.start),
    time = err_of(eddy.time),
    cancel = err_of(timeout.cancel, timeout),
    periodic_start = err_of(ticker.start, ticker),
    periodic_running = ticker:is_running(),
    new_client = err_of(eddy.AsyncHTTPClient),
    fetch = err_of(client.fetch, client, base .. "/", function() end),
    new_app = err_of(eddy.Application, {}),
    listen = err_of(app.listen, app, 0, "127.0.0.1"),
    raw_listen = err_of(raw.listen, raw, 0, "127.0.0.1"),
    tcp_listen = err_of(tcp.listen, tcp, 0, "127.0.0.1"),
    -- Streams freed with the loop: their Lua objects say closed, without callbacks.
    tcp_write = tcp_stream:write("x"),
    tcp_closed = tcp_stream:closed() and tcp_accepted ~= nil and tcp_accepted:closed(),
    tcp_callbacks_ran = facts.tcp_close_ran == true or facts.tcp_read_ran == true,
    ws_client_write = conn:write_message("x"),
    ws_client_closed = conn.closed,
    ws_server_write = err_of(server_ws.write_message, server_ws, "x"),
    slow_callback_ran = facts.slow_callback_ran == true,
    close_again = err_of(eddy.close),
    registry_released = core.registry_size() == registry_at_start,
    eclosed = core.EDDY_ECLOSED,
  }
  harness.emit_named("after_close", after)
end
harness.emit_named("end", { ok = true })
-- The script ends here: lua5.4 closes the state (lua_close), which frees what is left.
