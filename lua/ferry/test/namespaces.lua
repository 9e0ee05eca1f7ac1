-- The registries of the assertion engine, shared by `assert` and `match`
-- (luassert.namespaces): assertions, modifiers and matchers by name, and
-- how a chain of words (`is_not.same`, `no.errors`) is read into keys.

local trace = require "ferry.test.trace"

local namespaces = { assertion = {}, modifier = {}, matcher = {} }

-- Joins tokens into registered keys, longest match first, from the end:
-- {"is","not","error","matches"} -> {"is","not","error_matches"}. An
-- unknown word is an error at the spec's line.
function namespaces.extract_keys(nspace, tokens)
  local registry = namespaces[nspace]
  local keys = {}
  local key
  local i = #tokens
  while i > 0 do
    local token = tokens[i]
    key = key and (token .. "_" .. key) or token
    local longer = i > 1 and (tokens[i - 1] .. "_" .. key) or nil
    while i > 1 and longer and registry[longer] do
      key = longer
      i = i - 1
      longer = i > 1 and (tokens[i - 1] .. "_" .. key) or nil
    end
    if namespaces.modifier[key] or registry[key] then
      table.insert(keys, 1, key)
      key = nil
    end
    i = i - 1
  end
  if key then
    error(trace.where(2) .. "luassert: unknown modifier/" .. nspace .. ": '" .. key .. "'", 0)
  end
  return keys
end

trace.mark_internal()

return setmetatable(namespaces, {
  -- a namespace registered later (assert:register("foo", ...)) starts empty
  __index = function(self, name)
    if type(name) ~= "string" then
      return nil
    end
    local registry = {}
    rawset(self, name, registry)
    return registry
  end,
})
