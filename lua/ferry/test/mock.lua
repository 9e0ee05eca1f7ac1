-- Mocks (luassert.mock): every function of a table (and of the tables in
-- it) wrapped in a spy, or replaced by a stub.
--
--   local m = mock(client)          -- spies: calls go through
--   local m = mock(client, true)    -- stubs: calls return nothing
--   assert.spy(m.get).was.called()
--   mock.revert(m)                  -- originals back

local spy = require "ferry.test.spy"
local stub = require "ferry.test.stub"
local trace = require "ferry.test.trace"

local function apply(object, action)
  if type(object) ~= "table" then
    return
  end
  if spy.is_spy(object) then
    return object[action](object)
  end
  for _, v in pairs(object) do
    apply(v, action)
  end
  return object
end

local mock = {}

-- new(object [, dostub [, func]]): func is what stubs answer with.
function mock.new(object, dostub, func, self, key)
  local visited = {}
  local function do_mock(value, owner, name)
    if type(value) == "table" then
      if spy.is_spy(value) or visited[value] then
        return value
      end
      visited[value] = true
      for k, v in pairs(value) do
        value[k] = do_mock(v, value, k)
      end
      return value
    elseif type(value) == "function" then
      if dostub then
        return stub(owner, name, func)
      elseif owner == nil then
        return spy.new(value)
      end
      return spy.on(owner, name)
    end
    return value
  end
  return do_mock(object, self, key)
end

function mock.clear(object)
  return apply(object, "clear")
end

function mock.revert(object)
  return apply(object, "revert")
end

trace.mark_internal()

return setmetatable(mock, {
  __call = function(_, ...)
    return mock.new(...)
  end,
})
