-- The web layer for Lua (Tornado's Application and RequestHandler). Routes are given as
-- { pattern, handlers [, kwargs] } where `handlers` is a table of functions: get/post/put/
-- delete/patch/head/options (or an upper-case custom method), prepare, on_finish,
-- on_connection_close, write_error, set_default_headers, data_received and initialize; or,
-- for a WebSocket endpoint, open, on_message(self, data, binary), on_close, on_pong(self, data)
-- and the handshake hooks check_origin(self, origin) and select_subprotocol(self, protocols)
-- (kwargs.websocket holds its options: max_message_size, max_message_memory, compression,
-- ping_interval, ping_timeout, close_timeout; the application's websocket_* settings are their
-- defaults).
-- A WebSocket handler bounds its output with self:set_write_mark(bytes [, on_drain]),
-- self:write_buffer_size() and self:wait_for_drain() (eddy/write_mark.lua).
-- Each function receives a Handler object `self`; method functions also get the path captures.
--
-- Method functions run as coroutines: one that yields (loop.sleep, Future:wait) keeps the
-- response open and finishes it when it returns. A function may also call self:detach() and
-- finish later from a timer. prepare runs as a coroutine too: one that yields suspends the
-- request before its method (a WebSocket route's handshake) until it returns; a prepare that
-- calls self:detach() ends it with self:resume() (or by answering, e.g. send_error(403)).
-- An error → 500 and a logged traceback; web.HTTPError(status) → that status without a
-- traceback.
local core = require("eddy.core")
local loop = require("eddy.loop")
local json = require("eddy.json")
local write_mark = require("eddy.write_mark")
local websocket = require("eddy.websocket")

local web = {}

local HTTPError = {}
HTTPError.__index = HTTPError
HTTPError.__tostring = function(e) return "HTTP " .. e.status .. (e.message and (": " .. e.message) or "") end
-- An error a handler raises to answer with `status` (Tornado's HTTPError).
function web.HTTPError(status, message) return setmetatable({ status = status, message = message }, HTTPError) end

local STANDARD_METHODS = { get = "GET", post = "POST", put = "PUT", delete = "DELETE", patch = "PATCH",
                           head = "HEAD", options = "OPTIONS" }
local HOOKS = { "prepare", "on_finish", "write_error", "set_default_headers", "data_received" }

-- ---- Handler ----------------------------------------------------------------------------
local finish_abandoned
local Handler = {}
Handler.__index = Handler
web.Handler = Handler

local function live(self)
  if self._done then error("eddy: the handler is already finished", 3) end
  return self.h
end
local function check(rc, what)
  if rc ~= 0 and rc ~= core.EDDY_ECLOSED then
    error("eddy: " .. what .. " failed: " .. core.eddy_strerror(rc), 3)
  end
  return rc
end

function Handler:request() return core.eddy_handler_request(live(self)) end
function Handler:method() return (core.eddy_request_method(self:request())) end
function Handler:uri() return (core.eddy_request_uri(self:request())) end
function Handler:path() return (core.eddy_request_path(self:request())) end
function Handler:query() return (core.eddy_request_query(self:request())) end
function Handler:body() return (core.eddy_request_body(self:request())) end
function Handler:host() return (core.eddy_request_host(self:request())) end
function Handler:remote_ip() return core.eddy_request_remote_ip(self:request()) end
-- "http" or "https" (Tornado's request.protocol): with listen's xheaders, what a trusted
-- proxy's X-Scheme / X-Forwarded-Proto said.
function Handler:protocol() return core.eddy_request_scheme(self:request()) end
-- The TLS facts of the request's connection (eddy/tls.h). The server name (SNI) the client
-- sent, or nil: plain HTTP, no SNI (it connected to an IP address), the connection gone.
function Handler:tls_server_name() return core.eddy_request_tls_server_name(self:request()) end
-- The certificate the client presented, DER-encoded (Tornado's
-- get_ssl_certificate(binary_form=True): Lua has no X.509 decoder for the dict form, so an
-- explicit false is refused rather than silently answered in another form). nil and the
-- EDDY_E* code when there is none: EDDY_ENOENT (plain HTTP, or none presented: the server asks
-- only with ssl_options' ca_certs / cert_reqs), EDDY_ECLOSED (the connection is gone).
function Handler:get_ssl_certificate(binary_form)
  if binary_form == false then
    error("eddy: get_ssl_certificate gives the DER form only (binary_form = true)", 2)
  end
  local der, code = core.request_tls_peer_certificate(self:request())
  return der, code and math.tointeger(code)
end
-- "HTTP/1.1" or "HTTP/1.0" (Tornado's request.version).
function Handler:version()
  return core.eddy_request_version(self:request()) == 11 and "HTTP/1.1" or "HTTP/1.0"
end
-- The host without its port, lower-cased (Tornado's request.host_name): "example.com" for
-- Host "Example.COM:8080", "[::1]" for "[::1]:8080".
function Handler:host_name()
  local host = (self:host() or ""):lower()
  return host:match("^(.+):%d+$") or host
end
-- protocol://host/uri (Tornado's request.full_url()).
function Handler:full_url() return self:protocol() .. "://" .. (self:host() or "") .. (self:uri() or "") end
-- Seconds since the request line started to arrive (Tornado's request.request_time()).
function Handler:request_time() return core.eddy_request_duration(self:request()) end
-- The first value of request header `name` (case-insensitive) or nil.
function Handler:header(name) return (core.eddy_request_header(self:request(), name)) end
-- Every request header as a list of {name, value}.
function Handler:headers() return core.request_headers(self:request()) end
-- The body decoded as JSON (raises HTTPError 400 when it is not JSON).
function Handler:json_body()
  local v, err = json.decode(self:body())
  if v == nil then error(web.HTTPError(400, err)) end
  return v
end

-- The path capture `i` (1-based) or a named capture.
function Handler:path_arg(i)
  if type(i) == "string" then return (core.eddy_handler_path_kwarg(live(self), i)) end
  return (core.eddy_handler_path_arg(live(self), i - 1))
end
function Handler:path_args()
  local h, out = live(self), {}
  for i = 0, core.eddy_handler_path_arg_count(h) - 1 do out[#out + 1] = core.eddy_handler_path_arg(h, i) end
  return out
end

-- Every value of `name` from `sources`, in arrival order (query before body), as they came.
local function values_of(self, sources, name)
  local out = {}
  for _, kv in ipairs(core.request_arguments(self:request(), sources)) do
    if kv[1] == name then out[#out + 1] = kv[2] end
  end
  return out
end

-- A value as Tornado's handlers hand it out: text that is not UTF-8 is a 400 ("Invalid unicode
-- in <name>"), control characters other than whitespace become spaces, and the ends are
-- stripped of whitespace unless `strip` is false.
local function cleaned(value, name, strip)
  if not utf8.len(value) then error(web.HTTPError(400, "Invalid unicode in " .. name)) end
  value = value:gsub("[\0-\8\14-\31]", " ")
  if strip ~= false then value = value:match("^%s*(.-)%s*$") end
  return value
end

local function cleaned_values(self, sources, name, strip)
  local out = values_of(self, sources, name)
  for i, v in ipairs(out) do out[i] = cleaned(v, name, strip) end
  return out
end

-- Tornado's get_argument: the last value of `name` (a body value wins over a query one),
-- cleaned as above; a missing argument without default raises 400. Pass false as the default
-- to get nil instead, and false as `strip` to keep surrounding whitespace.
local function argument(self, sources, name, default, strip)
  local values = values_of(self, sources, name)
  local v = values[#values]
  if v ~= nil then return cleaned(v, name, strip) end
  if default == nil then error(web.HTTPError(400, "Missing argument " .. name)) end
  if default == false then return nil end
  return default
end
function Handler:get_argument(name, default, strip) return argument(self, core.EDDY_ARGS_ALL, name, default, strip) end
function Handler:get_query_argument(name, default, strip)
  return argument(self, core.EDDY_ARGS_QUERY, name, default, strip)
end
function Handler:get_body_argument(name, default, strip)
  return argument(self, core.EDDY_ARGS_BODY, name, default, strip)
end
-- Every value of `name`, cleaned (Tornado's get_arguments); without a name, every argument as
-- a list of {name, value} as it came.
function Handler:get_arguments(name, strip)
  if not name then return core.request_arguments(self:request(), core.EDDY_ARGS_ALL) end
  return cleaned_values(self, core.EDDY_ARGS_ALL, name, strip)
end
-- Every value of `name` from the query / from a form body only, in order and cleaned
-- (Tornado's get_query_arguments / get_body_arguments).
function Handler:get_query_arguments(name, strip) return cleaned_values(self, core.EDDY_ARGS_QUERY, name, strip) end
function Handler:get_body_arguments(name, strip) return cleaned_values(self, core.EDDY_ARGS_BODY, name, strip) end
-- The arguments as Tornado's dicts: { [name] = { value, ... } }, values in arrival order.
-- arguments(): query and body (query first); query_arguments(), body_arguments(): one source.
local function grouped(self, sources)
  local out = {}
  for _, kv in ipairs(core.request_arguments(self:request(), sources)) do
    local list = out[kv[1]]
    if not list then list = {}; out[kv[1]] = list end
    list[#list + 1] = kv[2]
  end
  return out
end
function Handler:arguments() return grouped(self, core.EDDY_ARGS_ALL) end
function Handler:query_arguments() return grouped(self, core.EDDY_ARGS_QUERY) end
function Handler:body_arguments() return grouped(self, core.EDDY_ARGS_BODY) end

-- The uploaded files of a multipart/form-data body (Tornado's request.files): a table
-- { [field] = { {filename=, content_type=, body=}, ... } }, each field's files in arrival
-- order; body is the file's bytes as sent; content_type is "application/octet-stream" when
-- the part had none. Form fields without a filename are arguments, not files.
function Handler:files() return core.request_files(self:request()) end

function Handler:get_cookie(name, default) return core.eddy_handler_get_cookie(live(self), name) or default end
-- Every request cookie as { [name] = value } (Tornado's request.cookies, values unquoted).
-- Names are those of the Cookie header(s); values are what get_cookie gives (the first of a
-- repeated name; illegal names are left out, as get_cookie does).
function Handler:cookies()
  local h, out = live(self), {}
  for _, kv in ipairs(self:headers()) do
    if kv[1]:lower() == "cookie" then
      for chunk in kv[2]:gmatch("[^;]+") do
        local name = chunk:match("^%s*([^=]-)%s*=")
        if name and name ~= "" and out[name] == nil then
          out[name] = core.eddy_handler_get_cookie(h, name)
        end
      end
    end
  end
  return out
end
-- opts: domain, path, expires (Unix time), max_age (seconds), secure, httponly, samesite.
function Handler:set_cookie(name, value, opts)
  opts = opts or {}
  local flags = (opts.secure and core.EDDY_COOKIE_SECURE or 0) | (opts.httponly and core.EDDY_COOKIE_HTTPONLY or 0)
  return check(core.eddy_handler_set_cookie(live(self), name, value, opts.domain, opts.path,
               opts.expires or 0, opts.max_age or -1, flags, opts.samesite), "set_cookie")
end
function Handler:clear_cookie(name, opts)
  opts = opts or {}
  return check(core.eddy_handler_clear_cookie(live(self), name, opts.path, opts.domain), "clear_cookie")
end
-- Deletes every cookie the request sent (Tornado's clear_all_cookies); opts: path, domain.
function Handler:clear_all_cookies(opts)
  for name in pairs(self:cookies()) do self:clear_cookie(name, opts) end
end
function Handler:get_signed_cookie(name, max_age_days)
  return (core.eddy_handler_get_signed_cookie(live(self), name, max_age_days or 31))
end
function Handler:set_signed_cookie(name, value, expires_days)
  return check(core.eddy_handler_set_signed_cookie(live(self), name, value, expires_days or 30), "set_signed_cookie")
end
function Handler:xsrf_token() return (core.eddy_handler_xsrf_token(live(self))) end
function Handler:reverse_url(name, ...) return self.application:reverse_url(name, ...) end
-- Tornado's static_url: the URL of `path` (relative to the static directory, e.g. "css/a.css")
-- under the first static mount that has the file, with "?v=" and the MD5 of its content; such
-- a URL is served with Cache-Control: max-age=315360000. A missing file gets the plain URL
-- (and a warning in the log). Returns nil, err when the application has no static_path.
function Handler:static_url(path)
  local url = core.eddy_handler_static_url(live(self), path)
  if url == nil then return nil, "eddy: static_url: the application has no static_path" end
  return url
end

function Handler:set_status(status, reason)
  local rc = check(core.eddy_handler_set_status(live(self), status, reason), "set_status")
  self._status = status
  return rc
end
-- The response status set so far (Tornado's get_status): 200 until set_status, send_error,
-- redirect or clear changes it.
function Handler:get_status() return self._status or 200 end
-- Tornado's clear(): drops the headers (Set-Cookie excepted) and the body written so far, sets
-- status 200 and runs set_default_headers again. An error once the headers were flushed.
function Handler:clear()
  local rc = check(core.eddy_handler_clear(live(self)), "clear")
  self._status = 200
  return rc
end
-- Tornado's compute_etag override: `value` (sent as given, e.g. '"v1"') replaces the automatic
-- ETag of a 200 GET/HEAD answer, and a matching If-None-Match gives 304; nil: no ETag and no 304.
function Handler:set_etag(value) return check(core.handler_set_etag(live(self), value), "set_etag") end
-- A header value: a string, or a number as its text. Anything else (nil, a boolean, a table)
-- is an error, as Tornado's set_header raises TypeError("Unsupported header value"): sent as
-- tostring's "nil" or "table: 0x..." it would hide the mistake (and show an address).
local function header_value(value, what)
  local t = type(value)
  if t == "string" then return value end
  if t == "number" then return tostring(value) end
  error("eddy: " .. what .. ": the value must be a string or a number, not " .. t, 3)
end
function Handler:set_header(name, value)
  local h = live(self)
  return check(core.eddy_handler_set_header(h, name, header_value(value, "set_header")), "set_header")
end
function Handler:add_header(name, value)
  local h = live(self)
  return check(core.eddy_handler_add_header(h, name, header_value(value, "add_header")), "add_header")
end
function Handler:clear_header(name) return check(core.eddy_handler_clear_header(live(self), name), "clear_header") end

-- Appends to the body: a string as is (a number as its text), a table as JSON (and
-- Content-Type application/json). Anything else (nil, a boolean, a function) is an error, as
-- Tornado's write raises TypeError for what is not bytes, str or dict: written as tostring's
-- "nil" or "function: 0x..." it would hide the mistake in the body.
function Handler:write(chunk)
  local h = live(self)
  local t = type(chunk)
  if t == "table" then
    chunk = json.encode(chunk) -- first: a table JSON cannot hold leaves the headers as they were
    core.eddy_handler_set_header(h, "Content-Type", "application/json; charset=UTF-8")
  elseif t == "number" then
    chunk = tostring(chunk)
  elseif t ~= "string" then
    error("eddy: write: the chunk must be a string, a number or a table (JSON), not " .. t, 2)
  end
  return check(core.eddy_handler_write(h, chunk), "write")
end
-- Sends what was written so far (chunked).
function Handler:flush() return check(core.handler_flush(live(self)), "flush") end

local function finishing(self, rc)
  self._done = true
  return rc
end
-- Finishes the response (optionally writing `chunk` first).
function Handler:finish(chunk)
  if chunk ~= nil then self:write(chunk) end
  return finishing(self, core.eddy_handler_finish(live(self)))
end
-- send_error and redirect end the request, as Tornado's do (both end in finish()). On a handler
-- whose client is gone (a detached or suspended one) eddy sends nothing, answers EDDY_ECLOSED
-- and leaves the handler open for the application to finish (web.h); the Lua object counts as
-- finished from here on, so nothing else would finish it — on_finish would never run and the
-- handler and its state would stay for the process's life. It is finished here instead.
local function ended(self, h, rc)
  if rc == core.EDDY_ECLOSED and core.eddy_handler_finished(h) == 0 then
    rc = core.eddy_handler_finish(h)
  end
  return finishing(self, rc)
end
function Handler:redirect(url, status)
  local h = live(self)
  self._status = (status ~= nil and status ~= 0) and status or 302
  return ended(self, h, check(core.eddy_handler_redirect(h, url, status or 0), "redirect"))
end
function Handler:send_error(status)
  local h = live(self)
  status = status or 500
  self._status = (status >= 200 and status <= 599) and status or 500
  return ended(self, h, core.eddy_handler_send_error(h, status))
end
-- Keeps the response open after the current function returns; finish it later.
function Handler:detach()
  local h = live(self)
  self._detached = true
  loop.attach("handlers", self, finish_abandoned)
  return core.eddy_handler_detach(h)
end
function Handler:finished() return self._done == true end
-- Ends an asynchronous prepare (eddy_handler_resume): a prepare that called self:detach()
-- suspends the request before its method (a WebSocket route's handshake, a data_received
-- route's body); resume() runs the method now, and the response is then finished as after a
-- synchronous prepare (or when the method's coroutine returns). A prepare that yields (a
-- coroutine waiting on loop.sleep or a Future) is resumed for you when it returns; call this
-- only after an explicit detach. Returns 0; EDDY_ESTATE when the request is not waiting in
-- prepare; EDDY_ECLOSED when the client left meanwhile (the handler is then finished without
-- the method, on_finish runs).
local resume_prepare
function Handler:resume()
  live(self)
  return resume_prepare(self)
end

-- The loop's closer for a handler kept open (detached, or suspended in a coroutine that waits
-- on a timer or a Future): eddy keeps it valid until finished, even after its application was
-- freed, and once the loop is gone nothing would finish it. Runs after the applications closed.
function finish_abandoned(self)
  if self._done then return end
  self._done = true
  core.eddy_handler_finish(self.h)
end

-- ---- WebSocket (routes whose handlers table has open / on_message / on_close) ---------------
local function ws_live(self)
  if self._ws_closed or not self.ws then error("eddy: the WebSocket is closed", 3) end
  return self.ws
end
-- Sends a message: a string (text, or binary when `binary` is true) or a table as JSON text.
-- Returns 0 or a negative EDDY_E* code (EDDY_ECLOSED once closing has begun).
function Handler:write_message(msg, binary)
  if type(msg) == "table" then msg = json.encode(msg) end
  return math.tointeger(core.ws_write(ws_live(self), msg, binary))
end
-- Starts the close handshake (code default 1000); on_close follows.
function Handler:close(code, reason)
  if self._ws_closed or not self.ws then return core.EDDY_ECLOSED end
  return math.tointeger(core.eddy_ws_close(self.ws, code or 1000, reason))
end
function Handler:ping(data) return math.tointeger(core.eddy_ws_ping(ws_live(self), data or "")) end
function Handler:selected_subprotocol() return (core.eddy_ws_subprotocol(ws_live(self))) end
-- Backpressure: on_drain(self) (optional) runs each time the write buffer drops to `bytes`
-- after it held more; nil removes the mark. Returns 0 or EDDY_E*.
function Handler:set_write_mark(bytes, on_drain)
  if self._ws_closed then return core.EDDY_ECLOSED end
  ws_live(self)
  return write_mark.set(self, bytes, on_drain)
end
-- Bytes queued for sending and not yet handed to the kernel.
function Handler:write_buffer_size() return write_mark.buffer_size(self) end
-- In a coroutine: true once the write buffer is at or below the mark (waiting if needed),
-- false when the connection closed first.
function Handler:wait_for_drain() return write_mark.wait(self) end

local function ws_done(self, ok, tb)
  if ok then return end
  io.stderr:write("eddy-lua: error in WebSocket handler: ", tostring(tb), "\n")
  if self.ws and not self._ws_closed then core.eddy_ws_close(self.ws, 1011, "handler error") end
end

local function ws_event(self, handlers, event, ws, a, b)
  if event == "ws_open" then
    self.ws = ws
    if handlers.open then loop.spawn_ctx(handlers.open, ws_done, self, self) end
  elseif event == "ws_message" then
    if handlers.on_message then loop.spawn_ctx(handlers.on_message, ws_done, self, self, a, b) end
  elseif event == "ws_pong" then
    if handlers.on_pong then loop.spawn_ctx(handlers.on_pong, ws_done, self, self, a) end
  elseif event == "ws_drain" then
    write_mark.drained(self, function(fn, h) loop.spawn_ctx(fn, ws_done, h, h) end)
  else -- ws_close: after it returns the handle is gone
    self._ws_closed, self.close_code, self.close_reason = true, math.tointeger(a), b
    write_mark.closed(self)
    if handlers.on_close then loop.spawn_ctx(handlers.on_close, ws_done, self, self) end
    self.ws = nil
  end
end

-- ---- dispatch -------------------------------------------------------------------------------
local function report(self, ok, tb, err)
  if ok then return end
  if self._in_write_error then
    -- Already rendering an error page: log only (send_error here would recurse).
    io.stderr:write("eddy-lua: error in write_error: ", tostring(tb), "\n")
    return
  end
  if getmetatable(err) == HTTPError then
    if err.message then io.stderr:write("eddy-lua: ", tostring(err), "\n") end
    if not self._done then self:send_error(err.status) end
    return
  end
  local where = "handler"
  if not self._done then
    local req = core.eddy_handler_request(self.h)
    where = core.eddy_request_method(req) .. " " .. core.eddy_request_path(req)
  end
  io.stderr:write("eddy-lua: error in ", where, ": ", tostring(tb), "\n")
  if not self._done then self:send_error(500) end
end

-- eddy's default origin check (the one used when the handlers table has no check_origin): the
-- Origin's host[:port] equals the Host header, case-insensitively. A check_origin function may
-- call it to extend the default instead of replacing it.
function Handler:default_check_origin(origin)
  local netloc = type(origin) == "string" and origin:match("^[^:/]*://([^/]*)")
  local host = self:host()
  return netloc ~= nil and netloc ~= "" and host ~= nil and netloc:lower() == host:lower()
end

local function traceback(e)
  if getmetatable(e) == HTTPError then return e end
  return debug.traceback(e, 2)
end
-- Reports an error caught with `traceback`: an HTTPError as its status, anything else as 500.
local function report_error(self, err)
  if getmetatable(err) == HTTPError then report(self, false, nil, err)
  else report(self, false, err, err) end
end

-- Handshake hooks: plain calls (no coroutine: the upgrade waits for their answer). An
-- HTTPError answers with its status; any other error refuses the handshake — 403 for the
-- origin check, 500 for the subprotocol choice — and logs the traceback.
local function ws_check_origin(self, fn, origin)
  local ok, res = xpcall(fn, traceback, self, origin)
  if ok then return res and true or false end
  if getmetatable(res) == HTTPError then
    if not self._done then self:send_error(res.status) end
  else
    io.stderr:write("eddy-lua: error in check_origin (refused with 403): ", tostring(res), "\n")
  end
  return false
end

local function ws_select_subprotocol(self, fn, protocols)
  local ok, res = xpcall(fn, traceback, self, protocols)
  if ok then
    if res ~= nil and type(res) ~= "string" then
      io.stderr:write("eddy-lua: select_subprotocol must return one of the offered names or nil\n")
      return nil
    end
    return res
  end
  report_error(self, res)
  return nil
end

-- Runs a synchronous hook (prepare, write_error, ...) with the error policy of methods.
local function run_hook(self, fn, ...)
  local ok, err = xpcall(fn, traceback, self, ...)
  if not ok then report_error(self, err) end
end

-- Resumes a request suspended in prepare: the method runs inside eddy_handler_resume (and may
-- keep the response open again: run_method attaches and detaches it anew), so the handler
-- counts as undetached before the call; eddy's refusal (not waiting) restores that.
function resume_prepare(self)
  local was_detached = self._detached
  self._detached, self._prep_waiting = nil, nil
  loop.detach("handlers", self)
  local rc = core.eddy_handler_resume(self.h)
  if rc == core.EDDY_ECLOSED then
    self._done = true -- eddy finished and released it: the client left while prepare waited
  elseif rc ~= 0 and not self._done then
    self._detached = was_detached
    if was_detached then loop.attach("handlers", self, finish_abandoned) end
  end
  return rc
end

-- The end of a coroutine prepare: an error answers as a method's does; a prepare that had
-- yielded and left the response open (and did not detach it itself) lets the method run now.
local function prepare_done(self, ok, tb, err)
  if not ok then
    self._prep_waiting = nil
    return report(self, false, tb, err)
  end
  if self._prep_waiting and not self._done and not self._detached then resume_prepare(self) end
end

-- prepare runs as a coroutine (Tornado's coroutine prepare, e.g. an authorisation lookup):
-- one that yields suspends the request before its method (eddy_handler_detach in prepare) —
-- for a WebSocket route, before the handshake — until it returns (then the method runs) or
-- answers (send_error(403), an HTTPError: the method never runs).
local function run_prepare(self, fn, ...)
  if not loop.spawn_ctx(fn, prepare_done, self, self, ...) and not self._done and not self._detached then
    self._prep_waiting = true
    loop.attach("handlers", self, finish_abandoned)
    core.eddy_handler_detach(self.h)
  end
end

local function method_done(self, ok, tb, err)
  if not ok then return report(self, false, tb, err) end
  if self._async and not self._done and not self._detached then self:finish() end
end

local function run_method(self, fn, ...)
  if not loop.spawn_ctx(fn, method_done, self, self, ...) and not self._done then
    -- The coroutine yielded: keep the response open until it returns.
    self._async = true
    loop.attach("handlers", self, finish_abandoned)
    core.eddy_handler_detach(self.h)
  end
end

local function make_dispatch(app, handlers, kwargs)
  local method_fns = {}
  for k, fn in pairs(handlers) do
    if STANDARD_METHODS[k] then method_fns[STANDARD_METHODS[k]] = fn
    elseif type(k) == "string" and k:match("^[A-Z][A-Z0-9_-]*$") then method_fns[k] = fn end
  end
  if method_fns.GET and not method_fns.HEAD then method_fns.HEAD = method_fns.GET end
  local initialize = handlers.initialize
  return function(event, h, self, extra, ...)
    if self.h == nil then
      self.h, self.application, self.kwargs = h, app, kwargs
      setmetatable(self, Handler)
      if initialize then run_hook(self, initialize, kwargs) end
    end
    if event == "method" then
      if self._done then return end
      local fn = method_fns[extra]
      if not fn then return self:send_error(405) end
      return run_method(self, fn, ...)
    elseif event == "ws_check_origin" then
      return ws_check_origin(self, handlers.check_origin, extra)
    elseif event == "ws_select_subprotocol" then
      return ws_select_subprotocol(self, handlers.select_subprotocol, extra)
    elseif event:sub(1, 3) == "ws_" then
      return ws_event(self, handlers, event, extra, ...)
    elseif event == "on_connection_close" then
      self._closed = true
      if handlers.on_connection_close then run_hook(self, handlers.on_connection_close) end
    elseif event == "write_error" then
      self._status = math.tointeger(extra)
      self._in_write_error = true
      run_hook(self, handlers.write_error, math.tointeger(extra))
      self._in_write_error = false
    elseif event == "prepare" then
      return run_prepare(self, handlers.prepare, extra)
    elseif handlers[event] then
      run_hook(self, handlers[event], extra)
    end
  end
end

-- ---- Application --------------------------------------------------------------------------
local Application = {}
Application.__index = Application
web.Application_class = Application

-- Creates an application. routes: list of { pattern, handlers [, kwargs] } (kwargs may hold
-- `name` for reverse_url, `host` for a host pattern and `xsrf_check = false`: see add_route). settings: cookie_secret, xsrf_cookies,
-- compress_response, static_path, static_url_prefix (default "/static/"),
-- default_handler (a handlers table for unmatched paths).
function web.Application(routes, settings)
  settings = settings or {}
  local app = setmetatable({ handle = core.eddy_app_new(loop.get()), settings = settings }, Application)
  if not app.handle then error("eddy: cannot create an application") end
  loop.attach("servers", app, Application.close)
  if settings.cookie_secret then core.eddy_app_set_cookie_secret(app.handle, settings.cookie_secret) end
  if settings.xsrf_cookies then core.eddy_app_set_xsrf_cookies(app.handle, 1) end
  if settings.compress_response then core.eddy_app_set_compress_response(app.handle, 1) end
  if settings.static_path then
    local rc = core.eddy_app_add_static(app.handle, settings.static_url_prefix or "/static/", settings.static_path)
    if rc ~= 0 then error("eddy: static_path: " .. core.eddy_strerror(rc)) end
  end
  for _, r in ipairs(routes or {}) do app:add_route(r[1], r[2], r[3]) end
  if settings.default_handler then
    local route = app:add_route("(?!)", settings.default_handler)
    core.eddy_app_set_default_route(app.handle, route)
  end
  return app
end

-- The eddy_app handle; an error once the application is closed (by close() or eddy.close()).
local function app_handle(self)
  if not self.handle then error("eddy: application closed", 3) end
  return self.handle
end

-- Adds a route; returns its eddy_route handle. kwargs: name, host, websocket (see above) and
-- xsrf_check: false makes requests to this route skip the xsrf_cookies check, as overriding
-- check_xsrf_cookie to do nothing on one Tornado handler does (e.g. an API authenticated
-- otherwise); default true.
function Application:add_route(pattern, handlers, kwargs)
  app_handle(self)
  if type(handlers) ~= "table" then error("eddy: route " .. pattern .. ": handlers must be a table") end
  kwargs = kwargs or {}
  local ws_options
  if handlers.open or handlers.on_message or handlers.on_close then
    -- Checked before the route exists: a refused option leaves the application unchanged.
    local ok, options = pcall(self.websocket_options, self, kwargs.websocket)
    local bad = ok and websocket.options_error(options, false) or (not ok and options)
    if bad then error("eddy: route " .. pattern .. ": websocket: " .. tostring(bad), 2) end
    ws_options = options
  end
  local route = core.add_route(self.handle, pattern, make_dispatch(self, handlers, kwargs), kwargs.host)
  if not route then error("eddy: bad route pattern " .. pattern) end
  for k in pairs(handlers) do
    local m = STANDARD_METHODS[k] or (type(k) == "string" and k:match("^[A-Z][A-Z0-9_-]*$") and k)
    if m then core.route_on(route, m) end
  end
  -- on_connection_close is always watched (it tells a suspended coroutine's handler that writes
  -- are pointless); the other hooks only when given.
  core.route_hook(route, "on_connection_close")
  for _, hook in ipairs(HOOKS) do if handlers[hook] then core.route_hook(route, hook) end end
  if kwargs.name then core.eddy_route_set_name(route, kwargs.name) end
  if kwargs.xsrf_check ~= nil then
    if type(kwargs.xsrf_check) ~= "boolean" then error("eddy: route " .. pattern .. ": xsrf_check must be a boolean") end
    core.eddy_route_set_xsrf_check(route, kwargs.xsrf_check and 1 or 0)
  end
  if handlers.open or handlers.on_message or handlers.on_close then
    local rc = core.route_websocket(route, ws_options, handlers.on_pong ~= nil)
    if rc ~= 0 then error("eddy: route " .. pattern .. ": websocket: " .. core.eddy_strerror(rc)) end
    for _, hook in ipairs({ "check_origin", "select_subprotocol" }) do
      if handlers[hook] then core.route_hook(route, hook) end
    end
  end
  return route
end

-- The WebSocket options of a route: its kwargs.websocket over the application's
-- websocket_* settings (Tornado's websocket_ping_interval, websocket_ping_timeout,
-- websocket_max_message_size, plus websocket_max_message_memory, websocket_compression and
-- websocket_close_timeout).
local APP_WS_SETTINGS = { "ping_interval", "ping_timeout", "max_message_size", "max_message_memory",
                          "compression", "close_timeout" }
function Application:websocket_options(route_opts)
  local merged = {}
  for _, k in ipairs(APP_WS_SETTINGS) do merged[k] = self.settings["websocket_" .. k] end
  for k, v in pairs(route_opts or {}) do merged[k] = v end
  return merged
end

-- The options of listen (Tornado's HTTPServer keywords, eddy/http.h's limits and options):
-- name → the type it takes. Sizes are integers (bytes or counts), timeouts seconds.
local SERVER_OPTIONS = {
  ssl_options = "table", xheaders = "boolean", trusted_downstream = "table", no_keep_alive = "boolean",
  decompress_request = "boolean", body_arguments = "boolean", max_header_size = "size",
  max_header_fields = "size", max_body_size = "size", max_buffer_size = "size", max_body_memory = "size",
  header_timeout = "number", idle_connection_timeout = "number", body_timeout = "number",
  max_connections = "size", server_header = "string or false", proxy_protocol = "boolean",
  chunk_size = "size", protocol = "string", body_min_rate = "number", body_min_rate_grace = "number",
}

-- Internal errors carry no position (level 0); listen re-raises them at its caller's.
local function fail(message) error(message, 0) end
-- A value for an error message: strings quoted, their control characters escaped.
local function show(v)
  if type(v) ~= "string" then return tostring(v) end
  return '"' .. v:gsub('[%c"\\]', function(c) return ("\\%d"):format(c:byte()) end) .. '"'
end

-- listen's port and host as TCPServer:listen takes them: a port that is an integer in 0..65535
-- (nil: 0, pick one) — C's int would cut 1.5 to port 1 — and a host that is a string (without
-- NUL: C would read it cut short) or nil.
local function check_address(port, host)
  if port ~= nil and (math.type(port) ~= "integer" or port < 0 or port > 65535) then
    fail("eddy: listen: port must be an integer in 0..65535, not " .. show(port))
  end
  if host ~= nil and (type(host) ~= "string" or host:find("\0", 1, true)) then
    fail("eddy: listen: host must be a string without NUL or nil, not " .. show(host))
  end
end

-- The least value of the sizes that have one, and the timeouts (0 or more seconds): what the C
-- setters accept.
local AT_LEAST = { max_header_size = 64, max_header_fields = 1 }
local TIMEOUTS = { "header_timeout", "idle_connection_timeout", "body_timeout", "body_min_rate",
                   "body_min_rate_grace" }

-- Checks every option before anything is set, as the C setters would: an unknown name (a
-- misspelt option must not be ignored), a value of the wrong type, out of range (a size under
-- its least, a negative or NaN timeout), a server_header with control characters, a protocol
-- other than "http" / "https", or a trusted_downstream entry that is not a numeric address is an
-- error naming the option.
local function check_server_options(opts)
  if opts == nil then return end
  if type(opts) ~= "table" then fail("eddy: listen options must be a table") end
  for name, value in pairs(opts) do
    local want = SERVER_OPTIONS[name]
    if not want then fail("eddy: unsupported listen option " .. tostring(name)) end
    local ok
    if want == "size" then
      ok = math.type(value) ~= nil and math.tointeger(value) ~= nil and value >= 0
      want = "non-negative integer"
    elseif want == "string or false" then
      ok = type(value) == "string" or value == false
    else
      ok = type(value) == want
    end
    if not ok then fail("eddy: listen option " .. name .. " must be a " .. want .. ", not " .. show(value)) end
  end
  local function refuse(name, why)
    fail("eddy: listen option " .. name .. " = " .. show(opts[name]) .. " refused: "
         .. core.eddy_strerror(core.EDDY_EINVAL) .. " (" .. why .. ")")
  end
  for name, least in pairs(AT_LEAST) do
    if opts[name] ~= nil and opts[name] < least then refuse(name, "at least " .. least) end
  end
  for _, name in ipairs(TIMEOUTS) do
    local v = opts[name]
    if v ~= nil and not (v >= 0) then  -- NaN too
      refuse(name, name == "body_min_rate" and "bytes per second, 0 or more" or "seconds, 0 or more")
    end
  end
  if opts.body_min_rate == math.huge then refuse("body_min_rate", "bytes per second, finite") end
  -- A field value: HTAB and the bytes from 0x20 on but DEL (CR or LF would split the header).
  if type(opts.server_header) == "string" and opts.server_header:find("[\0-\8\10-\31\127]") then
    refuse("server_header", "control characters")
  end
  if opts.protocol ~= nil and opts.protocol ~= "http" and opts.protocol ~= "https" then
    refuse("protocol", '"http" or "https"')
  end
  local trusted = opts.trusted_downstream or {}
  for k, ip in pairs(trusted) do
    if math.type(k) ~= "integer" or k < 1 or k > #trusted then
      fail("eddy: listen option trusted_downstream must be a list of addresses")
    end
    if type(ip) ~= "string" then
      fail("eddy: listen option trusted_downstream[" .. k .. "] must be a string, not " .. show(ip))
    end
  end
  for _, ip in ipairs(trusted) do
    if ip ~= "unix:" and not core.is_ip_address(ip) then  -- "unix:": peers on a Unix socket
      fail("eddy: listen option trusted_downstream: " .. show(ip) .. " refused: "
           .. core.eddy_strerror(core.EDDY_EINVAL) .. " (a numeric IPv4 or IPv6 address)")
    end
  end
end

-- TLS (Tornado's ssl_options names, see listen) on `server`: the one option the server refuses
-- for a value that passed the checks (certificate files it cannot load), so it is applied before
-- any other, when nothing has changed yet.
local function apply_tls(server, opts)
  if opts.ssl_options == nil then return end
  local rc, option = core.server_set_tls(server, opts.ssl_options)
  rc = math.tointeger(rc)
  if rc ~= 0 then
    fail("eddy: ssl_options: " .. (option and (option .. ": ") or "") .. core.eddy_strerror(rc))
  end
end

-- Applies listen's options to `server` (an eddy_server), all or nothing: every option is
-- checked before the first is set, so a refused one leaves the server as it was. What the
-- server can still refuse while applying: ssl_options whose files it cannot load (applied first:
-- nothing has changed then), and server_header or a trusted_downstream entry when out of memory
-- (then this call's TLS setting, its server_header and the entries before the refused one stay
-- set; the error says so). `applying`, when given, is called once nothing has been refused
-- before the first change (after TLS).
local function configure_server(server, opts, applying)
  check_server_options(opts)
  if opts == nil then return end
  apply_tls(server, opts)
  if applying then applying() end
  local function set(name, rc, value)
    rc = math.tointeger(rc)
    if rc ~= 0 then
      fail("eddy: listen option " .. name .. " = " .. show(value == nil and opts[name] or value)
           .. " refused while applying: " .. core.eddy_strerror(rc)
           .. " (the options applied before it stay set)")
    end
  end
  local function flag(v) return v and 1 or 0 end
  -- The two that allocate (refused only when out of memory), then those that cannot be refused
  -- once checked.
  if opts.server_header ~= nil then
    set("server_header", core.server_set_server_header(server, opts.server_header or nil))
  end
  for _, ip in ipairs(opts.trusted_downstream or {}) do
    set("trusted_downstream", core.eddy_server_add_trusted_proxy(server, ip), ip)
  end
  if opts.xheaders ~= nil then set("xheaders", core.eddy_server_set_xheaders(server, flag(opts.xheaders))) end
  if opts.no_keep_alive ~= nil then
    set("no_keep_alive", core.eddy_server_set_no_keep_alive(server, flag(opts.no_keep_alive)))
  end
  if opts.decompress_request ~= nil then
    set("decompress_request", core.eddy_server_set_decompress_request(server, flag(opts.decompress_request)))
  end
  if opts.body_arguments ~= nil then
    set("body_arguments", core.eddy_server_set_body_arguments(server, flag(opts.body_arguments)))
  end
  local numbers = {
    { "max_header_size", core.eddy_server_set_max_header_size },
    { "max_header_fields", core.eddy_server_set_max_header_fields },
    -- max_buffer_size: Tornado's default for max_body_size.
    { opts.max_body_size ~= nil and "max_body_size" or "max_buffer_size", core.eddy_server_set_max_body_size },
    { "max_body_memory", core.eddy_server_set_max_body_memory },
    { "max_connections", core.eddy_server_set_max_connections },
    { "header_timeout", core.eddy_server_set_header_timeout },
    { "idle_connection_timeout", core.eddy_server_set_idle_timeout },
    { "body_timeout", core.eddy_server_set_body_timeout },
  }
  for _, option in ipairs(numbers) do
    local name, setter = option[1], option[2]
    if opts[name] ~= nil then set(name, setter(server, opts[name])) end
  end
  -- One C setter takes both: the one not given gets eddy's default (500 bytes/s, 20 s).
  if opts.body_min_rate ~= nil or opts.body_min_rate_grace ~= nil then
    set("body_min_rate", core.eddy_server_set_body_min_rate(server, opts.body_min_rate or 500,
                                                              opts.body_min_rate_grace or 20))
  end
  -- With ssl_options too, each connection's PROXY header is read before its TLS handshake (a
  -- proxy passing TLS through); false turns off what an earlier listen of a raw server set.
  if opts.proxy_protocol ~= nil then
    set("proxy_protocol", core.eddy_server_set_proxy_protocol(server, flag(opts.proxy_protocol)))
  end
  if opts.protocol ~= nil then set("protocol", core.eddy_server_set_protocol(server, opts.protocol)) end
  -- chunk_size: how much Tornado reads per call; eddy reads what the socket has.
end

-- The server a listen configures, made to listen with bind(server) -> rc: one left unchanged
-- by a refused listen, else the default one the first time and a new one afterwards (see
-- Application:listen). Raises (level 0) for a bad option or a refused bind.
local function listen_server(self, h, opts, bind)
  check_server_options(opts)
  local server = self._unchanged_server
  if not server then
    -- (Not `a and b or c`: a nil from eddy_app_add_server would fall back to the default
    -- server, already listening, and configure it with this listen's options.)
    if self._default_taken then
      server = core.eddy_app_add_server(h)
    else
      server = core.eddy_app_server(h)
    end
    if not server then fail("eddy: listen failed: no server (out of memory)") end
    self._default_taken = true
    self._unchanged_server = server
  end
  configure_server(server, opts, function() self._unchanged_server = nil end)
  local rc = bind(server)
  if rc ~= 0 then fail("eddy: listen failed: " .. core.eddy_strerror(rc)) end
  self._unchanged_server = nil
  return server
end

-- Listens on port (0 = pick a free one) and host (nil = every address); returns the port.
-- opts are Tornado's HTTPServer keywords (app.listen(port, address, **kwargs)); an unknown
-- name, a value of the wrong type or one eddy refuses raises an error naming the option:
--   ssl_options: serves HTTPS / wss:// — certfile and keyfile (PEM files; the key defaults to
--     certfile's file), ca_certs (CAs for client certificates) and cert_reqs ("none",
--     "optional" or "required"; "required" by default when ca_certs is given).
--   xheaders (default false): the client's address and scheme from X-Real-IP /
--     X-Forwarded-For and X-Scheme / X-Forwarded-Proto (Handler:remote_ip and
--     Handler:protocol report them).
--   trusted_downstream: a list of proxy addresses (numeric IPv4/IPv6, else an error); once
--     given, xheaders are believed only from these peers, and X-Forwarded-For is read from the
--     right, skipping them. Default: every peer is believed.
--   no_keep_alive (default false): every response says Connection: close and closes.
--   decompress_request (default false): gzip request bodies are decoded before the handlers
--     (the header becomes X-Consumed-Content-Encoding).
--   body_arguments (default true, as Tornado): an application/x-www-form-urlencoded or
--     multipart/form-data body is decoded into body arguments and files before the handlers,
--     and one that cannot be decoded gets 400 without them running. false: form bodies are not
--     decoded (arguments come from the query alone, no files) and every request reaches its
--     handler with Handler:body as it came.
--   max_header_size (bytes, default 65536; at least 64): a larger request head gets 431.
--   max_header_fields (default 1000; at least 1): more header lines get 431 and close.
--   max_body_size (bytes, default 100 MiB, counted decompressed; max_buffer_size is its
--     Tornado default): a larger body gets 413 and close.
--   max_body_memory (bytes, default 1 GiB; 0: no limit): the request-body bytes held in memory
--     over all connections (until each request is finished; bodies streamed to data_received
--     are not counted). A body that does not fit gets 503 and close: at once when its
--     Content-Length does not fit (before any 100 Continue), else when the bytes that go over
--     arrive.
--   header_timeout (seconds, default 30): a head not complete in time gets 408 and close.
--   idle_connection_timeout (seconds, default 75): an idle keep-alive connection (or one that
--     takes none of its answer) is closed.
--   body_timeout (seconds, default 60): a body that sends nothing for that long gets 408.
--   body_min_rate (bytes/s, default 500; 0: none), body_min_rate_grace (seconds, default 20):
--     the least average rate of a body once the grace has passed; a body that falls behind
--     (one trickled a byte at a time, which body_timeout does not end) gets 408 and close.
--     Time the application holds the body does not count. The one not given gets its default.
--     Timeouts: 0 disables, a negative one is refused.
--   max_connections (default 0: no limit): at the limit the oldest idle keep-alive connection
--     is closed for a new one; when none is idle the new one is closed (and logged).
--   server_header: the Server header (default "eddy/<version>"); false sends none.
--   proxy_protocol (default false): every connection must start with a PROXY protocol v1/v2
--     header, whose address becomes the remote ip; others are closed. With ssl_options the
--     header comes first, then the TLS handshake (a proxy passing TLS through, as HAProxy's
--     mode tcp with send-proxy).
--   protocol ("http" or "https"): every request's scheme (Handler:protocol), for a server
--     behind a proxy that terminates TLS; with xheaders a scheme the proxy names still wins.
--   chunk_size: accepted and ignored (eddy reads what the socket has).
-- As in Tornado (each app.listen makes an HTTPServer), every listen has a server of its own,
-- with only its own options and the application's routes: one application may serve plain
-- HTTP on one port and HTTPS on another, or two ports with different limits. The first listen
-- uses the application's default server (Application:server()); each later one makes a new
-- server (eddy_app_add_server), freed with the application. Options apply to that server's
-- connections. A listen that raises for an option changes none and makes no server: every
-- option is checked first (see configure_server for what can still be refused while
-- applying: a server whose certificate files are refused is used again by the next listen,
-- nothing having changed on it). A listen refused later (out of memory while applying, an
-- address that cannot be bound) leaves its configured server unused until the application
-- is closed.
function Application:listen(port, host, opts)
  local h = app_handle(self)
  local ok, err = pcall(check_address, port, host)
  if not ok then error(err, 2) end
  local server
  ok, server = pcall(listen_server, self, h, opts, function(srv)
    -- IPv6-only IPv6 sockets, as Tornado's (and TCPServer:listen): "0.0.0.0" and "::" both.
    return core.eddy_server_listen(srv, host, port or 0, core.EDDY_LISTEN_IPV6ONLY)
  end)
  if not ok then error(server, 2) end
  return math.tointeger(core.eddy_server_port(server))
end

-- Listens on a Unix socket at `path` (Tornado: bind_unix_socket(file, mode) handed to an
-- HTTPServer of the application), e.g. for a proxy on the same machine (nginx's proxy_pass
-- http://unix:PATH). opts: listen's server options, and mode (the socket file's permission
-- bits, default 0x180 = octal 600 as Tornado's bind_unix_socket: only this user can connect;
-- tonumber("660", 8) lets its group in too), set before the socket listens. A stale socket
-- file nobody answers on is replaced; any other file there, or a live server, is an error.
-- The file is removed when the application closes. A path starting with "@" is a Linux
-- abstract socket (no file; mode does not apply). Makes a server as listen does (the
-- application's default one the first time). Handler:remote_ip() is "" on it.
function Application:listen_unix(path, opts)
  local h = app_handle(self)
  if type(path) ~= "string" or path == "" or path:find("\0", 1, true) then
    error("eddy: listen_unix: path must be a non-empty string without NUL, not " .. show(path), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("eddy: listen_unix: options must be a table or nil, not " .. show(opts), 2)
  end
  local mode = 384 -- 0600
  local server_opts = nil
  if opts ~= nil then
    server_opts = {}
    for k, v in pairs(opts) do server_opts[k] = v end
    if server_opts.mode ~= nil then
      mode = server_opts.mode
      if math.type(mode) ~= "integer" or mode < 0 or mode > 511 then
        error("eddy: listen_unix: mode must be an integer in 0..0x1ff (octal 0..777), not "
          .. show(opts.mode), 2)
      end
      server_opts.mode = nil
    end
  end
  local ok, err = pcall(listen_server, self, h, server_opts, function(srv)
    return core.eddy_server_listen_unix_mode(srv, path, mode)
  end)
  if not ok then error(err, 2) end
end

-- The application's default server (an eddy_server, owned by the application): the first
-- listen's.
function Application:server() return core.eddy_app_server(app_handle(self)) end
function Application:reverse_url(name, ...)
  local url, rc = core.reverse_url(app_handle(self), name, ...)
  if not url then error("eddy: reverse_url " .. name .. ": " .. core.eddy_strerror(rc)) end
  return url
end
-- Frees the application, its routes (releasing their Lua functions) and its servers.
function Application:close()
  local h = self.handle
  if not h then return end
  self.handle = nil -- first: hooks that run during the free may call close() again
  loop.detach("servers", self)
  core.eddy_app_free(h)
end

-- ---- raw HTTP server (no routing, no handler life cycle) --------------------------------------
local RawServer = {}
RawServer.__index = RawServer
-- opts as for Application:listen (Tornado's HTTPServer keywords).
function RawServer:listen(port, host, opts)
  local h = self.handle
  if not h then error("eddy: server closed", 2) end
  local ok, err = pcall(check_address, port, host)
  if not ok then error(err, 2) end
  ok, err = pcall(configure_server, h, opts)
  if not ok then error(err, 2) end
  local rc = core.eddy_server_listen(h, host, port or 0, core.EDDY_LISTEN_IPV6ONLY)
  if rc ~= 0 then error("eddy: listen failed: " .. core.eddy_strerror(rc)) end
  return math.tointeger(core.eddy_server_port(h))
end
function RawServer:close()
  local h = self.handle
  if not h then return end
  self.handle = nil
  loop.detach("servers", self)
  core.eddy_server_free(h)
end

-- The leanest path: fn(req) gets the raw eddy_request (use core.eddy_request_* on it) and the
-- request is finished when fn returns — unless fn returns true, then call
-- core.eddy_request_finish(req) yourself later (and only then). A Lua error → 500.
-- core.request_flush(req) sends what was written so far; core.eddy_request_abort(req) (also
-- only after fn returned true, or in it before returning true) ends the response incomplete
-- — no last chunk, the declared Content-Length short, nothing at all before the first flush —
-- and closes the connection, so the client knows the answer was cut.
function web.HTTPServer(fn)
  local handle = core.server_new(loop.get(), fn)
  if not handle then error("eddy: cannot create the server") end
  local server = setmetatable({ handle = handle }, RawServer)
  loop.attach("servers", server, RawServer.close)
  return server
end

return web
