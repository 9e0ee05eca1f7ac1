-- The local lab end to end, as `make demo` runs it: tests/env --full (real
-- Flux source- and kustomize-controller, Flagger, HAProxy, Prometheus, Git),
-- the stock upgrade-cluster recipe run by the ferry binary. First a run
-- that must fail (new's latency is made worse: Flagger's analysis fails),
-- then, on the same `old`, the run that must succeed. Everything is read
-- back through the Kubernetes API and HAProxy's runtime API and stats.
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local http = require "http"
local json = require "json"
local k8s = require "k8s"
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
    local s = status()
    assert.is_nil(s.clusters.new, "new is stopped and removed")
    assert.are.same({ old = 100 }, stats_weights(s))
    assert.are.same({ old = 6 }, served_by(s, 6))
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
    for _, row in ipairs(report.comparisons) do
      assert.are.equal("pass", row.verdict, row.scope .. " " .. row.name .. ": " .. tostring(row.detail))
    end
    local s = status()
    assert.is_table(s.clusters.new)
    local new = connect(s, "new")
    assert.matches("^v1%.36%.", new:version().gitVersion)
    tenants_serving(new)
    tenants_serving(connect(s, "old")) -- kept for the rollback window
    assert.are.same({ old = 0, new = 100 }, stats_weights(s))
    assert.matches("^0 ", haproxy(s, "get weight tenants/old"))
    assert.are.same({ new = 6 }, served_by(s, 6))
  end)
end)
