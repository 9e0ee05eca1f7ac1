-- A --helper for helper_spec.lua: sets globals and subscribes to events.
local busted = require "busted"
_G.helper_value = "set by the helper"
_G.helper_args = {}
for i, a in ipairs(arg) do _G.helper_args[i] = a end
_G.helper_seen = 0
busted.subscribe({ "test", "start" }, function()
  _G.helper_seen = _G.helper_seen + 1
  return nil, true
end)
