-- Drives eddy.websocket_connect over wss:// with the TLS options and prints one JSON line per
-- case (test_wss.py checks them), then "done". Usage:
--   lua5.4 wss_client.lua --self URL --other URL --mutual URL --certs DIR
-- self: a server with a self-signed certificate for 127.0.0.1 (DIR/self.crt); other: a
-- certificate from DIR/ca.crt for another host name; mutual: a certificate from DIR/ca.crt for
-- 127.0.0.1 on a server that requires a client certificate from DIR/ca.crt.
local eddy = require("eddy")
local core, json = eddy.core, eddy.json

local harness = require("tests.script_harness")
local args = harness.args()
local certs = args.certs

harness.watchdog("wss_client.lua", 30)

local emit = harness.emit_named

-- Connects with `opts`; on success exchanges one message. Returns what happened.
local function attempt(url, opts)
  local conn, err, code, detail = eddy.websocket_connect(url, opts)
  if not conn then return { ok = false, err = err, code = code, detail = detail } end
  local out = { ok = true, greeting = conn:read_message() }
  conn:write_message("over tls")
  out.echo = conn:read_message()
  conn:close()
  conn:read_message()
  return out
end

eddy.spawn(function()
  local self_crt = certs .. "/self.crt"
  emit("trusted", attempt(args.self, { ca_certs = self_crt }))
  emit("default", attempt(args.self))
  emit("validate_true", attempt(args.self, { validate_cert = true }))
  emit("no_validate", attempt(args.self, { validate_cert = false }))
  -- A CA-signed certificate for another host name: the host-name check refuses it.
  emit("wrong_host", attempt(args.other, { ca_certs = certs .. "/ca.crt" }))
  emit("wrong_host_no_validate", attempt(args.other, { validate_cert = false }))
  emit("no_client_cert", attempt(args.mutual, { ca_certs = certs .. "/ca.crt" }))
  emit("client_cert", attempt(args.mutual, { ca_certs = certs .. "/ca.crt",
    client_cert = certs .. "/client.crt", client_key = certs .. "/client.key" }))
  -- Options eddy refuses are named, synchronously, with EDDY_EINVAL.
  emit("missing_ca", attempt(args.self, { ca_certs = certs .. "/missing.pem" }))
  emit("key_without_cert", attempt(args.self, { client_key = certs .. "/client.key" }))
  emit("not_a_string", attempt(args.self, { ca_certs = 42 }))
  emit("bad_client_cert", attempt(args.self, { client_cert = certs .. "/client.crt",
                                               client_key = certs .. "/other.key" }))
  -- The callback form carries the options too.
  local fut = eddy.Future()
  eddy.websocket_connect(args.self, { ca_certs = self_crt }, function(conn, err)
    fut:set_result(conn and conn:read_message() or err)
  end)
  emit("callback", { greeting = fut:wait() })
  -- A server refuses bad ssl_options with an error naming them.
  local listen_errors = {}
  for _, ssl in ipairs({ { certfile = certs .. "/missing.crt" },
                         { certfile = certs .. "/self.crt", keyfile = certs .. "/other.key" },
                         { keyfile = certs .. "/self.key" },
                         { certfile = certs .. "/self.crt", keyfile = certs .. "/self.key", cert_reqs = "maybe" } }) do
    local app = eddy.Application({})
    local ok, err = pcall(app.listen, app, 0, "127.0.0.1", { ssl_options = ssl })
    listen_errors[#listen_errors + 1] = ok and "listened" or tostring(err)
    app:close()
  end
  emit("listen_errors", { errors = listen_errors })
  emit("codes", { etls = core.EDDY_ETLS, einval = core.EDDY_EINVAL })
  print("done")
  os.exit(0)
end)
eddy.start()
