-- What the json and yaml specs share: the fixture files and a canonical
-- text of decoded values.
local helpers = require "tests.spec.support.helpers"
local json = require "json"
local sys = require "ferry.sys"

local codec = {}

--- Every *.yaml, *.yml and *.json under dir (default: the fixtures), sorted.
function codec.fixture_files(dir, found)
  dir = dir or helpers.fixtures()
  found = found or {}
  for _, name in ipairs(sys.listdir(dir) or {}) do
    local path = dir .. "/" .. name
    local info = sys.stat(path)
    if info and info.type == "directory" then
      codec.fixture_files(path, found)
    elseif name:match("%.ya?ml$") or name:match("%.json$") then
      found[#found + 1] = path
    end
  end
  table.sort(found)
  return found
end

--- The array/object mark of a table, or nil.
function codec.kind(t)
  local mt = getmetatable(t)
  return mt and mt.__jsontype
end

--- A text that differs whenever two values differ in anything a codec
-- must keep: table kinds, integer vs float, null vs nil, strings.
function codec.canonical(v)
  if v == json.null then
    return "null"
  elseif type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do
      parts[#parts + 1] = codec.canonical(k) .. "=" .. codec.canonical(v[k])
    end
    return (codec.kind(v) or "plain") .. "{" .. table.concat(parts, ",") .. "}"
  elseif math.type(v) then
    return math.type(v) .. ":" .. string.format(math.type(v) == "float" and "%.17g" or "%d", v)
  elseif type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

return codec
