-- The assertion engine: luassert's model, so specs written for busted read
-- the same here.
--
-- `assert.are_not.same(a, b)` is parsed, not looked up: every key indexed
-- on `assert` is split on "_" into tokens; calling the chain joins tokens
-- back into the longest registered names, applies the modifiers in order
-- ("not"/"no" flip the expectation, "is"/"are"/... do nothing) and runs the
-- last assertion named. Assertions and modifiers live in a registry, so
-- `assert:register("assertion", name, fn, positive_key, negative_key)`
-- adds new ones exactly as it does with luassert.

local say = require "ferry.test.say"
local state = require "ferry.test.state"
local util = require "ferry.test.util"
local failure = require "ferry.test.failure"
local trace = require "ferry.test.trace"
require "ferry.test.format"

local namespaces = require "ferry.test.namespaces"
local extract_keys = namespaces.extract_keys

local assert -- the module: callable like Lua's assert, indexable into chains

-- The failure text: the custom message, if any, on its own first line,
-- then the assertion's message with the formatted arguments.
local function failure_text(message_key, custom, arguments)
  if util.has_tostring(custom) then
    custom = tostring(custom)
  elseif custom ~= nil then
    custom = state.format_argument(custom)
  end
  local message = message_key and say(message_key, assert:format(arguments))
  if message and custom then
    return custom .. "\n" .. message
  end
  return message or custom
end

local chain_mt = {}

function chain_mt.__index(self, key)
  for token in key:lower():gmatch("[^_]+") do
    self.tokens[#self.tokens + 1] = token
  end
  return self
end

function chain_mt.__call(self, ...)
  local keys = extract_keys("assertion", self.tokens)
  local assertion
  for _, key in ipairs(keys) do
    assertion = namespaces.assertion[key] or assertion
  end

  if not assertion then
    -- A chain of modifiers called with arguments, as in
    -- assert.message("why").equals(a, b): apply them and keep chaining.
    local arguments = util.make_arglist(...)
    self.tokens = {}
    for _, key in ipairs(keys) do
      namespaces.modifier[key].callback(self, arguments)
    end
    return self
  end

  for _, key in ipairs(keys) do
    local modifier = namespaces.modifier[key]
    if modifier then
      modifier.callback(self)
    end
  end
  local arguments = util.make_arglist(...)
  local _, level = trace.user_frame(2)
  local ok, retargs = assertion.callback(self, arguments, level)
  if (not ok) == self.mod then
    local key = self.mod and assertion.positive_message or assertion.negative_message
    failure.fail(failure_text(key, rawget(self, "failure_message"), arguments) or "assertion failed!")
  end
  if retargs then
    return util.unpack(retargs)
  end
  return ...
end

local level_mt = {}

assert = {
  -- A fresh chain; `mod` is true while the assertion is expected to hold.
  state = function()
    return setmetatable({ mod = true, tokens = {} }, chain_mt)
  end,

  register = function(_, nspace, name, callback, positive_message, negative_message)
    local key = name:lower()
    namespaces[nspace][key] = {
      callback = callback,
      name = key,
      positive_message = positive_message,
      negative_message = negative_message,
    }
  end,

  unregister = function(_, nspace, name)
    namespaces[nspace][name:lower()] = nil
  end,

  add_formatter = function(_, fn)
    state.add_formatter(fn)
  end,

  remove_formatter = function(_, fn)
    state.remove_formatter(fn)
  end,

  -- Formats arguments 1..n in place, except those listed in args.nofmt.
  format = function(_, args)
    local nofmt = args.nofmt or {}
    local fmtargs = args.fmtargs or {}
    for i = 1, (args.n or #args) do
      if not nofmt[i] then
        local text = state.format_argument(args[i], fmtargs[i])
        if text == nil then
          text = tostring(args[i])
        end
        args[i] = text
      end
    end
    return args
  end,

  set_parameter = function(_, name, value)
    state.set_parameter(name, value)
  end,

  get_parameter = function(_, name)
    return state.get_parameter(name)
  end,

  add_spy = function(_, spy)
    state.add_spy(spy)
  end,

  snapshot = function()
    return state.snapshot()
  end,

  level = function(_, level)
    return setmetatable({ level = level }, level_mt)
  end,

  get_level = function(_, level)
    if getmetatable(level) == level_mt then
      return level.level
    end
    return nil
  end,
}

setmetatable(assert, {
  -- assert(v, message): Lua's assert, except that a false value is a test
  -- failure rather than an error.
  __call = function(_, value, message, ...)
    if not value then
      failure.fail(message or "assertion failed!")
    end
    return value, message, ...
  end,

  __index = function(self, key)
    return self.state()[key]
  end,
})

trace.mark_internal()

require("ferry.test.assertions").install(assert)

return assert
