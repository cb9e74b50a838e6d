-- The producer of test_ws_write_mark.py: sends COUNT binary messages of SIZE bytes (each starts
-- with its 8-digit index) to a peer that reads slowly, pausing with wait_for_drain() whenever
-- the write buffer is over the mark. Prints JSON lines: {"event":"above_mark"} the first time
-- it has to wait (the peer starts reading only then), and {"event":"done", ...} with what it saw.
-- Usage:
--   lua5.4 ws_write_mark.lua --port 0 --mark BYTES --size BYTES --count N   (server: /flood)
--   lua5.4 ws_write_mark.lua --client ws://... --mark BYTES --size BYTES --count N
local eddy = require("eddy")

local harness = require("tests.script_harness")
local args = harness.args()
local MARK, SIZE, COUNT = math.tointeger(args.mark), math.tointeger(args.size), math.tointeger(args.count)

local emit = harness.emit


-- Sends everything through `conn` (a server Handler or a client Connection).
local function produce(conn, stats)
  local payload = string.rep("m", SIZE - 8)
  for i = 1, COUNT do
    local rc = conn:write_message(string.format("%08d", i) .. payload, true)
    if rc ~= 0 then stats.write_error = rc; return end
    local size = conn:write_buffer_size()
    if size > stats.max_buffer then stats.max_buffer = size end
    if size > MARK then
      if stats.waits == 0 then emit({ event = "above_mark", buffer = size }) end
      stats.waits = stats.waits + 1
      if not conn:wait_for_drain() then stats.closed_while_waiting = true; return end
      -- wait_for_drain only returns true at or below the mark.
      if conn:write_buffer_size() > MARK then stats.woke_above_mark = true end
    end
    stats.sent = i
  end
end

local function new_stats() return { sent = 0, waits = 0, drains = 0, max_buffer = 0 } end

local function finish(conn, stats)
  stats.event = "done"
  -- Misuse is refused: a negative mark is an argument error.
  stats.bad_mark_refused = not pcall(conn.set_write_mark, conn, -1)
  emit(stats)
end

if args.client then
  -- Bound the run: a drain that never comes must fail the test, not stall it.
  harness.watchdog("ws_write_mark.lua", 20)
  eddy.spawn(function()
    local conn, err = eddy.websocket_connect(args.client)
    if not conn then emit({ event = "error", error = err }); os.exit(1) end
    local stats = new_stats()
    assert(conn:set_write_mark(MARK, function(c) stats.drains = stats.drains + 1 end) == 0)
    produce(conn, stats)
    finish(conn, stats)
    conn:close(1000, "all sent")
    while conn:read_message() ~= nil do end
    os.exit(0)
  end)
  eddy.start()
else
  local app = eddy.Application({
    { "/flood", {
      open = function(self)
        local stats = new_stats()
        assert(self:set_write_mark(MARK, function(h) stats.drains = stats.drains + 1 end) == 0)
        produce(self, stats)
        finish(self, stats)
        self:close(1000, "all sent")
      end,
    } },
  })
  print("listening " .. app:listen(math.tointeger(args.port) or 0, "127.0.0.1"))
  io.stdout:flush()
  eddy.start()
end
