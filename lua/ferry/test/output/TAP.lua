-- Test Anything Protocol, line for line as busted writes it:
--   ok 1 - describe it
--   not ok 2 - describe it
--   # spec/x_spec.lua @ 12
--   # Failure message: spec/x_spec.lua:13: ...
--   ok 3 - # SKIP message-or-name
--   1..3
-- Errors outside tests (hooks, describe bodies, files) are "not ok" lines
-- of their own. With --verbose, each test's location comes first and
-- failures carry their traceback.

local base = require "ferry.test.output.base"
local format = require "ferry.test.format"
local trace = require "ferry.test.trace"

trace.mark_internal()

return function(options, suite)
  local handler = base(suite)
  local stream = options.stream
  local counter = 0

  local function print(text)
    stream:write(text .. "\n")
  end

  local function show_failure(entry)
    local message = entry.message
    local where = entry.trace or {}
    if message == nil then
      message = "Nil error"
    elseif type(message) ~= "string" then
      message = format.pretty(message)
    end
    print(string.format("not ok %u - %s", counter, entry.name))
    if entry.element.trace and entry.element.trace.short_src then
      print("# " .. entry.element.trace.short_src .. " @ " .. entry.element.trace.currentline)
    end
    if entry.randomseed then
      print("# Random seed: " .. entry.randomseed)
    end
    print("# Failure message: " .. message:gsub("\n", "\n# "))
    if options.verbose and where.traceback then
      print("# " .. where.traceback:gsub("^\n", "", 1):gsub("\n", "\n# "))
    end
  end

  function handler.suiteReset()
    counter = 0
    return nil, true
  end

  function handler.suiteEnd()
    print("1.." .. counter)
    stream:flush()
    return nil, true
  end

  function handler.testStart(element)
    local where = element.trace
    if options.verbose and where and where.short_src then
      print("# " .. where.short_src .. " @ " .. where.currentline .. ": " .. handler.getFullName(element))
    end
    stream:flush()
    return nil, true
  end

  function handler.testEnd(_, _, status)
    counter = counter + 1
    if status == "success" then
      local entry = handler.successes[#handler.successes]
      print(string.format("ok %u - %s", counter, entry.name))
    elseif status == "pending" then
      local entry = handler.pendings[#handler.pendings]
      print(string.format("ok %u - # SKIP %s", counter, entry.message or entry.name))
    elseif status == "failure" then
      show_failure(handler.failures[#handler.failures])
    elseif status == "error" then
      show_failure(handler.errors[#handler.errors])
    end
    stream:flush()
    return nil, true
  end

  function handler.error(element)
    if element.descriptor ~= "it" then
      counter = counter + 1
      show_failure(handler.errors[#handler.errors])
    end
    stream:flush()
    return nil, true
  end

  local subscribe_base = handler.subscribe
  function handler.subscribe(self, opts)
    subscribe_base(self, opts)
    suite:subscribe({ "suite", "reset" }, handler.suiteReset)
    suite:subscribe({ "suite", "end" }, handler.suiteEnd)
    suite:subscribe({ "test", "start" }, handler.testStart, { predicate = handler.cancelOnPending })
    suite:subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
    suite:subscribe({ "error" }, handler.error)
  end

  return handler
end
