-- Drives eddy.websocket_connect against real servers and prints one JSON line per scenario
-- (test_ws_client.py checks them), then "done". Usage:
--   lua5.4 ws_client.lua --echo ws://.../ws --lua ws://host:port --refused PORT --silent PORT
--                        [--deflate PORT]   (a raw server reporting the compressed frames)
--   lua5.4 ws_client.lua --echo ws://.../ws --refused PORT --leak N   (registry/heap before/after)
local eddy = require("eddy")
local core, json = eddy.core, eddy.json

local harness = require("tests.script_harness")
local args = harness.args()

local emit = harness.emit_named

harness.watchdog("ws_client.lua", 30)

-- Without a callback, websocket_connect must run in a coroutine: here (the main chunk) it
-- raises an error instead of blocking.
local outside_refused = not pcall(eddy.websocket_connect, args.echo or "ws://127.0.0.1:1/")

local scenarios = {}

-- The C echo server: text, binary, JSON, compression, our close code echoed back.
function scenarios.echo_c()
  local conn, err = eddy.websocket_connect(args.echo, { compression = true, timeout = 10 })
  assert(conn, err)
  local out = { compressed = conn.compressed, subprotocol = conn.selected_subprotocol or json.null }
  conn:write_message("héllo")
  out.text, out.text_binary = conn:read_message()
  conn:write_message("\0\1\255", true)
  local bin, is_bin = conn:read_message()
  out.binary_hex, out.binary_flag = bin:gsub(".", function(c) return string.format("%02x", c:byte()) end), is_bin
  conn:write_message({ k = "v" })
  out.json = conn:read_message()
  local big = string.rep("z", 100000)
  conn:write_message(big)
  out.big_ok = conn:read_message() == big
  out.close_rc = conn:close(4001, "client bye")
  out.after_close = conn:read_message() == nil
  out.close_code, out.close_reason = conn.close_code, conn.close_reason
  out.write_after_close = conn:write_message("late")
  out.closed_rc = core.EDDY_ECLOSED
  emit("echo_c", out)
end

-- The Lua server: subprotocol, custom headers, ping/pong, a close from the server.
function scenarios.lua_server()
  local pongs = {}
  local conn, err = eddy.websocket_connect(args.lua .. "/ws/sub", {
    subprotocols = { "a", "chat" }, on_pong = function(c, data) pongs[#pongs + 1] = data end })
  assert(conn, err)
  local out = { subprotocol = conn.selected_subprotocol, greeting = conn:read_message() }
  local h = assert(eddy.websocket_connect(args.lua .. "/ws/headers",
                                          { headers = { ["X-Test"] = 1, { "Cookie", "c=v1" } } }))
  out.headers_seen = h:read_message()
  h:close()
  conn:ping("abc")
  conn:write_message("after ping")
  out.echo = conn:read_message()  -- the server answers the ping before echoing
  out.pongs = pongs
  conn:write_message("close")
  out.eof = conn:read_message() == nil
  out.close_code, out.close_reason = conn.close_code, conn.close_reason
  -- Echo and a close started by the client (the server's on_close sees code and reason).
  local plain = assert(eddy.websocket_connect(args.lua .. "/ws/plain"))
  plain:read_message()
  plain:write_message("texte é")
  out.plain_text = { plain:read_message() }
  plain:write_message("\255\0\254", true)
  local bin, is_bin = plain:read_message()
  out.plain_binary, out.plain_binary_flag = { bin:byte(1, -1) }, is_bin
  plain:close(4002, "client bye")
  out.plain_eof = plain:read_message() == nil
  out.plain_close_code = plain.close_code
  emit("lua_server", out)
end

-- Failures come back as nil, message, EDDY_E* code.
function scenarios.failures()
  local function try(url, opts)
    local conn, err, code = eddy.websocket_connect(url, opts)
    return { conn = conn ~= nil, err = err, code = code }
  end
  emit("failures", {
    refused = try("ws://127.0.0.1:" .. args.refused .. "/ws"),
    timeout = try("ws://127.0.0.1:" .. args.silent .. "/ws", { timeout = 0.2 }),
    origin = try(args.lua .. "/ws/plain", { headers = { Origin = "http://evil.example" } }),
    bad_url = try("http://127.0.0.1/ws"),
    bad_header = try(args.echo, { headers = { ["X-Bad"] = "a\r\nb" } }),
    -- A misspelt option, one of another type, a negative or NaN timeout: refused, not ignored.
    misspelt = try(args.echo, { max_mesage_size = 10 }),
    bad_type = try(args.echo, { max_message_size = "10" }),
    negative = try(args.echo, { ping_interval = -1 }),
    nan = try(args.echo, { close_timeout = 0 / 0 }),
    eproto = core.EDDY_EPROTO, etimedout = core.EDDY_ETIMEDOUT, einval = core.EDDY_EINVAL,
    econnrefused = core.EDDY_ECONNREFUSED,
    outside = outside_refused,
  })
end

-- Limits and errors in callbacks close the connection with the right code.
function scenarios.limits()
  local out = {}
  local conn = assert(eddy.websocket_connect(args.echo, { max_message_size = 100 }))
  conn:write_message(string.rep("y", 200))  -- the echo exceeds our limit
  out.too_big_eof = conn:read_message() == nil
  out.too_big_code = conn.close_code
  local holder, closed = {}, eddy.Future()
  eddy.websocket_connect(args.echo, { on_message_callback = function(msg)
    if msg == nil then return closed:set_result(holder.conn.close_code) end
    error("callback boom")
  end }, function(c) holder.conn = c; c:write_message("x") end)
  out.callback_error_code = closed:wait()
  emit("limits", out)
end

-- Callback form: messages through on_message_callback (nil at the close), errors to callback.
function scenarios.callbacks()
  local got, finished = {}, eddy.Future()
  eddy.websocket_connect(args.echo, { on_message_callback = function(msg, binary)
    got[#got + 1] = msg == nil and "<closed>" or msg
    if msg == "two" then got.conn:close(1000, "enough") end
    if msg == nil then finished:set_result(got.conn.close_code) end
  end }, function(conn, err)
    assert(conn, err)
    got.conn = conn
    conn:write_message("one")
    conn:write_message("two")
  end)
  local code = finished:wait()
  local failed = eddy.Future()
  eddy.websocket_connect("ws://127.0.0.1:" .. args.refused .. "/", {}, function(conn, err, rc)
    failed:set_result(conn == nil, err, rc)
  end)
  local no_conn, err, rc = failed:wait()
  got.conn = nil
  emit("callbacks", { messages = got, close_code = code, failed = no_conn, err = err, code = rc })
end

-- compression = { compression_level, mem_level }: how the client compresses. args.deflate is a
-- raw server (test_ws_client.py) that accepts permessage-deflate, reads the first frame and
-- answers "<RSV1 bit> <payload length> <the message it inflated to>", then closes.
function scenarios.compression_level()
  local words = {}
  for i = 0, 2999 do words[#words + 1] = "word" .. (i % 50) .. " " end
  local text = table.concat(words)
  local out = { length = #text }
  for _, case in ipairs({ { "stored", { compression_level = 0, mem_level = 1 } }, { "default", true } }) do
    local conn, err = eddy.websocket_connect("ws://127.0.0.1:" .. args.deflate .. "/", { compression = case[2] })
    assert(conn, err)
    conn:write_message(text)
    local rsv1, size, message = assert(conn:read_message()):match("^(%d+) (%d+) (.*)$")
    out[case[1]] = { rsv1 = tonumber(rsv1), size = tonumber(size), same = message == text }
    out[case[1]].eof = conn:read_message() == nil
  end
  -- Out-of-range values: refused before anything is sent.
  out.bad = {}
  for _, bad in ipairs({ { compression_level = 10 }, { compression_level = -2 }, { mem_level = 10 },
                         { mem_level = -1 }, { compression_level = "x" } }) do
    local conn, err, code = eddy.websocket_connect(args.echo, { compression = bad })
    out.bad[#out.bad + 1] = { conn = conn ~= nil, code = code }
  end
  out.einval = core.EDDY_EINVAL
  emit("compression_level", out)
end

-- One connect / echo / close cycle plus a refused connect and a callback-form connect.
local function cycle()
  local conn = assert(eddy.websocket_connect(args.echo))
  conn:write_message("ping")
  assert(conn:read_message() == "ping")
  conn:close()
  assert(conn:read_message() == nil)
  assert(not eddy.websocket_connect("ws://127.0.0.1:" .. args.refused .. "/"))
  local f = eddy.Future()
  eddy.websocket_connect(args.echo, { on_message_callback = function(msg)
    if msg == nil then f:set_result() end
  end }, function(c) c:close() end)
  f:wait()
end

-- Measured from the same place each time: inside a timer callback (whose own box is pinned
-- while it runs), not inside whichever WebSocket callback resumed us last.
local function measure()
  eddy.sleep(0)
  collectgarbage("collect")
  collectgarbage("collect")
  return math.tointeger(core.registry_size()), collectgarbage("count")
end

function scenarios.leak()
  local n = tonumber(args.leak)
  for _ = 1, 20 do cycle() end  -- warm-up: registry free list, interned strings, pools
  local reg0, mem0 = measure()
  for _ = 1, n do cycle() end
  local reg1, mem1 = measure()
  -- A connection kept open must show up: the measure does see live references.
  local kept = assert(eddy.websocket_connect(args.echo))
  local reg_kept = measure()
  kept:close()
  kept:read_message()
  emit("leak", { registry_before = reg0, registry_after = reg1, registry_kept = reg_kept,
                 memory_kb_before = mem0, memory_kb_after = mem1, cycles = n })
end

local order = args.leak and { "leak" } or { "echo_c", "lua_server", "failures", "limits", "callbacks" }
if args.deflate then order[#order + 1] = "compression_level" end
eddy.spawn(function()
  for _, name in ipairs(order) do
    local ok, err = xpcall(scenarios[name], debug.traceback)
    if not ok then emit(name, { error = tostring(err) }) end
  end
  print("done")
  io.stdout:flush()
  eddy.stop()
end)
eddy.start()
