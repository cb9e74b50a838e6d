-- A chat room with long polling, after Tornado's chat demo:
--   GET  /                       the page (a form plus a little JavaScript)
--   POST /a/message/new          body=<text>: adds a message, answers it as JSON
--   POST /a/message/updates      cursor=<last id seen>: answers at once with newer messages, or
--                                waits (a coroutine on a Future) until one arrives
--   WS   /chatsocket              a WebSocket: every new message arrives as JSON; text sent on
--                                it is posted as a message
-- A waiter whose client leaves is dropped (on_connection_close).
-- Run: lua5.4 examples/chat.lua [--port N]   (prints "listening <port>")
local eddy = require("eddy")

local port = 8888
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

-- The message buffer: the last 200 messages and the Future that new ones complete.
local buffer = { messages = {}, next_id = 1, arrived = eddy.Future() }
local sockets = {} -- open /chatsocket connections

function buffer.since(cursor)
  local out = eddy.json.array()
  for _, m in ipairs(buffer.messages) do if m.id > cursor then out[#out + 1] = m end end
  return out
end

function buffer.add(body)
  local m = { id = buffer.next_id, body = body }
  buffer.next_id = buffer.next_id + 1
  table.insert(buffer.messages, m)
  if #buffer.messages > 200 then table.remove(buffer.messages, 1) end
  local arrived = buffer.arrived
  buffer.arrived = eddy.Future()
  arrived:set_result()
  for ws in pairs(sockets) do ws:write_message(m) end
  return m
end

local PAGE = [[<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>eddy chat (Lua)</title></head>
<body><div id="inbox"></div>
<form id="f"><input name="body" id="body" autocomplete="off"><input type="submit" value="Post"></form>
<script>
let cursor = 0;
const inbox = document.getElementById("inbox");
function show(ms) { for (const m of ms) { const d = document.createElement("div");
  d.textContent = m.body; inbox.appendChild(d); cursor = Math.max(cursor, m.id); } }
async function poll() {
  for (;;) {
    try {
      const r = await fetch("/a/message/updates", { method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "cursor=" + cursor });
      show((await r.json()).messages);
    } catch (e) { await new Promise(ok => setTimeout(ok, 1000)); }
  }
}
document.getElementById("f").onsubmit = async (ev) => {
  ev.preventDefault();
  const b = document.getElementById("body");
  await fetch("/a/message/new", { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "body=" + encodeURIComponent(b.value) });
  b.value = "";
};
poll();
</script></body></html>]]

local app = eddy.Application({
  { "/", { get = function(self) self:write(PAGE) end } },
  { "/a/message/new", { post = function(self)
      self:write(buffer.add(self:get_argument("body")))
    end } },
  { "/chatsocket", {
      open = function(self) sockets[self] = true end,
      on_message = function(self, text) buffer.add(text) end,
      on_close = function(self) sockets[self] = nil end,
    } },
  { "/a/message/updates", {
      post = function(self)
        local cursor = tonumber(self:get_argument("cursor", "0")) or 0
        local messages = buffer.since(cursor)
        while #messages == 0 do
          buffer.arrived:wait()
          if self.gone then return end
          messages = buffer.since(cursor)
        end
        self:write({ messages = messages })
      end,
      -- The client left: finish (release) the response now; the waiting coroutine sees
      -- self.gone when the next message wakes it and returns without touching self.
      on_connection_close = function(self) self.gone = true; self:finish() end,
    } },
})

port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
