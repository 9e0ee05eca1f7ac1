-- switch-traffic: the load balancer from one cluster to another (drivers none, command, haproxy),
-- step by step; with traffic.check_window, compare-clusters' gate judges the tenants at each weight, which is
-- held while the verdict is inconclusive.
local recipe = require "recipe"
local compare = recipe.use "compare-clusters"

local switch = {}

--- The traffic plan of a run: {from, to, steps = {10, 50, 100}, settings,
-- pause, now = fn() -> seconds, check = fn(ctx, weight)} from the new
-- cluster's `traffic` setting, and that setting.
function switch.plan_of(ctx, role_old, role_new)
  local old, new = recipe.cluster(ctx, role_old), recipe.cluster(ctx, role_new)
  local t = ctx.settings(new).traffic or {}
  local plan = { from = old, to = new, steps = t.steps or { 100 }, settings = t,
                 pause = require("ferry.duration").check(t.pause, "switch-traffic", "traffic.pause") }
  -- the gate's clock (the fake Prometheus' in specs), for the marks too
  local function clock()
    return require("prom.gate").clock_of { recipe.prometheus(ctx, old), recipe.prometheus(ctx, new) }
  end
  plan.now = function() return clock().now() end
  if t.check_window then
    -- at each weight: the gate on samples since the weight was set, the
    -- first look check_window later; it holds the weight while inconclusive
    plan.check = function(c, weight)
      local failures = compare.compare_tenants(c, old, new, t.check_window, weight .. "% ",
        { since = plan.now(), clock = clock() })
      if #failures > 0 then
        recipe.fail(string.format("at %d%% of traffic on %s: %s", weight, new, table.concat(failures, "; ")))
      end
    end
  end
  return plan, t
end

--- The step: moves traffic with the fleet's traffic driver; undo puts the
-- weights back as they were before the first one moved.
function switch.switch_traffic(role_old, role_new)
  return {
    name = "switch-traffic",
    description = "load balancer to the new cluster, step by step",
    plan = function(ctx)
      local p, t = switch.plan_of(ctx, role_old, role_new)
      local lines = { string.format("move traffic %s -> %s with driver %s, weights %s", p.from, p.to,
        t.driver or "none", table.concat(p.steps, ", ")) }
      if p.check then
        lines[#lines + 1] = "at each weight, the gate holds it until the checks pass (a fail rolls back):"
        for _, line in ipairs(compare.plan_lines(ctx, p.from, p.to, t.check_window)) do
          lines[#lines + 1] = "  " .. line
        end
      end
      return lines
    end,
    run = function(ctx)
      local p, t = switch.plan_of(ctx, role_old, role_new)
      local driver = recipe.traffic_driver(t.driver)
      -- saved before the first weight moves, so a failure half-way is undone
      ctx.state.traffic_previous = driver.current and driver.current(ctx, p) or {}
      ctx.journal:save()
      driver.switch(ctx, p)
    end,
    undo = function(ctx)
      local p, t = switch.plan_of(ctx, role_old, role_new)
      recipe.traffic_driver(t.driver).restore(ctx, ctx.state.traffic_previous or {}, p)
    end,
  }
end

return recipe {
  name = "switch-traffic",
  description = "move traffic between clusters with the fleet's traffic driver",
  params = {
    { name = "from", required = true, help = "the cluster traffic leaves" },
    { name = "to", required = true, help = "the cluster traffic goes to" },
  },
  steps = { switch.switch_traffic("from", "to") },
  exports = switch,
}
