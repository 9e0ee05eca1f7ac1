-- Which declared blocks take part in the run: --tags, --exclude-tags,
-- --filter, --filter-out, --list and --no-keep-going. Each is a subscriber
-- on {"register", kind} placed ahead of the one that attaches the block,
-- so a block that does not pass is never attached, as in busted.
--
-- Names are matched as busted matches them: tags with name:find("#" .. tag)
-- (a Lua pattern), filters against the full name ("describe ... it").

local trace = require "ferry.test.trace"

local filters = {}

local function has_tag(name, tag)
  return name:find("#" .. tag) ~= nil
end

local function any(list, predicate)
  for _, item in ipairs(list) do
    if predicate(item) then
      return true
    end
  end
  return false
end

-- options: tags, exclude_tags, filter, filter_out, names (lists),
-- exclude_names (set of full names), list, suppress_pending, no_keep_going
-- (bools); write(text) prints --list lines.
function filters.apply(suite, options)
  local function full_name(name)
    return suite:full_name(nil, name)
  end

  local function subscribe(kinds, fn)
    for _, kind in ipairs(kinds) do
      suite:subscribe({ "register", kind }, function(...)
        return fn(kind, ...)
      end, { priority = 1 })
    end
  end

  local function keep(yes)
    return nil, yes
  end

  if options.list then
    local function ignore()
      return nil, false
    end
    for _, path in ipairs({ { "suite", "start" }, { "suite", "end" }, { "file", "start" }, { "file", "end" },
                            { "describe", "start" }, { "describe", "end" }, { "test", "start" } }) do
      suite:subscribe(path, ignore, { priority = 1 })
    end
    suite:subscribe({ "test", "end" }, function(element, _, status)
      if options.suppress_pending and status == "pending" then
        return nil, false
      end
      local name = suite:full_name(element)
      local where = element.trace
      if where and where.what == "Lua" then
        name = where.short_src .. ":" .. where.currentline .. ": " .. name
      end
      options.write(name .. "\n")
      return nil, false
    end, { priority = 1 })

    -- Tests and hooks are declared with a function that does nothing, so
    -- describe bodies still run (to find the tests) but nothing else does.
    local function noop() end
    subscribe({ "strict_setup", "strict_teardown", "before_each", "after_each", "lazy_setup",
                "lazy_teardown", "it", "pending" }, function(kind, name, fn, ...)
      if fn == noop then
        return nil, true
      end
      suite:publish({ "register", kind }, name, noop, ...)
      return nil, false
    end)
  end

  if options.no_keep_going then
    subscribe({ "file", "describe", "it", "pending", "before_each", "after_each", "lazy_setup",
                "lazy_teardown", "strict_setup", "strict_teardown" }, function()
      return keep(not suite.skip_all)
    end)
  end

  -- Subscribed at priority 1, the last applied runs first; busted's order.
  -- --name and --exclude-names-file (busted 2.2) come before the filters.
  if options.names and #options.names > 0 then
    subscribe({ "it", "pending" }, function(_, name)
      local full = full_name(name)
      return keep(any(options.names, function(wanted) return full == wanted end))
    end)
  end
  if options.exclude_names and next(options.exclude_names) then
    subscribe({ "it", "pending" }, function(_, name)
      return keep(not options.exclude_names[full_name(name)])
    end)
  end
  if #options.filter > 0 then
    subscribe({ "it", "pending" }, function(_, name)
      local full = full_name(name)
      return keep(any(options.filter, function(pattern) return full:find(pattern) ~= nil end))
    end)
  end
  if #options.filter_out > 0 then
    subscribe({ "describe", "it", "pending" }, function(_, name)
      local full = full_name(name)
      return keep(not any(options.filter_out, function(pattern) return full:find(pattern) ~= nil end))
    end)
  end
  if #options.tags > 0 then
    subscribe({ "it", "pending" }, function(_, name)
      local full = full_name(name)
      return keep(any(options.tags, function(tag) return has_tag(full, tag) end))
    end)
  end
  if #options.exclude_tags > 0 then
    subscribe({ "describe", "it", "pending" }, function(_, name)
      return keep(not any(options.exclude_tags, function(tag) return has_tag(name or "", tag) end))
    end)
  end
end

trace.mark_internal()

return filters
