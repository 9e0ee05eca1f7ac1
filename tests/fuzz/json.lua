-- JSON: decode any bytes; what decodes and encodes decodes back the same.
-- (A number beyond the double range decodes to an infinity, which encode
-- refuses with a json error: that is no finding.)
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local json = require "json"

local function test(input)
  local value = common.attempt(json.decode, input)
  if value == nil then return end
  local text = common.attempt(json.encode, value)
  if text == nil then return end
  local again = json.decode(text)
  if not common.same(value, again) then
    error("decode(encode(v)) differs from v; encode gave " .. text:sub(1, 200), 0)
  end
  json.encode(value, { pretty = true, sort_keys = true })
end

return { test = test }
