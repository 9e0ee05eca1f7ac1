-- The three ways a block can end badly, told apart by the error value.
--
-- An assertion that does not hold raises a *failure*; pending() raises a
-- *pending* marker; anything else a test raises is an *error*. Like busted,
-- the kind is carried by the metatable of the raised object, so a failure
-- still reads as its message when code prints or tostring()s it.

local trace = require "ferry.test.trace"
local format = require "ferry.test.format"

local failure = {}

local failure_mt = {
  __tostring = function(e)
    if type(e.message) == "string" then
      return e.message
    end
    return format.pretty(e.message)
  end,
}

local pending_mt = {
  __tostring = function(p)
    return tostring(p.message)
  end,
}

-- Raises a failure. A string message gets the position of the spec line
-- that made the failing assertion, as error() would give it.
function failure.fail(message)
  if type(message) == "string" then
    message = trace.where(2) .. message
  end
  error(setmetatable({ message = message }, failure_mt), 0)
end

-- Raises the marker that ends the running test as pending.
function failure.pending(message)
  error(setmetatable({ message = message }, pending_mt), 0)
end

-- "failure", "pending" or "error".
function failure.kind(err)
  local mt = debug.getmetatable(err)
  if mt == failure_mt then
    return "failure"
  elseif mt == pending_mt then
    return "pending"
  end
  return "error"
end

trace.mark_internal()

return failure
