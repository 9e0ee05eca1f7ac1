-- Spies (luassert.spy): a callable that records every call's arguments and
-- return values and passes the call on to the function it wraps.
--
--   local s = spy.new(function(x) return x * 2 end)
--   s(21)
--   assert.spy(s).was.called(1)
--   assert.spy(s).was.called_with(21)
--   assert.spy(s).returned_with(42)
--   local t = { f = print }; spy.on(t, "f")   -- replaces t.f, s:revert() puts it back
--
-- Arguments and return values are kept as deep copies (a table changed
-- after the call still matches what was passed); match.is_ref() compares
-- with the reference passed instead. Spies belong to the assertion state
-- they were made in: reverting an assert:snapshot() reverts them.

local assert = require "ferry.test.assert"
local util = require "ferry.test.util"
local say = require "ferry.test.say"
local trace = require "ferry.test.trace"

local spy_mt = {}

spy_mt.__call = function(self, ...)
  local arguments = util.make_arglist(...)
  table.insert(self.calls, util.copyargs(arguments))
  local function record(...)
    table.insert(self.returnvals, util.copyargs(util.make_arglist(...)))
    return ...
  end
  return record(self.callback(...))
end

local spy

local methods = {}

function methods:revert()
  if not self.reverted then
    if self.target_table and self.target_key then
      self.target_table[self.target_key] = self.callback
    end
    self.reverted = true
  end
  return self.callback
end

function methods:clear()
  self.calls = {}
  self.returnvals = {}
  return self
end

-- called([times [, compare]]) -> ok, count
function methods:called(times, compare)
  if times or compare then
    compare = compare or function(count, expected)
      return count == expected
    end
    return compare(#self.calls, times), #self.calls
  end
  return #self.calls > 0, #self.calls
end

-- called_with(arglist) -> ok, the matching (or last) call's arguments
function methods:called_with(args)
  local last = #self.calls > 0 and self.calls[#self.calls].vals or nil
  local matching = util.matchargs(self.calls, args)
  if matching ~= nil then
    return true, matching.vals
  end
  return false, last
end

function methods:returned_with(args)
  local last = #self.returnvals > 0 and self.returnvals[#self.returnvals].vals or nil
  local matching = util.matchargs(self.returnvals, args)
  if matching ~= nil then
    return true, matching.vals
  end
  return false, last
end

spy = {
  new = function(callback)
    callback = callback or function() end
    if not util.callable(callback) then
      error(trace.where(2) .. "Cannot spy on type '" .. type(callback)
        .. "', only on functions or callable elements", 0)
    end
    local s = setmetatable({
      calls = {},
      returnvals = {},
      callback = callback,
      target_table = nil,
      target_key = nil,
    }, spy_mt)
    for name, fn in pairs(methods) do
      s[name] = fn
    end
    assert:add_spy(s)
    return s
  end,

  is_spy = function(object)
    return type(object) == "table" and getmetatable(object) == spy_mt
  end,

  on = function(target_table, target_key)
    local s = spy.new(target_table[target_key])
    target_table[target_key] = s
    s.target_table = target_table
    s.target_key = target_key
    return s
  end,
}

-- The assertions on spies: assert.spy(s).was.called(n), .called_with(...),
-- .returned_with(...), .called_at_least/at_most/more_than/less_than(n).

local messages = {
  ["assertion.called.positive"] = "Expected to be called %s time(s), but was called %s time(s)",
  ["assertion.called.negative"] = "Expected not to be called exactly %s time(s), but it was.",
  ["assertion.called_at_least.positive"] = "Expected to be called at least %s time(s), but was called %s time(s)",
  ["assertion.called_at_most.positive"] = "Expected to be called at most %s time(s), but was called %s time(s)",
  ["assertion.called_more_than.positive"] = "Expected to be called more than %s time(s), but was called %s time(s)",
  ["assertion.called_less_than.positive"] = "Expected to be called less than %s time(s), but was called %s time(s)",
  ["assertion.called_with.positive"] = "Function was never called with matching arguments.\n"
    .. "Called with (last call if any):\n%s\nExpected:\n%s",
  ["assertion.called_with.negative"] = "Function was called with matching arguments at least once.\n"
    .. "Called with (last matching call):\n%s\nDid not expect:\n%s",
  ["assertion.returned_with.positive"] = "Function never returned matching arguments.\n"
    .. "Returned (last call if any):\n%s\nExpected:\n%s",
  ["assertion.returned_with.negative"] = "Function returned matching arguments at least once.\n"
    .. "Returned (last matching call):\n%s\nDid not expect:\n%s",
}
for key, text in pairs(messages) do
  say:set(key, text)
end

local function misuse(message)
  error(trace.where(3) .. message, 0)
end

local function set_spy(state, arguments)
  state.payload = arguments[1]
  if arguments[2] ~= nil then
    state.failure_message = arguments[2]
  end
end

local function matched(state, arguments, name, method)
  local payload = rawget(state, "payload")
  if not (payload and type(payload) == "table" and payload[method]) then
    misuse("'" .. name .. "' must be chained after 'spy(aspy)'")
  end
  local holds, found = payload[method](payload, arguments)
  local expected = util.shallowcopy(arguments)
  util.cleararglist(arguments)
  util.tinsert(arguments, 1, found)
  util.tinsert(arguments, 2, expected)
  return holds
end

local function called_with(state, arguments)
  return matched(state, arguments, "called_with", "called_with")
end

local function returned_with(state, arguments)
  return matched(state, arguments, "returned_with", "returned_with")
end

local function called(state, arguments, _, compare)
  local times = arguments[1]
  if not times and not state.mod then
    state.mod = true
    times = 0
  end
  local payload = rawget(state, "payload")
  if payload and type(payload) == "table" and payload.called then
    local result, count = payload:called(times, compare)
    arguments[1] = tostring(times or ">0")
    util.tinsert(arguments, 2, tostring(count))
    arguments.nofmt = arguments.nofmt or {}
    arguments.nofmt[1] = true
    arguments.nofmt[2] = true
    return result
  elseif payload and type(payload) == "function" then
    misuse("When calling 'spy(aspy)', 'aspy' must not be the original function, "
      .. "but the spy function replacing the original")
  end
  misuse("'called' must be chained after 'spy(aspy)'")
end

local function comparing(compare)
  return function(state, arguments, level)
    return called(state, arguments, level, compare)
  end
end

assert:register("modifier", "spy", set_spy)
assert:register("assertion", "returned_with", returned_with,
  "assertion.returned_with.positive", "assertion.returned_with.negative")
assert:register("assertion", "called_with", called_with,
  "assertion.called_with.positive", "assertion.called_with.negative")
assert:register("assertion", "called", called, "assertion.called.positive", "assertion.called.negative")
assert:register("assertion", "called_at_least", comparing(function(n, e) return n >= e end),
  "assertion.called_at_least.positive", "assertion.called_less_than.positive")
assert:register("assertion", "called_at_most", comparing(function(n, e) return n <= e end),
  "assertion.called_at_most.positive", "assertion.called_more_than.positive")
assert:register("assertion", "called_more_than", comparing(function(n, e) return n > e end),
  "assertion.called_more_than.positive", "assertion.called_at_most.positive")
assert:register("assertion", "called_less_than", comparing(function(n, e) return n < e end),
  "assertion.called_less_than.positive", "assertion.called_at_least.positive")

trace.mark_internal()

return setmetatable(spy, {
  __call = function(_, ...)
    return spy.new(...)
  end,
})
