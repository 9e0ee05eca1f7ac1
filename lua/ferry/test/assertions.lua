-- The built-in assertions and modifiers, with luassert's names, argument
-- order and English messages.
--
-- An assertion gets (state, arguments, level) and returns whether it holds
-- (and optionally values to return). It may rearrange `arguments` so the
-- message reads "Passed in: <actual> / Expected: <expected>".

local say = require "ferry.test.say"
local util = require "ferry.test.util"
local format = require "ferry.test.format"
local failure = require "ferry.test.failure"
local trace = require "ferry.test.trace"

local messages = {
  ["assertion.same.positive"] = "Expected objects to be the same.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.same.negative"] = "Expected objects to not be the same.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.equals.positive"] = "Expected objects to be equal.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.equals.negative"] = "Expected objects to not be equal.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.near.positive"] = "Expected values to be near.\nPassed in:\n%s\nExpected:\n%s +/- %s",
  ["assertion.near.negative"] = "Expected values to not be near.\nPassed in:\n%s\nDid not expect:\n%s +/- %s",
  ["assertion.matches.positive"] = "Expected strings to match.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.matches.negative"] = "Expected strings not to match.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.unique.positive"] = "Expected object to be unique:\n%s",
  ["assertion.unique.negative"] = "Expected object to not be unique:\n%s",
  ["assertion.error.positive"] = "Expected a different error.\nCaught:\n%s\nExpected:\n%s",
  ["assertion.error.negative"] = "Expected no error, but caught:\n%s",
  ["assertion.truthy.positive"] = "Expected to be truthy, but value was:\n%s",
  ["assertion.truthy.negative"] = "Expected to not be truthy, but value was:\n%s",
  ["assertion.falsy.positive"] = "Expected to be falsy, but value was:\n%s",
  ["assertion.falsy.negative"] = "Expected to not be falsy, but value was:\n%s",
  ["assertion.returned_arguments.positive"] = "Expected to be called with %s argument(s), but was called with %s",
  ["assertion.returned_arguments.negative"] = "Expected not to be called with %s argument(s), but was called with %s",
  ["assertion.array_holes.positive"] = "Expected array to have holes, but none was found.\n",
  ["assertion.array_holes.negative"] = "Expected array to not have holes, hole found at position: %s\n",
  ["assertion.internal.argtolittle"] = "the '%s' function requires a minimum of %s arguments, got: %s",
  ["assertion.internal.badargtype"] = "bad argument #%s to '%s' (%s expected, got %s)",
}

for key, text in pairs(messages) do
  say:set(key, text)
end

-- Misuse of an assertion (too few arguments, wrong types) fails the test
-- with luassert's wording.
local function check(condition, key, vars)
  if not condition then
    failure.fail(say(key, vars))
  end
end

local function set_failure_message(state, message)
  if message ~= nil then
    state.failure_message = message
  end
end

-- Puts the actual value (passed second) first, for "Passed in" / "Expected".
local function swap_first_two(arguments)
  util.tinsert(arguments, 1, util.tremove(arguments, 2))
end

local function equals(state, arguments)
  check(arguments.n > 1, "assertion.internal.argtolittle", { "equals", 2, tostring(arguments.n) })
  local result = arguments[1] == arguments[2]
  swap_first_two(arguments)
  set_failure_message(state, arguments[3])
  return result
end

local function same(state, arguments)
  check(arguments.n > 1, "assertion.internal.argtolittle", { "same", 2, tostring(arguments.n) })
  if type(arguments[1]) == "table" and type(arguments[2]) == "table" then
    local result, crumbs = util.deepcompare(arguments[1], arguments[2], true)
    swap_first_two(arguments)
    arguments.fmtargs = arguments.fmtargs or {}
    arguments.fmtargs[1] = { crumbs = crumbs }
    arguments.fmtargs[2] = { crumbs = crumbs }
    set_failure_message(state, arguments[3])
    return result
  end
  local result = arguments[1] == arguments[2]
  swap_first_two(arguments)
  set_failure_message(state, arguments[3])
  return result
end

local function truthy(state, arguments)
  check(arguments.n > 0, "assertion.internal.argtolittle", { "truthy", 1, tostring(arguments.n) })
  set_failure_message(state, arguments[2])
  return arguments[1] ~= false and arguments[1] ~= nil
end

local function falsy(state, arguments)
  check(arguments.n > 0, "assertion.internal.argtolittle", { "falsy", 1, tostring(arguments.n) })
  return not truthy(state, arguments)
end

local function is_value(expected)
  return function(state, arguments)
    util.tinsert(arguments, 2, expected)
    set_failure_message(state, arguments[3])
    return arguments[1] == arguments[2]
  end
end

local function is_type(expected)
  return function(state, arguments)
    util.tinsert(arguments, 2, "type " .. expected)
    arguments.nofmt = arguments.nofmt or {}
    arguments.nofmt[2] = true
    set_failure_message(state, arguments[3])
    return arguments.n > 1 and type(arguments[1]) == expected
  end
end

local function near(state, arguments)
  check(arguments.n > 2, "assertion.internal.argtolittle", { "near", 3, tostring(arguments.n) })
  local expected, actual, tolerance = tonumber(arguments[1]), tonumber(arguments[2]), tonumber(arguments[3])
  local numbertype = "number or object convertible to a number"
  check(expected, "assertion.internal.badargtype", { 1, "near", numbertype, format.value(arguments[1]) })
  check(actual, "assertion.internal.badargtype", { 2, "near", numbertype, format.value(arguments[2]) })
  check(tolerance, "assertion.internal.badargtype", { 3, "near", numbertype, format.value(arguments[3]) })
  swap_first_two(arguments)
  arguments[3] = tolerance
  arguments.nofmt = arguments.nofmt or {}
  arguments.nofmt[3] = true
  set_failure_message(state, arguments[4])
  return actual >= expected - tolerance and actual <= expected + tolerance
end

local function unique(state, arguments)
  local list = arguments[1]
  local deep
  if type(arguments[2]) == "boolean" or (arguments[2] == nil and arguments.n > 2) then
    deep = arguments[2]
    set_failure_message(state, arguments[3])
  else
    if type(arguments[3]) == "boolean" then
      deep = arguments[3]
    end
    set_failure_message(state, arguments[2])
  end
  return util.unique(list, deep)
end

-- Finds the custom message among optional (init, plain) arguments: the
-- first argument from 3 on that is neither a boolean nor a number.
local function take_message(arguments)
  for i = 3, arguments.n do
    local value = arguments[i]
    if value and type(value) ~= "boolean" and not tonumber(value) then
      return util.tremove(arguments, i), i == 3
    end
  end
  return nil, false
end

local function matches(state, arguments)
  check(arguments.n > 1, "assertion.internal.argtolittle", { "matches", 2, tostring(arguments.n) })
  local pattern = arguments[1]
  local actual
  if util.has_tostring(arguments[2]) or type(arguments[2]) == "number" then
    actual = tostring(arguments[2])
  end
  local message, shifted = take_message(arguments)
  local init, plain = arguments[3], arguments[4]
  check(type(pattern) == "string", "assertion.internal.badargtype", { 1, "matches", "string", type(arguments[1]) })
  check(actual, "assertion.internal.badargtype",
    { 2, "matches", "string or object convertible to a string", format.value(arguments[2]) })
  check(init == nil or tonumber(init), "assertion.internal.badargtype",
    { shifted and 4 or 3, "matches", "number", type(arguments[3]) })
  swap_first_two(arguments)
  set_failure_message(state, message)
  if plain then
    local ok = actual:find(pattern, init, plain) ~= nil
    return ok, ok and { pattern } or {}
  end
  local captures = { actual:match(pattern, init) }
  return captures[1] ~= nil, captures
end

-- Lua prefixes string errors with "file:line: "; expected errors are
-- written without it, so it is dropped before comparing.
local function strip_position(err)
  if type(err) == "string" then
    return (err:gsub("^.-:%d+: ", "", 1))
  end
  return err
end

local function has_error(state, arguments)
  local retargs = util.shallowcopy(arguments)
  local fn, expected, message = arguments[1], arguments[2], arguments[3]
  check(util.callable(fn), "assertion.internal.badargtype", { 1, "error", "function or callable object", type(fn) })
  local ok, actual = pcall(fn)
  actual = strip_position(actual)
  retargs[1] = actual
  arguments.nofmt = {}
  arguments.n = 2
  arguments[1] = ok and "(no error)" or actual
  arguments[2] = expected == nil and "(error)" or expected
  arguments.nofmt[1] = ok
  arguments.nofmt[2] = expected == nil
  set_failure_message(state, message)

  if ok or expected == nil then
    return not ok, retargs
  end
  if type(expected) == "string" then
    if util.has_tostring(actual) then
      actual = tostring(actual)
      retargs[1] = actual
    end
    if type(actual) == "string" then
      return expected == actual, retargs
    end
  elseif type(expected) == "number" then
    if type(actual) == "string" then
      return tostring(expected) == tostring(tonumber(actual)), retargs
    end
  end
  return same(state, { expected, actual, n = 2 }), retargs
end

local function error_matches(state, arguments)
  local retargs = util.shallowcopy(arguments)
  local fn, pattern = arguments[1], arguments[2]
  check(arguments.n > 1, "assertion.internal.argtolittle", { "error_matches", 2, tostring(arguments.n) })
  check(util.callable(fn), "assertion.internal.badargtype",
    { 1, "error_matches", "function or callable object", type(fn) })
  check(pattern == nil or type(pattern) == "string", "assertion.internal.badargtype",
    { 2, "error", "string", type(pattern) })
  local message, shifted = take_message(arguments)
  local init, plain = arguments[3], arguments[4]
  check(init == nil or tonumber(init), "assertion.internal.badargtype",
    { shifted and 4 or 3, "matches", "number", type(arguments[3]) })

  local ok, actual = pcall(fn)
  actual = strip_position(actual)
  retargs[1] = actual
  arguments.nofmt = {}
  arguments.n = 2
  arguments[1] = ok and "(no error)" or actual
  arguments[2] = pattern
  arguments.nofmt[1] = ok
  arguments.nofmt[2] = false
  set_failure_message(state, message)

  if ok then
    return false, retargs
  end
  if actual == nil and pattern == nil then
    return true, {}
  end
  if util.has_tostring(actual) or type(actual) == "number" or type(actual) == "boolean" then
    actual = tostring(actual)
    retargs[1] = actual
  end
  if type(actual) ~= "string" then
    return false, retargs
  end
  local captures
  if plain then
    captures = actual:find(pattern, init, plain) and { pattern } or {}
  else
    captures = { actual:match(pattern, init) }
  end
  if captures[1] ~= nil then
    return true, captures
  end
  return false, retargs
end

local function returned_arguments(_, arguments)
  arguments[1] = tostring(arguments[1])
  arguments[2] = tostring(arguments.n - 1)
  arguments.nofmt = arguments.nofmt or {}
  arguments.nofmt[1] = true
  arguments.nofmt[2] = true
  if arguments.n < 2 then
    arguments.n = 2
  end
  return arguments[1] == arguments[2]
end

-- assert.array(t).has.no.holes([length]): the modifier keeps the array on
-- the chain, the assertion looks for the first nil up to length (default:
-- the largest integer key).
local ARRAY = "__array_state"

local function array(state, arguments)
  if arguments.n == 0 then
    failure.fail("No array provided to the array-modifier")
  end
  if rawget(state, ARRAY) ~= nil then
    failure.fail("Array already set")
  end
  rawset(state, ARRAY, arguments[1])
  return state
end

local function holes(state, arguments)
  local length = arguments[1]
  local list = rawget(state, ARRAY)
  if list == nil then
    failure.fail("No array set, please use the array modifier to set the array to validate")
  end
  if length == nil then
    length = 0
    for k in pairs(list) do
      if math.type(k) == "integer" and k > length then
        length = k
      end
    end
  end
  if type(length) ~= "number" then
    failure.fail("expected array length to be of type 'number', got: " .. tostring(length))
  end
  local missing
  for i = 1, length do
    if list[i] == nil then
      missing = i
      break
    end
  end
  arguments[1] = missing
  arguments.n = missing and 1 or 0
  return missing ~= nil, { missing }
end

local function set_message(state, arguments)
  state.failure_message = arguments[1]
end

local function is(state)
  return state
end

local function is_not(state)
  state.mod = not state.mod
  return state
end

local assertions = {}

-- Registers everything above on the engine (called once by ferry.test.assert).
function assertions.install(assert)
  for _, word in ipairs({ "a", "an", "the", "is", "are", "was", "has", "does" }) do
    assert:register("modifier", word, is)
  end
  assert:register("modifier", "not", is_not)
  assert:register("modifier", "no", is_not)
  assert:register("modifier", "message", set_message)
  assert:register("modifier", "array", array)
  assert:register("assertion", "holes", holes, "assertion.array_holes.positive", "assertion.array_holes.negative")

  local same_pos, same_neg = "assertion.same.positive", "assertion.same.negative"
  assert:register("assertion", "true", is_value(true), same_pos, same_neg)
  assert:register("assertion", "false", is_value(false), same_pos, same_neg)
  for _, name in ipairs({ "boolean", "number", "string", "table", "nil", "userdata", "function", "thread" }) do
    assert:register("assertion", name, is_type(name), same_pos, same_neg)
  end
  assert:register("assertion", "returned_arguments", returned_arguments,
    "assertion.returned_arguments.positive", "assertion.returned_arguments.negative")

  assert:register("assertion", "same", same, same_pos, same_neg)
  assert:register("assertion", "equals", equals, "assertion.equals.positive", "assertion.equals.negative")
  assert:register("assertion", "equal", equals, "assertion.equals.positive", "assertion.equals.negative")
  assert:register("assertion", "near", near, "assertion.near.positive", "assertion.near.negative")
  assert:register("assertion", "unique", unique, "assertion.unique.positive", "assertion.unique.negative")
  assert:register("assertion", "matches", matches, "assertion.matches.positive", "assertion.matches.negative")
  assert:register("assertion", "match", matches, "assertion.matches.positive", "assertion.matches.negative")
  assert:register("assertion", "truthy", truthy, "assertion.truthy.positive", "assertion.truthy.negative")
  assert:register("assertion", "falsy", falsy, "assertion.falsy.positive", "assertion.falsy.negative")

  local error_pos, error_neg = "assertion.error.positive", "assertion.error.negative"
  assert:register("assertion", "error", has_error, error_pos, error_neg)
  assert:register("assertion", "errors", has_error, error_pos, error_neg)
  for _, name in ipairs({ "error_matches", "error_match", "matches_error", "match_error" }) do
    assert:register("assertion", name, error_matches, error_pos, error_neg)
  end
end

trace.mark_internal()

return assertions
