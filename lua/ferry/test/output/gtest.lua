-- busted's gtest report: Google Test's layout, one line per test as it
-- starts and ends, failures printed as they happen, a summary at the end.
--
--   [==========] Running tests from scanned files.
--   [ RUN      ] spec/x_spec.lua @ 12: full name
--   [       OK ] spec/x_spec.lua @ 12: full name (0.05 ms)
--   ...
--   [  PASSED  ] 3 tests.
--
-- Colour on a terminal, or as -Xoutput --color/--plain say.

local base = require "ferry.test.output.base"
local format = require "ferry.test.format"
local state = require "ferry.test.state"
local trace = require "ferry.test.trace"

trace.mark_internal()

return function(options, suite)
  local handler = base(suite)
  local stream = options.stream

  local color = options.color
  for _, argument in ipairs(options.arguments or {}) do
    if argument == "--color" then
      color = true
    elseif argument == "--plain" then
      color = false
    else
      error({ kind = "usage", message = "gtest output handler: unknown option '" .. tostring(argument) .. "'" }, 0)
    end
  end
  state.set_parameter("TableErrorHighlightColor", color and "red" or "none")
  local function c(name, text)
    text = tostring(text)
    return color and format.color(name, text) or text
  end
  local function write(text)
    stream:write(text)
    stream:flush()
  end

  local repeat_text = "\nRepeating all tests (run %u of %u) . . .\n\n"
  local randomize_text = c("yellow", "Note: Randomizing test order with a seed of %u.\n")
  local suite_start = c("green", "[==========]") .. " Running tests from scanned files.\n"
  local global_setup = c("green", "[----------]") .. " Global test environment setup.\n"
  local file_start = c("green", "[----------]") .. " Running tests from %s\n"
  local run_text = c("green", "[ RUN      ]") .. " %s\n"
  local success_text = c("green", "[       OK ]") .. " %s (%.2f ms)\n"
  local skipped_text = c("yellow", "[ SKIPPED  ]") .. " %s (%.2f ms)\n"
  local failure_text = c("red", "[  FAILED  ]") .. " %s (%.2f ms)\n"
  local error_text = c("magenta", "[  ERROR   ]") .. " %s (%.2f ms)\n"
  local file_end = c("green", "[----------]") .. " %u %s from %s (%.2f ms total)\n\n"
  local global_teardown = c("green", "[----------]") .. " Global test environment teardown.\n"
  local suite_end = c("green", "[==========]") .. " %u %s from %u test %s ran. (%.2f ms total)\n"
  local passed = c("green", "[  PASSED  ]") .. " %u %s.\n"

  local summary = {
    skipped = {
      header = c("yellow", "[ SKIPPED  ]") .. " %u %s, listed below:\n",
      test = c("yellow", "[ SKIPPED  ]") .. " %s\n",
      footer = " %u SKIPPED %s\n",
    },
    failure = {
      header = c("red", "[  FAILED  ]") .. " %u %s, listed below:\n",
      test = c("red", "[  FAILED  ]") .. " %s\n",
      footer = " %u FAILED %s\n",
    },
    error = {
      header = c("magenta", "[  ERROR   ]") .. " %u %s, listed below:\n",
      test = c("magenta", "[  ERROR   ]") .. " %s\n",
      footer = " %u %s\n",
    },
  }

  local file_count, file_tests, tests = 0, 0, 0
  local successes, skipped, failures, errors = 0, 0, 0, 0

  local function pending_description(pending)
    if type(pending.message) == "string" then
      return pending.message .. "\n"
    elseif pending.message ~= nil then
      return format.pretty(pending.message) .. "\n"
    end
    return ""
  end

  local function failure_description(entry)
    local text = entry.randomseed and ("Random seed: " .. entry.randomseed .. "\n") or ""
    if type(entry.message) == "string" then
      text = text .. entry.message
    elseif entry.message == nil then
      text = text .. "Nil error"
    else
      text = text .. format.pretty(entry.message)
    end
    text = text .. "\n"
    if options.verbose and entry.trace and entry.trace.traceback then
      text = text .. entry.trace.traceback .. "\n"
    end
    return text
  end

  local function file_line(element)
    local where = element.trace
    if where and where.short_src then
      return c("cyan", where.short_src) .. " @ " .. c("cyan", where.currentline) .. ": "
    end
    return ""
  end

  local function test_list(status, count, list, describe)
    local s = summary[status]
    if count == 0 then
      return ""
    end
    local text = string.format(s.header, count,
      status == "error" and (count == 1 and "error" or "errors") or (count == 1 and "test" or "tests"))
    for _, entry in ipairs(list) do
      text = text .. string.format(s.test, file_line(entry.element) .. c("bright", entry.name))
      if options.deferPrint then
        text = text .. describe(entry)
      end
    end
    return text
  end

  local function footer(status, count)
    if count == 0 then
      return ""
    end
    return string.format(summary[status].footer, count,
      status == "error" and (count == 1 and "ERROR" or "ERRORS") or (count == 1 and "TEST" or "TESTS"))
  end

  local function summary_text()
    local text = string.format(passed, successes, successes == 1 and "test" or "tests")
    text = text .. test_list("skipped", skipped, handler.pendings, pending_description)
    text = text .. test_list("failure", failures, handler.failures, failure_description)
    text = text .. test_list("error", errors, handler.errors, failure_description)
    text = text .. ((skipped + failures + errors) > 0 and "\n" or "")
    return text .. footer("skipped", skipped) .. footer("failure", failures) .. footer("error", errors)
  end

  local function full_name(element)
    return file_line(element) .. c("bright", handler.getFullName(element))
  end

  function handler.suiteReset()
    file_count, file_tests, tests = 0, 0, 0
    successes, skipped, failures, errors = 0, 0, 0, 0
    return nil, true
  end

  function handler.suiteStart(_, count, total, randomseed)
    if total > 1 then
      write(string.format(repeat_text, count, total))
    end
    if randomseed then
      write(string.format(randomize_text, randomseed))
    end
    write(suite_start)
    write(global_setup)
    return nil, true
  end

  function handler.suiteEnd(root)
    write(global_teardown)
    write(string.format(suite_end, tests, tests == 1 and "test" or "tests", file_count,
      file_count == 1 and "file" or "files", (root.duration or 0) * 1000))
    write(summary_text())
    return nil, true
  end

  function handler.fileStart(file)
    file_tests = 0
    write(string.format(file_start, file.name))
    return nil, true
  end

  function handler.fileEnd(file)
    file_count = file_count + 1
    write(string.format(file_end, file_tests, file_tests == 1 and "test" or "tests", file.name,
      (file.duration or 0) * 1000))
    return nil, true
  end

  function handler.testStart(element)
    write(string.format(run_text, full_name(element)))
    return nil, true
  end

  function handler.testEnd(element, _, status)
    local text
    file_tests = file_tests + 1
    tests = tests + 1
    if status == "success" then
      successes = successes + 1
      text = success_text
    elseif status == "pending" then
      skipped = skipped + 1
      text = skipped_text
    elseif status == "failure" then
      failures = failures + 1
      text = failure_text
    else
      errors = errors + 1
      text = error_text
    end
    write(string.format(text, full_name(element), (element.duration or 0) * 1000))
    return nil, true
  end

  function handler.testFailure()
    if not options.deferPrint then
      write(failure_description(handler.failures[#handler.failures]))
    end
    return nil, true
  end

  function handler.testError()
    if not options.deferPrint then
      write(failure_description(handler.errors[#handler.errors]))
    end
    return nil, true
  end

  function handler.error(element)
    if element.descriptor ~= "it" then
      if not options.deferPrint then
        write(failure_description(handler.errors[#handler.errors]))
      end
      errors = errors + 1
    end
    return nil, true
  end

  local subscribe_base = handler.subscribe
  function handler.subscribe(self, opts)
    subscribe_base(self, opts)
    suite:subscribe({ "suite", "reset" }, handler.suiteReset)
    suite:subscribe({ "suite", "start" }, handler.suiteStart)
    suite:subscribe({ "suite", "end" }, handler.suiteEnd)
    suite:subscribe({ "file", "start" }, handler.fileStart)
    suite:subscribe({ "file", "end" }, handler.fileEnd)
    suite:subscribe({ "test", "start" }, handler.testStart, { predicate = handler.cancelOnPending })
    suite:subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
    suite:subscribe({ "failure", "it" }, handler.testFailure)
    suite:subscribe({ "error", "it" }, handler.testError)
    suite:subscribe({ "failure" }, handler.error)
    suite:subscribe({ "error" }, handler.error)
  end

  return handler
end
