-- Matchers (luassert.match): values that stand for "any value that ..." in
-- spy and stub arguments, read as chains like assertions are.
--
--   assert.spy(s).was.called_with(match._, match.is_string())
--   assert.spy(s).was.called_with(match.is_not.is_nil(), match.matches("^v%d"))
--   assert.spy(s).was.called_with(match.is_ref(config))       -- the same table, not a copy
--   assert.spy(s).was.called_with(match.any_of(match.is_number(), match.is_string()))
--
-- New matchers are registered with assert:register("matcher", name, fn),
-- fn(state, arguments, level) returning a function(value) -> boolean.

local namespaces = require "ferry.test.namespaces"
local util = require "ferry.test.util"
local say = require "ferry.test.say"
local format = require "ferry.test.format"
local failure = require "ferry.test.failure"
local trace = require "ferry.test.trace"

local matcher_mt = {
  __call = function(self, value)
    return self.callback(value) == self.mod
  end,
}

local state_mt = {}

function state_mt.__call(self, ...)
  local keys = namespaces.extract_keys("matcher", self.tokens)
  self.tokens = {}
  local matcher
  for _, key in ipairs(keys) do
    matcher = namespaces.matcher[key] or matcher
  end
  local arguments = util.make_arglist(...)
  if matcher then
    for _, key in ipairs(keys) do
      if namespaces.modifier[key] then
        namespaces.modifier[key].callback(self)
      end
    end
    local matches = matcher.callback(self, arguments, util.errorlevel())
    return setmetatable({
      name = matcher.name,
      mod = self.mod,
      callback = matches,
      arguments = arguments,
    }, matcher_mt)
  end
  for _, key in ipairs(keys) do
    if namespaces.modifier[key] then
      namespaces.modifier[key].callback(self, arguments, util.errorlevel())
    end
  end
  return self
end

function state_mt.__index(self, key)
  for token in key:lower():gmatch("[^_]+") do
    table.insert(self.tokens, token)
  end
  return self
end

local match = {
  _ = setmetatable({ mod = true, callback = function() return true end }, matcher_mt),

  state = function()
    return setmetatable({ mod = true, tokens = {} }, state_mt)
  end,

  is_matcher = function(object)
    return type(object) == "table" and getmetatable(object) == matcher_mt
  end,

  is_ref_matcher = function(object)
    return type(object) == "table" and getmetatable(object) == matcher_mt and object.name == "ref"
  end,
}

setmetatable(match, {
  __index = function(self, key)
    return rawget(self, key) or self.state()[key]
  end,
})

-- Failure messages name matchers as luassert does: (matcher) is.string().
format.add_matcher(match.is_matcher)

-- The matchers themselves (luassert.matchers.core and .composite).

local function check(condition, key, vars)
  if not condition then
    failure.fail(say(key, vars))
  end
end

local function register(name, callback)
  namespaces.matcher[name] = { callback = callback, name = name }
end

local function constant(test)
  return function()
    return test
  end
end

local function is_type(expected)
  return constant(function(value)
    return type(value) == expected
  end)
end

register("true", constant(function(value) return value == true end))
register("false", constant(function(value) return value == false end))
for _, name in ipairs({ "nil", "boolean", "number", "string", "table", "function", "userdata", "thread" }) do
  register(name, is_type(name))
end

local function truthy(value)
  return value ~= false and value ~= nil
end
register("truthy", constant(truthy))
register("falsy", constant(function(value) return not truthy(value) end))

register("ref", function(_, arguments)
  local argtype = type(arguments[1])
  local isobject = argtype == "table" or argtype == "function" or argtype == "thread" or argtype == "userdata"
  check(arguments.n > 0, "assertion.internal.argtolittle", { "ref", 1, tostring(arguments.n) })
  check(isobject, "assertion.internal.badargtype", { 1, "ref", "object", argtype })
  return function(value)
    return value == arguments[1]
  end
end)

register("same", function(_, arguments)
  check(arguments.n > 0, "assertion.internal.argtolittle", { "same", 1, tostring(arguments.n) })
  return function(value)
    if type(value) == "table" and type(arguments[1]) == "table" then
      return (util.deepcompare(value, arguments[1], true))
    end
    return value == arguments[1]
  end
end)

local function equals(_, arguments)
  check(arguments.n > 0, "assertion.internal.argtolittle", { "equals", 1, tostring(arguments.n) })
  return function(value)
    return value == arguments[1]
  end
end
register("equals", equals)
register("equal", equals)

local function matches(_, arguments)
  check(arguments.n > 0, "assertion.internal.argtolittle", { "matches", 1, tostring(arguments.n) })
  local pattern, init, plain = arguments[1], arguments[2], arguments[3]
  check(type(pattern) == "string", "assertion.internal.badargtype", { 1, "matches", "string", type(arguments[1]) })
  check(init == nil or tonumber(init), "assertion.internal.badargtype", { 2, "matches", "number", type(arguments[2]) })
  return function(value)
    local actual
    local t = type(value)
    if t == "string" or t == "number" or (t == "table" and (getmetatable(value) or {}).__tostring) then
      actual = tostring(value)
    end
    if not actual then
      return false
    end
    return actual:find(pattern, init, plain) ~= nil
  end
end
register("matches", matches)
register("match", matches)

register("near", function(_, arguments)
  check(arguments.n > 1, "assertion.internal.argtolittle", { "near", 2, tostring(arguments.n) })
  local expected, tolerance = tonumber(arguments[1]), tonumber(arguments[2])
  local numbertype = "number or object convertible to a number"
  check(expected, "assertion.internal.badargtype", { 1, "near", numbertype, format.value(arguments[1]) })
  check(tolerance, "assertion.internal.badargtype", { 2, "near", numbertype, format.value(arguments[2]) })
  return function(value)
    local actual = tonumber(value)
    if not actual then
      return false
    end
    return actual >= expected - tolerance and actual <= expected + tolerance
  end
end)

register("unique", function(_, arguments)
  local deep = arguments[1]
  return function(list) return util.unique(list, deep) end
end)

local function composite(name, decide)
  register(name, function(_, arguments)
    check(arguments.n > 0, "assertion.internal.argtolittle", { name:gsub("_of$", ""), 1, tostring(arguments.n) })
    for i = 1, arguments.n do
      check(match.is_matcher(arguments[i]), "assertion.internal.badargtype",
        { 1, (name:gsub("_of$", "")), "matcher", type(arguments[i]) })
    end
    return function(value)
      return decide(arguments, value)
    end
  end)
end

composite("none_of", function(matchers, value)
  for _, m in ipairs(matchers) do
    if m(value) then
      return false
    end
  end
  return true
end)

composite("any_of", function(matchers, value)
  for _, m in ipairs(matchers) do
    if m(value) then
      return true
    end
  end
  return false
end)

composite("all_of", function(matchers, value)
  for _, m in ipairs(matchers) do
    if not m(value) then
      return false
    end
  end
  return true
end)

trace.mark_internal()

return match
