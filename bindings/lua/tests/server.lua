-- The Lua test server: routes that exercise the binding, driven over real sockets by the
-- python3 tests next to it. Usage: lua5.4 server.lua --port 0 ; prints "listening <port>".
local eddy = require("eddy")
local core = eddy.core

local stats = { finished = 0, closed = 0, ticks = 0, inits = 0, gone_finished = 0, prep_left = 0 }
local port = 0
local static_dir -- --static DIR: the application's static_path (none without it)
for i = 1, #arg do
  if arg[i] == "--port" then port = tonumber(arg[i + 1]) end
  if arg[i] == "--static" then static_dir = arg[i + 1] end
end

local waiting = eddy.Future()
local prepare_gate -- a Future the ?hold prepares of /async_prepare wait on
local room = {}
local stale
local ticker = eddy.periodic(0.01, function() stats.ticks = stats.ticks + 1 end)
ticker:start()

-- Leak check: inner applications created and freed on request.
local inner = {}
local function make_inner()
  local app = eddy.Application({
    { "/", { get = function(self) self:write("inner " .. self:get_argument("n", "0")) end,
             prepare = function(self) self.t = {} end } },
    { "/sleep", { get = function(self) eddy.sleep(0); self:write({ slept = true }) end } },
    { "/later", { get = function(self)
        self:detach()
        eddy.call_later(0, function() self:finish("later") end)
      end } },
    { "/boom", { get = function(self) error("inner boom") end } },
    { "/ws", { open = function(self) self:write_message("hi") end,
               on_message = function(self, m) self:write_message(m) end,
               on_close = function(self) end } },
  })
  return app
end

local app = eddy.Application({
  { "/", { get = function(self) self:write("Hello, world") end,
           on_finish = function(self) stats.finished = stats.finished + 1 end } },
  { "/items/([0-9]+)", {
      get = function(self, id) self:write({ id = tonumber(id), kind = self:get_argument("kind", "plain") }) end,
      put = function(self, id)
        local body = self:json_body()
        self:set_status(201)
        self:write({ id = tonumber(id), got = body })
      end,
    }, { name = "item" } },
  { "/named/(?<who>[a-z]+)", { get = function(self) self:write("who=" .. self:path_arg("who")) end } },
  { "/reverse", { get = function(self) self:write(self:reverse_url("item", 42)) end } },
  -- static_url(path): the versioned URL, or "nil: <err>" without a static_path.
  { "/static_url", { get = function(self)
        local url, err = self:static_url(self:get_argument("path"))
        self:write(url or ("nil: " .. err))
      end } },
  -- set_etag: ?etag=<value> is the handler's own ETag; without it, set_etag(nil) (no ETag).
  { "/etag", { get = function(self)
        self:set_etag(self:get_argument("etag", false) or nil)
        self:write("etag body")
      end } },
  -- Tornado's argument rules: the last value wins, cleaned (see test_tornado_argument_rules).
  { "/last_args", { get = function(self)
        self:write({ a = self:get_argument("a"), raw = self:get_argument("a", nil, false),
                     q = self:get_query_argument("a"), list = eddy.json.array(self:get_arguments("a")),
                     missing = self:get_argument("zz", false) or eddy.json.null })
      end,
      post = function(self)
        self:write({ a = self:get_argument("a"), body = self:get_body_argument("a"),
                     query = self:get_query_argument("a") })
      end } },
  { "/args", { get = function(self)
        local all = {}
        for _, kv in ipairs(self:get_arguments()) do all[#all + 1] = kv[1] .. "=" .. kv[2] end
        self:write(self:get_argument("name") .. "|" .. table.concat(self:get_arguments("x"), ",")
                   .. "|" .. table.concat(all, "&"))
      end,
      post = function(self) self:write("body:" .. self:get_body_argument("a") .. ":" .. self:body()) end } },
  -- Uploaded files: self:files() as JSON, each body hex-encoded (binary-safe); each file table
  -- must hold exactly filename, content_type and body; plus the body argument "note".
  { "/files", { post = function(self)
        local out = {}
        for field, list in pairs(self:files()) do
          local entries = eddy.json.array()
          for i, f in ipairs(list) do
            local keys = {}
            for k in pairs(f) do keys[#keys + 1] = k end
            table.sort(keys)
            entries[i] = { filename = f.filename, content_type = f.content_type, size = #f.body,
                           hex = (f.body:gsub(".", function(c) return string.format("%02x", c:byte()) end)),
                           keys = table.concat(keys, ",") }
          end
          out[field] = entries
        end
        local names = eddy.json.array()
        for _, kv in ipairs(self:get_arguments()) do names[#names + 1] = kv[1] end
        self:write({ files = out, note = self:get_body_argument("note"), arguments = names })
      end } },
  -- Tornado's HTTPServerRequest fields and argument/cookie dicts, as JSON.
  { "/request_info", { get = function(self)
        self:write({ version = self:version(), host_name = self:host_name(), full_url = self:full_url(),
                     request_time = self:request_time(), cookies = self:cookies(),
                     arguments = self:arguments(), query_arguments = self:query_arguments(),
                     body_arguments = self:body_arguments(),
                     query_x = eddy.json.array(self:get_query_arguments("x")),
                     body_x = eddy.json.array(self:get_body_arguments("x")) })
      end,
      post = function(self)
        eddy.sleep(0.05) -- request_time keeps counting while the handler runs
        self:write({ arguments = self:arguments(), query_arguments = self:query_arguments(),
                     body_arguments = self:body_arguments(), query_x = eddy.json.array(self:get_query_arguments("x")),
                     body_x = eddy.json.array(self:get_body_arguments("x")), request_time = self:request_time() })
      end } },
  -- get_status follows set_status, clear (back to 200, headers and body dropped) and send_error.
  { "/status", {
      set_default_headers = function(self) self:set_header("X-Default", "again") end,
      get = function(self)
        local seen = { self:get_status() }
        self:set_status(201)
        seen[#seen + 1] = self:get_status()
        self:set_header("X-Dropped", "1")
        self:write("dropped body")
        self:clear()
        seen[#seen + 1] = self:get_status()
        self:set_status(202)
        seen[#seen + 1] = self:get_status()
        if self:get_argument("error", false) then
          self.seen = seen
          return self:send_error(409)
        end
        self:write(table.concat(seen, ","))
      end,
      write_error = function(self, status)
        self:write(table.concat(self.seen, ",") .. " error " .. self:get_status())
      end } },
  { "/clear_all_cookies", { get = function(self) self:clear_all_cookies({ path = "/p" }) end } },
  { "/headers", { get = function(self)
        self:set_status(203, "Made Up")
        self:set_header("X-One", "1")
        self:add_header("X-Many", "a")
        self:add_header("X-Many", "b")
        self:write("ua=" .. (self:header("User-Agent") or "none") .. " n=" .. #self:headers())
      end } },
  { "/cookies", { get = function(self)
        self:set_cookie("plain", "v1", { httponly = true, path = "/" })
        self:set_signed_cookie("signed", "s1")
        self:write("plain=" .. (self:get_cookie("plain") or "nil") .. " signed=" .. (self:get_signed_cookie("signed") or "nil"))
      end } },
  -- Values of the wrong type are errors (Tornado's TypeError), not their tostring text; a table
  -- JSON cannot hold leaves the Content-Type as it was.
  { "/bad_types", { get = function(self)
        local out = {}
        for _, case in ipairs({ { "write", nil }, { "write", true }, { "write", print },
                                { "write", { x = 0 / 0 } }, { "set_header", "X-Nil", nil },
                                { "add_header", "X-Table", {} }, { "set_header", "X-Bool", false } }) do
          local ok, err = pcall(self[case[1]], self, case[2], case[3])
          out[#out + 1] = case[1] .. " " .. tostring(ok) .. " " .. tostring(err)
        end
        self:set_header("X-Number", 5)
        self:write(42)
        self:write("\n" .. table.concat(out, "\n"))
      end } },
  -- Cookie attributes are NUL-terminated in C: a NUL inside is an error, not a cut attribute.
  { "/nul_cookie", { get = function(self)
        local ok, err = pcall(self.set_cookie, self, "c", "v", { domain = "a.test\0.evil.test" })
        self:write(tostring(ok) .. " " .. tostring(err))
      end } },
  { "/redirect", { get = function(self) self:redirect("/", tonumber(self:get_argument("status", "302"))) end } },
  { "/error", { get = function(self) local t = nil; return t.field end } },
  { "/httperror", { get = function(self) error(eddy.HTTPError(403)) end } },
  { "/custom_error", {
      get = function(self) self:send_error(418) end,
      write_error = function(self, status) self:write("custom error page " .. math.tointeger(status)) end } },
  { "/write_error_fails", {
      get = function(self) self:send_error(409) end,
      write_error = function(self, status) error("write_error itself fails") end } },
  { "/prepare", {
      prepare = function(self) if self:get_argument("stop", false) then self:finish("stopped in prepare") end end,
      get = function(self) self:write("method ran") end } },
  { "/prepare_error", { prepare = function(self) error("prepare boom") end,
                        get = function(self) self:write("never") end } },
  { "/default_headers", { set_default_headers = function(self) self:set_header("X-Default", "yes") end,
                          get = function(self) self:send_error(404) end } },
  { "/init", { initialize = function(self, kw) stats.inits = stats.inits + 1; self.greeting = kw.greeting end,
               get = function(self) self:write(self.greeting) end }, { greeting = "hi from kwargs" } },
  { "/later", { get = function(self)
        self:detach()
        eddy.call_later(0.01, function() self:write("later "); self:finish("done") end)
      end } },
  { "/sleep", { get = function(self)
        self:write("a")
        eddy.sleep(0.01)
        self:write("b")
        eddy.sleep(0)
        self:write("c")
      end } },
  { "/sleep_error", { get = function(self) eddy.sleep(0.01); error("after sleep") end } },
  { "/wait", { get = function(self) self:write("got " .. tostring(waiting:wait())) end } },
  { "/notify", { post = function(self)
        local old = waiting
        waiting = eddy.Future()
        old:set_result(self:body())
        self:write("notified")
      end } },
  { "/hang", {
      get = function(self) self:detach() end,
      on_connection_close = function(self) stats.closed = stats.closed + 1; self:finish() end } },
  -- A suspended handler whose client left, then failing (a Lua error), sending an error or
  -- redirecting: each must still end the request (on_finish runs, eddy releases the handler).
  { "/gone/([a-z_]+)", {
      get = function(self, how)
        self.left = eddy.Future()
        self.left:wait() -- resumed by on_connection_close
        if how == "error" then error("failing after the client left") end
        if how == "send_error" then return self:send_error(503) end
        self:redirect("/")
      end,
      on_connection_close = function(self) if self.left then self.left:set_result() end end,
      on_finish = function(self) stats.gone_finished = stats.gone_finished + 1 end } },
  { "/upload", {
      data_received = function(self, chunk) self.size = (self.size or 0) + #chunk end,
      post = function(self) self:write("size=" .. (self.size or 0)) end } },
  { "/custom", { PURGE = function(self) self:write("purged") end } },
  { "/stale/keep", { get = function(self) stale = self; self:write("kept") end } },
  { "/stale/use", { get = function(self) stale:write("too late") end } },
  { "/ws/echo", {
      prepare = function(self) self.greeting = self:get_argument("greet", "hello") end,
      open = function(self) self:write_message(self.greeting .. " " .. (self:path() or "")) end,
      on_message = function(self, data, binary)
        if data == "close" then return self:close(4000, "asked to") end
        if data == "boom" then error("ws boom") end
        if data == "json" then return self:write_message({ kind = "json", n = 1 }) end
        if data == "slow" then eddy.sleep(0.01); return self:write_message("slept") end
        self:write_message(data, binary)
      end,
      on_close = function(self) stats.ws_closed = (stats.ws_closed or 0) + 1; stats.last_code = self.close_code end,
    }, { websocket = { max_message_size = 1000 } } },
  -- Asynchronous prepare: a coroutine prepare that sleeps holds the method (and the handshake of
  -- a WebSocket route) until it returns; ?deny answers 403 after the wait (the method, open,
  -- never run); ?fail raises an HTTPError(403) after the wait; /async_prepare/detach ends a
  -- detached prepare with self:resume() from a timer; ?hold waits (instead of 0.1 s) until
  -- GET /async_prepare/release, and stats.prep_left counts the clients that left meanwhile.
  -- stats.prep_methods counts methods run.
  { "/async_prepare/release", { get = function(self)
        local gate = prepare_gate
        prepare_gate = nil
        if gate then gate:set_result(true) end
        self:write("released")
      end } },
  { "/async_prepare(/detach)?", {
      prepare = function(self)
        if self:path() == "/async_prepare/detach" then
          self:detach()
          eddy.call_later(0.1, function() self.rc = self:resume() end)
          return
        end
        if self:get_argument("hold", false) then
          prepare_gate = prepare_gate or eddy.Future()
          prepare_gate:wait()
        else
          eddy.sleep(0.1)
        end
        self.waited = true
        if self:get_argument("deny", false) then return self:send_error(403) end
        if self:get_argument("fail", false) then error(eddy.HTTPError(403)) end
      end,
      get = function(self)
        stats.prep_methods = (stats.prep_methods or 0) + 1
        eddy.sleep(0) -- the method may yield too
        self:write("method after prepare: " .. tostring(self.waited or self:path()))
      end,
      on_connection_close = function(self) stats.prep_left = stats.prep_left + 1 end } },
  { "/ws/authws", {
      prepare = function(self)
        eddy.sleep(0.05)
        if self:get_argument("deny", false) then self:send_error(403) end
      end,
      open = function(self) stats.auth_opened = (stats.auth_opened or 0) + 1; self:write_message("opened") end,
      on_message = function(self, data) self:write_message("echo: " .. data) end,
    } },
  { "/ws/room", {
      open = function(self) room[self] = true end,
      on_message = function(self, data) for peer in pairs(room) do peer:write_message(data) end end,
      on_close = function(self) room[self] = nil end,
    } },
  { "/stats", {
      get = function(self)
        collectgarbage("collect")
        local members = 0
        for _ in pairs(room) do members = members + 1 end
        self:write({ ws_closed = stats.ws_closed or 0, last_code = stats.last_code or 0, room = members,
                     finished = stats.finished, closed = stats.closed, ticks = stats.ticks,
                     inits = stats.inits, gone_finished = stats.gone_finished,
                     prep_methods = stats.prep_methods or 0, prep_left = stats.prep_left,
                     auth_opened = stats.auth_opened or 0,
                     registry = math.tointeger(core.registry_size()),
                     memory_kb = collectgarbage("count") })
      end,
      on_finish = function(self) end } },
  { "/inner/new", { post = function(self)
        local a = make_inner()
        local p = a:listen(0, "127.0.0.1")
        inner[p] = a
        self:write({ port = p })
      end } },
  { "/inner/free", { post = function(self)
        local p = tonumber(self:get_argument("port"))
        if not inner[p] then error(eddy.HTTPError(404)) end
        inner[p]:close()
        inner[p] = nil
        self:write("freed")
      end } },
  { "/stop", { post = function(self) self:write("bye"); eddy.call_later(0, eddy.stop) end } },
}, { cookie_secret = "test secret", static_path = static_dir, default_handler = {
  get = function(self) self:set_status(404); self:write("nothing at " .. self:path()) end } })

core.eddy_server_allow_method(app:server(), "PURGE")

-- The raw HTTP server beside the application: /raw_port tells the tests where it listens.
local raw = eddy.HTTPServer(function(req)
  local path = core.eddy_request_path(req)
  if path == "/boom" then error("raw boom") end
  if path == "/later" then
    eddy.call_later(0.01, function()
      core.eddy_request_write(req, "raw later")
      core.eddy_request_finish(req)
    end)
    return true
  end
  -- eddy_request_abort (fn returns true: the request is ended here): a chunked body without
  -- its last chunk, a declared length left short, or before the head just the close.
  if path == "/abort_chunked" then
    core.eddy_request_write(req, "first")
    core.request_flush(req)
    core.eddy_request_write(req, "second")
    core.eddy_request_abort(req)
    return true
  end
  if path == "/abort_short" then
    core.eddy_request_set_header(req, "Content-Length", "10")
    core.eddy_request_write(req, "12345")
    core.request_flush(req)
    core.eddy_request_abort(req)
    return true
  end
  if path == "/abort_nohead" then
    core.eddy_request_write(req, "never sent")
    core.eddy_request_abort(req)
    return true
  end
  if path == "/files" then  -- core.request_files on a raw request: the same table
    local out = {}
    for field, list in pairs(core.request_files(req)) do
      for _, f in ipairs(list) do out[#out + 1] = field .. "=" .. f.filename .. ":" .. #f.body end
    end
    table.sort(out)
    core.eddy_request_write(req, table.concat(out, " "))
    return
  end
  core.eddy_request_set_header(req, "Content-Type", "text/plain")
  core.eddy_request_write(req, "raw " .. core.eddy_request_method(req) .. " " .. path)
end)
local raw_port = raw:listen(0, "127.0.0.1")
app:add_route("/raw_port", { get = function(self) self:write(tostring(raw_port)) end })

-- An application with xsrf_cookies beside the main one (whose POST routes carry no token):
-- /form checks the token, /api opts out with xsrf_check = false. /xsrf_port tells where it is.
local posted = function(self) self:write("posted " .. self:path()) end
local xsrf_app = eddy.Application({
  { "/form", { get = function(self) self:write(self:xsrf_token()) end, post = posted } },
  { "/api", { post = posted }, { xsrf_check = false } },
}, { cookie_secret = "test secret", xsrf_cookies = true })
local xsrf_port = xsrf_app:listen(0, "127.0.0.1")
app:add_route("/xsrf_port", { get = function(self) self:write(tostring(xsrf_port)) end })

port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
ticker:close()
raw:close()
xsrf_app:close()
app:close()
