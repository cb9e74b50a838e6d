-- HTTP utilities for Lua (Tornado's httputil): HTTPHeaders, the header multimap of the HTTP
-- client's responses.
local httputil = {}

-- Header lines in order, repeated names kept; names are case-insensitive. A response's headers,
-- or a request's (fetch accepts one as `headers`).
-- headers:get(name [, default]) → the values joined with "," (Tornado's h[name]), or default;
-- headers:get_list(name) → every value; headers:get_all() → an iterator of name, value;
-- headers:add(name, value) appends a line; headers["Content-Type"] is
-- headers:get("Content-Type") (a header named like a method — add, get... — needs get).
local HTTPHeaders = {}
local header_methods = {}
HTTPHeaders.__index = function(h, key)
  local m = header_methods[key]
  if m then return m end
  if type(key) == "string" then return header_methods.get(h, key) end
end
httputil.HTTPHeaders_class = HTTPHeaders

function header_methods.add(h, name, value)
  local list = rawget(h, "_list")
  list[#list + 1] = { name, value }
  local key = name:lower()
  local by_name = rawget(h, "_by_name")
  local values = by_name[key]
  if not values then values = {}; by_name[key] = values end
  values[#values + 1] = value
end
function header_methods.get(h, name, default)
  local values = rawget(h, "_by_name")[name:lower()]
  if not values then return default end
  return table.concat(values, ",")
end
function header_methods.get_list(h, name)
  local values = rawget(h, "_by_name")[name:lower()]
  return values and table.move(values, 1, #values, 1, {}) or {}
end
function header_methods.get_all(h)
  local list, i = rawget(h, "_list"), 0
  return function()
    i = i + 1
    local pair = list[i]
    if pair then return pair[1], pair[2] end
  end
end

-- A new HTTPHeaders, from an optional list of { name, value }.
function httputil.HTTPHeaders(pairs_list)
  local h = setmetatable({ _list = {}, _by_name = {} }, HTTPHeaders)
  for _, pair in ipairs(pairs_list or {}) do header_methods.add(h, pair[1], pair[2]) end
  return h
end

return httputil
