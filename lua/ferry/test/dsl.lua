-- The busted language a spec file is written in: describe/context,
-- insulate/expose, it/spec/test, pending, the hooks, finally, randomize,
-- and luassert's assert, spy, stub, mock and match. dsl.install(suite)
-- declares the block kinds on a suite; dsl.load_file(suite, path) compiles
-- a spec file into its own environment and adds it to the run. Inside a
-- test, pending(message) ends the test as pending and finally(fn) runs fn
-- after it; declaring blocks there is refused.

local block = require "ferry.test.block"
local failure = require "ferry.test.failure"
local assert = require "ferry.test.assert"
local spy = require "ferry.test.spy"
local stub = require "ferry.test.stub"
local mock = require "ferry.test.mock"
local match = require "ferry.test.match"
local trace = require "ferry.test.trace"

local dsl = {}

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
  -- A file is insulated (unless --no-auto-insulate): Suite:push saves
  -- the globals and loaded modules and Suite:pop puts them back.
  local function run_file(file)
    if suite:safe_publish("file", { "file", "start" }, file) then
      block.execute(suite, "file", file)
    end
    suite:safe_publish("file", { "file", "end" }, file)
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
      randomize = refuse("randomize"),
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

-- randomize([on [, seed]]) in a file or describe body: shuffle that
-- block's children (busted: randomize(), randomize(false), randomize(seed),
-- randomize(true, seed)).
local function randomizer(suite)
  return function(...)
    local element = suite.current
    if element.descriptor ~= "file" and element.descriptor ~= "describe" then
      error("'randomize' not supported inside current context block", 2)
    end
    local args = table.pack(...)
    local request = { on = args.n == 0 or args[1] }
    if request.on then
      request.seed = tonumber(args[1]) or tonumber(args[2])
    end
    element.randomize_request = request
  end
end

-- options: auto_insulate (default true: each file insulated), lazy
-- (setup/teardown mean lazy_setup/lazy_teardown).
function dsl.install(suite, options)
  options = options or {}
  local run_file, run_describe, run_test, run_pending = executors(suite)

  if options.auto_insulate == false then
    suite:register("file", run_file)
  else
    suite:register("file", run_file, { envmode = "insulate" })
  end
  suite:register("describe", run_describe)
  suite:register("insulate", "describe", { envmode = "insulate" })
  suite:register("expose", "describe", { envmode = "expose" })
  suite:register("it", run_test)
  suite:register("pending", run_pending, { default_fn = function() end })

  -- Globals a hook sets belong to its block, so tests can see them.
  for _, hook in ipairs({ "before_each", "after_each", "lazy_setup", "lazy_teardown",
                          "strict_setup", "strict_teardown" }) do
    suite:register(hook, { envmode = "unwrap" })
  end
  if options.lazy then
    suite:register("setup", "lazy_setup")
    suite:register("teardown", "lazy_teardown")
  else
    suite:register("setup", "strict_setup")
    suite:register("teardown", "strict_teardown")
  end
  suite:register("context", "describe")
  suite:register("spec", "it")
  suite:register("test", "it")

  -- What every spec file sees; tests add finally() and their own pending().
  for name, fn in pairs(suite.api) do
    if name ~= "file" then
      suite.root.env[name] = fn
    end
  end
  suite.root.env.randomize = randomizer(suite)
  suite.root.env.assert = assert
  suite.root.env.spy = spy
  suite.root.env.stub = stub
  suite.root.env.mock = mock
  suite.root.env.match = match
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
