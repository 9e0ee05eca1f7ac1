-- Message strings by key, the interface of the `say` library that luassert
-- and custom assertions use: s:set(key, text) and s(key, {args}).
-- Custom assertions written for busted register their messages here.

local trace = require "ferry.test.trace"

local registry = {}
local current_namespace, fallback_namespace

local say = {}

function say:set_namespace(namespace)
  current_namespace = namespace
  registry[namespace] = registry[namespace] or {}
end

function say:set_fallback(namespace)
  fallback_namespace = namespace
  registry[namespace] = registry[namespace] or {}
end

function say:set(key, value)
  registry[current_namespace][key] = value
end

-- The text for `key` with vars substituted by string.format, or nil for an
-- unknown key.
local function lookup(_, key, vars)
  if vars ~= nil and type(vars) ~= "table" then
    error(("expected parameter table to be a table, got '%s'"):format(type(vars)), 2)
  end
  vars = vars or {}
  local text = registry[current_namespace][key] or registry[fallback_namespace][key]
  if text == nil then
    return nil
  end
  text = tostring(text)
  local count = math.max(vars.n or 0, #vars)
  if count == 0 then
    return text
  end
  local strings = {}
  for i = 1, count do
    strings[i] = tostring(vars[i])
  end
  return text:format(table.unpack(strings, 1, count))
end

say:set_fallback("en")
say:set_namespace("en")

trace.mark_internal()

return setmetatable(say, {
  __call = lookup,
  __index = function(_, namespace)
    return registry[namespace]
  end,
})
