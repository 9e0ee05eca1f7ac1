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

local ESCAPES = { a = "\a", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", v = "\v" }

-- The escape at text[at] (just after a backslash) of a Lua string: its
-- value and where the text goes on.
local function escape_at(text, at)
  local hex = text:match("^x(%x%x)", at)
  if hex then return string.char(tonumber(hex, 16)), at + 3 end
  local decimal = text:match("^%d%d?%d?", at)
  if decimal and tonumber(decimal) < 256 then return string.char(tonumber(decimal)), at + #decimal end
  local code = text:match("^u{(%x+)}", at)
  if code and #code <= 8 and tonumber(code, 16) <= 0x7FFFFFFF then
    return utf8.char(tonumber(code, 16)), at + #code + 3
  end
  if text:sub(at, at) == "z" then return "", text:find("%S", at + 1) or #text + 1 end
  local c = text:sub(at, at)
  return ESCAPES[c] or c, at + 1
end

-- text with its backslash escapes read as a Lua string reads them, so
-- that a secret typed as "pa\"ss" is seen as the pa"ss it is.
local function unescaped(text)
  local out, at = {}, 1
  while true do
    local backslash = text:find("\\", at, true)
    if not backslash then break end
    out[#out + 1] = text:sub(at, backslash - 1)
    out[#out + 1], at = escape_at(text, backslash + 1)
  end
  out[#out + 1] = text:sub(at)
  return table.concat(out)
end

--- Whether a line (or a multi-line chunk) may be stored: not blank, and
-- holding no registered secret, as typed or as its string escapes read
-- (redact is log.redact: a text it changes contains one).
function history.keep(line, redact)
  if type(line) ~= "string" or line:match("^%s*$") then return false end
  local read = unescaped(line)
  return redact(line) == line and redact(read) == read
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
