--- repl.history: where the REPL keeps its history, and which lines it
-- never writes there.
local sys = require "ferry.sys"

local history = {}

--- $XDG_STATE_HOME/ferry/history, or ~/.local/state/ferry/history when
-- XDG_STATE_HOME is unset or not absolute (as the XDG spec says); nil
-- without a HOME.
function history.path(getenv)
  getenv = getenv or os.getenv
  local state = getenv("XDG_STATE_HOME")
  if not state or state:sub(1, 1) ~= "/" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    state = home .. "/.local/state"
  end
  return state .. "/ferry/history"
end

--- Whether a line (or a multi-line chunk) may be stored: not blank, and
-- holding no registered secret (redact is log.redact: a line it changes
-- contains one).
function history.keep(line, redact)
  if type(line) ~= "string" or line:match("^%s*$") then return false end
  return redact(line) == line
end

--- Creates the directories of path (private to the user, like the file).
function history.prepare(path)
  local dir = path:match("^(.*)/[^/]*$")
  if not dir or dir == "" then return true end
  local built = dir:sub(1, 1) == "/" and "" or "."
  for part in dir:gmatch("[^/]+") do
    built = built .. "/" .. part
    local ok, err = sys.mkdir(built, 448) -- 0700
    if not ok then return nil, err end
  end
  return true
end

return history
