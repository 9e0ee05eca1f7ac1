-- Publish/subscribe over channel paths such as {"test", "end"}.
--
-- It keeps the contract busted's output handlers and helpers are written
-- against (that of mediator_lua): an event on {"error", "it"} reaches the
-- subscribers of that channel, then those of {"error"}; a subscriber
-- returns `value, continue` and the event goes on only while `continue` is
-- true; options.priority N puts a subscriber N-th in its channel's list;
-- options.predicate(...) can skip a subscriber for one event.

local trace = require "ferry.test.trace"

local events = {}

local Bus = {}
Bus.__index = Bus

local function new_channel(parent)
  return { parent = parent, children = {}, subscribers = {} }
end

function events.new()
  return setmetatable({ root = new_channel(nil) }, Bus)
end

local function channel_at(bus, path)
  local channel = bus.root
  for _, name in ipairs(path) do
    local child = channel.children[name]
    if not child then
      child = new_channel(channel)
      channel.children[name] = child
    end
    channel = child
  end
  return channel
end

local next_id = 0

-- Returns the subscriber: a handle for unsubscribe, with an `id` as
-- mediator's subscribers have.
function Bus:subscribe(path, fn, options)
  options = options or {}
  local channel = channel_at(self, path)
  local list = channel.subscribers
  local position = #list + 1
  if options.priority and options.priority < position then
    position = math.max(options.priority, 1)
  end
  next_id = next_id + 1
  local subscriber = { id = next_id, fn = fn, options = options, channel = channel }
  table.insert(list, position, subscriber)
  return subscriber
end

local function remove_by_id(channel, id)
  for i, s in ipairs(channel.subscribers) do
    if s.id == id then
      return table.remove(channel.subscribers, i)
    end
  end
  for _, child in pairs(channel.children) do
    local removed = remove_by_id(child, id)
    if removed then
      return removed
    end
  end
end

-- unsubscribe(subscriber) or, as with mediator, unsubscribe(id, path):
-- the subscriber with that id in the channel at path or below it.
function Bus:unsubscribe(subscriber, path)
  if type(subscriber) ~= "table" then
    return remove_by_id(path and channel_at(self, path) or self.root, subscriber)
  end
  local list = subscriber.channel.subscribers
  for i, s in ipairs(list) do
    if s == subscriber then
      table.remove(list, i)
      return s
    end
  end
end

-- Returns the list of first values the subscribers returned.
function Bus:publish(path, ...)
  local results = {}
  local channel = channel_at(self, path)
  while channel do
    for _, subscriber in ipairs(channel.subscribers) do
      local predicate = subscriber.options.predicate
      if not predicate or predicate(...) then
        local value, continue = subscriber.fn(...)
        if value then
          results[#results + 1] = value
        end
        if not continue then
          return results
        end
      end
    end
    channel = channel.parent
  end
  return results
end

trace.mark_internal()

return events
