--- ferry.testing.values: JSON values as the fake API server holds them.
-- Every object goes in and out through a JSON round trip, so callers never
-- share tables with the fake, arrays and objects keep their kind, and null
-- is json.null, exactly as with a real server's responses.
local json = require "json"

local values = {}

values.null = json.null

--- A copy of a JSON value through the codec.
function values.copy(value)
  if value == nil then return nil end
  return json.decode(json.encode(value))
end

function values.is_array(t)
  if type(t) ~= "table" then return false end
  local mt = getmetatable(t)
  if mt and mt.__jsontype then return mt.__jsontype == "array" end
  if next(t) == nil then return false end
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

function values.is_object(t)
  return type(t) == "table" and t ~= json.null and not values.is_array(t)
end

--- Deep equality of JSON values (arrays and objects with the same members).
function values.equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    -- 1 and 1.0 are the same JSON number
    if type(a) == "number" and type(b) == "number" then return a == b end
    return false
  end
  if values.is_array(a) ~= values.is_array(b) then
    -- an empty table reads as either
    if not (next(a) == nil and next(b) == nil) then return false end
  end
  for k, v in pairs(a) do
    if not values.equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

--- "2026-01-02T03:04:05Z" for now (what creationTimestamp looks like).
function values.now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

--- A random UID in the usual 8-4-4-4-12 hex form.
function values.uid()
  local hex = {}
  for i = 1, 32 do hex[i] = string.format("%x", math.random(0, 15)) end
  local s = table.concat(hex)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-4" .. s:sub(14, 16) .. "-a" .. s:sub(18, 20) .. "-" .. s:sub(21, 32)
end

--- JSON text with object keys sorted (for keys of fieldsV1 entries).
function values.canonical(value)
  return json.encode(value, { sort_keys = true })
end

return values
