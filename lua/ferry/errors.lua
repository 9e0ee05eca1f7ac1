--- ferry.errors: the one shape of ferry's errors.
--
-- An error is a table {kind = "...", message = "...", ...more fields} with a
-- readable __tostring ("kind: message"). C modules raise the same shape with
-- the same metatable (src/core/error.c), so code can test err.kind anywhere.
local errors = {}

local metatable = debug.getregistry()["ferry.error"]
  or { __tostring = function(e) return tostring(e.kind) .. ": " .. tostring(e.message) end }

--- A new error table; fields (optional) are copied into it.
function errors.new(kind, message, fields)
  local e = { kind = kind, message = message }
  for k, v in pairs(fields or {}) do e[k] = v end
  return setmetatable(e, metatable)
end

--- Raises a new error at the caller's level.
function errors.raise(kind, message, fields)
  error(errors.new(kind, message, fields), 2)
end

--- One readable line for any error value: strings as they are, tables
-- through __tostring, or "kind: message" when they have no metatable.
function errors.format(err)
  if type(err) ~= "table" then return tostring(err) end
  local mt = getmetatable(err)
  if mt and mt.__tostring then return tostring(err) end
  if err.message ~= nil then
    return (err.kind and (tostring(err.kind) .. ": ") or "") .. tostring(err.message)
  end
  return tostring(err)
end

--- True when err is a ferry error of the given kind.
function errors.is(err, kind)
  return type(err) == "table" and err.kind == kind
end

return errors
