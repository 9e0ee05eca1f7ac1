--- repl.complete: what Tab offers. Pure logic: it reads the text before
-- the cursor and asks `ctx` for what only the session knows (clients,
-- kinds, object names), so it is tested without a terminal or a cluster.
--
-- complete.candidates(before, ctx) -> {candidate..., prefix=, suffix=}
--   prefix: the text before the cursor the candidates replace;
--   suffix: added after a lone candidate (the closing quote of a string).
-- ctx fields, all optional:
--   env                 the table globals are read from (default _G)
--   client(receiver)    the client a string argument is for: the value the
--                       method was called on (`old` in `old:get{...}`) or nil
--   kinds(client)       kind names; names(client, kind, namespace) object names
--   namespaces(client)  namespace names; contexts() context names and aliases
--   docs()              the topics of :doc; commands: the names of `:` commands
--   command(word)       the full name of a command from a prefix
local complete = {}

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

local function result(prefix, list, suffix)
  local out = { prefix = prefix, suffix = suffix or "" }
  for i, v in ipairs(list) do out[i] = v end
  return out
end

local function sorted_unique(list)
  local seen, out = {}, {}
  for _, v in ipairs(list) do
    if type(v) == "string" and not seen[v] then
      seen[v] = true
      out[#out + 1] = v
    end
  end
  table.sort(out)
  return out
end

local function starting_with(list, word, ignore_case)
  local out = {}
  local wanted = ignore_case and word:lower() or word
  for _, v in ipairs(list or {}) do
    local candidate = ignore_case and v:lower() or v
    if candidate:sub(1, #wanted) == wanted then out[#out + 1] = v end
  end
  return sorted_unique(out)
end

--- Where a string literal left open at the end of text starts: its
-- position and quote character; nil when the text ends in code, or nil,
-- "comment" inside a comment or a long string (where nothing is completed).
function complete.open_string(text)
  local i, n = 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c == "-" and text:sub(i + 1, i + 1) == "-" then
      local level = text:match("^%[(=*)%[", i + 2)
      local close = level and text:find("]" .. level .. "]", i + 4 + #level, true)
        or (not level and text:find("\n", i + 2, true))
      if not close then return nil, "comment" end
      i = close + (level and #level + 2 or 1)
    elseif c == "[" and text:match("^%[=*%[", i) then
      local level = text:match("^%[(=*)%[", i)
      local close = text:find("]" .. level .. "]", i + 2 + #level, true)
      if not close then return nil, "comment" end
      i = close + #level + 2
    elseif c == '"' or c == "'" then
      local j = i + 1
      while true do
        if j > n then return i, c end
        local d = text:sub(j, j)
        if d == "\\" then
          j = j + 2
        elseif d == c or d == "\n" then
          break
        else
          j = j + 1
        end
      end
      i = j + 1
    else
      i = i + 1
    end
  end
  return nil
end

-- One step of a.b.c without calling anything: raw fields, then the
-- __index chain while it is made of tables (a function could do anything).
local function field_of(value, key)
  for _ = 1, 10 do
    local mt
    if type(value) == "table" then
      local v = rawget(value, key)
      if v ~= nil then return v end
      mt = getmetatable(value)
    elseif type(value) == "string" or type(value) == "userdata" then
      mt = getmetatable(value)
    else
      return nil
    end
    if type(mt) ~= "table" or type(rawget(mt, "__index")) ~= "table" then return nil end
    value = rawget(mt, "__index")
  end
  return nil
end
complete.field_of = field_of

-- The keys of a value and of its __index chain, with their values.
local function fields_of(value)
  local out, seen = {}, {}
  for _ = 1, 10 do
    local mt
    if type(value) == "table" then
      for k, v in next, value do
        if type(k) == "string" and not seen[k] then
          seen[k] = true
          out[#out + 1] = { k, v }
        end
      end
      mt = getmetatable(value)
    elseif type(value) == "string" or type(value) == "userdata" then
      mt = getmetatable(value)
    else
      break
    end
    if type(mt) ~= "table" or type(rawget(mt, "__index")) ~= "table" then break end
    value = rawget(mt, "__index")
  end
  return out
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- Resolves "a.b.c" from env; nil when a step is missing.
function complete.resolve(path, env)
  local value = env
  for segment in path:gmatch("[^%.]+") do
    if not segment:match("^[%a_][%w_]*$") then return nil end
    value = field_of(value, segment)
    if value == nil then return nil end
  end
  return value
end

-- A Lua name, field or method at the end of text.
local function lua_candidates(text, env)
  local path = text:match("([%a_][%w_%.:]*)$")
  if not path then return result("", {}) end
  local before = text:sub(1, #text - #path):sub(-1)
  if before:match("[%w_%.:%)%]\"']") then return result("", {}) end
  local base, separator, word = path:match("^(.*)([%.:])([%w_]*)$")
  if not base then
    local names = {}
    for _, pair in ipairs(fields_of(env)) do names[#names + 1] = pair[1] end
    for _, k in ipairs(KEYWORDS) do names[#names + 1] = k end
    local list = starting_with(names, path)
    if path:sub(1, 1) ~= "_" then
      local visible = {}
      for _, v in ipairs(list) do if v:sub(1, 1) ~= "_" then visible[#visible + 1] = v end end
      list = visible
    end
    return result(path, list)
  end
  if base:find(":", 1, true) or base == "" or base:sub(-1) == "." then return result(word, {}) end
  local value = complete.resolve(base, env)
  if value == nil then return result(word, {}) end
  local names = {}
  for _, pair in ipairs(fields_of(value)) do
    local name, v = pair[1], pair[2]
    local shown = name:match("^[%a_][%w_]*$")
      and (word:sub(1, 1) == "_" or name:sub(1, 1) ~= "_")
      and (separator == "." or callable(v))
    if shown then names[#names + 1] = name end
  end
  return result(word, starting_with(names, word))
end

-- The innermost table constructor still open in text: its text.
local function open_constructor(text)
  local depth = 0
  for i = #text, 1, -1 do
    local c = text:sub(i, i)
    if c == "}" then
      depth = depth + 1
    elseif c == "{" then
      if depth == 0 then return text:sub(i) end
      depth = depth - 1
    end
  end
  return ""
end

local function string_field(text, key)
  return text:match(key .. "%s*=%s*\"([^\"]*)\"") or text:match(key .. "%s*=%s*'([^']*)'")
end

local function ask(ctx, name, ...)
  local fn = ctx[name]
  if type(fn) ~= "function" then return {} end
  local ok, list = pcall(fn, ...)
  if not ok or type(list) ~= "table" then return {} end
  return list
end

-- Inside a string: kinds, object names, namespaces or contexts, told by the
-- field the string is the value of.
local function string_candidates(before, quote_at, quote, ctx, env)
  local word = before:sub(quote_at + 1)
  local head = before:sub(1, quote_at - 1)
  local key = head:match("([%a_][%w_]*)%s*=%s*$")
  if not key then return result(word, {}) end
  local receiver
  for r in head:gmatch("([%a_][%w_%.]*)%s*:%s*[%a_][%w_]*%s*[%({]") do receiver = r end
  local client_value = receiver and complete.resolve(receiver, env) or nil
  local function client() return ctx.client and ctx.client(client_value) end
  local list, ignore_case = {}, false
  if key == "kind" then
    list, ignore_case = ask(ctx, "kinds", client()), true
  elseif key == "name" then
    local constructor = open_constructor(head)
    local kind = string_field(constructor, "kind")
    if kind then list = ask(ctx, "names", client(), kind, string_field(constructor, "namespace")) end
  elseif key == "namespace" then
    list = ask(ctx, "namespaces", client())
  elseif key == "context" then
    list = ask(ctx, "contexts")
  end
  return result(word, starting_with(list, word, ignore_case), quote)
end

local function command_candidates(before, ctx, env)
  local word = before:match("^%s*:(%S*)$")
  if word then
    return result(word, starting_with(ctx.commands or {}, word), " ")
  end
  local typed, rest = before:match("^%s*:(%S+)%s+(.*)$")
  local name = typed and (ctx.command and ctx.command(typed) or typed)
  if name == "context" then
    local w = rest:match("(%S*)$")
    return result(w, starting_with(ask(ctx, "contexts"), w))
  elseif name == "ns" then
    local w = rest:match("(%S*)$")
    return result(w, starting_with(ask(ctx, "namespaces", ctx.client and ctx.client(nil)), w))
  elseif name == "doc" then
    local w = rest:match("(%S*)$")
    return result(w, starting_with(ask(ctx, "docs"), w))
  elseif name == "describe" then
    local client = ctx.client and ctx.client(nil)
    local kind, w = rest:match("^(%S+)/(%S*)$")
    if kind then return result(w, starting_with(ask(ctx, "names", client, kind, nil), w)) end
    if rest:match("^%S*$") then
      return result(rest, starting_with(ask(ctx, "kinds", client), rest, true), "/")
    end
    return complete.candidates(rest, ctx)
  elseif name == "yaml" or name == "json" or name == "time" or name == "watch" then
    return complete.candidates(rest, ctx)
  end
  return result("", {})
end

-- Tab completion's edit -----------------------------------------------------------

local LISTED_MAX = 200 -- a longer list ends with "... N more"

-- Columns a candidate takes on the terminal: its characters, as an estimate.
local function width_of(text)
  return utf8.len(text) or #text
end

--- The candidates in columns of a terminal `columns` wide, down the columns
-- as ls lists files, starting on a new line.
function complete.layout(candidates, columns)
  local shown = math.min(#candidates, LISTED_MAX)
  local widest = 1
  for i = 1, shown do widest = math.max(widest, width_of(candidates[i])) end
  local per_row = math.max(1, (columns or 80) // (widest + 2))
  local rows = (shown + per_row - 1) // per_row
  local out = { "\n" }
  for row = 0, rows - 1 do
    for column = 0, per_row - 1 do
      local i = column * rows + row + 1
      if i > shown then break end
      out[#out + 1] = candidates[i]
      if column + 1 < per_row and i + rows <= shown then
        out[#out + 1] = string.rep(" ", widest + 2 - width_of(candidates[i]))
      end
    end
    out[#out + 1] = "\n"
  end
  if shown < #candidates then out[#out + 1] = string.format("... %d more\n", #candidates - shown) end
  return table.concat(out)
end

-- The length of the bytes all candidates start with, never cutting a
-- UTF-8 character in two.
local function shared_length(candidates)
  local first, shared = candidates[1], #candidates[1]
  for i = 2, #candidates do
    local other, n = candidates[i], 0
    while n < shared and n < #other and first:byte(n + 1) == other:byte(n + 1) do n = n + 1 end
    shared = n
  end
  while shared > 0 and shared < #first and (first:byte(shared + 1) & 0xC0) == 0x80 do shared = shared - 1 end
  return shared
end

--- What Tab does with an answer of complete.candidates for the text before
-- the cursor: {prefix, replace = text} puts text in place of the prefix (a
-- lone candidate and its suffix, or what several share beyond the prefix);
-- {prefix, listing = text} prints the candidates under the line; nil beeps.
function complete.edit(found, before, columns)
  local candidates = {}
  for _, c in ipairs(type(found) == "table" and found or {}) do
    if type(c) == "string" then candidates[#candidates + 1] = c end
  end
  local prefix = type(found) == "table" and type(found.prefix) == "string" and found.prefix or ""
  local suffix = type(found) == "table" and type(found.suffix) == "string" and found.suffix or ""
  if #candidates == 0 or #prefix > #before or before:sub(#before - #prefix + 1) ~= prefix then return nil end
  if #candidates == 1 then return { prefix = prefix, replace = candidates[1] .. suffix } end
  local shared = shared_length(candidates)
  local first = candidates[1]
  if shared > #prefix or (shared == #prefix and shared > 0 and first:sub(1, shared) ~= prefix) then
    return { prefix = prefix, replace = first:sub(1, shared) }
  end
  return { prefix = prefix, listing = complete.layout(candidates, columns) }
end

function complete.candidates(before, ctx)
  ctx = ctx or {}
  local env = ctx.env or _G
  if before:match("^%s*:") then return command_candidates(before, ctx, env) end
  local quote_at, quote = complete.open_string(before)
  if quote_at then return string_candidates(before, quote_at, quote, ctx, env) end
  if quote == "comment" then return result("", {}) end
  return lua_candidates(before, env)
end

return complete
