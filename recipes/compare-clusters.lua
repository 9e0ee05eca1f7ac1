-- compare-clusters: each tenant's metrics on two clusters, with the fleet's thresholds.
-- "No data" fails like a regression: a new cluster without traffic proves nothing.
local recipe = require "recipe"

local compare = {}

local function thresholds_of(s, tenant)
  for name, limits in pairs(s.thresholds or {}) do
    if type(limits) ~= "table" and limits ~= false then
      recipe.fail(string.format("tenant %s: thresholds.%s must be a table of limits such as {max_ratio = 1.2} "
        .. "or {max_delta = 1}, or false to leave the check out; got %s", tenant, tostring(name), tostring(limits)))
    end
  end
  return s.thresholds
end

--- prom.compare of every tenant (recipe.tenants of the new cluster), old
-- vs new, over window (default: the tenant's compare_window, else 10m);
-- each tenant's rows go to the report under scope_prefix .. tenant.
-- Returns the list of failures ("tenant check: reason").
function compare.compare_tenants(ctx, old, new, window, scope_prefix)
  local prom = require "prom"
  local failures = {}
  for _, tenant in ipairs(recipe.tenants(ctx, new)) do
    local s = ctx.settings(new, tenant)
    local so = ctx.settings(old, tenant)
    ctx.status("comparing tenant %s", tenant)
    local result = prom.compare {
      baseline = { prom = recipe.prometheus(ctx, old), labels = so.prometheus.labels },
      candidate = { prom = recipe.prometheus(ctx, new), labels = s.prometheus.labels },
      window = window or s.compare_window or "10m",
      vars = { namespace = recipe.tenant_namespace(ctx, tenant), target = s.workloads or ".*" },
      checks = prom.stock_checks(thresholds_of(s, tenant)),
    }
    local rows = {}
    for _, check in ipairs(result.checks) do
      rows[#rows + 1] = { name = check.name, baseline = check.baseline, candidate = check.candidate,
                          ratio = check.ratio, verdict = check.verdict, detail = check.reason }
      if check.verdict ~= "pass" then
        failures[#failures + 1] = string.format("%s %s: %s", tenant, check.name, tostring(check.reason))
      end
    end
    ctx.report:comparison((scope_prefix or "") .. tenant, rows)
  end
  return failures
end

--- The step: compares each tenant's metrics on the clusters of the
-- parameters role_old and role_new (window: the parameter compare_window);
-- any failure fails the step.
function compare.compare_clusters(role_old, role_new)
  return {
    name = "compare-clusters",
    description = "error rate, latency and resources of each tenant, old vs new",
    timeout = "30m",
    run = function(ctx)
      local failures = compare.compare_tenants(ctx, recipe.cluster(ctx, role_old), recipe.cluster(ctx, role_new),
        ctx.params.compare_window)
      if #failures > 0 then
        recipe.fail("the new cluster does not match the old one: " .. table.concat(failures, "; "),
          { failures = failures })
      end
    end,
  }
end

return recipe {
  name = "compare-clusters",
  description = "compare error rate, latency and resource use of tenants on two clusters",
  params = {
    { name = "from", required = true, help = "the baseline cluster" },
    { name = "to", required = true, help = "the candidate cluster" },
    { name = "tenants", type = "list", help = "tenants to compare (default: the fleet's)" },
    { name = "compare_window", type = "duration", help = "metrics window (default: the fleet's compare_window, else 10m)" },
  },
  steps = { compare.compare_clusters("from", "to") },
  exports = compare,
}
