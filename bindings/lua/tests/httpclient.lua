-- Drives eddy.AsyncHTTPClient against an eddy app served from the same loop (plain and TLS)
-- and against raw servers run by test_httpclient.py, and prints one JSON line per scenario
-- (checked there), then "done". Usage:
--   lua5.4 httpclient.lua --capture PORT --silent PORT --refused PORT --certs DIR
-- capture: a raw server that records each request and answers 200 with two Set-Cookie lines;
-- silent: accepts connections and never answers; refused: nothing listens; DIR: tls_certs'
-- files (self.crt/key; ca.crt and other.crt/key for hostname_mapping).
local eddy = require("eddy")
local core, json = eddy.core, eddy.json

local harness = require("tests.script_harness")
local args = harness.args()

harness.watchdog("httpclient.lua", 40)

local emit = harness.emit_named

local BIG = string.rep("0123456789abcdef", 625) -- 10000 bytes
local TEXT = string.rep("eddy compresses this text. ", 200)

local base -- the plain app's URL
local handlers = {
  { "/echo", {
    get = function(self)
      self:add_header("X-Multi", "one")
      self:add_header("X-Multi", "two")
      self:write({ method = self:method(), x_test = self:header("X-Test") or json.null,
                   user_agent = self:header("User-Agent") or json.null })
    end,
    post = function(self)
      self:write({ method = self:method(), body = self:body(), type = self:header("Content-Type") or json.null,
                   expect = self:header("Expect") or json.null })
    end,
    put = function(self) self:write({ method = self:method(), body = self:body() }) end,
  } },
  { "/redirect", { get = function(self) self:redirect("/echo") end,
                   post = function(self) self:redirect("/echo", 303) end } },
  { "/loop", { get = function(self) self:redirect("/loop") end } },
  { "/big", { get = function(self) self:write(BIG) end } },
  { "/text", { get = function(self) self:set_header("Content-Type", "text/plain"); self:write(TEXT) end } },
  { "/sleep", { get = function(self) eddy.sleep(0.3); self:write("slept") end } },
  -- A handler method is a coroutine: it may fetch (here from the plain app) and answer with it.
  { "/proxy", { get = function(self)
    local r = eddy.AsyncHTTPClient():fetch(base .. "/echo", { headers = { ["X-Test"] = "via proxy" } })
    self:write(r.body)
  end } },
  -- Three flushed pieces 50 ms apart; a piece then 1.5 s of silence (a stalled server).
  { "/pieces", { get = function(self)
    for i = 0, 2 do self:write("piece" .. i .. ";"); self:flush(); eddy.sleep(0.05) end
  end } },
  { "/stall", { get = function(self) self:write("first;"); self:flush(); eddy.sleep(1.5); self:write("late") end } },
  { "/scheme", { get = function(self) self:write(core.eddy_request_scheme(self:request())) end } },
  { "/seen", { get = function(self)
    self:write({ host = self:header("Host"), uri = self:uri(), scheme = core.eddy_request_scheme(self:request()) })
  end } },
}
local app = eddy.Application(handlers, { compress_response = true })
local port = app:listen(0, "127.0.0.1")
base = "http://127.0.0.1:" .. port
local tls_app = eddy.Application(handlers)
local tls_port = tls_app:listen(0, "127.0.0.1", { ssl_options = {
  certfile = args.certs .. "/self.crt", keyfile = args.certs .. "/self.key" } })
local tls_base = "https://127.0.0.1:" .. tls_port
-- For hostname_mapping over https: other.crt (tls_certs' CA) carries the name other.test only.
local named_app = eddy.Application(handlers)
local named_port = named_app:listen(0, "127.0.0.1", { ssl_options = {
  certfile = args.certs .. "/other.crt", keyfile = args.certs .. "/other.key" } })
local silent = "http://127.0.0.1:" .. args.silent .. "/"
local refused = "http://127.0.0.1:" .. args.refused .. "/"

-- A response or an error as JSON-able facts.
local function facts(r)
  if eddy.httpclient.is_error(r) then
    return { raised = true, code = r.code, message = r.message, eddy_code = r.eddy_code or json.null,
             detail = r.detail or json.null,
             text = tostring(r), response_code = r.response and r.response.code or json.null }
  end
  return { code = r.code, reason = r.reason, body = r.body, effective_url = r.effective_url,
           redirects = r.redirects, reused = r.connection_reused,
           error_code = r.error and r.error.code or json.null,
           error_eddy_code = r.error and r.error.eddy_code or json.null,
           error_text = r.error and tostring(r.error) or json.null,
           location = r.headers:get("location") or json.null,
           content_encoding = r.headers:get("Content-Encoding") or json.null }
end

-- fetch in a coroutine, catching what it raises.
local function try(client, url, opts)
  local ok, r = pcall(client.fetch, client, url, opts)
  return facts(r)
end

-- The error fn() raises, as a string ("no error" when it raises none).
local function raised(fn)
  local ok, e = pcall(fn)
  return ok and "no error" or tostring(e)
end

-- fetch with a callback; waits for the response.
local function with_callback(client, url, opts)
  local fut = eddy.Future()
  client:fetch(url, opts, function(r) fut:set_result(r) end)
  return fut:wait()
end

local stat = io.open("/proc/self/stat")
local PID = stat:read("*l"):match("^(%d+)")
stat:close()
local function fd_count()
  local p = io.popen("ls /proc/" .. PID .. "/fd | wc -l")
  local n = tonumber(p:read("*l"))
  p:close()
  return n
end

-- Without a callback, fetch must run in a coroutine: here (the main chunk) it raises.
local outside_error = select(2, pcall(function() eddy.AsyncHTTPClient():fetch(base .. "/echo") end))
outside_error = tostring(outside_error)

local scenarios = {}

function scenarios.basics(client)
  local r = client:fetch(base .. "/echo", { headers = { ["X-Test"] = "hdr-1" }, user_agent = "lua-test/1" })
  local out = facts(r)
  out.json = json.decode(r.body)
  out.multi = r.headers:get("x-multi")
  out.multi_list = r.headers:get_list("X-MULTI")
  out.index = r.headers["content-type"]
  out.missing = r.headers:get("X-None", "dflt")
  local names = {}
  for name in r.headers:get_all() do names[#names + 1] = name end
  out.names = names
  r = client:fetch(base .. "/echo", { method = "post", body = "a=1&b=2",
                                       headers = { { "Content-Type", "application/x-www-form-urlencoded" } } })
  out.post = json.decode(r.body)
  out.post_reused = r.connection_reused
  out.expect = json.decode(client:fetch(base .. "/echo", { method = "POST", body = "e", expect_100_continue = true }).body)
  local req = eddy.HTTPRequest(base .. "/echo", { method = "PUT", body = "put body" })
  out.put = json.decode(client:fetch(req).body)
  out.proxy = json.decode(client:fetch(base .. "/proxy").body)
  local h = eddy.HTTPHeaders()
  h:add("X-Test", "from HTTPHeaders")
  out.headers_object = json.decode(client:fetch(base .. "/echo", { headers = h }).body).x_test
  out.shared_same = eddy.AsyncHTTPClient() == client
  out.forced_differs = eddy.AsyncHTTPClient({ force_instance = true }) ~= client
  emit("basics", out)
end

-- The raw capture server sees the request exactly as sent; repeated response headers are kept.
function scenarios.capture(client)
  local r = client:fetch("http://127.0.0.1:" .. args.capture .. "/cap?q=1",
                         { method = "POST", body = "raw body \0 bytes", headers = { ["X-Cap"] = "c1" } })
  emit("capture", { code = r.code, body = r.body, cookies = r.headers:get_list("set-cookie"),
                    joined = r.headers:get("Set-Cookie") })
end

function scenarios.redirects(client)
  emit("redirects", {
    followed = facts(client:fetch(base .. "/redirect")),
    post_303 = facts(client:fetch(base .. "/redirect", { method = "POST", body = "x" })),
    not_followed = try(client, base .. "/redirect", { follow_redirects = false, raise_error = false }),
    not_followed_raises = try(client, base .. "/redirect", { follow_redirects = false }),
    too_many = try(client, base .. "/loop", { max_redirects = 2, raise_error = false }),
  })
end

function scenarios.not_found(client)
  local cb = with_callback(client, base .. "/nothing")
  emit("not_found", {
    raised = try(client, base .. "/nothing"),
    response = try(client, base .. "/nothing", { raise_error = false }),
    callback = facts(cb),
    callback_rethrow = (function() local ok, e = pcall(cb.rethrow, cb); return not ok and e.code end)(),
  })
end

function scenarios.failures(client)
  -- connect_timeout counts the wait for a free slot: with max_clients = 1 busy for 2 s, a queued
  -- request with connect_timeout = 0.3 (and no request timeout) fails before it gets one.
  local busy = eddy.AsyncHTTPClient({ force_instance = true, max_clients = 1 })
  busy:fetch(silent, { request_timeout = 2 }, function() end)
  local queued_timeout = try(busy, base .. "/echo", { connect_timeout = 0.3, request_timeout = 0 })
  busy:close()
  local t0 = eddy.time()
  local timeout = try(client, silent, { request_timeout = 0.5 })
  local waited = eddy.time() - t0
  emit("failures", {
    refused = try(client, refused),
    refused_callback = facts(with_callback(client, refused)),
    timeout = timeout, timeout_waited = waited,
    connect_timeout = queued_timeout,
    too_big = try(client, base .. "/big", { max_body_size = 1000 }),
    big_ok = #client:fetch(base .. "/big", { max_body_size = 10000 }).body,
    client_limit = try(eddy.AsyncHTTPClient({ force_instance = true, max_body_size = 500 }), base .. "/big"),
    bad_url = try(client, "http://[::1/x"),
    codes = { ECONNREFUSED = core.EDDY_ECONNREFUSED, ETIMEDOUT = core.EDDY_ETIMEDOUT,
              ETOOBIG = core.EDDY_ETOOBIG, ECANCELED = core.EDDY_ECANCELED, ETLS = core.EDDY_ETLS,
              EBUSY = core.EDDY_EBUSY, EINVAL = core.EDDY_EINVAL, ENOENT = core.EDDY_ENOENT },
  })
end

function scenarios.gzip(client)
  local decoded = client:fetch(base .. "/text")
  -- Without decoding eddy does not ask for gzip (as Tornado); asked explicitly, it stays encoded.
  local raw = client:fetch(base .. "/text", { decompress_response = false,
                                             headers = { ["Accept-Encoding"] = "gzip" } })
  local plain = client:fetch(base .. "/text", { decompress_response = false })
  emit("gzip", { decoded_ok = decoded.body == TEXT, decoded_len = #decoded.body,
                 decoded_encoding = decoded.headers:get("Content-Encoding") or json.null,
                 decoded_consumed = decoded.headers:get("X-Consumed-Content-Encoding") or json.null,
                 raw_magic = string.format("%02x%02x", raw.body:byte(1, 2)), raw_len = #raw.body,
                 raw_encoding = raw.headers:get("Content-Encoding") or json.null,
                 text_len = #TEXT, plain_ok = plain.body == TEXT,
                 plain_encoding = plain.headers:get("Content-Encoding") or json.null })
end

function scenarios.https(client)
  local self_crt = args.certs .. "/self.crt"
  local out = {
    no_validate = try(client, tls_base .. "/scheme", { validate_cert = false }),
    ca_certs = try(client, tls_base .. "/scheme", { ca_certs = self_crt }),
    default = try(client, tls_base .. "/scheme"),
    validate_true = try(client, tls_base .. "/scheme", { validate_cert = true }),
  }
  local ok, err = pcall(client.fetch, client, tls_base .. "/", { ca_certs = args.certs .. "/missing.pem" })
  out.missing_ca = ok and "fetched" or tostring(err)
  ok, err = pcall(client.fetch, client, tls_base .. "/", { client_key = self_crt })
  out.key_without_cert = ok and "fetched" or tostring(err)
  emit("https", out)
end

function scenarios.cancel(client)
  local out = {}
  -- close() with a callback fetch and a waiting coroutine in flight: both get 599 ECANCELED
  -- during the call.
  local c = eddy.AsyncHTTPClient({ force_instance = true })
  local got = {}
  c:fetch(silent, { request_timeout = 10 }, function(r) got.callback = facts(r) end)
  eddy.spawn(function() got.coroutine = try(c, silent, { request_timeout = 10 }) end)
  eddy.sleep(0.2)
  out.active_before = c:active_count()
  c:close()
  out.during_close = got
  out.active_after = c:active_count()
  out.after_close = try(c, base .. "/echo")
  c:close()
  -- A handle's cancel(): the response follows with 599 ECANCELED.
  local fut = eddy.Future()
  local h = client:fetch(silent, { request_timeout = 10 }, function(r) fut:set_result(r) end)
  out.cancel_rc = h:cancel()
  out.cancelled = facts(fut:wait())
  out.cancel_again = h:cancel()
  out.handle_done = h:done()
  -- max_clients = 1, max_queue = 0: a second concurrent request is refused (EBUSY).
  local limited = eddy.AsyncHTTPClient({ force_instance = true, max_clients = 1, max_queue = 0 })
  local f1, f2 = eddy.Future(), eddy.Future()
  limited:fetch(base .. "/sleep", function(r) f1:set_result(facts(r)) end)
  limited:fetch(base .. "/sleep", function(r) f2:set_result(facts(r)) end)
  out.limited = { f1:wait(), f2:wait() }
  limited:close()
  emit("cancel", out)
end

function scenarios.streaming(client)
  local chunks, lines = {}, {}
  local r = client:fetch(base .. "/big", { decompress_response = false,
    streaming_callback = function(chunk) chunks[#chunks + 1] = chunk end,
    header_callback = function(line) lines[#lines + 1] = line end })
  local failing = try(client, base .. "/big", { streaming_callback = function() error("stop here") end })
  emit("streaming", { body = r.body, streamed_ok = table.concat(chunks) == BIG, chunks = #chunks,
                      first_line = lines[1] or json.null, last_line = lines[#lines] or json.null,
                      has_length = (function()
                        for _, l in ipairs(lines) do if l:lower() == "content-length: 10000\r\n" then return true end end
                        return false end)(),
                      failing = failing })
end

-- Flow control of a streamed body: a streaming_callback that yields holds the later pieces
-- until it returns; the handle's pause_body/resume_body do the same from a timer; read_timeout
-- ends a fetch whose server stalls, but not one whose consumer is slow (paused).
function scenarios.flow(client)
  local out = {}
  local events = {}
  local r = client:fetch(base .. "/pieces", { decompress_response = false,
    streaming_callback = function(chunk)
      events[#events + 1] = chunk
      if #events == 1 then eddy.sleep(0.3); events[#events + 1] = "resumed" end
    end })
  out.yielding = { code = r.code, events = events }
  local got, fut, h = {}, eddy.Future(), nil
  h = client:fetch(base .. "/pieces", { decompress_response = false,
    streaming_callback = function(chunk)
      got[#got + 1] = chunk
      if #got == 1 then
        out.pause_rc = h:pause_body()
        eddy.call_later(0.3, function() got[#got + 1] = "resumed"; out.resume_rc = h:resume_body() end)
      end
    end }, function(resp) fut:set_result(resp) end)
  out.handle = { code = fut:wait().code, events = got, after_pause = h:pause_body() }
  local t0 = eddy.time()
  out.stalled = try(client, base .. "/stall", { decompress_response = false, read_timeout = 0.3,
                                                request_timeout = 5 })
  out.stalled_took = eddy.time() - t0
  local slow = {}
  local s = client:fetch(base .. "/pieces", { decompress_response = false, read_timeout = 0.3,
    streaming_callback = function(chunk) slow[#slow + 1] = chunk; eddy.sleep(0.5) end })
  out.slow = { code = s.code, body = table.concat(slow) }
  emit("flow", out)
end

function scenarios.errors(client)
  local out = {}
  local function err_of(fn)
    local ok, e = pcall(fn)
    return ok and "no error" or tostring(e)
  end
  out.outside = outside_error
  out.unknown_option = err_of(function() client:fetch(base .. "/echo", { methd = "GET" }) end)
  out.bad_type = err_of(function() client:fetch(base .. "/echo", { request_timeout = "soon" }) end)
  out.bad_header = err_of(function() client:fetch(base .. "/echo", { headers = { ["X-A"] = "a\r\nb" } }) end)
  -- A NUL in the URL (C reads it NUL-terminated) is refused, not fetched cut short (/echo).
  out.nul_url = err_of(function() client:fetch(base .. "/echo\0/elsewhere") end)
  out.unknown_client_option = err_of(function() eddy.AsyncHTTPClient({ max_client = 1 }) end)
  local d = eddy.AsyncHTTPClient({ force_instance = true, defaults = { headers = { ["X-Test"] = "from defaults" } } })
  out.defaults = json.decode(d:fetch(base .. "/echo").body).x_test
  out.defaults_overridden = json.decode(d:fetch(base .. "/echo", { headers = { ["X-Test"] = "own" } }).body).x_test
  d:close()
  emit("errors", out)
end

-- Streamed request bodies (Tornado's body_producer): chunked and with a Content-Length to the
-- capture server (test_httpclient.py checks the framing and the bytes it received), echoed by
-- the eddy app in callback mode, and the producer's failures.
local PIECES = { "first piece|", string.rep("0123456789", 7000), "|binary \0 bytes|", "last" }
local PRODUCED = table.concat(PIECES)

-- A body_producer writing `pieces`, pausing `pause` seconds between them (each write then goes
-- out as its own chunk); it records what write returned in `log` when given.
local function producer(pieces, pause, log)
  return function(write)
    for i, piece in ipairs(pieces) do
      if i > 1 and pause then eddy.sleep(pause) end
      local ok = write(piece)
      if log then log[#log + 1] = ok end
    end
  end
end

function scenarios.producer(client)
  local cap = "http://127.0.0.1:" .. args.capture
  local total = tostring(#PRODUCED)
  local out = {
    chunked = facts(client:fetch(cap .. "/produce/chunked", { method = "POST", body_producer = producer(PIECES, 0.05) })),
    fixed = facts(client:fetch(cap .. "/produce/fixed", { method = "PUT", headers = { { "Content-Length", total } },
                                                          body_producer = producer(PIECES, 0.05) })),
    produced_len = #PRODUCED,
  }
  -- In callback mode, to a Lua server, through a reusable HTTPRequest.
  local req = eddy.HTTPRequest(base .. "/echo", { method = "POST", body_producer = producer({ "a", "b", "c" }, 0) })
  out.echo = json.decode(with_callback(client, req).body).body
  out.echo_again = json.decode(client:fetch(req).body).body
  out.too_much = try(client, base .. "/echo", { method = "POST", headers = { ["Content-Length"] = "3" },
                                                 body_producer = producer({ "abcd" }) })
  out.too_few = try(client, base .. "/echo", { method = "POST", headers = { ["Content-Length"] = "10" },
                                                body_producer = producer({ "abc" }) })
  out.raising = try(client, base .. "/echo", { method = "POST",
                                                body_producer = function(write) write("x"); error("producer broke") end })
  -- The request ends (a timeout) while the producer sleeps: its next write returns false.
  local log, finished = {}, eddy.Future()
  out.timeout = try(client, silent, { method = "POST", request_timeout = 0.3, body_producer = function(write)
    producer({ "a", "b" }, 0.6, log)(write)
    finished:set_result(true)
  end })
  finished:wait()
  out.writes_after_end = log
  out.both = raised(function() client:fetch(base .. "/echo", { body = "b", body_producer = producer({}) }) end)
  out.bad_length = raised(function()
    client:fetch(base .. "/echo", { method = "POST", headers = { ["Content-Length"] = "many" }, body_producer = producer({}) })
  end)
  emit("producer", out)
end

-- flush_body paces a body_producer by the server: 32 pieces of 1 MiB to the stall server of
-- test_httpclient.py, which reads nothing for its first 2 seconds, then the whole body (it
-- checks its length and CRC). Without the wait all 32 were written at once, into memory.
local FLUSH_PIECE, FLUSH_PIECES = 1024 * 1024, 32
function scenarios.flush(client)
  local out, written, flushes, produced = {}, 0, 0, eddy.Future()
  eddy.call_later(1, function() out.written_at_one_second = written end)
  local response = client:fetch("http://127.0.0.1:" .. args.stall .. "/flush", {
    method = "POST", request_timeout = 30,
    headers = { ["Content-Length"] = tostring(FLUSH_PIECE * FLUSH_PIECES) },
    body_producer = function(write, flush_body)
      for i = 0, FLUSH_PIECES - 1 do
        if not write(string.rep(string.char(65 + i % 26), FLUSH_PIECE)) then return end
        written = written + 1
        if flush_body() then flushes = flushes + 1 end
      end
      produced:set_result(true)
    end })
  -- The response may come before the last flush_body resumes the producer (the server answers
  -- once it read everything): wait for the producer's end.
  produced:wait()
  out.code, out.written, out.flushes = response.code, written, flushes
  -- A request that ends while the producer waits in flush_body: it returns false, and so
  -- does a later one.
  local after, finished = {}, eddy.Future()
  local ended = try(client, silent, { method = "POST", request_timeout = 0.3, body_producer = function(write, flush_body)
    write(string.rep("x", 32 * 1024 * 1024))
    after[1] = flush_body()
    after[2] = flush_body()
    finished:set_result(true)
  end })
  finished:wait()
  out.ended_code, out.flush_after_end = ended.code, after
  emit("flush", out)
end

-- hostname_mapping: mapped names reach the capture server (which records the request line and
-- Host it got) and the plain app; an https URL is checked against its own name.
function scenarios.mapping()
  local mapped = eddy.AsyncHTTPClient({ force_instance = true, hostname_mapping = {
    ["mapped.invalid"] = "127.0.0.1", ["PAIRED.invalid:80"] = "127.0.0.1:" .. port,
    ["other.test"] = "127.0.0.1", ["wrong.test"] = "127.0.0.1" } })
  -- The outcome, never raised (a broken mapping must fail this scenario only), and what the
  -- app's /seen reported.
  local function seen(url, opts)
    local o = { raise_error = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    local r = mapped:fetch(url, o)
    return { code = r.code, effective_url = r.effective_url, body = r.body,
             seen = r.code == 200 and r.body:sub(1, 1) == "{" and json.decode(r.body) or json.null }
  end
  local cap_url = "http://mapped.invalid:" .. args.capture .. "/map/target?q=1"
  local ca = { ca_certs = args.certs .. "/ca.crt" }
  emit("mapping", {
    capture = seen(cap_url), capture_url = cap_url,
    paired = seen("http://paired.invalid/seen"),
    redirected = seen("http://paired.invalid/redirect"),
    https = seen("https://other.test:" .. named_port .. "/seen", ca),
    https_url = "https://other.test:" .. named_port .. "/seen",
    wrong_name = try(mapped, "https://wrong.test:" .. named_port .. "/seen", ca),
    bad = raised(function() eddy.AsyncHTTPClient({ force_instance = true, hostname_mapping = { a = "b:port" } }) end),
  })
  mapped:close()
end

-- unix_socket: the raw Unix-socket server (--unix) gets the URL's target and Host; a missing
-- path fails with EDDY_ENOENT; a path no sockaddr_un holds is an error at fetch.
function scenarios.unix(client)
  emit("unix", {
    ok = try(client, "http://docker.invalid/v1.43/info?all=1", { unix_socket = args.unix }),
    missing = try(client, "http://docker.invalid/", { unix_socket = args.unix .. ".missing" }),
    too_long = raised(function() client:fetch("http://docker.invalid/", { unix_socket = "/" .. ("a"):rep(200) }) end),
  })
end

-- auth_username / auth_password (auth_mode "basic") to the capture server, which reports the
-- Authorization lines it received.
function scenarios.auth(client)
  local cap = "http://127.0.0.1:" .. args.capture
  local out = {}
  out.basic = client:fetch(cap .. "/auth/basic", { auth_username = "Aladdin", auth_password = "open sesame" }).code
  out.replaces = client:fetch(cap .. "/auth/replaces", { auth_username = "user", auth_password = "p\xc3\xa4:ss",
    auth_mode = "basic", headers = { Authorization = "Bearer not-sent" } }).code
  out.no_password = client:fetch(cap .. "/auth/no_password", { auth_username = "only" }).code
  out.digest = raised(function() client:fetch(cap .. "/auth/digest", { auth_username = "u", auth_mode = "digest" }) end)
  out.digest_request = raised(function() eddy.HTTPRequest(cap .. "/", { auth_mode = "Digest" }) end)
  emit("auth", out)
end

-- Many clients that fetch and are then closed or dropped: the Lua registry comes back to its
-- size and the process's descriptors too (a dropped client's pooled connection is closed when
-- it is garbage-collected).
function scenarios.leak(client)
  local function cycle(i)
    local c = eddy.AsyncHTTPClient({ force_instance = true })
    c:fetch(base .. "/echo")
    with_callback(c, base .. "/big", { streaming_callback = function() end })
    local h = c:fetch(silent, function() end)
    h:cancel()
    try(c, base .. "/nothing")
    if i % 2 == 0 then c:close() end
  end
  -- Closing connections takes loop iterations (the server side sees the EOF, a cancelled
  -- connect finishes, a collected client's pool closes): settle until the count is down to
  -- the target, or without one until it has not changed for 0.5 s (one unchanged sample was
  -- not enough: CI once measured a "before" one descriptor above where it settled), within 3 s.
  local function settle(target)
    collectgarbage(); collectgarbage()
    local n, deadline, stable_since = fd_count(), eddy.time() + 3, eddy.time()
    while eddy.time() < deadline and n > (target or 0) do
      eddy.sleep(0.05)
      collectgarbage()
      local m = fd_count()
      if m ~= n then stable_since = eddy.time() end
      n = m
      if not target and eddy.time() - stable_since >= 0.5 then break end
    end
    return { registry = core.registry_size(), fds = n }
  end
  -- The cycles run in a coroutine of their own that ends before the count: a dead client
  -- must not stay reachable from a stale slot of the stack that measures.
  local function cycles(n)
    local fut = eddy.Future()
    eddy.spawn(function() for i = 1, n do cycle(i) end end, function(ok, tb) fut:set_result(ok, tb) end)
    assert(fut:wait())
  end
  cycles(5)
  local before = settle()
  cycles(30)
  local peak = fd_count()
  local after = settle(before.fds)
  emit("leak", { before = before, after = after, peak = peak })
end

eddy.spawn(function()
  local client = eddy.AsyncHTTPClient()
  local only = args.only
  for _, name in ipairs({ "basics", "capture", "redirects", "not_found", "failures", "gzip", "https",
                          "cancel", "streaming", "flow", "producer", "flush", "mapping", "unix", "auth", "errors", "leak" }) do
    if not only or only == name then scenarios[name](client) end
  end
  print("done")
  io.stdout:flush()
  os.exit(0)
end, function(ok, tb)
  if not ok then
    io.stderr:write("httpclient.lua: ", tostring(tb), "\n")
    os.exit(2)
  end
end)
eddy.start()
