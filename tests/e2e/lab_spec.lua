-- The local lab end to end, as `make demo` runs it: tests/env --full (real
-- Flux source- and kustomize-controller, Flagger, HAProxy, Prometheus, Git,
-- the tenants' apps under a steady load), the stock upgrade-cluster recipe
-- run by the ferry binary. First a run that must fail (new's apps answer
-- slowly: Flagger's analysis fails), then, on the same `old`, the run that
-- must succeed. Everything is read back through the Kubernetes API, HAProxy's
-- runtime API and stats, and Prometheus (the apps' and HAProxy's own series):
-- the figures asserted are measured, with bounds, not constants.
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local http = require "http"
local json = require "json"
local k8s = require "k8s"
local prom = require "prom"
local ktime = require "k8s.time"
local traffic = require "ferry.engine.traffic"

local ROOT = os.getenv("FERRY_ROOT") or "."
local DEMO = ROOT .. "/tests/env/lab/demo"
local FERRY_ENV = ROOT .. "/tests/env/ferry-env"

describe("the lab (make demo)", function()
  local dir, instance, env_vars

  local function run(argv)
    return exec.run { argv = argv, env = env_vars, timeout = 1800 }
  end

  local function status()
    local r = run { FERRY_ENV, "status" }
    assert.are.equal(0, r.code, r.stderr)
    return json.decode(r.stdout)
  end

  local function connect(s, cluster)
    return k8s.connect { kubeconfig = s.kubeconfig, context = cluster, qps = 0 }
  end

  local function haproxy(s, line)
    return traffic.haproxy_command({ runtime_api = s.haproxy.runtime_api }, line)
  end

  -- {server = weight} of the backend, from HAProxy's CSV statistics page
  local function stats_weights(s)
    local r = http.request { url = s.haproxy.stats_url .. ";csv" }
    assert.are.equal(200, r.status)
    local weights, columns = {}, nil
    for line in r.body:gmatch("[^\n]+") do
      local fields = {}
      for field in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field end
      if line:sub(1, 2) == "# " then
        columns = {}
        fields[1] = fields[1]:sub(3)
        for i, name in ipairs(fields) do columns[name] = i end
      elseif columns and fields[columns.pxname] == s.haproxy.backend
        and fields[columns.svname] ~= "BACKEND" and fields[columns.svname] ~= "FRONTEND" then
        weights[fields[columns.svname]] = tonumber(fields[columns.weight])
      end
    end
    return weights
  end

  -- which cluster answers n requests through HAProxy's frontend
  local function served_by(s, n)
    local seen = {}
    for _ = 1, n do
      local r = http.request { url = s.haproxy.url .. "/" }
      assert.are.equal(200, r.status)
      local cluster = r.body:gsub("%s+$", "")
      seen[cluster] = (seen[cluster] or 0) + 1
    end
    return seen
  end

  -- {server = requests served} of the backend, from HAProxy's CSV statistics
  local function stats_served(s)
    local r = http.request { url = s.haproxy.stats_url .. ";csv" }
    local served, columns = {}, nil
    for line in r.body:gmatch("[^\n]+") do
      local fields = {}
      for field in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = field end
      if line:sub(1, 2) == "# " then
        columns = {}
        fields[1] = fields[1]:sub(3)
        for i, name in ipairs(fields) do columns[name] = i end
      elseif columns and fields[columns.pxname] == s.haproxy.backend
        and fields[columns.svname] ~= "BACKEND" and fields[columns.svname] ~= "FRONTEND" then
        served[fields[columns.svname]] = tonumber(fields[columns.stot])
      end
    end
    return served
  end

  -- requests each server takes over `seconds`, measured on HAProxy now
  local function served_over(s, seconds)
    local before = stats_served(s)
    exec.run { argv = { "sleep", tostring(seconds) } }
    local after, delta = stats_served(s), {}
    for server, n in pairs(after) do delta[server] = n - (before[server] or 0) end
    return delta
  end

  -- one number from Prometheus at `time` (seconds), or 0 when there is no data
  local function prom_value(s, expr, time)
    return prom.connect { url = s.prometheus }:value(expr, { time = time }) or 0
  end

  local function run_window(report)
    local started, finished = ktime.parse(report.started), ktime.parse(report.finished)
    return started, finished, math.ceil(finished - started)
  end

  local function validated(report, cluster)
    for _, section in ipairs(report.sections) do
      if section.title == "Validation of " .. cluster then return section.text end
    end
  end

  local function latest_report()
    local r = exec.run { argv = { "sh", "-c", "ls -t " .. dir .. "/reports/upgrade-cluster-*.json | head -1" } }
    local path = r.stdout:gsub("%s+$", "")
    assert.is_true(path ~= "", "no upgrade-cluster report in " .. dir .. "/reports")
    return json.decode(helpers.read_file(path))
  end

  local function tenants_serving(c)
    for _, t in ipairs { { "tenant-core", "podinfo" }, { "tenant-data", "api" } } do
      local ks = c:get { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
                         namespace = t[1], name = t[1] }
      assert.is_true(k8s.status.ready(ks), t[1] .. " Kustomization not Ready")
      local primary = c:get { apiVersion = "apps/v1", kind = "Deployment", namespace = t[1], name = t[2] .. "-primary" }
      local ready, why = k8s.status.ready(primary)
      assert.is_true(ready, t[2] .. "-primary: " .. tostring(why))
      local canary = c:get { apiVersion = "flagger.app/v1beta1", kind = "Canary", namespace = t[1], name = t[2] }
      assert.are.equal("Succeeded", canary.status.phase, t[1] .. "/" .. t[2])
    end
  end

  setup(function()
    dir = helpers.tmpdir()
    instance = string.format("e2e-%d-%d", os.time() % 100000, math.random(1000, 9999))
    env_vars = { FERRY_LAB_INSTANCE = instance, FERRY_ENV_INSTANCE = instance, FERRY_LAB_DIR = dir,
                 FERRY = os.getenv("FERRY_BIN") or (ROOT .. "/ferry") }
  end)

  teardown(function()
    run { DEMO, "down" }
    helpers.remove_tree(dir)
  end)

  it("stops the upgrade when new is slower, removes new and keeps the traffic on old", function()
    local r = run { DEMO, "--fail=latency" }
    assert.are.equal(0, r.code, r.stdout .. r.stderr) -- the demo exits 0 when the failure it asked for happened
    local report = latest_report()
    assert.are.equal("rolled_back", report.status)
    assert.are.equal("deploy-tenants", report.failed_step)
    assert.matches("analysis failed", report.error)
    assert.matches("3 probes passed", validated(report, "new"))
    local s = status()
    -- new's apps really answered slowly (their own histograms), old's did not
    local _, finished, seconds = run_window(report)
    local p90 = 'histogram_quantile(0.9, sum by (le) (rate(istio_request_duration_milliseconds_bucket{cluster="%s",'
      .. 'destination_workload_namespace="tenant-core"}[%ds])))'
    assert.is_true(prom_value(s, p90:format("new", seconds), finished) > 300)
    assert.is_true(prom_value(s, p90:format("old", seconds), finished) < 100)
    -- HAProxy never sent new a client request; old served the whole stream
    assert.is_true(prom_value(s, ('sum(increase(haproxy_server_http_responses_total{proxy="tenants",server="new"}[%ds]))')
      :format(seconds), finished) < 1)
    assert.is_nil(s.clusters.new, "new is stopped and removed")
    assert.are.same({ old = 100 }, stats_weights(s))
    assert.are.same({ old = 6 }, served_by(s, 6))
    local delta = served_over(s, 5)
    assert.is_true(delta.old >= 50, "old served " .. delta.old .. " client requests in 5 s") -- 2 tenants x 10/s
    tenants_serving(connect(s, "old"))
    local ok, err = pcall(haproxy, s, "set weight tenants/new 10")
    assert.is_false(ok)
    assert.matches("No such server", tostring(err))
  end)

  it("moves the tenants and the traffic to new, with real Flux, Flagger and HAProxy", function()
    local r = run { DEMO, "--keep" }
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("ferry repl %-%-context old %-%-context new", r.stdout)
    local report = latest_report()
    assert.are.equal("succeeded", report.status, tostring(report.error))
    local before = {}
    for _, row in ipairs(report.comparisons) do
      assert.are.equal("pass", row.verdict, row.scope .. " " .. row.name .. ": " .. tostring(row.detail))
      assert.is_number(row.baseline, row.scope .. " " .. row.name)
      assert.is_number(row.candidate, row.scope .. " " .. row.name)
      if not row.scope:match("%%") then before[row.scope .. " " .. row.name] = row end
    end
    -- compare-clusters, before the switch: new serves no client yet, only
    -- the smoke stream (2/s of the 12/s old serves per tenant) and what is
    -- left in the window of its load test (10/s for 20 s); both answer in 10-50 ms
    for _, tenant in ipairs { "tenant-core", "tenant-data" } do
      -- the requests each side served, as the judge counted them for the error rate
      local n = before[tenant .. " error_rate"].n
      assert.is_true(n.candidate / n.baseline > 0.05 and n.candidate / n.baseline < 0.75,
        tenant .. " requests old " .. n.baseline .. ", new " .. n.candidate)
      local p50 = before[tenant .. " latency_p50"]
      for _, v in ipairs { p50.baseline, p50.candidate } do assert.is_true(v > 15 and v < 45, tenant .. " p50 " .. v) end
      assert.are_not.equal(p50.baseline, p50.candidate)
    end
    assert.matches("3 probes passed", validated(report, "new"))
    local s = status()
    -- at each traffic step, the share of client requests new served (HAProxy's
    -- exporter, per second) sits at the step's weight
    local started, finished = run_window(report)
    local share = prom.connect { url = s.prometheus }:range(
      'sum(rate(haproxy_server_http_responses_total{proxy="tenants",server="new"}[4s]))'
      .. ' / sum(rate(haproxy_server_http_responses_total{proxy="tenants"}[4s]))',
      { start = started, stop = finished, step = 1 })
    local near = { [0] = 0, [10] = 0, [50] = 0 }
    for _, point in ipairs(share.series[1] and share.series[1].values or {}) do
      local v = point[2]
      if v < 0.01 then near[0] = near[0] + 1 end
      if v > 0.05 and v < 0.17 then near[10] = near[10] + 1 end
      if v > 0.4 and v < 0.6 then near[50] = near[50] + 1 end
    end
    for weight, n in pairs(near) do
      assert.is_true(n >= 3, string.format("%d seconds with new's share near %d %%", n, weight))
    end
    assert.is_table(s.clusters.new)
    local new = connect(s, "new")
    assert.matches("^v1%.36%.", new:version().gitVersion)
    tenants_serving(new)
    tenants_serving(connect(s, "old")) -- kept for the rollback window
    -- the Canaries' webhooks ran on new's load tester: the acceptance test
    -- before the analysis (Flagger's event), the load test during it
    for _, t in ipairs { { "tenant-core", "podinfo" }, { "tenant-data", "api" } } do
      local passed = false
      for _, event in ipairs(new:list { apiVersion = "v1", kind = "Event", namespace = t[1] }) do
        if event.involvedObject.name == t[2] and event.message == "Pre-rollout check acceptance-test passed" then
          passed = true
        end
      end
      assert.is_true(passed, t[1] .. ": no event of the acceptance test on new")
    end
    local loadtester_log = helpers.read_file(s.logs .. "/new-loadtester.log")
    for _, tenant in ipairs { "tenant-core", "tenant-data" } do
      assert.matches("command finished hey %-z %S+ %-q %d+ %-c %d+ %-host " .. tenant:gsub("%-", "%%-"), loadtester_log)
    end
    assert.are.same({ old = 0, new = 100 }, stats_weights(s))
    assert.matches("^0 ", haproxy(s, "get weight tenants/old"))
    assert.are.same({ new = 6 }, served_by(s, 6))
    local delta = served_over(s, 5)
    assert.are.equal(0, delta.old)
    assert.is_true(delta.new >= 50, "new served " .. delta.new .. " client requests in 5 s")
    -- the apps' own counters: new's serve the clients and the smoke stream, old's the smoke stream only
    local rate = 'sum(rate(http_requests_total{job="apps",cluster="%s"}[5s]))'
    local new_rate, old_rate = prom_value(s, rate:format("new")), prom_value(s, rate:format("old"))
    assert.is_true(new_rate > 3 * old_rate and old_rate > 1, "apps' requests/s: old " .. old_rate .. ", new " .. new_rate)
  end)
end)
