-- A small JSON API with route captures: an in-memory store of notes.
--   GET    /notes           → list        POST /notes {"text": ...} → 201 + the note
--   GET    /notes/<id>      → one note    DELETE /notes/<id>        → 204
--   GET    /notes/<id>/slow → the note after a 50 ms coroutine sleep (async handler)
-- Run: lua5.4 examples/json_api.lua [--port N]   (prints "listening <port>")
local eddy = require("eddy")

local port = 8888
for i = 1, #arg do if arg[i] == "--port" then port = tonumber(arg[i + 1]) end end

local notes, next_id = {}, 1

local function find(id)
  local note = notes[tonumber(id)]
  if not note then error(eddy.HTTPError(404)) end
  return note
end

local function json_errors(self, status)
  self:set_header("Content-Type", "application/json")
  self:write(eddy.json.encode({ error = status }))
end

local app = eddy.Application({
  { "/notes", {
      get = function(self)
        local list = eddy.json.array()
        for id = 1, next_id - 1 do if notes[id] then list[#list + 1] = notes[id] end end
        self:write({ notes = list })
      end,
      post = function(self)
        local body = self:json_body()
        if type(body) ~= "table" or type(body.text) ~= "string" then error(eddy.HTTPError(400)) end
        local note = { id = next_id, text = body.text }
        notes[next_id], next_id = note, next_id + 1
        self:set_status(201)
        self:set_header("Location", self:reverse_url("note", note.id))
        self:write(note)
      end,
      write_error = json_errors,
    } },
  { "/notes/([0-9]+)", {
      get = function(self, id) self:write(find(id)) end,
      delete = function(self, id)
        find(id)
        notes[tonumber(id)] = nil
        self:set_status(204)
      end,
      write_error = json_errors,
    }, { name = "note" } },
  { "/notes/([0-9]+)/slow", {
      get = function(self, id)
        eddy.sleep(0.05)
        self:write(find(id))
      end,
      write_error = json_errors,
    } },
})

port = app:listen(port, "127.0.0.1")
print("listening " .. port)
io.stdout:flush()
eddy.start()
