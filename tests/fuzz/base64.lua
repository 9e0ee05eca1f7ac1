-- base64: decode any bytes; encode any bytes and decode them back.
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local base64 = require "base64"

local function test(input)
  local decoded = common.attempt(base64.decode, input)
  if decoded ~= nil and base64.decode(base64.encode(decoded)) ~= decoded then
    error("decode(encode(decode(input))) differs from decode(input)", 0)
  end
  if base64.decode(base64.encode(input)) ~= input then
    error("decode(encode(input)) differs from input", 0)
  end
end

return { test = test }
