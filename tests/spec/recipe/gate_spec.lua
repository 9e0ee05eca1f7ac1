-- The sequential gate of compare-clusters and switch-traffic on ferry.testing's
-- fake Prometheus: series are functions of time, and the fake's clock moves
-- when the gate sleeps, so a gate that looks every 30 s runs at once.
local helpers = require "tests.spec.support.helpers"
local json = require "json"
local log = require "log"
local recipe = require "recipe"
local testing = require "ferry.testing"

local T0 = 1700000000
local BOUNDS = { "10", "25", "50", "100", "250", "500", "1000", "+Inf" }
local FAST = { 0.10, 0.35, 0.75, 0.95, 0.99, 1, 1, 1 }
local SLOW = { 0.02, 0.10, 0.35, 0.75, 0.95, 0.99, 1, 1 } -- every request one bucket slower: about 2×

-- A workload's mesh and container series on one cluster label: `rate`
-- requests per second, `errors` of them 500s, latency `shares` per bucket.
local function workload(series, cluster, tenant, o)
  local function name(metric, extra)
    return string.format('%s{cluster="%s",reporter="destination",destination_workload_namespace="%s",'
      .. 'destination_workload="web"%s}', metric, cluster, tenant, extra or "")
  end
  local rate, errors = o.rate or 10, o.errors or 0
  series[name("istio_requests_total", ',response_code="200"')] = function(t) return t * (rate - errors) end
  series[name("istio_requests_total", ',response_code="500"')] = function(t) return t * errors end
  for i, le in ipairs(BOUNDS) do
    local share = (o.shares or FAST)[i]
    series[name("istio_request_duration_milliseconds_bucket", ',le="' .. le .. '"')] = function(t)
      return t * rate * share
    end
  end
  local pod = string.format('{cluster="%s",namespace="%s",pod="web-0",container="web"}', cluster, tenant)
  series["container_cpu_usage_seconds_total" .. pod] = function(t) return t * 0.05 end
  series["container_memory_working_set_bytes" .. pod] = 64 * 1024 * 1024
end

local function fleet_text(tenants, extra)
  local lines = {
    "defaults:",
    '  prometheus: {url: "http://prometheus.invalid"}',
    extra or "",
    "clusters:",
    "  old: {prometheus: {labels: {cluster: old}}}",
    "  new: {prometheus: {labels: {cluster: new}}}",
    "tenants:",
  }
  for _, t in ipairs(tenants) do lines[#lines + 1] = string.format("  %s: {namespace: %s, workloads: web}", t, t) end
  return table.concat(lines, "\n") .. "\n"
end

describe("the sequential gate", function()
  local dir, stream

  local function fresh_log()
    stream = io.tmpfile()
    log.configure { stream = stream }
  end

  before_each(function()
    dir = helpers.tmpdir()
    fresh_log()
  end)

  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  local function run(name, params, series, fleet)
    local p = testing.fake_prom { now = T0, series = series }
    local restore = testing.use { prom = p }
    local ok, report, err = pcall(recipe.run, recipe.load(name), {
      params = params, fleet = recipe.fleet(fleet, { text = true }), state_dir = dir .. "/state", report_dir = dir,
      output = io.tmpfile(), connect = testing.connector { old = testing.fake_cluster { name = "old" },
                                                           new = testing.fake_cluster { name = "new" } },
    })
    restore()
    if not ok then error(report, 0) end
    return report, err, p
  end

  local function logged()
    stream:flush()
    stream:seek("set")
    return stream:read("a")
  end

  it("passes equal sides on every check, with estimates, intervals and samples in the report", function()
    local series = {}
    workload(series, "old", "shop", { errors = 0.1 })
    workload(series, "new", "shop", { errors = 0.1 })
    local started = os.time()
    local report, err, p = run("compare-clusters", { from = "old", to = "new", compare_window = "5m" }, series,
      fleet_text({ "shop" }, "  judge: {interval: 30s, looks: 10}"))
    assert.is_nil(err, err and err.message)
    assert.are.equal("succeeded", report.status)
    local names = {}
    for _, row in ipairs(report.comparisons) do
      names[#names + 1] = row.name
      assert.are.equal("pass", row.verdict, row.name .. ": " .. tostring(row.detail))
      assert.is_number(row.estimate)
      assert.is_true(row.ci.low <= row.estimate and row.estimate <= row.ci.high)
      assert.is_number(row.n.baseline)
      assert.is_string(row.method)
      assert.is_string(row.unit)
    end
    assert.are.same({ "error_rate", "latency_p50", "latency_p90", "latency_p99", "cpu", "memory" }, names)
    assert.is_true(os.time() - started < 5, "no real waiting")
    assert.is_true(p.clock.now() > T0, "the error rate needed more than one look: the fake's clock moved on")
    local saved = json.decode(helpers.read_file(report.json_path) or "{}")
    assert.are.equal(6, #saved.series)
    assert.are.equal("ms", saved.series[2].unit)
    assert.are.equal(10, #saved.series[2].baseline)
    assert.are.equal(T0 - 300 + 30, saved.series[2].baseline[1][1])
    local md = helpers.read_file(report.markdown_path)
    assert.matches("| Scope | Check | Old | New | Change | Samples | Verdict |", md, 1, true)
    assert.matches("| shop | error_rate | 1 % | 1 % | +0.00 pts [", md, 1, true)
    -- the HTML page charts the gate's own samples, one chart per check
    local page = helpers.read_file(report.html_path)
    local _, charts = page:gsub("<svg", "")
    assert.are.equal(6, charts)
    assert.truthy(page:find("\u{A0}pp [", 1, true), "the error rate's change in points, with its interval")
    assert.is_nil(page:find("no samples", 1, true))
  end)

  it("fails a regression, naming the check", function()
    local series = {}
    workload(series, "old", "shop", {})
    workload(series, "new", "shop", { shares = SLOW })
    local report, err = run("compare-clusters", { from = "old", to = "new", compare_window = "5m" }, series,
      fleet_text({ "shop" }, "  thresholds: {error_rate: false, cpu: false, memory: false}"))
    assert.are.equal("rolled_back", report.status)
    assert.matches("shop latency_p50: the candidate is worse", err.message)
    assert.are.equal("fail", report.comparisons[1].verdict)
    assert.is_true(report.comparisons[1].estimate > 0.5)
  end)

  it("holds an inconclusive check, look after look, then fails it safe at the deadline", function()
    local series = {}
    workload(series, "old", "shop", { rate = 1, errors = 0.01 })
    workload(series, "new", "shop", { rate = 1, errors = 0.01 })
    local report, err, p = run("compare-clusters", { from = "old", to = "new", compare_window = "1m" }, series,
      fleet_text({ "shop" }, "  judge: {interval: 30s, looks: 10, deadline: 2m}\n"
        .. "  thresholds: {latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}"))
    assert.are.equal("rolled_back", report.status)
    assert.matches("shop error_rate: still inconclusive at the last look %(5 of 10%): fails safe", err.message)
    local row = report.comparisons[1]
    assert.are.equal("inconclusive", row.verdict)
    assert.is_true(row.failed_safe)
    local text = logged()
    assert.matches("tenant shop error_rate: no_data, no estimate, 60 vs 60 requests; look 1 of 10", text, 1, true)
    for look = 3, 5 do
      assert.matches("tenant shop error_rate: inconclusive, [^\n]* vs [^\n]* requests; look " .. look .. " of 10", text)
    end
    assert.are.equal(T0 + 120, p.clock.now(), "four intervals waited, on the fake's clock")
    assert.matches("| inconclusive (fails safe) |", helpers.read_file(report.markdown_path), 1, true)
    assert.truthy(helpers.read_file(report.html_path):find("inconclusive", 1, true))
  end)

  it("keeps the family's false fails down: Holm across tenants holds what one check alone would fail", function()
    local function gate(tenants)
      local series = {}
      for _, t in ipairs(tenants) do
        workload(series, "old", t, { rate = 100, errors = 1 })
        workload(series, "new", t, { rate = 100, errors = t == "t5" and 2.5 or 1 })
      end
      return run("compare-clusters", { from = "old", to = "new", compare_window = "1m" }, series,
        fleet_text(tenants, "  judge: {looks: 2, spending: bonferroni}\n"
          .. "  thresholds: {latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}"))
    end
    local report = gate { "t5" }
    assert.are.equal("rolled_back", report.status)
    assert.are.equal(1, report.comparisons[1].look, "alone, t5 fails at the first look")
    fresh_log()
    report = gate { "t1", "t2", "t3", "t4", "t5" }
    assert.matches("tenant t5 error_rate: inconclusive, [^\n]*; look 1 of 2", logged())
    for _, row in ipairs(report.comparisons) do
      if row.scope ~= "t5" then assert.are.same({ "pass", 1 }, { row.verdict, row.look }) end
    end
  end)

  it("holds each traffic weight while inconclusive, and marks when it moved", function()
    local traffic_log = dir .. "/traffic.log"
    local series = {}
    workload(series, "old", "shop", { errors = 0.1 })
    workload(series, "new", "shop", { errors = 0.1 })
    local report, err, p = run("switch-traffic", { from = "old", to = "new" }, series, fleet_text({ "shop" },
      (string.gsub([=[
  judge: {interval: 30s, looks: 10}
  thresholds: {latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}
  traffic:
    driver: command
    steps: [50, 100]
    check_window: 1m
    switch_command: [sh, -c, "echo switch {to} {weight} >> LOG"]
    rollback_command: [sh, -c, "echo rollback {from} >> LOG"]
]=], "LOG", traffic_log))))
    assert.is_nil(err, err and err.message)
    assert.are.equal("succeeded", report.status)
    assert.are.equal("switch new 50\nswitch new 100\n", helpers.read_file(traffic_log))
    assert.matches("tenant shop error_rate: inconclusive, [^\n]*; look 2 of 10", logged())
    local saved = json.decode(helpers.read_file(report.json_path))
    assert.are.same({ "50% to new", "100% to new" }, { saved.marks[1].label, saved.marks[2].label })
    local held = saved.marks[2].t - saved.marks[1].t
    assert.is_true(held >= 60 + 30, "50 % was held beyond its first look: " .. held .. " s")
    assert.are.equal("50% shop", report.comparisons[1].scope)
    assert.is_true(p.clock.now() >= saved.marks[2].t)
  end)

  it("says in the plan what it will judge", function()
    local f = recipe.fleet(fleet_text({ "shop" }, "  thresholds: {cpu: false}"), { text = true })
    local out = io.tmpfile()
    require("ferry.engine").plan(recipe.load("compare-clusters"), { params = { from = "old", to = "new" },
      fleet = f, output = out })
    out:seek("set")
    local text = out:read("a")
    assert.matches("judge old vs new per request: error_rate %(margin 1 points%), latency_p50 %(margin 10 %%%)", text)
    assert.matches("a look every 30s, at most 10 looks", text)
  end)

  it("names the new form of an old limit, and a check that is not judged", function()
    local series = {}
    workload(series, "old", "shop", {})
    workload(series, "new", "shop", {})
    local _, err = run("compare-clusters", { from = "old", to = "new" }, series,
      fleet_text({ "shop" }, "  thresholds: {latency_p50: {max_ratio: 1.25}}"))
    assert.matches("thresholds.latency_p50: max_ratio is a limit of the old two%-number check; the judge takes "
      .. "a margin: {margin: 0.25}", err.message)
    _, err = run("compare-clusters", { from = "old", to = "new" }, series,
      fleet_text({ "shop" }, "  thresholds: {request_rate: {min_ratio: 0.5}}"))
    assert.matches("thresholds.request_rate is not judged", err.message)
  end)
end)
