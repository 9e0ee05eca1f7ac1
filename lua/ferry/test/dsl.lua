-- The busted language a spec file is written in: describe/context,
-- it/spec/test, pending, the hooks, finally, assert. dsl.install(suite)
-- declares the block kinds on a suite; dsl.load_file(suite, path) compiles a
-- spec file into its own environment and adds it to the run. Inside a
-- test, pending(message) ends the test as pending and finally(fn) runs fn
-- after it; declaring blocks there is refused.

local block = require "ferry.test.block"
local failure = require "ferry.test.failure"
local assert = require "ferry.test.assert"
local trace = require "ferry.test.trace"

local dsl = {}

-- Saves and restores what a spec file could change for the files after
-- it: globals set through _G and the modules it required. (busted's
-- "insulate" mode, which busted applies to every file by default.)
local function save_globals()
  local globals, loaded = {}, {}
  for k, v in next, _G do
    globals[k] = v
  end
  for k, v in next, package.loaded do
    loaded[k] = v
  end
  return { globals = globals, loaded = loaded, mt = debug.getmetatable(_G) }
end

local function restore_globals(saved)
  debug.setmetatable(_G, saved.mt)
  for k in next, _G do
    rawset(_G, k, saved.globals[k])
  end
  for k, v in next, saved.globals do
    rawset(_G, k, v)
  end
  for k in next, package.loaded do
    package.loaded[k] = saved.loaded[k]
  end
  for k, v in next, saved.loaded do
    package.loaded[k] = v
  end
end

local function refuse(name)
  return function()
    error("'" .. name .. "' not supported inside current context block", 2)
  end
end

-- A failure or error outranks success and pending.
local function worse(status, other)
  if status == "success" or (status == "pending" and other ~= "success") then
    return other
  end
  return status
end

local function executors(suite)
  local function run_file(file)
    local saved = save_globals()
    if suite:safe_publish("file", { "file", "start" }, file) then
      block.execute(suite, "file", file)
    end
    suite:safe_publish("file", { "file", "end" }, file)
    restore_globals(saved)
  end

  local function run_describe(describe)
    local parent = describe.parent
    if suite:safe_publish("describe", { "describe", "start" }, describe, parent) then
      block.execute(suite, "describe", describe)
    end
    suite:safe_publish("describe", { "describe", "end" }, describe, parent)
  end

  -- The test body, then its finally(); returns the test's status.
  local function run_body(test)
    local status = suite:safe("it", test.run, test)
    if test.finally then
      test.env.pending = refuse("pending")
      status = worse(status, suite:safe("finally", test.finally, test))
    end
    return status
  end

  local function run_test(test)
    local parent = test.parent
    if not block.lazy_setup(suite, parent) then
      return -- busted silently skips the tests of a block whose lazy_setup failed
    end
    test.finally = nil
    test.env = {
      finally = function(fn)
        test.finally = fn
      end,
      pending = failure.pending,
    }
    local ok, reached = block.run_down(suite, "before_each", parent)
    if ok then
      local status = "error"
      if suite:safe_publish("test", { "test", "start" }, test, parent) then
        status = run_body(test)
      end
      suite:safe_publish("test", { "test", "end" }, test, parent, status)
    end
    block.run_up(suite, "after_each", reached)
  end

  local function run_pending(test)
    local parent = test.parent
    local status = "pending"
    if not suite:safe_publish("it", { "test", "start" }, test, parent) then
      status = "error"
    end
    suite:safe_publish("it", { "test", "end" }, test, parent, status)
  end

  return run_file, run_describe, run_test, run_pending
end

function dsl.install(suite)
  local run_file, run_describe, run_test, run_pending = executors(suite)

  suite:register("file", run_file)
  suite:register("describe", run_describe)
  suite:register("it", run_test)
  suite:register("pending", run_pending, { default_fn = function() end })

  -- Globals a hook sets belong to its block, so tests can see them.
  for _, hook in ipairs({ "before_each", "after_each", "lazy_setup", "lazy_teardown",
                          "strict_setup", "strict_teardown" }) do
    suite:register(hook, { envmode = "unwrap" })
  end
  suite:register("setup", "strict_setup")
  suite:register("teardown", "strict_teardown")
  suite:register("context", "describe")
  suite:register("spec", "it")
  suite:register("test", "it")

  -- What every spec file sees; tests add finally() and their own pending().
  for name, fn in pairs(suite.api) do
    if name ~= "file" then
      suite.root.env[name] = fn
    end
  end
  suite.root.env.assert = assert
end

-- Compiles a spec file and declares it on the suite. A file that does not
-- compile is reported as an error of that file.
function dsl.load_file(suite, path)
  local chunk, err = loadfile(path, "bt", suite:environment())
  if not chunk then
    suite:publish({ "error", "file" }, { descriptor = "file", name = path }, nil, err, {})
    return false
  end
  suite.api.file(path, chunk)
  return true
end

trace.mark_internal()

return dsl
