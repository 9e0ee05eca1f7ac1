--- log: leveled log lines and progress lines on stderr.
--
-- Text lines for people (a progress line redraws in place on a terminal and
-- prints plain lines otherwise), JSON lines for machines (--log-format json).
-- Every line passes through redact(): a registered secret never reaches the
-- output, whatever the code that printed it.
local sys = require "ferry.sys"

local log = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }
local COLORS = { debug = "\27[2m", info = "\27[36m", warn = "\27[33m", error = "\27[31m" }
local SPINNER = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }

local config = {
  format = "text",
  level = LEVELS.info,
  stream = io.stderr,
  tty = sys.isatty(2),
}

local secrets = {}      -- list of strings to hide, longest first
local active_progress   -- the progress line currently drawn on the terminal

local function escape_pattern(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

--- Registers a secret (token, password, key): it is replaced by "***" in
-- every line ferry prints. Short strings (under 4 bytes) are ignored, so
-- registering "" or "a" cannot blank out the logs.
function log.secret(value)
  if type(value) ~= "string" or #value < 4 then return value end
  for _, s in ipairs(secrets) do
    if s == value then return value end
  end
  secrets[#secrets + 1] = value
  table.sort(secrets, function(a, b) return #a > #b end)
  return value
end

--- Returns text with every registered secret replaced by "***".
function log.redact(text)
  text = tostring(text)
  for _, s in ipairs(secrets) do
    if text:find(s, 1, true) then
      text = text:gsub(escape_pattern(s), "***")
    end
  end
  return text
end

--- A copy of v with every registered secret replaced by "***" in its
-- strings, keys included (tables keep their metatables, so JSON arrays and
-- objects stay what they are). Redact a value before encoding it: once
-- escaped (a `"` as `\"` in JSON, a `|` as `\|` in Markdown) a secret no
-- longer matches itself.
function log.redact_value(v)
  if type(v) == "string" then return log.redact(v) end
  if type(v) ~= "table" or #secrets == 0 then return v end
  local copy = {}
  for k, item in pairs(v) do copy[log.redact_value(k)] = log.redact_value(item) end
  return setmetatable(copy, getmetatable(v))
end

--- Changes the output: {format = "text"|"json", level = "debug"|...,
-- stream = file, tty = boolean}. Unset fields keep their value.
function log.configure(options)
  options = options or {}
  if options.format then
    assert(options.format == "text" or options.format == "json",
      "log format must be 'text' or 'json'")
    config.format = options.format
  end
  if options.level then
    config.level = assert(LEVELS[options.level], "unknown log level: " .. tostring(options.level))
  end
  if options.stream then config.stream = options.stream end
  if options.tty ~= nil then config.tty = options.tty end
end

local function iso_time()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function format_message(fmt, ...)
  if select("#", ...) == 0 then return tostring(fmt) end
  local ok, text = pcall(string.format, fmt, ...)
  if ok then return text end
  -- a bad format string must not hide the message
  local parts = { tostring(fmt) }
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
  return table.concat(parts, " ")
end

local function clear_progress_line()
  if active_progress and config.tty and config.format == "text" then
    config.stream:write("\r\27[K")
  end
end

local function redraw_progress()
  if active_progress and config.tty and config.format == "text" then
    active_progress:draw()
  end
end

local function emit(level, message, fields)
  message = log.redact(message)
  clear_progress_line()
  if config.format == "json" then
    local parts = {
      '"time":' .. json_string(iso_time()),
      '"level":' .. json_string(level),
      '"msg":' .. json_string(message),
    }
    local keys = {}
    for k in pairs(fields or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = fields[k]
      local finite = type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
      local encoded = (finite or type(v) == "boolean") and tostring(v)
        or json_string(log.redact(tostring(v)))
      parts[#parts + 1] = json_string(tostring(k)) .. ":" .. encoded
    end
    config.stream:write("{", table.concat(parts, ","), "}\n")
  else
    local label = string.upper(level)
    if config.tty then label = COLORS[level] .. label .. "\27[0m" end
    config.stream:write(label, " ", message, "\n")
  end
  config.stream:flush()
  redraw_progress()
end

local function logger(level)
  local threshold = LEVELS[level]
  return function(fmt, ...)
    if threshold < config.level then return end
    emit(level, format_message(fmt, ...))
  end
end

log.debug = logger("debug")
log.info = logger("info")
log.warn = logger("warn")
log.error = logger("error")

--- Logs a message with structured fields (kept as keys in JSON output).
function log.event(level, message, fields)
  assert(LEVELS[level], "unknown log level: " .. tostring(level))
  if LEVELS[level] < config.level then return end
  if config.format == "text" and fields and next(fields) then
    local keys = {}
    for k in pairs(fields) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = { message }
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(fields[k]) end
    message = table.concat(parts, " ")
  end
  emit(level, message, fields)
end

local Progress = {}
Progress.__index = Progress

function Progress:draw()
  local elapsed = sys.monotonic() - self.started
  self.frame = self.frame % #SPINNER + 1
  local detail = self.detail and (" — " .. self.detail) or ""
  config.stream:write("\r\27[K", SPINNER[self.frame], " ", log.redact(self.name .. detail),
    string.format(" (%ds)", math.floor(elapsed)))
  config.stream:flush()
end

--- Says what the step is doing or waiting for now.
function Progress:update(fmt, ...)
  self.detail = format_message(fmt, ...)
  if config.format == "json" then
    emit("info", self.name .. ": " .. self.detail, { step = self.name, event = "progress" })
  elseif config.tty then
    self:draw()
  elseif self.detail ~= self.last_printed then
    self.last_printed = self.detail
    emit("info", self.name .. ": " .. self.detail)
  end
end

local function finish(self, ok, fmt, ...)
  local elapsed = sys.monotonic() - self.started
  local detail = fmt and (" — " .. format_message(fmt, ...)) or ""
  if active_progress == self then
    clear_progress_line()
    active_progress = nil
  end
  local mark = ok and "done" or "failed"
  emit(ok and "info" or "error",
    string.format("%s: %s%s (%.1fs)", self.name, mark, detail, elapsed),
    { step = self.name, event = mark, seconds = elapsed })
end

function Progress:done(fmt, ...) finish(self, true, fmt, ...) end
function Progress:fail(fmt, ...) finish(self, false, fmt, ...) end

--- Starts a progress line for a named piece of work.
function log.progress(name)
  local p = setmetatable({ name = name, started = sys.monotonic(), frame = 0 }, Progress)
  if config.tty and config.format == "text" then
    active_progress = p
    p:draw()
  else
    emit("info", name .. ": started", { step = name, event = "started" })
  end
  return p
end

return log
