-- A Lua TCPServer for test_tcp.py. Usage:
--   lua5.4 tcp_server.lua --port 0 [--unix PATH] [--cert FILE --key FILE [--client-ca FILE]]
-- Prints "listening <port>", then "stoppable <port>" (a second server that stops itself), then
-- one JSON line per event the test waits for (harness.emit). With --cert and --key the first
-- server speaks TLS (ssl_options; --client-ca: it requires a client certificate signed by those
-- CAs) and the second is plain.
--
-- The client's first line picks the mode of its connection:
--   echo            greet "hello <address> <port> tls|plain", then read_until("\n") and write
--                   each line back; at the end emit "echo_end" with what the last read returned
--   bytes           read_bytes(5) (exact), answer "<data>", repeat
--   partial         read_bytes(100, true), answer "<data>", repeat
--   until_close     read_until_close, emit "until_close" (length, checksum, the close error)
--   limit           read_until("\n", 16): a longer line closes with EDDY_ETOOBIG; emit "limit"
--   regex           read_until_regex: a blank-line pattern (answer "<data>"), a bad and an
--                   empty pattern (errors), "x+" with a callback (answer "<data>"), then
--                   "[0-9]+;" with max_bytes 8: emit "regex" with all of it
--   idle <tag>      no read: set a close callback and emit "closed" (tag, err, code) from it
--   big <n> <size>  write n chunks of size bytes, each with a callback; emit "written"
--   mark <n> <size> the same under a write mark of size bytes, waiting for the drain
--   callbacks       echo one line with callback-style read and write, then close()
--   boom            raise in handle_stream
--   stats           answer the Lua registry size, after a full GC
local eddy = require("eddy")
local core = eddy.core
local harness = require("tests.script_harness")
local args = harness.args()
harness.watchdog("tcp_server.lua", 50)

local function emit(name, t)
  harness.emit_named(name, t)
end

-- A byte pattern the test can check: position i holds byte (i % 251).
local CYCLE = {}
for i = 0, 250 do CYCLE[#CYCLE + 1] = string.char(i) end
CYCLE = table.concat(CYCLE)
local function pattern(offset, size)
  local start = offset % 251
  return (CYCLE:rep(size // 251 + 2)):sub(start + 1, start + size)
end

local function sum(data)
  local s = 0
  for i = 1, #data do s = (s + data:byte(i)) % 1000000007 end
  return s
end

local modes = {}

function modes.echo(stream)
  while true do
    local line, err, code = stream:read_until("\n")
    if not line then
      emit("echo_end", { err = err, code = code, closed = stream:closed(), port = stream.peer_port })
      return
    end
    stream:write(line)
  end
end

local function answer_reads(stream, read)
  while true do
    local data = read()
    if not data then return end
    stream:write("<" .. data .. ">")
  end
end

function modes.bytes(stream)
  answer_reads(stream, function() return stream:read_bytes(5) end)
end

function modes.partial(stream)
  answer_reads(stream, function() return stream:read_bytes(100, true) end)
end

function modes.until_close(stream)
  local close = {}
  stream:set_close_callback(function(err, code) close.err, close.code = err or eddy.json.null, code end)
  local data, err, code = stream:read_until_close()
  eddy.sleep(0) -- the close callback runs right after the read's
  emit("until_close", { len = data and #data or -1, sum = data and sum(data) or -1,
                        err = err or eddy.json.null, code = code or 0,
                        close_err = close.err, close_code = close.code })
end

function modes.limit(stream)
  local close = {}
  stream:set_close_callback(function(err, code) close.err, close.code = err, code end)
  local line, err, code = stream:read_until("\n", 16)
  eddy.sleep(0)
  emit("limit", { line = line or eddy.json.null, err = err, code = code,
                  close_err = close.err, close_code = close.code, etoobig = core.EDDY_ETOOBIG })
end

function modes.regex(stream)
  local close = {}
  stream:set_close_callback(function(err, code) close.err, close.code = err, code end)
  local head = assert(stream:read_until_regex("\r?\n\r?\n"))
  stream:write("<" .. head .. ">")
  local _, bad = pcall(stream.read_until_regex, stream, "(")
  local _, empty = pcall(stream.read_until_regex, stream, "")
  stream:read_until_regex("x+", function(xs)
    stream:write("<" .. xs .. ">")
    local data, err, code = stream:read_until_regex("[0-9]+;", 8)
    eddy.sleep(0)
    emit("regex", { bad = bad, empty = empty, data = data or eddy.json.null, err = err,
                    code = code, close_code = close.code, etoobig = core.EDDY_ETOOBIG })
  end)
end

function modes.idle(stream, tag)
  stream:set_close_callback(function(err, code)
    emit("closed", { tag = tag, err = err or eddy.json.null, code = code })
  end)
  stream:write("ready\n")
end

function modes.big(stream, n, size)
  n, size = tonumber(n), tonumber(size)
  local done, ok = 0, 0
  local buffered_after_writes
  for i = 0, n - 1 do
    local rc = stream:write(pattern(i * size, size), function(success, err, code)
      done = done + 1
      if success then ok = ok + 1 end
      if done == n then
        emit("written", { done = done, ok = ok, buffered = buffered_after_writes,
                          left = stream:write_buffer_size() })
        stream:close()
      end
    end)
    assert(rc == 0, rc)
  end
  buffered_after_writes = stream:write_buffer_size()
end

function modes.mark(stream, n, size)
  n, size = tonumber(n), tonumber(size)
  local drains = 0
  assert(stream:set_write_mark(size, function() drains = drains + 1 end) == 0)
  local most = 0 -- the most the buffer held before a write
  local waited = 0
  for i = 0, n - 1 do
    if stream:write_buffer_size() > size then waited = waited + 1 end
    if not stream:wait_for_drain() then emit("mark", { closed_early = true }) return end
    most = math.max(most, stream:write_buffer_size())
    stream:write(pattern(i * size, size))
  end
  -- Everything out before the close (close() drops unsent bytes): wait for an empty buffer.
  stream:set_write_mark(0)
  local drained = stream:wait_for_drain()
  emit("mark", { most = most, mark = size, waited = waited, drains = drains, drained = drained,
                 left = stream:write_buffer_size() })
  stream:close()
end

function modes.callbacks(stream)
  stream:read_until("\n", function(line)
    stream:write("cb:" .. line, function(ok)
      emit("callbacks", { line = line, write_ok = ok, reading = stream:reading() })
      stream:close()
    end)
  end)
end

function modes.boom()
  error("boom in handle_stream")
end

function modes.stats(stream)
  collectgarbage()
  collectgarbage()
  stream:write(tostring(core.registry_size()) .. "\n")
end

local function handle_stream(stream, address, port)
  stream.peer_port = port -- for the events (a field of the test's own)
  local first, err = stream:read_until("\n", 200)
  if not first then return end
  local words = {}
  for w in first:gmatch("%S+") do words[#words + 1] = w end
  local mode = modes[words[1]]
  if not mode then
    stream:write("unknown mode\n")
    stream:close()
    return
  end
  if words[1] == "echo" then
    stream:write(("hello %s %d %s\n"):format(address, port, stream:is_tls() and "tls" or "plain"))
  end
  mode(stream, table.unpack(words, 2))
end

local opts
if args.cert then
  opts = { ssl_options = { certfile = args.cert, keyfile = args.key, ca_certs = args["client-ca"] } }
end
local server = eddy.TCPServer(handle_stream, opts)
print("listening " .. server:listen(tonumber(args.port) or 0, "127.0.0.1"))

-- The second server: its first connection stops it, then is served on (echo).
local stoppable
stoppable = eddy.TCPServer(function(stream)
  stoppable:stop()
  stoppable:stop() -- twice is harmless
  local ok, err = pcall(stoppable.listen, stoppable, 0, "127.0.0.1")
  stream:write("stopped " .. tostring(err):gsub("\n", " ") .. "\n")
  modes.echo(stream)
end)
print("stoppable " .. stoppable:listen(0, "127.0.0.1"))
if args.unix then server:bind_unix(args.unix) end
io.stdout:flush()
eddy.start()
