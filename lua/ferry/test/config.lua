-- The .busted file: options for `ferry test` kept with the project, in
-- busted's format -- a Lua file returning tasks of options keyed by their
-- long names:
--
--   return {
--     _all = { lpath = "lua/?.lua;lua/?/init.lua" },   -- every task
--     default = { ROOT = { "spec" }, output = "plainTerminal" },
--     integration = { ROOT = { "tests/integration" }, tags = "slow", verbose = true },
--   }
--
-- `ferry test --run integration` takes the `integration` task, otherwise
-- `default`. What the command line gives wins over the task, the task over
-- `_all`, `_all` over the defaults. The file is `.busted` in the
-- directory given by -C (the current one by default), or -f FILE.

local cli = require "ferry.test.cli"
local sys = require "ferry.sys"
local trace = require "ferry.test.trace"

local config = {}

-- Later tables win; values are replaced, not merged (busted's
-- tablex.merge(a, b, true)).
local function merge(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t then
      for k, v in pairs(t) do
        out[k] = v
      end
    end
  end
  return out
end

local function is_file(path)
  local info = sys.stat(path)
  return info ~= nil and info.type == "file"
end

local function join(dir, name)
  if not dir or dir == "" or dir == "./" or dir == "." then
    return name
  end
  return (dir:gsub("/*$", "")) .. "/" .. name
end

-- The options of a run from what the command line gave (cli.parse):
-- defaults, then the .busted file, then the command line. Returns nil and
-- a message when the file cannot be used.
function config.resolve(explicit)
  local defaults = cli.defaults()
  local directory = explicit.directory or defaults.directory
  local path
  if explicit["config-file"] then
    path = explicit["config-file"]
    if not is_file(path) then
      return nil, ("specified config file '%s' not found"):format(path)
    end
  elseif is_file(join(directory, ".busted")) then
    path = join(directory, ".busted")
  end

  local options
  if path then
    local chunk, err = loadfile(path)
    if not chunk then
      return nil, ("failed loading config file `%s`: %s"):format(path, err)
    end
    local ok, tasks = pcall(chunk)
    if not ok then
      return nil, ("failed loading config file `%s`: %s"):format(path, tostring(tasks))
    end
    if type(tasks) ~= "table" then
      return nil, ".busted file does not return a table."
    end
    local run = explicit.run or defaults.run
    local task
    if run and run ~= "" then
      task = tasks[run]
      if type(task) ~= "table" then
        return nil, "Task `" .. run .. "` not found, or not a table."
      end
    elseif type(tasks.default) == "table" then
      task = tasks.default
    end
    options = merge(defaults, type(tasks._all) == "table" and tasks._all or nil, task, explicit)
  else
    options = merge(defaults, explicit)
  end
  return cli.normalize(options)
end

trace.mark_internal()

return config
