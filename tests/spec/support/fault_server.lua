-- tests/env/fault-server.py for the specs: start, set faults, read what reached it.
local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local http = require "http"
local json = require "json"

local fault_server = {}

local Server = {}
Server.__index = Server

--- Starts the server; returns it ({url, kubeconfig, ...}), with a kubeconfig
-- in its temp dir whose context "faulty" points at it over plain HTTP.
function fault_server.start()
  local dir = helpers.tmpdir()
  local process = exec.spawn {
    argv = { "python3", helpers.root .. "/tests/env/fault-server.py", "--port-file", dir .. "/port",
             "--lifetime", "300" },
  }
  local port = helpers.eventually(function()
    local f = io.open(dir .. "/port")
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return tonumber(text)
  end, 10, "the fault server to start")
  local self = setmetatable({ url = "http://127.0.0.1:" .. port, process = process, dir = dir,
                              kubeconfig = dir .. "/kubeconfig" }, Server)
  helpers.write_file(self.kubeconfig, table.concat({
    "apiVersion: v1", "kind: Config", "current-context: faulty",
    "clusters:", "- name: faulty", "  cluster:", "    server: " .. self.url,
    "users:", "- name: faulty", "  user:", "    token: fault-token-1234",
    "contexts:", "- name: faulty", "  context:", "    cluster: faulty", "    user: faulty",
  }, "\n") .. "\n")
  return self
end

local function control(self, method, path, body)
  local response = http.request { method = method, url = self.url .. "/_control/" .. path,
                                  body = body and json.encode(body) or nil }
  assert(response.status == 200, response.body)
  return json.decode(response.body)
end

--- Replaces the faults (a list, see fault-server.py) and forgets the counts.
function Server:faults(list)
  control(self, "POST", "reset")
  control(self, "PUT", "faults", setmetatable(list, { __jsontype = "array" }))
end

--- How many requests of method and path reached the server.
function Server:count(method, path)
  return control(self, "GET", "counts")[method .. " " .. path] or 0
end

function Server:stop()
  self.process:close()
  helpers.remove_tree(self.dir)
end

return fault_server
