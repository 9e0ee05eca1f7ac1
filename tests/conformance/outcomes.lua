-- An output handler written against busted's handler API: one line per
-- outcome, used to compare what each test ended as. It also checks that
-- handlers written for busted work unchanged.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.base"()

  local function out(text)
    io.write(text, "\n")
    io.flush()
  end

  busted.subscribe({ "suite", "start" }, function(_, count, total, seed)
    out(string.format("suite start %d/%d%s", count, total, seed and " (shuffled)" or ""))
    return nil, true
  end)
  busted.subscribe({ "file", "start" }, function(file)
    out("file " .. file.name)
    return nil, true
  end)
  busted.subscribe({ "test", "end" }, function(element, parent, status)
    out(status .. ": " .. handler.getFullName(element))
    return nil, true
  end, { predicate = handler.cancelOnPending })
  busted.subscribe({ "error" }, function(element, parent, message)
    if element.descriptor ~= "it" then
      out("error outside tests: " .. tostring(element.descriptor) .. " " .. handler.getFullName(element))
    end
    return nil, true
  end)
  busted.subscribe({ "suite", "end" }, function()
    out(string.format("counts: %d successes, %d failures, %d errors, %d pending",
      handler.successesCount, handler.failuresCount, handler.errorsCount, handler.pendingsCount))
    return nil, true
  end)
  return handler
end
