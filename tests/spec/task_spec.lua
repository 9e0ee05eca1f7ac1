local task = require "task"
local sys = require "ferry.sys"

describe("task", function()
  it("runs two sleeps of 0.5 s side by side", function()
    local started = sys.monotonic()
    local finished = {}
    local results = task.all {
      function() task.sleep(0.5); finished[#finished + 1] = "a"; return "a" end,
      function() task.sleep(0.5); finished[#finished + 1] = "b"; return "b" end,
    }
    local elapsed = sys.monotonic() - started
    assert.are.same({ "a", "b" }, results)
    assert.are.same({ "a", "b" }, finished)
    -- overlap, not a tight time: two sequential sleeps would take 1 s or more
    assert.is_true(elapsed < 1.0, "took " .. elapsed .. " s")
  end)

  it("returns results in the order of the functions, not of completion", function()
    local results = task.all {
      function() task.sleep(0.2) return "slow" end,
      function() return "fast" end,
    }
    assert.are.same({ "slow", "fast" }, results)
  end)

  it("raises the first error of task.all and cancels the others", function()
    local cleaned = false
    local ok, err = pcall(task.all, {
      function() error({ kind = "boom", message = "first" }) end,
      function()
        local guard <close> = setmetatable({}, { __close = function() cleaned = true end })
        task.sleep(10)
      end,
    })
    assert.is_false(ok)
    assert.are.equal("boom", err.kind)
    assert.is_true(cleaned)
  end)

  it("spawns tasks whose handle waits for the result", function()
    local t = task.spawn(function(a, b) task.sleep(0.01) return a + b end, 2, 3)
    assert.are.equal(5, t:wait())
    assert.is_true(t:done())
  end)

  it("re-raises a task's error from wait", function()
    local t = task.spawn(function() error("bad thing", 0) end)
    assert.has_error(function() t:wait() end, "bad thing")
  end)

  it("cancels a waiting task and runs its __close handlers", function()
    local closed = false
    local t = task.spawn(function()
      local guard <close> = setmetatable({}, { __close = function() closed = true end })
      task.sleep(30)
    end)
    task.sleep(0.01)
    t:cancel()
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.are.equal("cancelled", err.kind)
    assert.is_true(closed)
  end)

  it("cancels a task that has not started yet", function()
    local ran = false
    local t = task.spawn(function() ran = true end)
    t:cancel()
    assert.has_error(function() t:wait() end)
    assert.is_false(ran)
  end)

  it("times out a slow function with a timeout error", function()
    local started = sys.monotonic()
    local ok, err = pcall(task.timeout, 0.1, function() task.sleep(10) end)
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    assert.is_true(sys.monotonic() - started < 5)
  end)

  it("returns the results of a function that finishes in time", function()
    assert.are.equal(42, task.timeout(5, function() return 42 end))
  end)

  it("blocks outside tasks, e.g. in a plain coroutine", function()
    local co = coroutine.wrap(function()
      task.sleep(0.01)
      return "from a plain coroutine"
    end)
    assert.are.equal("from a plain coroutine", co())
  end)

  it("refuses a bad argument to sleep with a clear message", function()
    assert.has_error(function() task.sleep("soon") end,
      "bad argument #1 to 'sleep' (number expected, got string)")
  end)

  it("reports a task that yields outside the scheduler", function()
    local t = task.spawn(function() coroutine.yield(1) end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("outside ferry's scheduler", tostring(err.message))
  end)

  it("runs a thousand concurrent tasks", function()
    local fns = {}
    for i = 1, 1000 do fns[i] = function() task.sleep(0.001 * (i % 10)) return i end end
    local results = task.all(fns)
    assert.are.equal(1000, #results)
    assert.are.equal(1000, results[1000])
  end)
end)

describe("task.channel", function()
  it("hands values from a producer task to a consumer in order", function()
    local ch = task.channel()
    local producer = task.spawn(function()
      for i = 1, 3 do task.sleep(0.01); ch:put(i) end
      ch:close()
    end)
    local got = {}
    for v in function() return ch:get() end do got[#got + 1] = v end
    producer:wait()
    assert.are.same({ 1, 2, 3 }, got)
  end)

  it("raises the close error to a waiting consumer", function()
    local ch = task.channel()
    task.spawn(function() task.sleep(0.01); ch:close({ kind = "gone", message = "stream ended" }) end)
    local ok, err = pcall(ch.get, ch)
    assert.is_false(ok)
    assert.are.equal("gone", err.kind)
  end)

  it("wakes a consumer task waiting inside another task", function()
    local ch = task.channel()
    local consumer = task.spawn(function() return ch:get() end)
    task.sleep(0.01)
    ch:put("hello")
    assert.are.equal("hello", consumer:wait())
  end)
end)
