-- What specs, helpers and output handlers written for busted require by
-- name: `busted` (the running suite's API), `busted.outputHandlers.*`,
-- `busted.languages.en`, `busted.fixtures`, `luassert` and its parts, and
-- `say`. They resolve to ferry's own modules; `require "busted"` gives the
-- suite that is running when it is called (runs can nest: the runner's
-- own specs start runs inside a run).

local trace = require "ferry.test.trace"
local failure = require "ferry.test.failure"
local util = require "ferry.test.util"
local task = require "task"
local sys = require "ferry.sys"

local compat = {}

compat.version = "2.1.1" -- the busted release this runner follows

local running = {}

function compat.push(suite)
  running[#running + 1] = suite
end

function compat.pop()
  running[#running] = nil
end

function compat.depth()
  return #running
end

function compat.truncate(depth)
  for i = #running, depth + 1, -1 do
    running[i] = nil
  end
end

function compat.current()
  local suite = running[#running]
  if not suite then
    error("busted: no test run in progress", 3)
  end
  return suite
end

-- setfenv for Lua 5.2+: gives `fn` an _ENV of its own.
local function setfenv(fn, env)
  local up = 0
  local name
  repeat
    up = up + 1
    name = debug.getupvalue(fn, up)
  until name == "_ENV" or name == nil
  if name then
    debug.upvaluejoin(fn, up, function() return name end, 1)
    debug.setupvalue(fn, up, env)
  end
  return fn
end

local function getfenv(fn)
  local up = 0
  local name, value
  repeat
    up = up + 1
    name, value = debug.getupvalue(fn, up)
  until name == "_ENV" or name == nil
  return name and value or _G
end

-- The busted module table: the declaring functions (describe, it, ...)
-- and busted's exported API of the suite running at the time of each use,
-- so a table kept from one run serves the next.
function compat.api()
  local function suite()
    return compat.current()
  end
  local extras = {
    publish = function(...) return suite():publish(...) end,
    subscribe = function(...) return suite():subscribe(...) end,
    unsubscribe = function(...) return suite():unsubscribe(...) end,
    fail = function(message)
      failure.fail(message)
    end,
    gettime = util.gettime,
    monotime = sys.monotonic,
    sleep = task.sleep,
    parent = function(element) return element.parent end,
    children = function(element) return element.children or {} end,
    version = compat.version,
    bindfenv = function(callable, var, value)
      local fn = (debug.getmetatable(callable) or {}).__call or callable
      local env = setmetatable({}, { __index = getfenv(fn) })
      env[var] = value
      setfenv(fn, env)
    end,
    assert = require "ferry.test.assert",
    spy = require "ferry.test.spy",
    stub = require "ferry.test.stub",
    mock = require "ferry.test.mock",
    match = require "ferry.test.match",
  }
  return setmetatable({}, {
    __index = function(_, key)
      if key == "file" then
        return nil
      end
      local value = extras[key]
      if value == nil then
        value = suite().api[key]
      end
      return value
    end,
    __newindex = function()
      error("Attempt to modify busted", 2)
    end,
  })
end

-- busted.fixtures: files next to the spec that asks for them.
local function fixtures()
  local fx = {}
  local function caller_dir()
    local info = trace.user_frame(3)
    local source = info and info.source or "@./"
    source = source:gsub("^@", "")
    return source:match("^(.*)/[^/]*$") or "."
  end
  function fx.path(sub_path)
    if type(sub_path) ~= "string" and sub_path ~= nil then
      error("bad argument to 'path' expected a string (relative filename) or nil, got: " .. type(sub_path), 2)
    end
    local dir = sys.realpath(caller_dir()) or caller_dir()
    if sub_path then
      return dir .. "/" .. sub_path
    end
    return dir
  end
  function fx.read(rel_path, is_bin)
    local path = fx.path(rel_path)
    local f, err = io.open(path, is_bin and "rb" or "r")
    if not f then
      error(("Error reading file '%s': %s"):format(path, tostring(err)), 2)
    end
    local text = f:read("a")
    f:close()
    return text
  end
  function fx.load(rel_path)
    local path = fx.path(rel_path)
    if not path:match("%.lua$") then
      path = path .. ".lua"
    end
    local chunk, err = loadfile(path)
    if not chunk then
      error(("Error loading file '%s': %s"):format(path, tostring(err)), 2)
    end
    return chunk
  end
  return fx
end

local function output_handler(name)
  return function()
    local factory = require("ferry.test.output." .. name)
    return function(options)
      return factory(options, compat.current())
    end
  end
end

-- Makes the names above requirable (once per process).
function compat.preload()
  local preload = package.preload
  local function provide(name, loader)
    preload[name] = preload[name] or loader
  end
  local function alias(name, module)
    provide(name, function() return require(module) end)
  end
  alias("luassert", "ferry.test.assert")
  alias("luassert.assert", "ferry.test.assert")
  alias("luassert.spy", "ferry.test.spy")
  alias("luassert.stub", "ferry.test.stub")
  alias("luassert.mock", "ferry.test.mock")
  alias("luassert.match", "ferry.test.match")
  alias("luassert.util", "ferry.test.util")
  alias("luassert.state", "ferry.test.state")
  alias("luassert.namespaces", "ferry.test.namespaces")
  for _, part in ipairs({ "assertions", "modifiers", "array", "formatters", "matchers",
                          "matchers.core", "matchers.composite", "languages.en" }) do
    provide("luassert." .. part, function() return true end)
  end
  alias("say", "ferry.test.say")
  provide("busted", function() return compat.api() end)
  provide("busted.outputHandlers.base", function()
    local base = require "ferry.test.output.base"
    return function()
      return base(compat.current())
    end
  end)
  for _, name in ipairs({ "TAP", "json", "junit", "gtest", "utfTerminal", "plainTerminal", "sound" }) do
    provide("busted.outputHandlers." .. name, output_handler(name))
  end
  provide("busted.languages.en", function() return require("ferry.test.language") end)
  provide("busted.fixtures", fixtures)
end

trace.mark_internal()

return compat
