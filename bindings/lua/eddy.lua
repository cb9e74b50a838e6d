-- eddy for Lua: an asynchronous web server (Tornado's model) on libeddy.
--   local eddy = require("eddy")
--   local app = eddy.Application({ { "/", { get = function(self) self:write("Hello") end } } })
--   app:listen(8888); eddy.start()
local loop = require("eddy.loop")
local web = require("eddy.web")
local json = require("eddy.json")
local websocket = require("eddy.websocket")
local httpclient = require("eddy.httpclient")
local httputil = require("eddy.httputil")
local iostream = require("eddy.iostream")
local tcpserver = require("eddy.tcpserver")
local tcpclient = require("eddy.tcpclient")
local process = require("eddy.process")
local subprocess = require("eddy.subprocess")

local eddy = {
  core = require("eddy.core"),
  loop = loop, web = web, json = json, websocket = websocket, httpclient = httpclient,
  httputil = httputil, iostream = iostream, tcpserver = tcpserver, tcpclient = tcpclient,
  process = process, subprocess = subprocess,
  Application = web.Application, HTTPError = web.HTTPError, HTTPServer = web.HTTPServer,
  start = loop.start, stop = loop.stop, run_once = loop.run_once, time = loop.time, close = loop.close,
  call_later = loop.call_later, add_callback = loop.add_callback, periodic = loop.periodic,
  on_signal = loop.on_signal, spawn = loop.spawn, sleep = loop.sleep, Future = loop.Future,
  websocket_connect = websocket.connect,
  AsyncHTTPClient = httpclient.AsyncHTTPClient, HTTPRequest = httpclient.HTTPRequest,
  HTTPClientError = httpclient.HTTPClientError, HTTPHeaders = httputil.HTTPHeaders,
  -- Raw TCP (Tornado's tcpserver, tcpclient, iostream, process and netutil.bind_sockets).
  TCPServer = tcpserver.new, TCPClient = tcpclient.new,
  bind_socket = process.bind_socket, socket_port = process.socket_port,
  fork_processes = process.fork_processes, task_id = process.task_id, cpu_count = process.cpu_count,
  -- Child processes with pipes as IOStreams (Tornado's process.Subprocess).
  Subprocess = process.Subprocess,
}
return eddy
