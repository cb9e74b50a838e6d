-- The loop's life cycle, run by test_leak.py under valgrind. Usage:
--   lua5.4 loop_close.lua --mode exit|close
-- Both modes attach one of everything to the loop — an application (with a handler suspended in
-- eddy.sleep and a WebSocket route), a raw HTTPServer, a pending timer, a started periodic
-- callback, the shared HTTP client with a fetch in flight and a second client, a WebSocket
-- client connection — and stop the loop. "exit" then lets the script end: lua_close must free
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
