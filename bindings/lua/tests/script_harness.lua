-- What the Lua scripts that Python tests drive share: their "--name value" arguments, a watchdog
-- that ends a stuck run (a hang must fail the test, not stall it), and results written as one
-- JSON line each on stdout (flushed: the test reads them as they come).
--   local harness = require("tests.script_harness")
--   local args = harness.args()
--   harness.watchdog("my_script.lua", 30)
--   harness.emit({name = "case", ok = true})
local eddy = require("eddy")

local M = {}

function M.args()
  local args = {}
  for i = 1, #arg - 1 do
    if arg[i]:sub(1, 2) == "--" then args[arg[i]:sub(3)] = arg[i + 1] end
  end
  return args
end

function M.watchdog(script, seconds)
  eddy.call_later(seconds, function()
    io.stderr:write(("%s: gave up after %d s\n"):format(script, seconds))
    os.exit(3)
  end)
end

function M.emit(t)
  print(eddy.json.encode(t))
  io.stdout:flush()
end

-- emit() for a named scenario: the line carries `name`.
function M.emit_named(name, t)
  t.name = name
  M.emit(t)
end

return M
