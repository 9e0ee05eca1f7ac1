-- How values read in failure messages and reports.
--
-- The formatters reproduce luassert's text: "(number) 1", "(string) 'x'",
-- tables dumped with their keys in a fixed order, and the key path where
-- two tables differ marked with TableErrorHighlightCharacter ("*").
-- format.pretty writes error values that are not strings the way busted
-- shows them (Penlight's pretty.write layout).

local state = require "ferry.test.state"
local util = require "ferry.test.util"
local trace = require "ferry.test.trace"

local format = {}

local ansi = { red = 31, green = 32, yellow = 33, blue = 34, magenta = 35, cyan = 36, white = 37, bright = 1 }

-- Wraps text in the ANSI colour named by `name` ("red", "bright", ...);
-- "none" or an unknown name leaves it alone.
function format.color(name, text)
  local code = ansi[name]
  if not code then
    return text
  end
  return "\27[" .. code .. "m" .. text .. "\27[0m"
end

-- Numbers with all their digits, so 0.1 and 0.1000000001 differ on screen.
local function number_text(n)
  if n ~= n then
    return "NaN"
  elseif n == math.huge then
    return "Inf"
  elseif n == -math.huge then
    return "-Inf"
  end
  local text = string.format("%.20g", n)
  if math.type(n) == "float" and not text:find("[%.,]") then
    text = text:gsub("%d+", "%0.0", 1)
  end
  return text
end

local function tostr(value)
  if type(value) == "number" then
    return number_text(value)
  end
  return tostring(value)
end

local function fmt_string(value)
  if type(value) == "string" then
    return string.format("(string) '%s'", value)
  end
end

local function fmt_number(value)
  if type(value) == "number" then
    return "(number) " .. number_text(value)
  end
end

local function fmt_boolean(value)
  if type(value) == "boolean" then
    return "(boolean) " .. tostring(value)
  end
end

local function fmt_nil(value)
  if value == nil then
    return "(nil)"
  end
end

-- The table's own address even when __tostring is set, unless the
-- metatable is protected (then the address cannot be had).
local function table_label(t)
  local mt = getmetatable(t)
  if mt == nil then
    return "(" .. tostring(t) .. ") "
  elseif not pcall(setmetatable, t, mt) then
    return "(table) "
  end
  setmetatable(t, nil)
  local label = "(" .. tostring(t) .. ") "
  setmetatable(t, mt)
  return label
end

local function fmt_table(value, fmtargs)
  if type(value) ~= "table" then
    return
  end
  local max_level = state.get_parameter("TableFormatLevel")
  local show_recursion = state.get_parameter("TableFormatShowRecursion")
  local mark_char = state.get_parameter("TableErrorHighlightCharacter") or ""
  local mark_color = state.get_parameter("TableErrorHighlightColor")
  local crumbs = fmtargs and fmtargs.crumbs or {}
  local seen = {}

  local function dump(t, level, on_path)
    if show_recursion and seen[t] and seen[t] > 0 then
      return "{ ... recursive }"
    end
    if next(t) == nil then
      return "{ }"
    end
    if level > max_level and max_level >= 0 then
      return "{ ... more }"
    end
    seen[t] = (seen[t] or 0) + 1
    local crumb = crumbs[#crumbs - level + 1]
    local lines = { "{" }
    for _, k in ipairs(util.sorted_keys(t)) do
      local v = t[k]
      local marked = on_path and k == crumb
      if type(v) == "table" then
        v = dump(v, level + 1, marked)
      elseif type(v) == "string" then
        v = "'" .. v .. "'"
      end
      local mark = marked and mark_char or ""
      local indent = string.rep(" ", level * 2 - #mark)
      if #mark > 0 then
        mark = format.color(mark_color, mark)
      end
      lines[#lines + 1] = string.format("\n%s%s[%s] = %s", indent, mark, tostr(k), tostr(v))
    end
    seen[t] = seen[t] - 1
    return table.concat(lines) .. " }"
  end

  return table_label(value) .. dump(value, 1, true)
end

local function fmt_function(value)
  if type(value) == "function" then
    local info = debug.getinfo(value, "S")
    return string.format("%s @ line %s in %s", tostring(value), tostring(info.linedefined), tostring(info.source))
  end
end

local function fmt_userdata(value)
  if type(value) == "userdata" then
    return string.format("(userdata) '%s'", tostring(value))
  end
end

local function fmt_thread(value)
  if type(value) == "thread" then
    return string.format("(thread) '%s'", tostring(value))
  end
end

-- Set by ferry.test.match when it loads (match needs this module first).
local is_matcher = function()
  return false
end

function format.add_matcher(predicate)
  is_matcher = predicate
end

local function fmt_matcher(value)
  if not is_matcher(value) then
    return
  end
  local parts = {}
  for i = 1, value.arguments.n do
    parts[i] = format.value(value.arguments[i])
  end
  return string.format("(matcher) %s%s(%s)", value.mod and "is." or "no.", tostring(value.name),
    table.concat(parts, ", "))
end

local function fmt_arglist(value)
  if not util.is_arglist(value) then
    return
  end
  local parts = {}
  for i = 1, value.n do
    parts[i] = format.value(value[i])
  end
  return "(values list) (" .. table.concat(parts, ", ") .. ")"
end

-- One value as failure messages show it.
function format.value(value, fmtargs)
  local text = state.format_argument(value, fmtargs)
  if text == nil then
    text = tostring(value)
  end
  return text
end

local lua_keywords = {}
for word in ([[and break do else elseif end false for function goto if in
  local nil not or repeat return then true until while]]):gmatch("%a+") do
  lua_keywords[word] = true
end

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function key_text(k)
  if type(k) == "string" then
    if k:find("^[%a_][%w_]*$") and not lua_keywords[k] then
      return k
    end
    return "[" .. quote(k) .. "]"
  end
  return "[" .. tostr(k) .. "]"
end

-- A readable multi-line dump of any value (strings quoted, cycles shown as
-- <cycle>), used for error values that are not strings.
function format.pretty(value)
  if type(value) ~= "table" then
    if type(value) == "string" then
      return quote(value)
    end
    return tostr(value)
  end
  local lines, active = {}, {}

  local function write(v, indent, prefix, suffix)
    if type(v) ~= "table" then
      local text = type(v) == "string" and quote(v) or tostr(v)
      lines[#lines + 1] = indent .. prefix .. text .. suffix
      return
    end
    if active[v] then
      lines[#lines + 1] = indent .. prefix .. "<cycle>" .. suffix
      return
    end
    if next(v) == nil then
      lines[#lines + 1] = indent .. prefix .. "{}" .. suffix
      return
    end
    active[v] = true
    lines[#lines + 1] = indent .. prefix .. "{"
    local keys = util.sorted_keys(v)
    local length = #v
    for i, k in ipairs(keys) do
      local sep = i < #keys and "," or ""
      local label = ""
      if not (math.type(k) == "integer" and k >= 1 and k <= length) then
        label = key_text(k) .. " = "
      end
      write(v[k], indent .. "  ", label, sep)
    end
    lines[#lines + 1] = indent .. "}" .. suffix
    active[v] = nil
  end

  write(value, "", "", "")
  return table.concat(lines, "\n")
end

for _, fn in ipairs({ fmt_string, fmt_number, fmt_boolean, fmt_nil, fmt_table,
                      fmt_function, fmt_userdata, fmt_thread, fmt_matcher, fmt_arglist }) do
  state.add_formatter(fn)
end

state.set_parameter("TableFormatLevel", 3)
state.set_parameter("TableFormatShowRecursion", false)
state.set_parameter("TableErrorHighlightCharacter", "*")
state.set_parameter("TableErrorHighlightColor", "none")

trace.mark_internal()

return format
