-- Commands that end while tasks they spawned still run: a failed script
-- cancels them (their cleanup runs) and ferry exits; `ferry test` cancels
-- what the specs left after its summary. Each ferry runs under an exec
-- timeout, only so that a hang fails the spec instead of stopping the suite.
local helpers = require "tests.spec.support.helpers"
local task = require "task"

-- A task that holds a to-be-closed value writing $MARK, tells the main
-- script it holds it, and would then sleep for ever.
local HOLDER = [[
local task = require "task"
local ready = task.channel()
task.spawn(function()
  local guard <close> = setmetatable({}, { __close = function(_, err)
    local f = io.open(os.getenv("MARK"), "w")
    f:write("closed: ", tostring(err and err.kind))
    f:close()
  end })
  ready:put(true)
  task.sleep(3600)
end)
ready:get()
]]

describe("a failed command with tasks still running", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  local function ferry(args)
    local ok, result = pcall(helpers.ferry, args, { env = { MARK = dir .. "/mark" }, timeout = 30 })
    assert(ok, "ferry " .. table.concat(args, " ") .. " did not exit: " .. tostring(result))
    return result
  end

  it("ferry run FILE cancels them, runs their cleanup and exits 1", function()
    helpers.write_file(dir .. "/script.lua", HOLDER .. 'error("the script broke", 0)\n')
    local r = ferry { "run", dir .. "/script.lua" }
    assert.are.equal(1, r.code)
    assert.matches("the script broke", r.stderr)
    assert.are.equal("closed: cancelled", helpers.read_file(dir .. "/mark"))
  end)

  it("ferry eval CODE cancels them, runs their cleanup and exits 1", function()
    local r = ferry { "eval", HOLDER .. 'error("the code broke", 0)' }
    assert.are.equal(1, r.code)
    assert.matches("the code broke", r.stderr)
    assert.are.equal("closed: cancelled", helpers.read_file(dir .. "/mark"))
  end)

  it("a script that succeeds still waits for its tasks", function()
    helpers.write_file(dir .. "/script.lua", [[
local task = require "task"
task.spawn(function() task.sleep(0.01); io.open(os.getenv("MARK"), "w"):close() end)
]])
    local r = ferry { "run", dir .. "/script.lua" }
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(io.open(dir .. "/mark"), "the task ran to its end")
  end)
end)

describe("ferry test with a spec that leaves a task running", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  local function spec_file(outcome)
    helpers.write_file(dir .. "/left_spec.lua", string.format([[
describe("a spec", function()
  it("leaves two tasks", function()
    local task = require "task"
    for _ = 1, 2 do
      %s
    end
    %s
  end)
end)
]], HOLDER:gsub("\n", "\n      "), outcome))
    local ok, r = pcall(helpers.ferry, { "test", dir .. "/left_spec.lua", "-o", "plainTerminal" },
      { env = { MARK = dir .. "/mark" }, timeout = 30 })
    assert(ok, "ferry test did not exit: " .. tostring(r))
    return r
  end

  local function warnings(text)
    local n = 0
    for _ in text:gmatch("ferry test: warning: the specs left 2 tasks running; cancelled\n") do n = n + 1 end
    return n
  end

  it("cancels them after the summary, says so in one line and exits 0 when the specs passed", function()
    local r = spec_file("")
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("1 success / 0 failures", r.stdout)
    assert.are.equal(1, warnings(r.stderr), r.stderr)
    assert.are.equal("closed: cancelled", helpers.read_file(dir .. "/mark"))
  end)

  it("exits 1 when a spec failed", function()
    local r = spec_file('assert.are.equal(1, 2)')
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("0 successes / 1 failure", r.stdout)
    assert.are.equal(1, warnings(r.stderr), r.stderr)
  end)
end)

describe("task.cancel_all", function()
  it("cancels the tasks spawned since a snapshot, newest first, and keeps the others", function()
    local order = {}
    local older = task.spawn(function() task.sleep(3600) end)
    local before = task.running()
    local started = task.channel()
    local function worker(name)
      return task.spawn(function()
        local _ <close> = setmetatable({}, { __close = function() order[#order + 1] = name end })
        started:put(name)
        task.sleep(3600)
      end)
    end
    local a, b = worker("a"), worker("b")
    started:get() -- both hold their cleanup now
    started:get()
    assert.are.equal(2, task.cancel_all(before))
    assert.are.same({ "b", "a" }, order)
    assert.are.equal("cancelled", a.state)
    assert.are.equal("cancelled", b.state)
    assert.is_false(older:done())
    older:cancel()
  end)
end)
