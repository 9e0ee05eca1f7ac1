-- Where in a spec file something happened.
--
-- Messages and reports must name the spec's line, not a line of the test
-- framework, so every framework module marks itself internal when it loads
-- and the functions here walk the stack past internal and C frames.

local trace = {}

local internal = {}

-- Called at the top of each framework module: frames running code of the
-- calling chunk are never blamed for an error.
function trace.mark_internal()
  internal[debug.getinfo(2, "S").source] = true
end

local function skippable(info)
  return info.what == "C" or internal[info.source]
end

-- The first frame at or above `level` (as debug.getinfo counts it from the
-- caller) that is spec code; returns its info and its level for the caller,
-- or nil when the stack holds no such frame.
function trace.user_frame(level)
  level = (level or 1) + 1
  local info = debug.getinfo(level, "Sl")
  while info and skippable(info) do
    level = level + 1
    info = debug.getinfo(level, "Sl")
  end
  return info, info and level - 1
end

-- "file:line: " of the nearest spec frame, the prefix error() would add.
function trace.where(level)
  local info = trace.user_frame((level or 1) + 1)
  if info and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- A record of the nearest spec frame, shaped like busted's trace objects:
-- short_src, currentline, linedefined, lastlinedefined, what, source, a
-- traceback that stops where the runner's own protected call begins (the
-- first C frame), and the message it is about (a block's name, an error).
function trace.capture(level, message)
  local info, at = trace.user_frame((level or 1) + 1)
  if not info then
    return {}
  end
  local traceback = debug.traceback("", at)
  local cut = traceback:find("\n%s*%[C]")
  if cut then
    traceback = traceback:sub(1, cut)
  end
  return {
    short_src = info.short_src,
    currentline = info.currentline,
    linedefined = info.linedefined,
    lastlinedefined = info.lastlinedefined,
    what = info.what,
    source = info.source,
    traceback = traceback,
    message = message,
  }
end

trace.mark_internal()

return trace
