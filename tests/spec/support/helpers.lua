-- Shared helpers of the specs: temp dirs, the test HTTP server, the ferry binary.
local exec = require "exec"
local sys = require "ferry.sys"
local task = require "task"

local helpers = {}

helpers.root = sys.realpath(".")

--- The upstream fixtures (verbatim copies, see tests/fixtures/upstream/SOURCES.md).
function helpers.fixtures()
  return os.getenv("FERRY_FIXTURES") or (helpers.root .. "/tests/fixtures/upstream")
end

--- The ferry binary under test (tests/run-all sets FERRY_BIN).
function helpers.ferry_bin()
  return os.getenv("FERRY_BIN") or (helpers.root .. "/ferry")
end

--- A fresh temp directory; removed by helpers.remove_tree.
function helpers.tmpdir()
  local result = exec.run { argv = { "mktemp", "-d", "/tmp/ferry-spec.XXXXXX" } }
  assert(result.code == 0, result.stderr)
  return (result.stdout:gsub("%s+$", ""))
end

function helpers.remove_tree(path)
  assert(path:match("^/tmp/ferry%-spec%."), "refusing to remove " .. path)
  exec.run { argv = { "rm", "-rf", path } }
end

function helpers.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function helpers.read_file(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  return text
end

--- The lines of a file, or {} when it does not exist.
function helpers.lines(path)
  local out = {}
  local f = io.open(path)
  if not f then return out end
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end

--- Waits (up to `seconds`) until fn() returns a true value, and returns it.
function helpers.eventually(fn, seconds, what)
  local deadline = sys.monotonic() + (seconds or 10)
  while true do
    local value = fn()
    if value then return value end
    if sys.monotonic() > deadline then
      error("timed out waiting for " .. (what or "a condition"), 2)
    end
    task.sleep(0.05)
  end
end

--- Starts tests/spec/support/http_server.py; returns {url=, process=, dir=}.
function helpers.start_http_server()
  local dir = helpers.tmpdir()
  local port_file = dir .. "/port"
  local process = exec.spawn {
    argv = { "python3", helpers.root .. "/tests/spec/support/http_server.py", port_file },
  }
  local port = helpers.eventually(function()
    local f = io.open(port_file)
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return tonumber(text)
  end, 10, "the test HTTP server to start")
  return { url = "http://127.0.0.1:" .. port, process = process, dir = dir }
end

function helpers.stop_http_server(server)
  if not server then return end
  server.process:close()
  helpers.remove_tree(server.dir)
end

--- The objects of a YAML file (documents that are not tables left out).
function helpers.documents(path)
  local out = {}
  for _, doc in ipairs(require("yaml").decode_all(helpers.read_file(path), { source = path })) do
    if type(doc) == "table" then out[#out + 1] = doc end
  end
  return out
end

--- Runs the example of docs/modules/NAME marked "<!-- spec: runs -->" with
-- the ferry binary and the given environment; returns the exec result.
function helpers.run_doc_example(name, vars)
  local text = helpers.read_file(helpers.root .. "/docs/modules/" .. name)
  local code = text:match("<!%-%- spec: runs %-%->%s*```lua\n(.-)\n```")
  assert(code, "no runnable example in docs/modules/" .. name)
  local dir = helpers.tmpdir()
  helpers.write_file(dir .. "/example.lua", code)
  local r = helpers.ferry({ "run", dir .. "/example.lua" }, { env = vars, timeout = 120 })
  helpers.remove_tree(dir)
  return r
end

--- Runs the ferry binary with args; returns the exec result.
function helpers.ferry(args, options)
  local argv = { helpers.ferry_bin() }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local o = { argv = argv, timeout = 60 }
  for k, v in pairs(options or {}) do o[k] = v end
  return exec.run(o)
end

return helpers
