-- Settings of the assertion engine that a spec may change for a while:
-- formatters, parameters (TableFormatLevel, ...) and, later, spies. They
-- live in a chain of snapshots, as in luassert, so a run (or a test) can
-- take a snapshot and revert everything changed since in one call.

local trace = require "ferry.test.trace"

local state = {}

local snapshot_mt = {}
snapshot_mt.__index = snapshot_mt

-- Stands for a parameter explicitly set to nil, so the lookup stops there.
local nilvalue = {}

local current

function state.snapshot()
  local new = setmetatable({
    formatters = {},
    parameters = {},
    spies = setmetatable({}, { __mode = "kv" }),
    previous = current,
  }, snapshot_mt)
  if current then
    current.next = new
  end
  current = new
  return new
end

-- Drops this snapshot and every later one; spies made since are reverted.
function snapshot_mt:revert()
  if not self.previous then
    return
  end
  if self.next then
    self.next:revert()
  end
  for spy in pairs(self.spies) do
    self.spies[spy] = nil
    spy:revert()
  end
  self.formatters, self.parameters = {}, {}
  current = self.previous
  current.next = nil
  setmetatable(self, nil)
end

function state.revert()
  current:revert()
end

function state.add_formatter(fn)
  table.insert(current.formatters, 1, fn)
end

function state.remove_formatter(fn, snapshot)
  snapshot = snapshot or current
  for i, f in ipairs(snapshot.formatters) do
    if f == fn then
      table.remove(snapshot.formatters, i)
      break
    end
  end
  if snapshot.previous then
    state.remove_formatter(fn, snapshot.previous)
  end
end

-- The text of the first formatter, newest first, that knows the value.
function state.format_argument(value, fmtargs)
  local snapshot = current
  while snapshot do
    for _, fn in ipairs(snapshot.formatters) do
      local text = fn(value, fmtargs)
      if text ~= nil then
        return text
      end
    end
    snapshot = snapshot.previous
  end
  return nil
end

function state.set_parameter(name, value)
  if value == nil then
    value = nilvalue
  end
  current.parameters[name] = value
end

function state.get_parameter(name)
  local snapshot = current
  while snapshot do
    local value = snapshot.parameters[name]
    if value ~= nil then
      if value == nilvalue then
        return nil
      end
      return value
    end
    snapshot = snapshot.previous
  end
  return nil
end

function state.add_spy(spy)
  current.spies[spy] = true
end

state.snapshot()

trace.mark_internal()

return state
