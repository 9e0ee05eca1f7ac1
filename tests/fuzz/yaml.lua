-- YAML: decode any bytes (every document of a stream too); what decodes
-- encodes, and decodes back the same.
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local yaml = require "yaml"

local function round_trip(value)
  local text = common.attempt(yaml.encode, value)
  if text == nil then return end
  local again = yaml.decode(text)
  if not common.same(value, again) then
    error("decode(encode(v)) differs from v; encode gave " .. text:sub(1, 200), 0)
  end
end

local function test(input)
  local value = common.attempt(yaml.decode, input, { source = "fuzz.yaml" })
  if value ~= nil then round_trip(value) end
  common.attempt(yaml.decode_all, input)
end

return { test = test }
