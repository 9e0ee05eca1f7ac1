-- Stubs (luassert.stub): a spy that replaces a table's function and
-- answers calls itself instead of calling the original.
--
--   local s = stub(os, "getenv")             -- returns nothing
--   stub(os, "getenv").returns("prod")      -- returns "prod"
--   stub(t, "f", "a", "b")                  -- returns "a", "b"
--   s.invokes(function(name) ... end)       -- calls a function of yours
--   s.on_call_with("HOME").returns("/root") -- per-arguments answers
--   s:revert()                              -- puts the original back
--
-- A stub is a spy, so assert.stub(s).was.called_with(...) works on it.

local assert = require "ferry.test.assert"
local spy = require "ferry.test.spy"
local util = require "ferry.test.util"
local trace = require "ferry.test.trace"

local stub = {}

function stub.new(object, key, ...)
  if object == nil and key == nil then
    -- a blank stub, not attached to anything
    object = {}
    key = ""
  end
  local return_values = util.pack(...)
  assert(type(object) == "table" and key ~= nil,
    "stub.new(): Can only create stub on a table key, call with 2 params; table, key")
  assert(object[key] == nil or util.callable(object[key]),
    "stub.new(): The element for which to create a stub must either be callable, or be nil")
  local original = object[key]

  local fn = return_values.n == 1 and util.callable(return_values[1]) and return_values[1]
  local default = fn or function()
    return util.unpack(return_values)
  end
  local oncalls, callbacks = {}, {}
  object[key] = function(...)
    local match = util.matchoncalls(oncalls, util.make_arglist(...))
    if match then
      return callbacks[match](...)
    end
    return default(...)
  end

  local s = spy.on(object, key)
  local spy_revert = s.revert
  s.revert = function(self)
    if not self.reverted then
      spy_revert(self)
      object[key] = original
      self.reverted = true
    end
    return original
  end

  s.returns = function(...)
    local values = util.pack(...)
    default = function()
      return util.unpack(values)
    end
    return s
  end

  s.invokes = function(func)
    default = function(...)
      return func(...)
    end
    return s
  end

  s.by_default = { returns = s.returns, invokes = s.invokes }

  s.on_call_with = function(...)
    local match_args = util.copyargs(util.make_arglist(...))
    return {
      returns = function(...)
        local values = util.pack(...)
        table.insert(oncalls, match_args)
        callbacks[match_args] = function()
          return util.unpack(values)
        end
        return s
      end,
      invokes = function(func)
        table.insert(oncalls, match_args)
        callbacks[match_args] = function(...)
          return func(...)
        end
        return s
      end,
    }
  end

  return s
end

local function set_stub(state, arguments)
  state.payload = arguments[1]
  state.failure_message = arguments[2]
end

assert:register("modifier", "stub", set_stub)

trace.mark_internal()

return setmetatable(stub, {
  __call = function(_, ...)
    return stub.new(...)
  end,
})
