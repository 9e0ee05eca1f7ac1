--- repl.printer: how the REPL shows values — tables as readable Lua
-- (sorted keys, bounded depth and size, short tables on one line),
-- Kubernetes objects as a one-line summary, lists of them as a table (see
-- repl.view), and errors as one line.
local errors = require "ferry.errors"
local view = require "repl.view"

local printer = {}

printer.defaults = {
  width = 100,     -- a table fits on one line up to this width
  depth = 5,       -- nested tables deeper than this print as {...}
  items = 50,      -- entries shown per table
  lines = 400,     -- lines shown per value
  string = 2000,   -- bytes shown per string
}

local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[word] = true end

local json_null
do
  local ok, json = pcall(require, "json")
  if ok then json_null = json.null end
end

local function identifier(key)
  return type(key) == "string" and key:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[key]
end
printer.identifier = identifier

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                  ["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f", ["\v"] = "\\v" }

--- A string as a Lua literal, cut after `limit` bytes.
function printer.quote(s, limit)
  local rest = ""
  if limit and #s > limit then
    rest = string.format("..(%d more bytes)", #s - limit)
    s = s:sub(1, limit)
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\%d", c:byte())
  end) .. '"' .. rest
end

local function scalar(v, o)
  local t = type(v)
  if t == "string" then return printer.quote(v, o.string) end
  if t == "number" then
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^53 then
      return string.format("%.1f", v)
    end
    return tostring(v)
  end
  if v == json_null and v ~= nil then return "json.null" end
  local ok, text = pcall(tostring, v)
  return ok and text or ("<" .. t .. ">")
end

local TYPE_ORDER = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (TYPE_ORDER[ta] or 9) < (TYPE_ORDER[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

-- The keys of t: the array part 1..n in order, then the others sorted.
local function sorted_keys(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local others = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then others[#others + 1] = k end
  end
  table.sort(others, key_less)
  return n, others
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function render(v, indent, depth, seen, o)
  if type(v) ~= "table" then return scalar(v, o) end
  if has_tostring(v) then return scalar(v, o) end
  if seen[v] then return "<cycle>" end
  if next(v) == nil then return "{}" end
  if depth >= o.depth then return "{...}" end
  seen[v] = true
  local n, others = sorted_keys(v)
  local inner = indent .. "  "
  local parts, total = {}, n + #others
  local shown = math.min(total, o.items)
  for i = 1, shown do
    if i <= n then
      parts[i] = render(rawget(v, i), inner, depth + 1, seen, o)
    else
      local k = others[i - n]
      local key = identifier(k) and k or ("[" .. scalar(k, o) .. "]")
      parts[i] = key .. " = " .. render(rawget(v, k), inner, depth + 1, seen, o)
    end
  end
  seen[v] = nil
  local more = total > shown and string.format("--[[ %d more ]]", total - shown) or nil
  local one = "{ " .. table.concat(parts, ", ") .. (more and (", " .. more) or "") .. " }"
  if not one:find("\n", 1, true) and #indent + #one <= o.width then return one end
  if more then parts[#parts + 1] = more end
  return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. "\n" .. indent .. "}"
end

local function options_with(options)
  local o = {}
  for k, v in pairs(printer.defaults) do o[k] = v end
  for k, v in pairs(options or {}) do o[k] = v end
  return o
end

local function bound_lines(text, limit)
  local count, cut_at = 0, nil
  for position in text:gmatch("()\n") do
    count = count + 1
    if count == limit then cut_at = position end
  end
  if not cut_at then return text end
  return text:sub(1, cut_at - 1) .. string.format("\n-- ... %d more lines (:yaml shows everything)",
    count - limit + 1)
end

--- A value as readable, bounded Lua.
function printer.lua(value, options)
  local o = options_with(options)
  return bound_lines(render(value, "", 0, {}, o), o.lines)
end

--- A value as the REPL prints it: a Kubernetes object as its summary, a
-- list of objects as a table, anything else as Lua. options: width,
-- depth, items, lines, string (see printer.defaults), columns (the
-- terminal's width: a table's last column is cut to it; nil: never cut),
-- now (seconds since the epoch, for ages).
function printer.format(value, options)
  local o = options_with(options)
  local now = o.now or os.time()
  if view.is_object(value) then return view.summary(value, now) end
  if view.is_object_list(value) then return view.table(value, now, o.columns) end
  if view.is_list_result(value) and #value == 0 then return "{} -- no objects" end
  return printer.lua(value, o)
end

--- The values a line returned (a table.pack result): tab-separated on
-- one line as lua.c prints them, one per line when one of them takes
-- several; nil when there are none.
function printer.results(results, options)
  if results.n == 0 then return nil end
  local parts, multiline = {}, false
  for i = 1, results.n do
    parts[i] = printer.format(results[i], options)
    multiline = multiline or parts[i]:find("\n", 1, true) ~= nil
  end
  return table.concat(parts, multiline and "\n" or "\t")
end

--- One readable line for an error: an API error as its Status reason and
-- message, a ferry error as "kind: message", a string as it is.
function printer.error_line(err)
  return errors.format(err, { reason = errors.is(err, "api") })
end

return printer
