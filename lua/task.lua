--- task: coroutines scheduled over ferry's event loop.
--
-- Every waiting call in ferry (HTTP, child processes, sleeps, watches) ends in
-- `task.await(op)`. Inside a task it yields to the scheduler, so other tasks
-- run meanwhile; anywhere else (the main thread, a plain coroutine, a
-- metamethod called from C) it drives the loop itself until the op is ready,
-- so scripts and the REPL can simply call things.
local loop = require "ferry.loop"
local duration = require "ferry.duration"
local errors = require "ferry.errors"

local task = {}

local Task = {}
Task.__index = Task

local WAIT = setmetatable({}, { __name = "task.wait" })   -- what tasks yield
local CANCEL = setmetatable({}, { __name = "task.cancel" }) -- resume signal

local by_thread = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local waiting_on = {}                                -- op -> task (until it fires)
local fired = setmetatable({}, { __mode = "k" })     -- op -> true (event not consumed)
local runnable = {}                                  -- tasks to resume, in order
local live = {}                                      -- unfinished tasks, in spawn order
local failed_unobserved = {}                         -- failures nobody waited for

local new_error = errors.new

local function finished(t)
  return t.state == "done" or t.state == "failed" or t.state == "cancelled"
end

local function remove_live(t)
  for i, other in ipairs(live) do
    if other == t then
      table.remove(live, i)
      return
    end
  end
end

local function make_runnable(t, ...)
  if t.state ~= "waiting" then return end
  t.state = "runnable"
  t.wake_args = table.pack(...)
  runnable[#runnable + 1] = t
end

local function finish(t, state, ...)
  t.state = state
  if state == "done" then
    t.results = table.pack(...)
  else
    t.error = ...
    if state == "failed" then failed_unobserved[t] = true end
  end
  remove_live(t)
  local waiters = t.waiters
  t.waiters = {}
  for waiter in pairs(waiters) do make_runnable(waiter) end
end

local function is_cancel_error(t, err)
  return t.cancel_error ~= nil and rawequal(err, t.cancel_error)
end

-- Resumes t once and records what became of it.
local function step(t, ...)
  t.state = "running"
  t.started = true
  local result = table.pack(loop.resume(t.co, ...))
  if not result[1] then
    t.traceback = errors.traceback(result[2], t.co) -- before close empties its stack
    coroutine.close(t.co) -- runs the pending __close handlers
    finish(t, is_cancel_error(t, result[2]) and "cancelled" or "failed", result[2])
  elseif coroutine.status(t.co) == "dead" then
    finish(t, "done", table.unpack(result, 2, result.n))
  elseif result[2] == WAIT then
    t.state = "waiting"
  else
    coroutine.close(t.co)
    finish(t, "failed", new_error("task", "a task yielded outside ferry's scheduler "
      .. "(coroutine.yield in a task body); use a coroutine of your own for generators"))
  end
end

--- The task running now, if the code can yield to the scheduler.
local function current()
  local t = by_thread[coroutine.running()]
  if t and coroutine.isyieldable() then return t end
  return nil
end
task.current = current

-- Newest first, so a task's helpers have cleaned up before it hears of it.
local function cancel_everything(err)
  local snapshot = { table.unpack(live) }
  for i = #snapshot, 1, -1 do
    task.cancel(snapshot[i], err)
  end
end

local function run_runnable()
  local batch = runnable
  runnable = {}
  for _, t in ipairs(batch) do
    if t.state == "runnable" then
      local args = t.wake_args
      t.wake_args = nil
      step(t, table.unpack(args, 1, args.n))
    end
  end
  return #batch > 0
end

local function interrupted()
  loop.clear_interrupt()
  local err = new_error("interrupted", "interrupted by Ctrl-C")
  cancel_everything(err)
  error(err, 0)
end

-- One turn of the loop from a caller that cannot yield.
local function drive_once()
  if run_runnable() then
    if loop.interrupted() then interrupted() end
    return
  end
  local pending = loop.active() > 0
  local ready, was_interrupted = loop.run_once(pending and -1 or 0)
  if was_interrupted then interrupted() end
  for _, op in ipairs(ready) do
    fired[op] = true
    local t = waiting_on[op]
    if t then
      waiting_on[op] = nil
      make_runnable(t)
    end
  end
  if #ready == 0 and #runnable == 0 and not pending then
    error(new_error("deadlock", "nothing left to wait for: every task is waiting on another"), 0)
  end
end

--- Waits until done() is true. ops: loop ops and tasks: tasks whose progress
-- may change the answer.
local function wait_until(done, ops, tasks)
  local me = current()
  while not done() do
    if me then
      for _, op in ipairs(ops or {}) do waiting_on[op] = me end
      for _, t in ipairs(tasks or {}) do t.waiters[me] = true end
      local signal, err = coroutine.yield(WAIT)
      for _, op in ipairs(ops or {}) do
        if waiting_on[op] == me then waiting_on[op] = nil end
      end
      for _, t in ipairs(tasks or {}) do t.waiters[me] = nil end
      if signal == CANCEL then error(err, 0) end
    else
      drive_once()
    end
  end
end

--- Waits for the next event of a loop op (timer, HTTP transfer, process).
-- Callers re-check the op's state afterwards: an event means "look again".
function task.await(op)
  wait_until(function()
    if fired[op] then
      fired[op] = nil
      return true
    end
    return false
  end, { op })
end

--- Runs fn(...) as a new task; returns its handle.
function task.spawn(fn, ...)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local t = setmetatable({
    co = coroutine.create(fn), state = "waiting", waiters = {},
  }, Task)
  by_thread[t.co] = t
  live[#live + 1] = t
  make_runnable(t, ...)
  return t
end

function Task:done()
  return finished(self)
end

--- Waits for the task; returns its results or raises its error.
function Task:wait()
  wait_until(function() return finished(self) end, nil, { self })
  failed_unobserved[self] = nil
  if self.state == "done" then
    return table.unpack(self.results, 1, self.results.n)
  end
  error(self.error, 0)
end

--- Cancels the task: the call it waits in raises err (default a
-- {kind="cancelled"} error), so its __close handlers and finally code run.
function task.cancel(t, err)
  if finished(t) then return end
  err = err or new_error("cancelled", "task cancelled")
  t.cancel_error = err
  if t.co == coroutine.running() then error(err, 0) end
  if coroutine.status(t.co) == "suspended" then
    if t.state == "runnable" and not t.started then
      -- never ran: nothing to unwind
      coroutine.close(t.co)
      finish(t, "cancelled", err)
      failed_unobserved[t] = nil
      return
    end
    step(t, CANCEL, err)
  end
  -- else: it is resuming another coroutine; it sees the cancel next time it waits
end
Task.cancel = task.cancel

--- Sleeps for a duration: seconds or text such as "2s" (other tasks run
-- meanwhile).
function task.sleep(seconds)
  if type(seconds) ~= "number" then seconds = duration.parse(seconds) or seconds end
  if type(seconds) ~= "number" or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (number expected, got " .. type(seconds) .. ")", 2)
  end
  local timer <close> = loop.timer(seconds)
  task.await(timer)
end

--- Runs every function of the list as a task and returns their first results
-- in order. The first error cancels the others and is raised.
function task.all(fns)
  local children = {}
  for i, fn in ipairs(fns) do children[i] = task.spawn(fn) end
  local function settled()
    for _, c in ipairs(children) do
      if c.state == "failed" or c.state == "cancelled" then return true end
    end
    for _, c in ipairs(children) do
      if not finished(c) then return false end
    end
    return true
  end
  local ok, err = pcall(wait_until, settled, nil, children)
  local first_error
  for _, c in ipairs(children) do
    if c.state == "failed" or c.state == "cancelled" then
      first_error = first_error or c.error
    end
    failed_unobserved[c] = nil
  end
  if not ok or first_error then
    for _, c in ipairs(children) do task.cancel(c) end
    for _, c in ipairs(children) do failed_unobserved[c] = nil end
    error(ok and first_error or err, 0)
  end
  local results = {}
  for i, c in ipairs(children) do results[i] = c.results[1] end
  return results
end

--- Runs fn(...) with a time limit (seconds or text such as "5m"); raises
-- {kind="timeout"} when it is hit (fn's task is cancelled first, so its
-- cleanup runs).
function task.timeout(seconds, fn, ...)
  seconds = duration.check(seconds, "task.timeout", "seconds")
  local child = task.spawn(fn, ...)
  local timer <close> = loop.timer(seconds)
  local function settled()
    return finished(child) or fired[timer]
  end
  local ok, err = pcall(wait_until, settled, { timer }, { child })
  if not ok then
    task.cancel(child)
    failed_unobserved[child] = nil
    error(err, 0)
  end
  if not finished(child) then
    task.cancel(child)
    failed_unobserved[child] = nil
    error(new_error("timeout", string.format("timed out after %g seconds", seconds)), 2)
  end
  return child:wait()
end

local Channel = {}
Channel.__index = Channel

--- A queue between tasks: channel:put(v) never waits; channel:get() waits
-- (yielding inside a task) until a value is there, or returns nil once the
-- channel is closed and empty. channel:close([err]) makes waiting gets
-- return nil, or raise err.
function task.channel()
  return setmetatable({ items = {}, head = 1, tail = 0, waiters = {} }, Channel)
end

local function wake_waiters(holder)
  local waiters = holder.waiters
  holder.waiters = {}
  for waiter in pairs(waiters) do make_runnable(waiter) end
end

function Channel:put(value)
  if self.closed then error("put on a closed channel", 2) end
  if value == nil then error("bad argument #1 to 'put' (a value expected, nil ends a get loop)", 2) end
  self.tail = self.tail + 1
  self.items[self.tail] = value
  wake_waiters(self)
end

function Channel:close(err)
  if self.closed then return end
  self.closed = true
  self.close_error = err
  wake_waiters(self)
end

function Channel:empty()
  return self.head > self.tail
end

function Channel:get()
  wait_until(function() return not self:empty() or self.closed end, nil, { self })
  if self:empty() then
    if self.close_error ~= nil then error(self.close_error, 0) end
    return nil
  end
  local value = self.items[self.head]
  self.items[self.head] = nil
  self.head = self.head + 1
  return value
end

--- Waits until every other task has finished; raises the first failure
-- of a task nobody waited for (a forgotten failure must not pass silently).
function task.wait_all()
  local me = coroutine.running()
  while true do
    local other
    for _, t in ipairs(live) do
      if t.co ~= me then
        other = t
        break
      end
    end
    if not other then break end
    wait_until(function() return finished(other) end, nil, { other })
  end
  local orphan = next(failed_unobserved)
  if orphan then
    failed_unobserved[orphan] = nil
    error(orphan.error, 0)
  end
end

--- The tasks that have not finished yet.
function task.running()
  return { table.unpack(live) }
end

--- Cancels every unfinished task but the calling one and those of keep (a
-- list, as task.running() gave it earlier), newest first, and waits until
-- their cleanup has run. Returns how many it cancelled. A failed command
-- uses it so that nothing it started goes on after it has ended.
function task.cancel_all(keep, err)
  local kept = {}
  for _, t in ipairs(keep or {}) do kept[t] = true end
  local me = coroutine.running()
  local doomed = {}
  for _, t in ipairs(live) do
    if not kept[t] and t.co ~= me then doomed[#doomed + 1] = t end
  end
  for i = #doomed, 1, -1 do task.cancel(doomed[i], err) end
  -- a cleanup that waits (a <close> handler doing I/O) finishes here
  wait_until(function()
    for _, t in ipairs(doomed) do
      if not finished(t) then return false end
    end
    return true
  end, nil, doomed)
  for _, t in ipairs(doomed) do failed_unobserved[t] = nil end
  return #doomed
end

--- Runs fn(...) as the main task, then waits for every task it spawned.
-- Returns true, first result | false, error, traceback. Used by the runtime.
function task.run_protected(fn, ...)
  local main = task.spawn(fn, ...)
  local ok, err = pcall(wait_until, function() return finished(main) end, nil, { main })
  if not ok and errors.is(err, "interrupted") and not finished(main) then
    -- Ctrl-C cancelled every task; let the main task's cleanup finish
    loop.clear_interrupt()
    ok, err = pcall(wait_until, function() return finished(main) end, nil, { main })
  end
  if ok and main.state == "done" then
    ok, err = pcall(wait_until, function() return #live == 0 end)
    if not ok then
      cancel_everything(err)
      loop.clear_interrupt()
      return false, err, errors.traceback(err)
    end
  end
  loop.clear_interrupt()
  if main.state == "done" then
    -- (an interrupt the main task handled itself is not a failure)
    local orphan = next(failed_unobserved)
    if orphan then
      failed_unobserved = {}
      return false, orphan.error, orphan.traceback
    end
    return true, main.results[1]
  end
  if not finished(main) then
    cancel_everything(err)
    return false, err, errors.traceback(err)
  end
  failed_unobserved[main] = nil
  return false, main.error, main.traceback
end

return task
