-- busted's terminal report, shared by utfTerminal and plainTerminal which
-- differ only in their marks and colours: one mark per test as it ends,
-- then the summary line
--   N successes / N failures / N errors / N pending : T seconds
-- then each pending test, failure and error with where it was declared,
-- its full name and its message (and the traceback with --verbose).

local base = require "ferry.test.output.base"
local format = require "ferry.test.format"
local trace = require "ferry.test.trace"
local state = require "ferry.test.state"

trace.mark_internal()

-- Seconds with up to six decimals and no trailing zeros ("0.0", "1.25").
local function seconds(value)
  return (string.format("%.6f", value):gsub("([0-9])0+$", "%1"))
end

-- -Xoutput options of the terminal handlers (busted's): --color forces
-- colour, --plain turns it off; returns the colour setting or raises a
-- usage error for anything else.
local function color_option(name, arguments, default)
  local color = default
  for _, argument in ipairs(arguments or {}) do
    if argument == "--color" then
      color = true
    elseif argument == "--plain" then
      color = false
    else
      error({ kind = "usage", message = name .. " output handler: unknown option '" .. tostring(argument) .. "'" }, 0)
    end
  end
  return color
end

-- style: marks = {success=, failure=, error=, pending=}, arrow, color
-- (bool, or nil to follow -Xoutput and the terminal), name
local function terminal(base_style)
  return function(options, suite)
    local style = base_style
    local handler = base(suite)
    local stream = options.stream
    if style.color == nil then
      style = setmetatable({ color = color_option(style.name, options.arguments, options.color) },
        { __index = base_style })
      state.set_parameter("TableErrorHighlightColor", style.color and "red" or "none")
    end

    local function paint(name, text)
      text = tostring(text)
      if style.color then
        return format.color(name, text)
      end
      return text
    end

    local function write(text)
      stream:write(text)
    end

    local marks = {
      success = paint("green", style.marks.success),
      failure = paint("red", style.marks.failure),
      error = paint("magenta", style.marks.error),
      pending = paint("yellow", style.marks.pending),
    }
    local arrow = " " .. style.arrow .. " "

    local function pending_text(pending)
      local text = paint("yellow", "Pending") .. arrow
        .. paint("cyan", pending.trace.short_src) .. " @ "
        .. paint("cyan", pending.trace.currentline) .. "\n"
        .. paint("bright", pending.name)
      if type(pending.message) == "string" then
        text = text .. "\n" .. pending.message
      elseif pending.message ~= nil then
        text = text .. "\n" .. format.pretty(pending.message)
      end
      return text
    end

    local function message_text(entry)
      local text = entry.randomseed and ("Random seed: " .. entry.randomseed .. "\n") or ""
      if type(entry.message) == "string" then
        return text .. entry.message
      elseif entry.message == nil then
        return text .. "Nil error"
      end
      return text .. format.pretty(entry.message)
    end

    local function failure_text(entry, is_error)
      local text = is_error and (paint("magenta", "Error") .. arrow) or (paint("red", "Failure") .. arrow)
      local where = entry.element.trace
      if not where or not where.short_src then
        text = text .. paint("cyan", message_text(entry)) .. "\n" .. paint("bright", entry.name)
      else
        text = text .. paint("cyan", where.short_src) .. " @ " .. paint("cyan", where.currentline) .. "\n"
          .. paint("bright", entry.name) .. "\n" .. message_text(entry)
      end
      if options.verbose and entry.trace and entry.trace.traceback then
        text = text .. "\n" .. entry.trace.traceback
      end
      return text
    end

    local function counted(color, count, one, many)
      return paint(color, count) .. " " .. (count == 1 and one or many)
    end

    local function summary()
      return counted("green", handler.successesCount, "success", "successes") .. " / "
        .. counted("red", handler.failuresCount, "failure", "failures") .. " / "
        .. counted("magenta", handler.errorsCount, "error", "errors") .. " / "
        .. counted("yellow", handler.pendingsCount, "pending", "pending") .. " : "
        .. paint("bright", seconds(handler.getDuration())) .. " seconds"
    end

    function handler.testEnd(_, _, status)
      if not options.deferPrint then
        write(marks[status] or marks.error)
        stream:flush()
      end
      return nil, true
    end

    function handler.suiteStart(_, count, total)
      if total and total > 1 then
        write(string.format("\nRepeating all tests (run %u of %u) . . .\n\n", count, total))
        stream:flush()
      end
      return nil, true
    end

    function handler.suiteEnd()
      write("\n")
      write(summary() .. "\n")
      for _, pending in ipairs(handler.pendings) do
        write("\n" .. pending_text(pending) .. "\n")
      end
      for _, failure in ipairs(handler.failures) do
        write("\n" .. failure_text(failure) .. "\n")
      end
      for _, err in ipairs(handler.errors) do
        write("\n" .. failure_text(err, true) .. "\n")
      end
      stream:flush()
      return nil, true
    end

    -- Errors outside tests get a mark too when they stop a file or a
    -- describe block (hook errors only show in the list at the end).
    function handler.error()
      write(marks.error)
      stream:flush()
      return nil, true
    end

    local subscribe_base = handler.subscribe
    function handler.subscribe(self, opts)
      subscribe_base(self, opts)
      suite:subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
      suite:subscribe({ "suite", "start" }, handler.suiteStart)
      suite:subscribe({ "suite", "end" }, handler.suiteEnd)
      suite:subscribe({ "error", "file" }, handler.error)
      suite:subscribe({ "failure", "file" }, handler.error)
      suite:subscribe({ "error", "describe" }, handler.error)
      suite:subscribe({ "failure", "describe" }, handler.error)
    end

    return handler
  end
end

return terminal
