-- compare-clusters: each tenant's metrics on two clusters, judged per request with a margin per check.
-- A sequential gate: it looks every judge.interval on growing samples; all pass -> the step passes, a fail
-- -> it fails (and the run rolls back), inconclusive -> it holds and samples on until judge.deadline, then
-- fails safe. "No data" never passes: a new cluster without traffic proves nothing.
local recipe = require "recipe"
local duration = require "ferry.duration"

local compare = {}

local JUDGE = { step = "30s", interval = "30s", looks = 10, alpha = 0.05, spending = "obrien_fleming" }
local OLD_LIMITS = { "max", "min", "max_ratio", "min_ratio", "max_delta" }

--- The gate's settings: the cluster's `judge` setting over the defaults,
-- durations in seconds (deadline: looks × interval unless set).
function compare.judge_settings(s)
  local j = s.judge or {}
  if type(j) ~= "table" then recipe.fail("judge must be a table such as {interval: 30s, looks: 10}") end
  local g = {}
  for _, name in ipairs { "step", "interval" } do
    g[name] = duration.check(j[name] or JUDGE[name], "judge", name)
    if g[name] < 1 then recipe.fail(string.format("judge.%s must be at least 1s, got %s", name, tostring(j[name]))) end
  end
  g.looks, g.alpha, g.spending = j.looks or JUDGE.looks, j.alpha or JUDGE.alpha, j.spending or JUDGE.spending
  if math.type(g.looks) ~= "integer" or g.looks < 1 then
    recipe.fail("judge.looks must be a whole number of looks, at least 1, got " .. tostring(g.looks))
  end
  g.deadline = duration.check(j.deadline or g.looks * g.interval, "judge", "deadline")
  return g
end

-- The old limits as the margin they come closest to, for the error.
local function new_form(name, limits)
  local margin = limits.max_delta or (limits.max_ratio and limits.max_ratio - 1) or 0.1
  return string.format("{margin: %g} (%s)", margin, name == "error_rate" and "percentage points of errors"
    or "how much worse, relative: 0.1 = 10 %")
end

--- The judged checks of a tenant (prom.samples checks, each with its
-- margin and min_samples) from the `thresholds` setting: name -> {margin,
-- min_samples} or false to leave the check out.
function compare.checks_of(s, tenant)
  local samples = require "prom.samples"
  local thresholds = s.thresholds or {}
  for name, t in pairs(thresholds) do
    local known = samples.checks[name] or name == "request_rate"
    if not known then
      recipe.fail(string.format("tenant %s: thresholds.%s is no check (checks: %s)", tenant, tostring(name),
        table.concat(samples.order, ", ")))
    elseif type(t) ~= "table" and t ~= false then
      recipe.fail(string.format("tenant %s: thresholds.%s must be a table of limits such as {margin: 0.1}, "
        .. "or false to leave the check out; got %s", tenant, name, tostring(t)))
    elseif name == "request_rate" and t ~= false then
      recipe.fail(string.format("tenant %s: thresholds.request_rate is not judged: the traffic weights set each "
        .. "side's request rate; every judged check is per request. Leave it out (false)", tenant))
    elseif t then
      for _, old in ipairs(OLD_LIMITS) do
        if t[old] ~= nil then
          recipe.fail(string.format("tenant %s: thresholds.%s: %s is a limit of the old two-number check; the "
            .. "judge takes a margin: %s", tenant, name, old, new_form(name, t)))
        end
      end
    end
  end
  local list = {}
  for _, name in ipairs(samples.order) do
    local t = thresholds[name]
    if t ~= false then
      local check = samples.check(name)
      t = t or {}
      list[#list + 1] = { check = check, margin = t.margin or check.margin, min_samples = t.min_samples }
    end
  end
  return list
end

local function margin_text(c)
  if c.check.kind == "proportion" then return string.format("%g points", c.margin) end
  return string.format("%g %%", 100 * c.margin)
end

--- What the gate judges, as plan lines.
function compare.plan_lines(ctx, old, new, window)
  local g = compare.judge_settings(ctx.settings(new))
  local tenants, count, checks = recipe.tenants(ctx, new), 0, {}
  for _, tenant in ipairs(tenants) do
    local list = compare.checks_of(ctx.settings(new, tenant), tenant)
    count = count + #list
    if #checks == 0 then
      for _, c in ipairs(list) do checks[#checks + 1] = c.check.name .. " (margin " .. margin_text(c) .. ")" end
    end
  end
  return {
    string.format("judge %s vs %s per request: %s, for %s (%d checks, Holm across them)", old, new,
      table.concat(checks, ", "), table.concat(tenants, ", "), count),
    string.format("samples every %gs from %s; a look every %gs, at most %d looks, deadline %gs, alpha %g (%s); "
      .. "inconclusive holds, then fails safe", g.step, window, g.interval, g.looks, g.deadline, g.alpha, g.spending),
  }
end

-- The gate's members: every tenant × check, both sides' prom client and vars.
local function members_of(ctx, old, new, window)
  local p_old, p_new = recipe.prometheus(ctx, old), recipe.prometheus(ctx, new)
  local members = {}
  for _, tenant in ipairs(recipe.tenants(ctx, new)) do
    local s, so = ctx.settings(new, tenant), ctx.settings(old, tenant)
    local span = duration.check(window or s.compare_window or "10m", "compare-clusters", "compare_window")
    local namespace, target = recipe.tenant_namespace(ctx, tenant), s.workloads or ".*"
    for _, c in ipairs(compare.checks_of(s, tenant)) do
      c.scope, c.tenant, c.span = tenant, tenant, span
      c.baseline = { prom = p_old, vars = { namespace = namespace, target = target, labels = so.prometheus.labels } }
      c.candidate = { prom = p_new, vars = { namespace = namespace, target = target, labels = s.prometheus.labels } }
      members[#members + 1] = c
    end
  end
  return members, p_old, p_new
end

-- A member's comparison row and its samples over time, for the report.
local function report_member(ctx, scope, m)
  local samples = require "prom.samples"
  local r = m.result
  local row = {
    name = m.check.name, verdict = r.held or r.verdict, detail = r.reason, failed_safe = r.failed_safe,
    baseline = samples.summary(m.check, m.baseline_samples), candidate = samples.summary(m.check, m.candidate_samples),
    value_unit = m.check.unit, estimate = r.estimate, ci = r.ci, n = r.n, method = r.method, unit = r.units,
    margin = m.margin, look = r.look, looks = r.looks,
  }
  ctx.report:series(scope, m.check.name, { unit = m.check.unit, baseline = samples.points(m.check, m.baseline_samples),
    candidate = samples.points(m.check, m.candidate_samples) })
  return row
end

--- The gate over every tenant (recipe.tenants of the new cluster) × check,
-- old vs new. Samples cover the `window` (default: the tenant's
-- compare_window, else 10m) before the first look, which is now; with
-- options.since (seconds since the epoch), they start there instead and
-- the first look comes `window` later. Each tenant's rows and samples go
-- to the report under scope_prefix .. tenant. Returns the list of
-- failures ("tenant check: reason") and the gate's outcome.
function compare.compare_tenants(ctx, old, new, window, scope_prefix, options)
  options = options or {}
  local gate = require "prom.gate"
  local g = compare.judge_settings(ctx.settings(new))
  local members, p_old, p_new = members_of(ctx, old, new, window)
  if #members == 0 then
    ctx.status("no checks to judge (every threshold is false)")
    return {}
  end
  local clock = options.clock or gate.clock_of { p_old, p_new }
  local first = options.since and (options.since + members[1].span) or clock.now()
  for _, m in ipairs(members) do
    m.start = math.floor(options.since or (first - m.span))
  end
  ctx.status("judging %d checks of %d tenants, old vs new", #members, #recipe.tenants(ctx, new))
  local outcome = gate.run {
    members = members, start = math.floor(first), first = first, step = g.step, interval = g.interval,
    looks = g.looks, deadline = g.deadline, alpha = g.alpha, spending = g.spending, clock = clock,
    progress = function(line) ctx.status("%s", line) end,
  }
  local failures, rows = {}, {}
  for _, m in ipairs(outcome.members) do
    local scope = (scope_prefix or "") .. m.tenant
    rows[scope] = rows[scope] or {}
    table.insert(rows[scope], report_member(ctx, scope, m))
    if m.result.verdict == "fail" or m.result.failed_safe then
      failures[#failures + 1] = string.format("%s %s: %s", m.tenant, m.check.name, tostring(m.result.reason))
    end
  end
  for _, tenant in ipairs(recipe.tenants(ctx, new)) do
    local scope = (scope_prefix or "") .. tenant
    if rows[scope] then ctx.report:comparison(scope, rows[scope]) end
  end
  return failures, outcome
end

--- The step: the gate over each tenant's metrics on the clusters of the
-- parameters role_old and role_new (window: the parameter compare_window);
-- any failure fails the step.
function compare.compare_clusters(role_old, role_new)
  return {
    name = "compare-clusters",
    description = "error rate, latency and resources of each tenant, old vs new",
    timeout = "30m",
    plan = function(ctx)
      local new = recipe.cluster(ctx, role_new)
      return compare.plan_lines(ctx, recipe.cluster(ctx, role_old), new,
        ctx.params.compare_window or ctx.settings(new).compare_window or "10m")
    end,
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
  description = "judge error rate, latency and resource use per request of tenants on two clusters",
  params = {
    { name = "from", required = true, help = "the baseline cluster" },
    { name = "to", required = true, help = "the candidate cluster" },
    { name = "tenants", type = "list", help = "tenants to compare (default: the fleet's)" },
    { name = "compare_window", type = "duration", help = "metrics window before the first look (default: the fleet's compare_window, else 10m)" },
  },
  steps = { compare.compare_clusters("from", "to") },
  exports = compare,
}
