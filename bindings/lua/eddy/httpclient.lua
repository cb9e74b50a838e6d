-- The asynchronous HTTP client for Lua (Tornado's AsyncHTTPClient, HTTPRequest, HTTPResponse
-- and HTTPClientError) on eddy's C client (include/eddy/client.h: keep-alive pool per origin,
-- max_clients, redirects, gzip, timeouts, TLS).
--
--   local client = eddy.httpclient.AsyncHTTPClient()
--   -- in a handler method or an eddy.spawn coroutine:
--   local response = client:fetch("http://127.0.0.1:8888/", { headers = { ["X-A"] = "b" } })
--   print(response.code, response.headers:get("Content-Type"), response.body)
--   -- or with a callback, from anywhere on the loop's thread:
--   client:fetch(url, { method = "POST", body = "x" }, function(response) ... end)
--
-- As in Tornado, a response whose status is not 2xx carries `response.error` (an
-- HTTPClientError with that code), and a request that got no answer (refused connection,
-- timeout, TLS failure, body over max_body_size, client closed...) is a response with code 599
-- and `error` = HTTPClientError(599, eddy's message), whose `eddy_code` is the EDDY_E* code;
-- when eddy knows why (a TLS failure: "...: certificate verification: hostname mismatch") the
-- message ends with that detail, also in `error.detail`.
-- In a coroutine, fetch raises response.error unless raise_error = false; the callback always
-- gets the response.
--
-- Request options (Tornado's HTTPRequest names): method, headers ({ Name = value }, a list of
-- { name, value } or an HTTPHeaders), body (a string), body_producer(write) (a streamed body,
-- see below), auth_username / auth_password / auth_mode (only "basic": an Authorization:
-- Basic header), connect_timeout, request_timeout (seconds; default 20 each),
-- follow_redirects (default true), max_redirects (default 5), decompress_response (default
-- true: asks for gzip and decodes it), max_body_size, expect_100_continue, user_agent,
-- validate_cert, ca_certs, client_cert, client_key, streaming_callback(chunk) (the body is then
-- not kept), header_callback(line) (the final response's head, line by line:
-- "HTTP/1.1 200 OK\r\n", "Name: value\r\n", ..., "\r\n"); plus fetch's raise_error. An
-- error in either callback ends the request with 599. header_callback is a plain call (it must
-- not yield); streaming_callback runs as a coroutine: one that yields (eddy.sleep, a Future's
-- wait: a slow consumer) pauses the body until it returns — no further chunk, and the
-- connection is not read (eddy_fetch_pause_body), so the server is held back instead of the
-- body piling up. Not Tornado's: read_timeout (seconds the server may stay silent between
-- reads once the request went out, eddy_fetch_set_read_timeout; not counted while the body is
-- paused; over it 599 with eddy_code EDDY_ETIMEDOUT and detail "no data from the server ...").
-- Not Tornado's either: unix_socket (a path, "@name" for a Linux abstract socket; curl's
-- --unix-socket, eddy_fetch_set_unix_socket): the fetch connects to that Unix socket while the
-- URL gives scheme, Host and target; https runs TLS over it, checked against the URL's host; a
-- redirect within the origin stays on it; it wins over hostname_mapping and no proxy is used
-- for it. A missing path is 599 with eddy_code EDDY_ENOENT, nobody listening EDDY_ECONNREFUSED.
--
-- body_producer(write, flush_body) runs as a coroutine once the request started (it may
-- eddy.sleep, wait on Futures, fetch...): write(chunk) sends a piece of the body and returns
-- true, or false once the request has ended (the producer may just return); the body ends when
-- the producer returns. write never refuses bytes: what the connection did not take yet stays
-- in memory, so a producer faster than the server calls flush_body(), which suspends it until
-- everything written before reached the kernel (eddy_fetch_flush_body; Tornado's producer
-- awaiting write()) and returns true, or false once the request has ended:
--   body_producer = function(write, flush_body)
--     for piece in pieces do
--       if not (write(piece) and flush_body()) then return end -- the request ended
--     end
--   end With a Content-Length header it is sent with that length (writing more raises,
-- returning with fewer fails the request), else chunked — as Tornado's body_producer, whose
-- Future is here the coroutine's return. An error in the producer ends the request with 599.
local core = require("eddy.core")
local loop = require("eddy.loop")
local httputil = require("eddy.httputil")

local httpclient = { HTTPHeaders = httputil.HTTPHeaders }
local HTTPHeaders = httputil.HTTPHeaders_class

-- ---- HTTPClientError, HTTPResponse -----------------------------------------------------------
local HTTPClientError = {}
HTTPClientError.__index = HTTPClientError
HTTPClientError.__tostring = function(e) return "HTTP " .. e.code .. ": " .. e.message end
httpclient.HTTPClientError_class = HTTPClientError

-- A failed fetch (Tornado's HTTPClientError): `code` is the HTTP status, or 599 when no answer
-- arrived (then `eddy_code` is the EDDY_E* code, and `detail` what eddy knows beyond it, or
-- nil); `message`; `response` (may be nil).
function httpclient.HTTPClientError(code, message, response, eddy_code)
  return setmetatable({ code = code, message = message or ("HTTP " .. code), response = response,
                        eddy_code = eddy_code }, HTTPClientError)
end
-- True when `value` is an HTTPClientError.
function httpclient.is_error(value) return getmetatable(value) == HTTPClientError end

local HTTPResponse = {}
HTTPResponse.__index = HTTPResponse
httpclient.HTTPResponse_class = HTTPResponse
-- Raises response.error when there is one.
function HTTPResponse:rethrow() if self.error then error(self.error, 0) end end

-- ---- HTTPRequest -----------------------------------------------------------------------------
local REQUEST_OPTIONS = {
  method = "string", headers = "table", body = "string", body_producer = "function",
  auth_username = "string", auth_password = "string", auth_mode = "string", connect_timeout = "number",
  request_timeout = "number", read_timeout = "number", follow_redirects = "boolean", max_redirects = "number",
  decompress_response = "boolean", max_body_size = "number", expect_100_continue = "boolean",
  user_agent = "string", validate_cert = "boolean", ca_certs = "string", client_cert = "string",
  client_key = "string", streaming_callback = "function", header_callback = "function",
  unix_socket = "string",
}
local HTTPRequest = {}
HTTPRequest.__index = HTTPRequest
httpclient.HTTPRequest_class = HTTPRequest

-- Internal errors carry no position (level 0); the public function that was called re-raises
-- them at its caller's position.
local function fail(message) error(message, 0) end

-- Checks one option's type; an unknown name is an error (a misspelt option must not be ignored).
local function check_option(name, value)
  local want = REQUEST_OPTIONS[name]
  if not want then fail("eddy: unsupported HTTPRequest option " .. tostring(name)) end
  if value ~= nil and type(value) ~= want then
    fail("eddy: HTTPRequest option " .. name .. " must be a " .. want)
  end
end

-- Options that are wrong together, or values eddy cannot honour.
local function check_request(req)
  if req.body and req.body_producer then fail("eddy: HTTPRequest: give body or body_producer, not both") end
  if req.auth_mode and req.auth_mode ~= "basic" then
    fail("eddy: HTTPRequest: unsupported auth_mode " .. req.auth_mode .. " (only \"basic\")")
  end
end

local function build_request(url, opts)
  if type(url) ~= "string" then fail("eddy: HTTPRequest needs a URL string") end
  local req = setmetatable({ url = url }, HTTPRequest)
  for name, value in pairs(opts or {}) do
    check_option(name, value)
    req[name] = value
  end
  req.method = (req.method or "GET"):upper()
  check_request(req)
  return req
end

-- What to fetch (Tornado's HTTPRequest): HTTPRequest(url, opts) with the options listed at the
-- top of this file. Raises an error on an unknown option or a value of the wrong type.
function httpclient.HTTPRequest(url, opts)
  local ok, req = pcall(build_request, url, opts)
  if not ok then error(req, 2) end
  return req
end

-- ---- AsyncHTTPClient -------------------------------------------------------------------------
local Client = {}
Client.__index = Client
httpclient.AsyncHTTPClient_class = Client

local CLIENT_OPTIONS = {
  max_clients = "number", max_queue = "number", max_idle_per_host = "number", idle_timeout = "number",
  max_body_size = "number", max_buffer_size = "number", defaults = "table", force_instance = "boolean",
  hostname_mapping = "table",
}
local shared -- the loop's shared client (Tornado's one-per-IOLoop instance)

local function check_rc(rc, what)
  rc = math.tointeger(rc)
  if rc ~= 0 then fail("eddy: " .. what .. ": " .. core.eddy_strerror(rc)) end
end

-- Applies the client-wide limits to one eddy_client.
local function configure_client(self, c)
  local o = self._options
  if o.max_clients then check_rc(core.eddy_client_set_max_clients(c, o.max_clients), "max_clients") end
  if o.max_queue then check_rc(core.eddy_client_set_max_queue(c, o.max_queue), "max_queue") end
  if o.max_idle_per_host then
    check_rc(core.eddy_client_set_max_idle_per_host(c, o.max_idle_per_host), "max_idle_per_host")
  end
  if o.idle_timeout then check_rc(core.eddy_client_set_idle_timeout(c, o.idle_timeout), "idle_timeout") end
end

-- "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address: the lower-case host and the
-- port (nil when none), or nil when malformed.
local function parse_host_port(s)
  local host, port = s:match("^%[([^%]]+)%]$"), nil
  if not host then host, port = s:match("^%[([^%]]+)%]:(%d+)$") end
  if not host and not s:find("[%[%]]") then
    if select(2, s:gsub(":", "")) == 1 then
      host, port = s:match("^([^:]+):(%d+)$")
    else
      host = s -- no colon, or a bare IPv6 address
    end
  end
  port = port and math.tointeger(tonumber(port))
  if not host or host == "" or (port and (port < 1 or port > 65535)) then return nil end
  return host:lower(), port
end

-- hostname_mapping (Tornado's): { ["host" or "host:port"] = "host" or "host:port" }, checked and
-- keyed as host .. "\0" .. port ("" for any port). Raises (level 0) on a malformed entry.
local function parse_mapping(mapping)
  local out = {}
  for from, to in pairs(mapping) do
    local host, port, to_host, to_port
    if type(from) == "string" then host, port = parse_host_port(from) end
    if type(to) == "string" then to_host, to_port = parse_host_port(to) end
    if not host or not to_host then
      fail("eddy: AsyncHTTPClient hostname_mapping " .. tostring(from) .. " = " .. tostring(to)
           .. ": \"host\" or \"host:port\" strings expected")
    end
    out[host .. "\0" .. (port or "")] = { to_host, to_port or 0 } -- 0: eddy keeps the URL's port
  end
  return out
end

-- Connects the unstarted fetch `f` of `url` to the mapped address, if its host is mapped (a
-- "host:port" key first, then the host alone). eddy_fetch_set_connect_to keeps the request on
-- the URL: Host, origin-form target, TLS server name and certificate check, as Tornado's.
local function connect_mapped(mapping, f, url)
  if not next(mapping) then return end
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return end -- eddy refuses the URL itself
  local host, port = parse_host_port(authority:match("([^@]*)$"))
  if not host then return end
  port = port or (scheme:lower() == "https" and 443 or 80)
  local to = mapping[host .. "\0" .. port] or mapping[host .. "\0"]
  if not to then return end
  local rc = math.tointeger(core.eddy_fetch_set_connect_to(f, to[1], to[2]))
  if rc ~= 0 then fail("eddy: hostname_mapping of " .. host .. " to " .. to[1] .. ": " .. core.eddy_strerror(rc)) end
end

local function gc_client(self)
  -- Collected: nothing is in flight (every started fetch's dispatch keeps its client alive),
  -- except when the whole Lua state closes; then no Lua callback runs any more.
  self._finalizing = true
  self:close()
end

-- The loop's closer (loop.attach): eddy.close() closes the client like close() does; when the
-- Lua state closes, its fetches' callbacks are not run.
local function close_with_loop(self, finalizing)
  if finalizing then self._finalizing = true end
  self:close()
end

-- Tornado's AsyncHTTPClient(). AsyncHTTPClient() / AsyncHTTPClient(opts) returns the loop's
-- shared client (made on first use, with `opts`); opts.force_instance = true makes a new one.
-- A first argument that is the loop handle or an Application is accepted (one loop per Lua
-- state: the client always runs on it). opts: max_clients (default 10), max_queue (requests
-- waiting for a slot, default 1000; more end with 599), max_idle_per_host (pooled keep-alive
-- connections, default 4), idle_timeout (seconds, default 60), max_body_size (alias
-- max_buffer_size: the default of the requests' max_body_size), defaults (HTTPRequest options
-- for the requests that leave them unset), hostname_mapping ({ ["host" or "host:port"] = "host"
-- or "host:port" }: where to connect instead; the request still names the URL, TLS name and
-- certificate check included). A client that is closed or garbage-collected frees its
-- connections.
function httpclient.AsyncHTTPClient(loop_or_app, opts)
  if opts == nil and (type(loop_or_app) == "table" or loop_or_app == nil)
     and getmetatable(loop_or_app) == nil then
    opts = loop_or_app
  end
  opts = opts or {}
  for name, value in pairs(opts) do
    local want = CLIENT_OPTIONS[name]
    if not want then error("eddy: unsupported AsyncHTTPClient option " .. tostring(name), 2) end
    if type(value) ~= want then error("eddy: AsyncHTTPClient option " .. name .. " must be a " .. want, 2) end
  end
  if not opts.force_instance and shared and not shared._closed then
    if next(opts) then
      io.stderr:write("eddy-lua: AsyncHTTPClient: the loop's client exists already; options ignored",
                      " (force_instance = true makes a new one)\n")
    end
    return shared
  end
  local defaults = {}
  for name, value in pairs(opts.defaults or {}) do
    local ok, err = pcall(check_option, name, value)
    if not ok then error(err, 2) end
    defaults[name] = value
  end
  local parsed, mapping = pcall(parse_mapping, opts.hostname_mapping or {})
  if not parsed then error(mapping, 2) end
  local self = setmetatable({ _options = opts, _clients = {}, _inflight = {}, defaults = defaults,
                              _mapping = mapping, max_body_size = opts.max_body_size or opts.max_buffer_size },
                            { __index = Client, __gc = gc_client })
  local c = core.eddy_client_new(loop.get())
  if not c then error("eddy: cannot create the HTTP client", 2) end
  self._clients[""] = c
  local ok, err = pcall(configure_client, self, c)
  if not ok then core.eddy_client_free(c); error(err, 2) end
  loop.attach("clients", self, close_with_loop)
  if not opts.force_instance then shared = self end
  return self
end

-- The eddy_client for the request's TLS options: eddy sets TLS per client (and pool), so each
-- distinct combination of validate_cert / ca_certs / client_cert / client_key gets its own.
local function client_for(self, req)
  if req.validate_cert == nil and not req.ca_certs and not req.client_cert and not req.client_key then
    return self._clients[""]
  end
  local key = table.concat({ tostring(req.validate_cert), req.ca_certs or "", req.client_cert or "",
                             req.client_key or "" }, "\0")
  local c = self._clients[key]
  if c then return c end
  c = core.eddy_client_new(loop.get())
  if not c then fail("eddy: cannot create the HTTP client") end
  local rc, option = core.client_set_tls(c, req)
  rc = math.tointeger(rc)
  if rc ~= 0 then
    core.eddy_client_free(c)
    local value = option and req[option]
    fail("eddy: " .. (option and (option .. (type(value) == "string" and (" " .. value) or "") .. ": ") or "")
         .. core.eddy_strerror(rc))
  end
  local ok, err = pcall(configure_client, self, c)
  if not ok then core.eddy_client_free(c); fail(err) end
  self._clients[key] = c
  return c
end

-- Calls fn(name, value) for each of the request's headers: { Name = value }, a list of
-- { name, value } or an HTTPHeaders. Stops at, and returns, the first non-zero result of fn;
-- EDDY_EINVAL for an entry that is not a header.
local function each_header(headers, fn)
  if getmetatable(headers) == HTTPHeaders then
    for name, value in headers:get_all() do
      local rc = fn(name, tostring(value))
      if rc ~= 0 then return rc end
    end
    return 0
  end
  for k, v in pairs(headers) do
    local name, value = k, v
    if type(v) == "table" then name, value = v[1], v[2] end
    if type(name) ~= "string" or value == nil then return core.EDDY_EINVAL end
    local rc = fn(name, tostring(value))
    if rc ~= 0 then return rc end
  end
  return 0
end

-- Adds the request's headers to fetch `f`, except those named `skip` (lower case; those the
-- request sets otherwise). Returns 0 or the first EDDY_E* code.
local function add_headers(f, headers, skip)
  return each_header(headers, function(name, value)
    if skip and name:lower() == skip then return 0 end
    return core.eddy_fetch_add_header(f, name, value)
  end)
end

-- The value of header `wanted` (lower case) among the request's headers, or nil.
local function find_header(headers, wanted)
  local found
  each_header(headers, function(name, value)
    if name:lower() == wanted then found = value; return 1 end
    return 0
  end)
  return found
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
-- Standard base64 (RFC 4648, with padding) of the bytes of `s`.
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local quad = { (n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63 }
    for j = 1, 4 do quad[j] = B64:sub(quad[j] + 1, quad[j] + 1) end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

-- Tornado's auth_mode "basic": "Basic " .. base64(username:password); the password defaults to
-- "". It replaces an Authorization header given in `headers` (as Tornado's assignment does).
local function basic_authorization(req)
  return "Basic " .. base64(req.auth_username .. ":" .. (req.auth_password or ""))
end

-- The announced length of a body_producer's body: the Content-Length header (eddy writes the
-- field itself from this), or -1 for chunked.
local function stream_length(headers)
  local value = headers and find_header(headers, "content-length")
  if value == nil then return -1 end
  local n = math.tointeger(tonumber(value:match("^%s*(%d+)%s*$")))
  if not n then fail("eddy: HTTPRequest headers: Content-Length " .. value .. " is not a byte count") end
  return n
end

-- Sets the request's options on fetch `f`; raises an error naming the option eddy refused.
local function configure_fetch(f, req, client_max_body)
  local function set(rc, what)
    rc = math.tointeger(rc)
    if rc ~= 0 then fail("eddy: HTTPRequest " .. what .. ": " .. core.eddy_strerror(rc)) end
  end
  check_request(req) -- again: the client's defaults were merged in
  local auth = req.auth_username and "authorization"
  if req.headers then set(add_headers(f, req.headers, auth), "headers") end
  if auth then set(core.eddy_fetch_add_header(f, "Authorization", basic_authorization(req)), "auth_username") end
  if req.user_agent then set(core.eddy_fetch_add_header(f, "User-Agent", req.user_agent), "user_agent") end
  if req.body then set(core.eddy_fetch_set_body(f, req.body), "body") end
  if req.body_producer then
    set(core.eddy_fetch_set_body_stream(f, stream_length(req.headers)), "body_producer")
  end
  if req.connect_timeout then set(core.eddy_fetch_set_connect_timeout(f, req.connect_timeout), "connect_timeout") end
  if req.request_timeout then set(core.eddy_fetch_set_request_timeout(f, req.request_timeout), "request_timeout") end
  if req.read_timeout then set(core.eddy_fetch_set_read_timeout(f, req.read_timeout), "read_timeout") end
  if req.follow_redirects == false then
    set(core.eddy_fetch_set_max_redirects(f, 0), "follow_redirects")
  elseif req.max_redirects then
    set(core.eddy_fetch_set_max_redirects(f, math.tointeger(req.max_redirects) or -1), "max_redirects")
  end
  if req.decompress_response == false then set(core.eddy_fetch_set_decompress(f, 0), "decompress_response") end
  local max_body = req.max_body_size or client_max_body
  if max_body then
    if max_body < 0 or max_body ~= math.floor(max_body) then set(core.EDDY_EINVAL, "max_body_size") end
    set(core.eddy_fetch_set_max_body_size(f, max_body), "max_body_size")
  end
  if req.expect_100_continue then set(core.eddy_fetch_set_expect_continue(f, 1), "expect_100_continue") end
end

-- Errors in the user's callback are logged (it runs as a coroutine, like a handler).
local function callback_done(_, ok, tb)
  if not ok then io.stderr:write("eddy-lua: error in HTTP client callback: ", tostring(tb), "\n") end
end

local function failed_response(req, eddy_code, message, start)
  local response = setmetatable({ request = req, code = 599, reason = "", headers = httputil.HTTPHeaders(),
                                  body = "", effective_url = req.url, redirects = 0,
                                  connection_reused = false, request_time = loop.time() - start }, HTTPResponse)
  response.error = httpclient.HTTPClientError(599, message or core.eddy_strerror(eddy_code), response,
                                              eddy_code and math.tointeger(eddy_code))
  return response
end

-- The response out of a "done" event. `detail` is what eddy knows of a failure beyond its code
-- (eddy_fetch_error_detail: why a TLS handshake or certificate check failed, e.g.
-- "certificate verification: hostname mismatch"); it ends the error's message, as Python's
-- binding puts it in its ssl.SSLError, and is kept apart in `error.detail`.
local function make_response(state, err, status, reason, headers, body, url, redirects, reused, detail)
  local req = state.req
  err = math.tointeger(err)
  if err == 0 and state.callback_error then err = core.EDDY_ECANCELED end
  if err ~= 0 then
    local message, known = state.callback_error, nil
    if not message then
      message = core.eddy_strerror(err)
      if detail ~= "" then message, known = message .. ": " .. detail, detail end
    end
    local response = failed_response(req, err, message, state.start)
    response.effective_url = url ~= "" and url or req.url
    response.error.detail = known
    return response
  end
  local response = setmetatable({ request = req, code = math.tointeger(status), reason = reason,
                                  headers = httputil.HTTPHeaders(headers), body = body,
                                  effective_url = url, redirects = math.tointeger(redirects),
                                  connection_reused = reused,
                                  request_time = loop.time() - state.start }, HTTPResponse)
  if response.code < 200 or response.code >= 300 then
    response.error = httpclient.HTTPClientError(response.code, reason ~= "" and reason or nil, response)
  end
  return response
end

-- Hands the response over: the callback (as a coroutine) or the waiting coroutine.
local function deliver(state, response)
  state.response = response
  if state.client._finalizing then return end
  if state.callback then
    loop.spawn_ctx(state.callback, callback_done, nil, response)
  elseif state.waiter then
    state.waiter()
  end
end

-- Ends the request because of a Lua error in one of its callbacks: it is cancelled on the next
-- iteration (outside eddy's parser) and `message` becomes the response's error.
local function fail_request(state, message)
  if state.callback_error then return end
  state.callback_error = message
  loop.add_callback(function()
    if state.fetch then core.eddy_fetch_cancel(state.fetch) end
  end)
end

-- Runs a streaming/header callback; an error ends the request.
local function run_stream_callback(state, fn, value, what)
  if state.callback_error then return end
  local ok, err = pcall(fn, value)
  if not ok then fail_request(state, what .. ": " .. tostring(err)) end
end

-- ---- body_producer: a streamed request body -------------------------------------------------
-- True while the request can still take body bytes.
local function producing(state) return state.fetch ~= nil and not state.callback_error end

-- The producer returned (ok) or failed: end the body, or end the request with its error. Once
-- the request is over there is nobody to tell but the log.
local function producer_done(state, ok, tb, err)
  if not producing(state) then
    if not ok then io.stderr:write("eddy-lua: error in body_producer: ", tostring(tb), "\n") end
    return
  end
  if not ok then return fail_request(state, "body_producer: " .. tostring(err)) end
  local rc = math.tointeger(core.eddy_fetch_end_body(state.fetch))
  -- EDDY_ESTATE: the request already ended - a server may answer once the announced length
  -- arrived (or early, a 413), before the producer returned: its response (or error) stands.
  if rc == core.EDDY_ESTATE then return end
  if rc == core.EDDY_EINVAL then
    fail_request(state, "body_producer: it wrote fewer bytes than the Content-Length")
  elseif rc ~= 0 then
    fail_request(state, "body_producer: " .. core.eddy_strerror(rc))
  end
end

-- Runs req.body_producer(write) as a coroutine for a started request (see the top of the file).
local function start_producer(state)
  local function write(chunk)
    if type(chunk) ~= "string" then error("eddy: body_producer's write takes a string", 2) end
    if not producing(state) then return false end
    local rc = math.tointeger(core.eddy_fetch_write_body(state.fetch, chunk))
    if rc == core.EDDY_ETOOBIG then error("eddy: body_producer wrote more than the Content-Length", 2) end
    if rc == core.EDDY_ESTATE then return false end  -- ended, its `done` still to come
    if rc ~= 0 then error("eddy: body_producer's write: " .. core.eddy_strerror(rc), 2) end
    return true
  end
  -- Suspends the producer until its bytes reached the kernel: write alone went as fast as
  -- the producer, and a 200 MiB body to a server that reads slowly piled up in memory.
  local function flush_body()
    local _, main = coroutine.running()
    if main then error("eddy: body_producer's flush_body only works inside the producer's coroutine", 2) end
    if not producing(state) then return false end
    local rc = math.tointeger(core.fetch_flush_body(state.fetch))
    if rc == core.EDDY_ESTATE then return false end  -- ended, its `done` still to come
    if rc ~= 0 then error("eddy: body_producer's flush_body: " .. core.eddy_strerror(rc), 2) end
    local waiter = {}
    state.flush_waiters[#state.flush_waiters + 1] = waiter
    return coroutine.yield(function(resume) waiter.resume = resume end)
  end
  state.flush_waiters = {}
  loop.spawn_ctx(state.req.body_producer, producer_done, state, write, flush_body)
end

-- ---- streaming_callback: flow control of the response body -----------------------------------
-- Pausing is asked for by a yielding streaming_callback (state.cb_paused) and by the handle's
-- pause_body (state.user_paused); the body is read again only when neither holds it.
local function release_body(state)
  if state.fetch and not state.callback_error and not state.cb_paused and not state.user_paused then
    core.eddy_fetch_resume_body(state.fetch)
  end
end

local function chunk_done(state, ok, _, err)
  if not ok then fail_request(state, "streaming_callback: " .. tostring(err)) end
  if state.cb_paused then
    state.cb_paused = nil
    release_body(state)
  end
end

local function run_chunk_callback(state, fn, chunk)
  if state.callback_error then return end
  if not loop.spawn_ctx(fn, chunk_done, state, chunk) then
    -- It yielded, inside eddy's chunk callback: the pieces after this one are held (and the
    -- connection not read) until it returns.
    state.cb_paused = true
    core.eddy_fetch_pause_body(state.fetch)
  end
end

local function make_dispatch(state)
  local req = state.req
  return function(event, a, b, c, ...)
    if event == "chunk" then
      return run_chunk_callback(state, req.streaming_callback, a)
    elseif event == "flushed" then
      -- fetch_flush_body's answers come in call order: the oldest waiting flush_body resumes
      -- (on the next iteration, outside eddy's callback) with true, or false when the request
      -- ended first (a = its error).
      local waiter = table.remove(state.flush_waiters, 1)
      if waiter and waiter.resume then loop.add_callback(waiter.resume, math.tointeger(a) == 0) end
      return
    elseif event == "headers" then
      local fn = req.header_callback
      run_stream_callback(state, fn, "HTTP/1.1 " .. math.tointeger(a) .. " " .. b .. "\r\n", "header_callback")
      for _, pair in ipairs(c) do
        run_stream_callback(state, fn, pair[1] .. ": " .. pair[2] .. "\r\n", "header_callback")
      end
      return run_stream_callback(state, fn, "\r\n", "header_callback")
    elseif event == "done" then
      -- eddy frees the fetch (and this function's registry entry) when this returns.
      state.fetch = nil
      state.client._inflight[state] = nil
      return deliver(state, make_response(state, a, b, c, ...))
    end
  end
end

local Handle = {}
Handle.__index = Handle
-- Cancels the request: its response (599, "operation cancelled", eddy_code EDDY_ECANCELED)
-- follows on the next iteration. Returns true when it was still running.
function Handle:cancel()
  local f = self._state.fetch
  return f ~= nil and math.tointeger(core.eddy_fetch_cancel(f)) == 0
end
-- True once the response was delivered (or is being delivered).
function Handle:done() return self._state.response ~= nil end
-- Flow control of a streamed body (a streaming_callback is set), from anywhere on the loop's
-- thread: pause_body() stops the chunks (and the reading of the connection) until
-- resume_body(). Return 0, or EDDY_ESTATE once the request ended or without a
-- streaming_callback (eddy_fetch_pause_body / eddy_fetch_resume_body).
function Handle:pause_body()
  local state = self._state
  if not state.fetch then return core.EDDY_ESTATE end
  local rc = math.tointeger(core.eddy_fetch_pause_body(state.fetch))
  if rc == 0 then state.user_paused = true end
  return rc
end
function Handle:resume_body()
  local state = self._state
  if not state.fetch then return core.EDDY_ESTATE end
  if not state.req.streaming_callback then return core.EDDY_ESTATE end
  state.user_paused = nil
  release_body(state)
  return 0
end

-- Builds and starts the request; returns its state and raise_error. Raises (level 0) on bad
-- options. A request that cannot start (client closed, a URL eddy refuses) gets its 599
-- response now (coroutine mode) or on the next iteration (callback mode).
local function start_fetch(self, request, opts, callback)
  local raise_error = true
  local req
  if getmetatable(request) == HTTPRequest then
    for name, value in pairs(opts or {}) do
      if name ~= "raise_error" then fail("eddy: fetch: options cannot be given with an HTTPRequest") end
      raise_error = value
    end
    req = request
  else
    local o = {}
    for name, value in pairs(opts or {}) do
      if name == "raise_error" then raise_error = value else o[name] = value end
    end
    req = build_request(request, o)
  end
  if next(self.defaults) then
    local merged = setmetatable({}, HTTPRequest)
    for name, value in pairs(req) do merged[name] = value end
    for name, value in pairs(self.defaults) do if merged[name] == nil then merged[name] = value end end
    req = merged
  end
  if not callback then
    local _, main = coroutine.running()
    if main then fail("eddy: fetch without a callback only works inside a coroutine") end
  end
  local state = { req = req, client = self, callback = callback, start = loop.time() }

  local function finish_now(response)
    if callback then
      loop.add_callback(deliver, state, response)
    else
      state.response = response
    end
  end

  if self._closed then
    finish_now(failed_response(req, core.EDDY_ECANCELED, "client closed", state.start))
    return state, raise_error
  end
  local c = client_for(self, req)
  local f = core.eddy_fetch_new(c, req.method, req.url)
  if not f then fail("eddy: fetch: bad method or URL") end
  local configured, err = pcall(function()
    if req.unix_socket then
      -- The request's own socket wins over the client's hostname_mapping (both say where to
      -- connect; eddy refuses the two together).
      local rc = math.tointeger(core.eddy_fetch_set_unix_socket(f, req.unix_socket))
      if rc ~= 0 then
        fail("eddy: unix_socket " .. req.unix_socket .. ": " .. core.eddy_strerror(rc)
             .. " (at most 107 bytes)")
      end
    else
      connect_mapped(self._mapping, f, req.url)
    end
    configure_fetch(f, req, self.max_body_size)
  end)
  if not configured then
    core.eddy_fetch_free(f)
    fail(err)
  end
  local rc = math.tointeger(core.fetch_start(f, make_dispatch(state), req.header_callback ~= nil,
                                             req.streaming_callback ~= nil))
  if rc ~= 0 then
    -- A URL eddy cannot parse (EDDY_EINVAL), ...: a 599 as Tornado's client gives.
    core.eddy_fetch_free(f)
    finish_now(failed_response(req, rc, nil, state.start))
  else
    state.fetch = f
    self._inflight[state] = true
    if req.body_producer then start_producer(state) end
  end
  return state, raise_error
end

-- Fetches `request` (a URL or an HTTPRequest; opts are HTTPRequest options plus raise_error).
-- With `callback` (also accepted in opts' place), returns a handle with :cancel() at once and
-- later runs callback(response) as a coroutine. Without, it must run in a coroutine (handler
-- method, eddy.spawn) and returns the response — raising response.error (an HTTPClientError)
-- unless opts.raise_error is false. Bad options raise an error at once.
function Client:fetch(request, opts, callback)
  if type(opts) == "function" and callback == nil then opts, callback = nil, opts end
  if callback ~= nil and type(callback) ~= "function" then error("eddy: fetch: the callback must be a function", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("eddy: fetch: the options must be a table", 2) end
  local ok, state, raise_error = pcall(start_fetch, self, request, opts, callback)
  if not ok then error(state, 2) end
  if callback then return setmetatable({ _state = state }, Handle) end
  if not state.response then coroutine.yield(function(resume) state.waiter = resume end) end
  local response = state.response
  if response.error and raise_error ~= false then error(response.error, 0) end
  return response
end

-- Frees the client and its connections: fetches in flight end at once with 599
-- ("operation cancelled", EDDY_ECANCELED; callbacks and waiting coroutines get it during this call); later
-- fetches fail with 599 "client closed". Closing twice is harmless.
function Client:close()
  if self._closed then return end
  self._closed = true
  if shared == self then shared = nil end
  loop.detach("clients", self)
  local clients = self._clients
  self._clients = {}
  for _, c in pairs(clients) do core.eddy_client_free(c) end
end

-- The number of requests started and not yet answered.
function Client:active_count()
  local n = 0
  for _ in pairs(self._inflight) do n = n + 1 end
  return n
end

return httpclient
