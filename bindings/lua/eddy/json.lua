-- Minimal JSON for the Lua binding: encode (tables, strings, numbers, booleans, eddy.json.null)
-- and decode (RFC 8259 text → Lua values; null → eddy.json.null). Tables with a non-empty
-- sequence part (or marked with json.array) encode as arrays, others as objects.
local json = {}

json.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = {}
-- Marks a table so that it encodes as an array even when empty.
function json.array(t) return setmetatable(t or {}, array_mt) end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local encode
local function encode_table(t, out, depth)
  if depth > 100 then error("json: nesting too deep") end
  if getmetatable(t) == array_mt or rawlen(t) > 0 or next(t) == nil and getmetatable(t) == array_mt then
    out[#out + 1] = "["
    for i = 1, rawlen(t) do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json: object keys must be strings") end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = encode_string(k)
    out[#out + 1] = ":"
    encode(t[k], out, depth + 1)
  end
  out[#out + 1] = "}"
end

function encode(v, out, depth)
  local tv = type(v)
  if v == nil or v == json.null then out[#out + 1] = "null"
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json: number not representable") end
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  elseif tv == "string" then out[#out + 1] = encode_string(v)
  elseif tv == "table" then encode_table(v, out, depth)
  else error("json: cannot encode a " .. tv) end
end

-- Returns the JSON text for `v`; raises on values JSON cannot hold.
function json.encode(v)
  local out = {}
  encode(v, out, 0)
  return table.concat(out)
end

-- ---- decoding -------------------------------------------------------------------------------
local decode_value
local function skip(s, i) return s:find("[^ \t\r\n]", i) or #s + 1 end
local function fail(s, i, what) error(string.format("json: %s at byte %d", what, i), 0) end

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then fail(s, j, "unterminated string") end
    if c == '"' then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local simple = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" })[e]
      if simple then out[#out + 1] = simple; j = j + 2
      elseif e == "u" then
        local hex = s:match("^%x%x%x%x", j + 2)
        if not hex then fail(s, j, "bad \\u escape") end
        local cp = tonumber(hex, 16); j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = s:match("^\\u(%x%x%x%x)", j)
          if lo then
            local low = tonumber(lo, 16)
            if low >= 0xDC00 and low <= 0xDFFF then
              cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00); j = j + 6
            end
          end
        end
        out[#out + 1] = utf8.char(cp)
      else fail(s, j, "bad escape") end
    elseif c:byte() < 32 then fail(s, j, "control character in string")
    else
      local k = s:find('["\\%c]', j) or #s + 1
      out[#out + 1] = s:sub(j, k - 1); j = k
    end
  end
end

function decode_value(s, i, depth)
  if depth > 100 then fail(s, i, "nesting too deep") end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
      local k; k, i = decode_string(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      obj[k], i = decode_value(s, i + 1, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr = json.array()
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = decode_value(s, i, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return arr, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return json.null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if not num or num == "" or not tonumber(num) then fail(s, i, "unexpected character") end
    return math.tointeger(tonumber(num)) or tonumber(num), i + #num
  end
end

-- Returns the value of JSON text `s`, or nil and an error message.
function json.decode(s)
  local ok, v, i = pcall(decode_value, s, 1, 0)
  if not ok then return nil, v end
  if skip(s, i) <= #s then return nil, "json: trailing data at byte " .. i end
  return v
end

return json
