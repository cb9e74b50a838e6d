-- The Lua WebSocket server of the handshake and client tests: origin checks, subprotocol
-- selection, on_pong, keep-alive pings, compression (and its level), message-size settings (per route and
-- from the application's websocket_* settings) and max_message_memory. Usage: lua5.4 ws_server.lua --port 0 ;
-- prints "listening <port>".
local eddy = require("eddy")

local port = 0
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

local stats = { closed = 0, last_code = 0, last_reason = "", budget_codes = {} }

-- Echo with a few commands, shared by most routes.
local function echo(self, data, binary)
  if data == "close" then return self:close(4000, "asked to") end
  if data:sub(1, 5) == "ping:" then return self:ping(data:sub(6)) end
  if data == "boom" then error("ws boom") end
  self:write_message(data, binary)
end
local function on_close(self)
  stats.closed = stats.closed + 1
  stats.last_code, stats.last_reason = self.close_code, self.close_reason
end
local function greet(self)
  self:write_message("open " .. self:path() .. " subprotocol=" .. self:selected_subprotocol())
end
local function ws(extra)
  local t = { open = greet, on_message = echo, on_close = on_close }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

-- A negative max_message_memory is refused when the route is added (on a scratch application).
do
  local scratch = eddy.Application({})
  local ok, err = pcall(scratch.add_route, scratch, "/ws/bad", ws(), { websocket = { max_message_memory = -1 } })
  stats.negative_memory = ok and "accepted" or tostring(err)
  scratch:close()
end

-- Options that would be ignored otherwise are refused when the route is added, the application
-- left without the route: a misspelt name, a value of another type, a negative or NaN size or
-- timeout (a route's or an application setting's).
do
  local errors = {}
  for i, bad in ipairs({ { websocket = { max_mesage_size = 10 } }, { websocket = { ping_interval = "5" } },
                         { websocket = { max_message_size = -1 } }, { websocket = { close_timeout = 0 / 0 } },
                         { websocket = { ping_timeout = -1 } } }) do
    local scratch = eddy.Application({})
    local ok, err = pcall(scratch.add_route, scratch, "/ws/badopt" .. i, ws(), bad)
    errors[i] = ok and "accepted" or tostring(err)
    scratch:close()
  end
  local ok, err = pcall(eddy.Application, { { "/ws/badsetting", ws() } }, { websocket_ping_interval = -5 })
  errors[#errors + 1] = ok and "accepted" or tostring(err)
  stats.bad_options = errors
end

-- Out-of-range compression levels are refused when the route is added: the errors, in order.
do
  local scratch, errors = eddy.Application({}), {}
  for i, bad in ipairs({ { compression_level = 10 }, { compression_level = -2 }, { mem_level = 10 },
                         { mem_level = -1 }, { compression_level = 1.5 }, { mem_level = "x" } }) do
    local ok, err = pcall(scratch.add_route, scratch, "/ws/badlevel" .. i, ws(), { websocket = { compression = bad } })
    errors[i] = ok and "accepted" or tostring(err)
  end
  stats.bad_levels = errors
  scratch:close()
end

local app = eddy.Application({
  { "/ws/plain", ws() },
  { "/ws/headers", ws({ open = function(self)
      self:write_message("x-test=" .. tostring(self:header("X-Test")) .. " cookie=" .. tostring(self:get_cookie("c")))
    end }) },
  { "/ws/origin", ws({ check_origin = function(self, origin)
      return origin == "http://trusted.example" or self:default_check_origin(origin)
    end }) },
  { "/ws/origin_error", ws({ check_origin = function(self, origin) error("origin boom") end }) },
  { "/ws/origin_httperror", ws({ check_origin = function(self, origin) error(eddy.HTTPError(401)) end }) },
  { "/ws/sub", ws({ select_subprotocol = function(self, protocols)
      for _, p in ipairs(protocols) do if p == "chat" or p == "superchat" then return p end end
      return nil
    end }) },
  { "/ws/sub_error", ws({ select_subprotocol = function(self, protocols) error("subprotocol boom") end }) },
  { "/ws/sub_bogus", ws({ select_subprotocol = function(self, protocols) return "not-offered" end }) },
  { "/ws/pong", ws({ on_pong = function(self, data)
      if data == "fail" then error("pong boom") end
      self:write_message("pong:" .. data)
    end }) },
  -- Keep-alive pings from the route's options: the first pong the client answers is reported.
  { "/ws/keepalive", ws({ on_pong = function(self, data)
      if not self.pong_seen then self.pong_seen = true; self:write_message("keepalive pong") end
    end }), { websocket = { ping_interval = 0.05, ping_timeout = 5 } } },
  { "/ws/deflate", ws(), { websocket = { compression = { server_no_context_takeover = true } } } },
  { "/ws/nodeflate", ws(), { websocket = { compression = false } } },
  -- Plain echoes of big messages (no greeting): compression level 0 (stored blocks) and, from
  -- the application's websocket_compression, zlib's default level.
  { "/ws/stored", ws({ open = function() end }),
    { websocket = { max_message_size = 1048576, compression = { compression_level = 0, mem_level = 1 } } } },
  { "/ws/deflate_big", ws({ open = function() end }), { websocket = { max_message_size = 1048576 } } },
  -- The application's websocket_max_message_size (2000) overridden per route.
  { "/ws/big", ws(), { websocket = { max_message_size = 5000 } } },
  -- Messages being received may hold 100,000 bytes over all of this route's connections; each
  -- may be up to 1 MiB, so only that bound refuses.
  { "/ws/budget", ws({ on_close = function(self)
      table.insert(stats.budget_codes, self.close_code)
    end }), { websocket = { max_message_size = 1048576, max_message_memory = 100000 } } },
  { "/stats", { get = function(self)
      collectgarbage("collect")
      self:write({ closed = stats.closed, last_code = stats.last_code, last_reason = stats.last_reason,
                   budget_closes = #stats.budget_codes,
                   budget_last_code = stats.budget_codes[#stats.budget_codes],
                   negative_memory = stats.negative_memory, bad_levels = stats.bad_levels,
                   bad_options = stats.bad_options,
                   registry = math.tointeger(eddy.core.registry_size()) })
    end } },
}, { websocket_max_message_size = 2000, websocket_compression = true })

port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
app:close()
