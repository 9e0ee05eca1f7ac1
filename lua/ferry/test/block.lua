-- When hooks run, and what a failing hook stops (busted.block's rules):
--
-- * setup/teardown (strict_setup/strict_teardown) run once around the
--   block's children; if a setup fails the children do not run, teardown
--   still does.
-- * lazy_setup runs just before the first test that needs it (outer blocks
--   first), once; lazy_teardown runs after the block only if it did.
-- * before_each runs outer -> inner before each test, after_each inner ->
--   outer after it. If a before_each fails the test does not run, and only
--   the after_each of that block and the blocks around it run.
-- Each failing hook is reported as an error of that hook.

local trace = require "ferry.test.trace"

local block = {}

local function hooks_of(element, descriptor)
  return element.hooks[descriptor] or {}
end

-- Runs the element's own hooks of one kind, all of them even when one
-- fails; true when all passed.
local function run_own(suite, descriptor, element)
  local ok = true
  for _, hook in ipairs(hooks_of(element, descriptor)) do
    if suite:safe(descriptor, hook.run, hook) ~= "success" then
      ok = false
    end
  end
  return ok
end

-- Outer blocks first, stopping at the first level that fails. Returns
-- success and the innermost block whose hooks ran.
function block.run_down(suite, descriptor, element)
  if element.parent then
    local ok, reached = block.run_down(suite, descriptor, element.parent)
    if not ok then
      return false, reached
    end
  end
  return run_own(suite, descriptor, element), element
end

-- This block first, then every enclosing one.
function block.run_up(suite, descriptor, element)
  local ok = run_own(suite, descriptor, element)
  if element.parent and not block.run_up(suite, descriptor, element.parent) then
    ok = false
  end
  return ok
end

-- lazy_setup of this block and the ones around it, each at most once per
-- run; the outcome is remembered so later tests are skipped after a
-- failure.
function block.lazy_setup(suite, element)
  if element.parent and not block.lazy_setup(suite, element.parent) then
    return false
  end
  element.lazy_done = element.lazy_done or {}
  if element.lazy_done.ok == nil then
    element.lazy_done.ok = run_own(suite, "lazy_setup", element)
  end
  return element.lazy_done.ok
end

function block.lazy_teardown(suite, element)
  if element.lazy_done and element.lazy_done.ok ~= nil then
    run_own(suite, "lazy_teardown", element)
    element.lazy_done.ok = nil
  end
end

-- Runs a container block: its body declares the children, then setup,
-- children, lazy_teardown, teardown. Before the children run they are
-- sorted (--sort-tests) or shuffled (--shuffle-tests, or randomize() in
-- the body), the block's seed then shown with its failures.
function block.execute(suite, descriptor, element)
  element.randomize_request = nil
  if suite:safe(descriptor, element.run, element) ~= "success" then
    return
  end
  local request = element.randomize_request or {}
  local randomize = suite.randomize
  if request.on ~= nil then
    randomize = request.on
  end
  if suite.sort then
    suite:reorder(element, "sort")
  elseif randomize then
    element.randomseed = request.seed or suite.randomseed
    suite:reorder(element, "shuffle", element.randomseed)
  end
  if run_own(suite, "strict_setup", element) then
    suite:execute(element)
  end
  block.lazy_teardown(suite, element)
  run_own(suite, "strict_teardown", element)
end

-- One run of the whole suite (run `count` of `total`): files are the
-- children of the suite's root. `seed` is published with the start when
-- tests are shuffled.
function block.run_suite(suite, count, total, seed)
  local root = suite.root
  count, total = count or 1, total or 1
  if suite:safe_publish("suite", { "suite", "start" }, root, count, total, seed) then
    if run_own(suite, "strict_setup", root) then
      suite:execute(root)
    end
    block.lazy_teardown(suite, root)
    run_own(suite, "strict_teardown", root)
  end
  suite:safe_publish("suite", { "suite", "end" }, root, count, total)
end

trace.mark_internal()

return block
