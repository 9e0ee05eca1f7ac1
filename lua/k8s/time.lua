--- k8s.time: Kubernetes timestamps (RFC 3339), ages, and durations ("5m", "1h30m").
local time = {}

-- Days since 1970-01-01 of a civil date (proleptic Gregorian), so UTC
-- timestamps convert without the local time zone os.time would apply.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- Seconds since the epoch of "2026-11-25T17:00:00Z" (or with an offset
-- such as +02:00, and fractional seconds); nil, err if it is not RFC 3339.
function time.parse(text)
  if type(text) ~= "string" then return nil, "timestamp must be a string" end
  local y, mo, d, h, mi, s, frac, zone =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil, "not an RFC 3339 timestamp: " .. text end
  local seconds = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
  if frac ~= "" and frac ~= "." then seconds = seconds + tonumber("0" .. frac) end
  if zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil, "bad time zone in timestamp: " .. text end
    local offset = tonumber(zh) * 3600 + tonumber(zm) * 60
    seconds = sign == "+" and seconds - offset or seconds + offset
  end
  return seconds
end

-- Durations are ferry's, not Kubernetes': one reading for every module
-- (ferry.duration); these names stay for the callers that know them here.
local duration = require "ferry.duration"

--- Seconds of a duration: a number, or "90s", "5m", "1h30m", "250ms".
time.duration = duration.parse

--- A kubectl-style age ("45s", "12m", "3h", "5d") of a timestamp.
function time.age(timestamp, now)
  local t = time.parse(timestamp)
  if not t then return "<unknown>" end
  local s = math.max(0, (now or os.time()) - t)
  if s < 120 then return string.format("%ds", s // 1) end
  if s < 7200 then return string.format("%dm", s // 60) end
  if s < 172800 then return string.format("%dh", s // 3600) end
  return string.format("%dd", s // 86400)
end

return time
