-- busted's JSON report: one object per run, written when the run ends,
--   {"successes": [...], "failures": [...], "errors": [...], "pendings": [...], "duration": s}
-- each entry as busted's base handler keeps it: name (the full name),
-- message, trace (where it went wrong: short_src, currentline, traceback,
-- message, ...), element (the block: descriptor, name, trace, attributes,
-- starttime, endtime, duration, ...), isError and randomseed when set.
-- Values JSON cannot hold (functions, userdata) are left out, as are
-- cycles; an empty table is written as [] as busted's encoder does.

local base = require "ferry.test.output.base"
local json = require "json"
local trace = require "ferry.test.trace"

trace.mark_internal()

local plain = { string = true, number = true, boolean = true }

-- A copy of `value` that json.encode accepts.
local function sanitize(value, active)
  local t = type(value)
  if plain[t] then
    if t == "number" and (value ~= value or value == math.huge or value == -math.huge) then
      return nil
    end
    return value
  elseif t ~= "table" then
    return nil
  end
  if active[value] then
    return nil
  end
  active[value] = true
  local out = {}
  for k, v in next, value do
    if type(k) == "string" or math.type(k) == "integer" then
      local clean = sanitize(v, active)
      if clean ~= nil then
        out[k] = clean
      end
    end
  end
  active[value] = nil
  if next(out) == nil then
    return json.array()
  end
  local n = #out
  local only_sequence = n > 0
  for k in next, out do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      only_sequence = false
      break
    end
  end
  if only_sequence then
    return json.array(out)
  end
  -- integer keys of an object are written as strings, as dkjson does
  local object = {}
  for k, v in next, out do
    object[type(k) == "string" and k or tostring(k)] = v
  end
  return json.object(object)
end

return function(options, suite)
  local handler = base(suite)
  local stream = options.stream

  function handler.suiteEnd()
    local report = sanitize({
      pendings = handler.pendings,
      successes = handler.successes,
      failures = handler.failures,
      errors = handler.errors,
      duration = handler.getDuration(),
    }, {})
    stream:write(json.encode(report))
    stream:write("\n")
    stream:flush()
    return nil, true
  end

  local subscribe_base = handler.subscribe
  function handler.subscribe(self, opts)
    subscribe_base(self, opts)
    suite:subscribe({ "suite", "end" }, handler.suiteEnd)
  end

  return handler
end
