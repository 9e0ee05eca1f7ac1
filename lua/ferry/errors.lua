--- ferry.errors: the one shape of ferry's errors, and the one place that
-- turns an error into text (a line, or a line and a traceback).
--
-- An error is a table with a readable __tostring ("kind: message") and these
-- fields, each with one meaning (docs/errors.md):
--   kind     the class of error: "api", "transport", "timeout", "git", ...
--   message  what went wrong, for people
--   reason   the cause, one word: Kubernetes' Status reason ("NotFound",
--            "Conflict", ...) or a module's own ("NotFound" for anything
--            missing, whatever the module)
--   status   the HTTP status, only when an HTTP response said it
-- plus fields of their own per kind (url, path, line, ...). C modules raise
-- the same shape with the same metatable (src/core/error.c). A plain string
-- error is an argument mistake (luaL_argerror style), nothing else.
local errors = {}

local metatable = debug.getregistry()["ferry.error"]
  or { __tostring = function(e) return errors.format(e) end }

--- A new error table; fields (optional) are copied into it.
function errors.new(kind, message, fields)
  local e = { kind = kind, message = message }
  for k, v in pairs(fields or {}) do e[k] = v end
  return setmetatable(e, metatable)
end

--- Raises a new error at the caller's level.
function errors.raise(kind, message, fields)
  error(errors.new(kind, message, fields), 2)
end

--- One readable line for any error value: "kind: message" for an error
-- table (also one without ferry's metatable), a string as it is, any other
-- value through tostring (its own __tostring). With options.reason, an
-- error that has a reason shows it in place of its kind ("NotFound: ..."),
-- as the REPL prints API errors.
function errors.format(err, options)
  if type(err) ~= "table" then return tostring(err) end
  local mt = getmetatable(err)
  local by_reason = options and options.reason and type(err.reason) == "string" and err.message ~= nil
  if by_reason then return err.reason .. ": " .. tostring(err.message) end
  if mt ~= metatable and mt and mt.__tostring then return tostring(err) end
  if err.message == nil then return mt == metatable and "error" or tostring(err) end
  if err.kind == nil then return tostring(err.message) end
  return tostring(err.kind) .. ": " .. tostring(err.message)
end

--- True when err is a ferry error of the given kind.
function errors.is(err, kind)
  return type(err) == "table" and err.kind == kind
end

--- True when err says that what was asked for does not exist: a Kubernetes
-- object, a Git file or revision, a Flux object... (reason "NotFound").
function errors.not_found(err)
  return type(err) == "table" and err.reason == "NotFound"
end

-- ---- tracebacks ---------------------------------------------------------------

-- The frames of ferry's own plumbing (the scheduler, the command line, this
-- file): a traceback names the user's code, not the machinery around it.
local PLUMBING = { "lua/task.lua:", "lua/ferry/cli.lua:", "lua/ferry/errors.lua:" }
-- C functions that only carry a call: protected calls and coroutine resumes.
local CARRIERS = { "'xpcall'", "'pcall'", "'resume'", "'coroutine.resume'", "'loop.resume'",
                   "'coroutine.wrap'" }

local function plumbing(frame)
  for _, source in ipairs(PLUMBING) do
    if frame:find(source, 1, true) then return true end
  end
  if frame:match("^%s*%[C%]") then
    for _, name in ipairs(CARRIERS) do
      if frame:find(name, 1, true) then return true end
    end
  end
  return frame:match("^%s*%(%.%.%.tail calls%.%.%.%)") ~= nil
end

-- Where errors were first raised: error value -> traceback taken in the task
-- that failed, so a re-raise (task:wait(), task.all) still points there.
local origins = setmetatable({}, { __mode = "k" })
local string_origin = {} -- the last string error's (strings are no weak keys)

local function remember(err, traceback)
  if type(err) == "table" or type(err) == "userdata" then
    origins[err] = traceback
  else
    string_origin.error, string_origin.traceback = err, traceback
  end
end

local function origin_of(err)
  if type(err) == "table" or type(err) == "userdata" then return origins[err] end
  if string_origin.traceback and rawequal(string_origin.error, err) then return string_origin.traceback end
  return nil
end

--- The error's line, then the user's frames: where err was first raised when
-- a task failed with it, else the stack of `thread` (a coroutine whose stack
-- still holds the error) or of the running code from `level` on. Frames of
-- the scheduler and of the command line are left out.
function errors.traceback(err, thread, level)
  local known = origin_of(err)
  if known then return known end
  local text
  if type(thread) == "thread" then
    text = debug.traceback(thread, errors.format(err), level or 0)
  else
    text = debug.traceback(errors.format(err), (thread or 1) + 1)
  end
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if not plumbing(line) then lines[#lines + 1] = line end
  end
  local traceback = table.concat(lines, "\n")
  if type(thread) == "thread" then remember(err, traceback) end
  return traceback
end

return errors
