--- ferry.duration: the one reading of a time option.
--
-- Every option that takes a time (timeout, interval, pause, settle, since,
-- window, retry delays, sleeps) takes a number of seconds or a text such as
-- "90s", "5m", "1h30m" or "250ms", and reads it here, so one spelling works
-- everywhere and a mistake is named the same way everywhere.
local errors = require "ferry.errors"

local duration = {}

local UNITS = { ms = 0.001, s = 1, m = 60, h = 3600 }

--- Seconds of a duration: a number (not negative), or "90s", "5m",
-- "1h30m", "250ms"; nil, why when it is neither.
function duration.parse(value)
  if type(value) == "number" then
    if value ~= value or value < 0 then return nil, "bad duration: not a number of seconds >= 0" end
    return value
  end
  if type(value) ~= "string" or value == "" then return nil, "duration must be a number or text like '5m'" end
  local total, rest = 0, value
  while rest ~= "" do
    local number, unit, tail = rest:match("^(%d+%.?%d*)(%a+)(.*)$")
    local factor = UNITS[unit or ""]
    if not number or not factor then
      return nil, "bad duration '" .. value .. "': use forms like 30s, 5m, 1h30m"
    end
    total, rest = total + tonumber(number) * factor, tail
  end
  return total
end

local function shown(value)
  return type(value) == "string" and string.format("%q", value) or tostring(value)
end

--- Seconds of value, or raises {kind = "invalid"} naming where it was
-- given: duration.check("5x", "exec.run", "timeout") raises
-- `exec.run: timeout "5x" is not a duration (use seconds or e.g. "5m")`
-- (where may be nil: `timeout "5x" is not ...`). A nil value gives the
-- default (itself read as a duration), or nil.
function duration.check(value, where, option, default)
  if value == nil then
    if default == nil then return nil end
    value = default
  end
  local seconds = duration.parse(value)
  if seconds then return seconds end
  error(errors.new("invalid", string.format('%s%s %s is not a duration (use seconds or e.g. "5m")',
    where and (where .. ": ") or "", option, shown(value)), { option = option }), 0)
end

--- The text to show for a duration option as it was given: "5m" as is,
-- 90 as "90s".
function duration.show(value)
  if type(value) == "number" then return string.format("%gs", value) end
  return tostring(value)
end

return duration
