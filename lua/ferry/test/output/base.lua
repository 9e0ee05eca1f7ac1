-- What every output handler needs: counts and lists of the outcomes so
-- far, with each entry formatted the same way (full name, message, where
-- the block was declared, where it went wrong). Mirrors busted's
-- outputHandlers/base so handlers written the busted way port directly.
--
-- An output handler module returns function(options, suite) -> handler;
-- the runner then calls handler:subscribe(options). options.stream is
-- where output goes (an object with :write and :flush, io.stdout by default).

local trace = require "ferry.test.trace"

trace.mark_internal()

-- What a block carries for the runner only (links into the tree, state of
-- its hooks); reports get the rest, as busted's elements have it.
local internal_keys = {
  env = true, parent = true, children = true, hooks = true, declared = true,
  lazy_done = true, randomize_request = true, finally = true,
}

return function(suite)
  local handler = {
    successes = {},
    successesCount = 0,
    pendings = {},
    pendingsCount = 0,
    failures = {},
    failuresCount = 0,
    errors = {},
    errorsCount = 0,
    inProgress = {},
  }

  function handler.cancelOnPending(element, _, status)
    return not ((element.descriptor == "pending" or status == "pending") and handler.options.suppressPending)
  end

  function handler.getFullName(element)
    return suite:full_name(element)
  end

  -- An outcome as reports show it. `element.trace` (where the block was
  -- declared) falls back to where the error happened, for blocks declared
  -- by the runner itself (files).
  function handler.format(element, parent, message, where, isError)
    local copy = {}
    for k, v in next, element do
      if type(v) ~= "function" and not internal_keys[k] then
        copy[k] = v
      end
    end
    copy.trace = element.trace or where
    return {
      trace = where or element.trace,
      element = copy,
      name = handler.getFullName(element),
      message = message,
      randomseed = parent and parent.randomseed,
      isError = isError,
    }
  end

  function handler.getDuration()
    if not handler.endTick or not handler.startTick then
      return 0
    end
    return handler.endTick - handler.startTick
  end

  function handler.baseSuiteStart(root)
    handler.startTick = root.starttick
    handler.startTime = root.starttime
    return nil, true
  end

  function handler.baseSuiteReset()
    handler.successes, handler.successesCount = {}, 0
    handler.pendings, handler.pendingsCount = {}, 0
    handler.failures, handler.failuresCount = {}, 0
    handler.errors, handler.errorsCount = {}, 0
    handler.inProgress = {}
    return nil, true
  end

  function handler.baseSuiteEnd(root)
    handler.endTick = root.endtick
    handler.endTime = root.endtime
    return nil, true
  end

  function handler.baseTestStart(element)
    handler.inProgress[element] = {}
    return nil, true
  end

  function handler.baseTestEnd(element, parent, status, where)
    local list
    if status == "success" then
      list = handler.successes
      handler.successesCount = handler.successesCount + 1
    elseif status == "pending" then
      list = handler.pendings
      handler.pendingsCount = handler.pendingsCount + 1
    elseif status == "failure" then
      -- the entry was added when the failure was published
      handler.failuresCount = handler.failuresCount + 1
      return nil, true
    else
      -- errors are counted and listed when published
      return nil, true
    end
    local entry = handler.format(element, parent, element.message, where)
    for k, v in pairs(handler.inProgress[element] or {}) do
      entry[k] = v
    end
    handler.inProgress[element] = nil
    list[#list + 1] = entry
    return nil, true
  end

  function handler.basePending(element, _, message, where)
    local progress = handler.inProgress[element]
    if progress then
      progress.message = message
      progress.trace = where
    end
    return nil, true
  end

  function handler.baseTestFailure(element, parent, message, where)
    table.insert(handler.failures, handler.format(element, parent, message, where))
    return nil, true
  end

  function handler.baseTestError(element, parent, message, where)
    handler.errorsCount = handler.errorsCount + 1
    table.insert(handler.errors, handler.format(element, parent, message, where, true))
    return nil, true
  end

  -- Errors outside tests: hooks, describe bodies, files, the runner.
  function handler.baseError(element, parent, message, where)
    if element.descriptor ~= "it" then
      handler.errorsCount = handler.errorsCount + 1
      table.insert(handler.errors, handler.format(element, parent, message, where, true))
    end
    return nil, true
  end

  function handler.subscribe(_, options)
    handler.options = options
    local first = { priority = 1 }
    local unless_pending = { priority = 1, predicate = handler.cancelOnPending }
    suite:subscribe({ "suite", "reset" }, handler.baseSuiteReset, first)
    suite:subscribe({ "suite", "start" }, handler.baseSuiteStart, first)
    suite:subscribe({ "suite", "end" }, handler.baseSuiteEnd, first)
    suite:subscribe({ "test", "start" }, handler.baseTestStart, unless_pending)
    suite:subscribe({ "test", "end" }, handler.baseTestEnd, unless_pending)
    suite:subscribe({ "pending" }, handler.basePending, unless_pending)
    suite:subscribe({ "failure", "it" }, handler.baseTestFailure, first)
    suite:subscribe({ "error", "it" }, handler.baseTestError, first)
    suite:subscribe({ "failure" }, handler.baseError, first)
    suite:subscribe({ "error" }, handler.baseError, first)
  end

  return handler
end
