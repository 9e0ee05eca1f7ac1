--- prom.samples: the stock checks as samples over matched windows, for
-- the judge.
--
--   local samples = require "prom.samples"
--   local check = samples.check("latency_p50")
--   local s = samples.collect(p, check, vars, { start = t0, stop = t1, step = 30 })
--   -- s.times = {t0 + 30, t0 + 60, ...}, s.values = {41.2, 40.8, ...}
--
-- One sample per step: a range query evaluated at start + step, start +
-- 2 step, ... stop, each value taken over the step before it (the windows
-- do not overlap). Both sides of a comparison are collected with the same
-- start, stop and step, so their samples cover the same windows. Every
-- check is per request, so the traffic weights do not bias it: errors are
-- counted ({errors, total} per window), latency is per-window quantiles of
-- the request histogram, CPU and memory are divided by the requests.
-- See docs/modules/prom.md.
local errors = require "ferry.errors"
local prom = require "prom"

local samples = {}

-- The workload selector of the mesh metrics (as prom's stock checks).
local WORKLOAD = 'reporter="destination",destination_workload_namespace="{{ namespace }}",'
  .. 'destination_workload=~"{{ target }}"{{ labels }}'
local REQUESTS = "sum(increase(istio_requests_total{" .. WORKLOAD .. "}[{{ step }}]))"
local CONTAINERS = 'namespace="{{ namespace }}",container!="",container!="POD"{{ labels }}'

local function latency(quantile, name)
  return {
    kind = "continuous", unit = "ms", margin = 0.1,
    description = name .. " request duration per window (histogram quantile of the window's requests)",
    query = "histogram_quantile(" .. quantile .. ", sum(increase(istio_request_duration_milliseconds_bucket{"
      .. WORKLOAD .. "}[{{ step }}])) by (le))",
  }
end

--- The checks the gate judges: name -> {kind, unit, margin (the default),
-- description, query | errors + total}. Queries use {{ namespace }},
-- {{ target }}, {{ labels }} (as prom.checks) and {{ step }}, the window
-- of one sample.
samples.checks = {
  error_rate = {
    kind = "proportion", unit = "%", margin = 1,
    description = "requests answered with 5xx, counted per window: {errors, total}",
    errors = "sum(increase(istio_requests_total{" .. WORKLOAD .. ',response_code=~"5.*"}[{{ step }}]))',
    total = REQUESTS,
  },
  latency_p50 = latency("0.5", "median"),
  latency_p90 = latency("0.9", "90th percentile"),
  latency_p99 = latency("0.99", "99th percentile"),
  cpu = {
    kind = "continuous", unit = "ms/request", margin = 0.25,
    description = "CPU time of the namespace's containers per request, per window",
    query = "1000 * sum(increase(container_cpu_usage_seconds_total{" .. CONTAINERS .. "}[{{ step }}])) / "
      .. REQUESTS,
  },
  memory = {
    kind = "continuous", unit = "MiB/(req/s)", margin = 0.25,
    description = "working-set memory of the namespace's containers over the request rate, per window",
    query = "sum(avg_over_time(container_memory_working_set_bytes{" .. CONTAINERS .. "}[{{ step }}])) / 1048576 / "
      .. "sum(rate(istio_requests_total{" .. WORKLOAD .. "}[{{ step }}]))",
  },
}
samples.order = { "error_rate", "latency_p50", "latency_p90", "latency_p99", "cpu", "memory" }

--- samples.check(name) -> a copy of a stock check, with its name.
function samples.check(name)
  local stock = samples.checks[name]
  if not stock then
    error(errors.new("invalid", string.format("no judged check named '%s' (checks: %s)", tostring(name),
      table.concat(samples.order, ", "))), 0)
  end
  local check = { name = name }
  for k, v in pairs(stock) do check[k] = v end
  return check
end

local function render(check, which, vars)
  local v = {}
  for k, x in pairs(vars or {}) do v[k] = x end
  v.labels = prom.matchers(v.labels)
  return prom.render(check[which], v, "check '" .. check.name .. "'")
end

--- The queries of a check for one side's vars (step in seconds).
function samples.queries(check, vars, step)
  local v = {}
  for k, x in pairs(vars or {}) do v[k] = x end
  v.step = string.format("%ds", step)
  if check.kind == "proportion" then
    return { errors = render(check, "errors", v), total = render(check, "total", v) }
  end
  return { value = render(check, "query", v) }
end

-- time -> value of a range query's one series (an aggregate); none when empty.
local function by_time(p, expr, start, stop, step)
  local r = p:range(expr, { start = start, stop = stop, step = step })
  local out = {}
  if #r.series > 1 then
    error(errors.new("ambiguous", string.format("the query returned %d series, not one: %s", #r.series, expr)), 0)
  end
  for _, point in ipairs(r.series[1] and r.series[1].values or {}) do out[point[1]] = point[2] end
  return out
end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

--- samples.collect(p, check, vars, {start, stop, step}) -> {times, values}
-- (continuous) or {times, errors, total} (proportion): one entry per
-- window ending at start + k step <= stop that has data. A window without
-- requests has no entry (a NaN latency is no sample); a window with
-- requests but no 5xx series counts 0 errors.
function samples.collect(p, check, vars, window)
  local first = window.start + window.step
  local out = { times = {} }
  if first > window.stop then return out end
  local q = samples.queries(check, vars, window.step)
  if check.kind == "proportion" then
    local total = by_time(p, q.total, first, window.stop, window.step)
    local errs = by_time(p, q.errors, first, window.stop, window.step)
    out.errors, out.total = {}, {}
    for t = first, window.stop, window.step do
      local n = total[t]
      if n and finite(n) then
        local e = errs[t]
        out.times[#out.times + 1], out.total[#out.total + 1] = t, n
        out.errors[#out.errors + 1] = (e and finite(e)) and math.min(e, n) or 0
      end
    end
    return out
  end
  local values = by_time(p, q.value, first, window.stop, window.step)
  out.values = {}
  for t = first, window.stop, window.step do
    local v = values[t]
    if v and finite(v) then out.times[#out.times + 1], out.values[#out.values + 1] = t, v end
  end
  return out
end

--- Appends the windows of `more` to `into` (both from collect).
function samples.append(into, more)
  for i, t in ipairs(more.times) do
    into.times[#into.times + 1] = t
    for _, field in ipairs { "values", "errors", "total" } do
      if more[field] then
        into[field] = into[field] or {}
        into[field][#into[field] + 1] = more[field][i]
      end
    end
  end
  return into
end

--- What the judge takes: the values (continuous) or {errors, total}, summed.
function samples.judged(check, s)
  if check.kind ~= "proportion" then return s.values or {} end
  local e, n = 0, 0
  for i = 1, #s.times do e, n = e + s.errors[i], n + s.total[i] end
  return { errors = e, total = n }
end

--- The samples over time for a chart: {{t, v}, ...}; a proportion's
-- value is the window's error rate in percent.
function samples.points(check, s)
  local out = {}
  for i, t in ipairs(s.times) do
    if check.kind == "proportion" then
      if s.total[i] > 0 then out[#out + 1] = { t, 100 * s.errors[i] / s.total[i] } end
    else
      out[#out + 1] = { t, s.values[i] }
    end
  end
  return out
end

--- One figure per side for a report: the median sample, or the error rate
-- in percent over all windows; nil without samples.
function samples.summary(check, s)
  local judged = samples.judged(check, s)
  if check.kind == "proportion" then
    return judged.total > 0 and 100 * judged.errors / judged.total or nil
  end
  local sorted = {}
  for i, v in ipairs(judged) do sorted[i] = v end
  table.sort(sorted)
  local n = #sorted
  if n == 0 then return nil end
  if n % 2 == 1 then return sorted[(n + 1) // 2] end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

return samples
