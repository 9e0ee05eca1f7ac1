-- What a block may change for the blocks after it: globals set through _G
-- and modules loaded with require. busted's `insulate` blocks (and every
-- spec file, unless --no-auto-insulate) save both when they start and put
-- them back when they end; an `expose` block inside one hands its changes
-- on to the enclosing insulated block, so they outlive it.
--
-- The states form a stack, one entry per block entered: a saved state for
-- an insulated block, false for any other. Suite:push/pop drive it.

local trace = require "ferry.test.trace"

local isolation = {}

-- A copy of what _G and package.loaded hold now.
function isolation.save()
  local globals, loaded = {}, {}
  for k in next, _G do
    globals[k] = rawget(_G, k)
  end
  for k, v in next, package.loaded do
    loaded[k] = v
  end
  return { globals = globals, loaded = loaded, mt = debug.getmetatable(_G) }
end

-- Puts _G and package.loaded back as busted does: globals set since are
-- removed, changed and removed ones come back; modules loaded since are
-- forgotten (a module unloaded since stays unloaded).
function isolation.restore(saved)
  debug.setmetatable(_G, saved.mt)
  for k in next, _G do
    rawset(_G, k, saved.globals[k])
  end
  for k, v in next, saved.globals do
    if rawget(_G, k) == nil then
      rawset(_G, k, v)
    end
  end
  for k in next, package.loaded do
    package.loaded[k] = saved.loaded[k]
  end
end

-- Entering `element`: saves the state when the block is insulated.
function isolation.enter(states, element)
  local state = false
  if element.attributes and element.attributes.envmode == "insulate" then
    state = isolation.save()
  end
  states[#states + 1] = state
end

-- Leaving `element`: an exposed block refreshes the state saved by the
-- block around it (if that one is insulated), so what it did stays; an
-- insulated block restores what it saved.
function isolation.leave(states, element)
  local state = table.remove(states)
  if element.attributes and element.attributes.envmode == "expose" and #states > 0 then
    states[#states] = states[#states] and isolation.save()
  end
  if state then
    isolation.restore(state)
  end
end

trace.mark_internal()

return isolation
