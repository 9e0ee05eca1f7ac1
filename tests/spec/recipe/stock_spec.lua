-- The stock recipes' steps against ferry.testing's fakes: a fake cluster
-- and a fake Prometheus stand in for the real ones (the integration spec
-- tests/integration/upgrade_spec.lua runs the whole upgrade on real servers).
local helpers = require "tests.spec.support.helpers"
local log = require "log"
local recipe = require "recipe"
local task = require "task"
local testing = require "ferry.testing"

local function fleet(extra)
  local text = [[
defaults:
  prometheus: {url: "http://prometheus.invalid"}
  thresholds: {request_rate: false, latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}
clusters:
  old: {prometheus: {labels: {cluster: old}}}
  new: {prometheus: {labels: {cluster: new}}}
tenants:
  shop: {namespace: shop, workloads: web}
]] .. (extra or "")
  return require("ferry.engine.fleet").load(text, { text = true })
end

-- Requests of workload web in shop: 10 req/s on each cluster, `errors` of them 500s on `new`.
local function traffic_series(new_errors)
  local function series(cluster, code)
    return string.format('istio_requests_total{cluster="%s",reporter="destination",'
      .. 'destination_workload_namespace="shop",destination_workload="web",response_code="%s"}', cluster, code)
  end
  return {
    [series("old", "200")] = function(t) return t * 9.9 end,
    [series("old", "500")] = function(t) return t * 0.1 end,
    [series("new", "200")] = function(t) return t * (10 - new_errors) end,
    [series("new", "500")] = function(t) return t * new_errors end,
  }
end

describe("stock recipes against fakes", function()
  local dir, restore

  before_each(function()
    dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() }
  end)

  after_each(function()
    if restore then restore() end
    restore = nil
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  local function run(name, params, options)
    options = options or {}
    local clusters = options.clusters or { old = testing.fake_cluster { name = "old" },
                                            new = testing.fake_cluster { name = "new" } }
    if options.prom then restore = testing.use { prom = options.prom } end
    return recipe.run(recipe.load(name), {
      params = params, fleet = options.fleet or fleet(), connect = testing.connector(clusters),
      state_dir = dir .. "/state", report_dir = dir, output = io.tmpfile(),
    })
  end

  describe("compare-clusters", function()
    it("passes when the new cluster answers like the old one", function()
      local report = run("compare-clusters", { from = "old", to = "new", compare_window = "5m" },
                         { prom = testing.fake_prom { series = traffic_series(0.1) } })
      assert.are.equal("succeeded", report.status)
      assert.are.equal(1, #report.comparisons)
      assert.are.equal("pass", report.comparisons[1].verdict)
      assert.are.equal("shop", report.comparisons[1].scope)
    end)

    it("fails when the error rate regresses", function()
      local report, err = run("compare-clusters", { from = "old", to = "new", compare_window = "5m" },
                              { prom = testing.fake_prom { series = traffic_series(3) } })
      assert.are.equal("rolled_back", report.status)
      assert.are.equal("fail", report.comparisons[1].verdict)
      assert.matches("shop error_rate", err.message)
    end)

    it("fails when the new cluster has no data, never passing silently", function()
      local series = traffic_series(0)
      for name in pairs(series) do
        if name:find('cluster="new"', 1, true) then series[name] = nil end
      end
      local report = run("compare-clusters", { from = "old", to = "new", compare_window = "5m" },
                         { prom = testing.fake_prom { series = series } })
      assert.are.equal("rolled_back", report.status)
      assert.are.equal("no_data", report.comparisons[1].verdict)
    end)

    it("names a malformed threshold", function()
      local f = require("ferry.engine.fleet").load([[
defaults: {prometheus: {url: "http://prometheus.invalid"}, thresholds: {error_rate: 1.1}}
clusters: {old: {}, new: {}}
tenants: {shop: {}}
]], { text = true })
      local _, err = run("compare-clusters", { from = "old", to = "new" },
                         { prom = testing.fake_prom { series = traffic_series(0) }, fleet = f })
      assert.matches("thresholds.error_rate must be a table of limits", err.message)
    end)
  end)

  describe("validate-cluster", function()
    it("names the workload that is not ready, then passes once it is", function()
      local new = testing.fake_cluster { name = "new" }
      new:apply [[
apiVersion: v1
kind: Namespace
metadata: {name: flux-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: source-controller, namespace: flux-system}
spec:
  replicas: 1
  selector: {matchLabels: {app: source-controller}}
  template:
    metadata: {labels: {app: source-controller}}
    spec: {containers: [{name: manager, image: ghcr.io/fluxcd/source-controller}]}
]]
      local quiet = require("ferry.engine.fleet").load([[
clusters: {new: {validation: {namespaces: [flux-system], settle: 0s}}}
]], { text = true })
      local report, err = run("validate-cluster", { cluster = "new" }, { clusters = { new = new }, fleet = quiet })
      assert.are.equal("rolled_back", report.status)
      assert.matches("Deployment flux%-system/source%-controller", err.message)
      new:set_ready { apiVersion = "apps/v1", kind = "Deployment", namespace = "flux-system", name = "source-controller" }
      report = run("validate-cluster", { cluster = "new" }, { clusters = { new = new }, fleet = quiet })
      assert.are.equal("succeeded", report.status)
    end)

    it("gives workloads still rolling out time to become ready", function()
      local new = testing.fake_cluster { name = "new" }
      new:apply [[
apiVersion: v1
kind: Namespace
metadata: {name: ingress}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gateway, namespace: ingress}
spec:
  replicas: 2
  selector: {matchLabels: {app: gateway}}
  template:
    metadata: {labels: {app: gateway}}
    spec: {containers: [{name: haproxy, image: haproxy:2.6}]}
]]
      local settling = require("ferry.engine.fleet").load([[
clusters: {new: {validation: {namespaces: [ingress], settle: 30s}}}
]], { text = true })
      local rollout = task.spawn(function()
        task.sleep(1)
        new:set_ready { apiVersion = "apps/v1", kind = "Deployment", namespace = "ingress", name = "gateway" }
      end)
      local report = run("validate-cluster", { cluster = "new" }, { clusters = { new = new }, fleet = settling })
      task.wait_all { rollout }
      assert.are.equal("succeeded", report.status)
      assert.are.equal(1, report.steps[1].attempts)
    end)
  end)

  describe("switch-traffic", function()
    it("moves the weights step by step and puts them back when a check between steps fails", function()
      local log_file = dir .. "/traffic.log"
      local text = [[
defaults:
  prometheus: {url: "http://prometheus.invalid"}
  thresholds: {request_rate: false, latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}
  traffic:
    driver: command
    steps: [50, 100]
    check_window: 5m
    switch_command: [sh, -c, "echo switch {to} {weight} >> LOG"]
    rollback_command: [sh, -c, "echo rollback {from} >> LOG"]
clusters:
  old: {prometheus: {labels: {cluster: old}}}
  new: {prometheus: {labels: {cluster: new}}}
tenants:
  shop: {namespace: shop, workloads: web}
]]
      local f = require("ferry.engine.fleet").load((text:gsub("LOG", log_file)), { text = true })
      local report = run("switch-traffic", { from = "old", to = "new" },
                         { fleet = f, prom = testing.fake_prom { series = traffic_series(3) } })
      assert.are.equal("rolled_back", report.status)
      assert.are.equal("switch new 50\nrollback old\n", helpers.read_file(log_file))
      os.remove(log_file)
      restore()
      report = run("switch-traffic", { from = "old", to = "new" },
                   { fleet = f, prom = testing.fake_prom { series = traffic_series(0.1) } })
      assert.are.equal("succeeded", report.status)
      assert.are.equal("switch new 50\nswitch new 100\n", helpers.read_file(log_file))
    end)
  end)
end)

describe("recipe.test", function()
  it("runs a stock recipe against fakes and returns its report", function()
    log.configure { stream = io.tmpfile() }
    local report = recipe.test("compare-clusters", {
      params = { from = "old", to = "new", compare_window = "5m" },
      clusters = { old = testing.fake_cluster { name = "old" }, new = testing.fake_cluster { name = "new" } },
      prom = testing.fake_prom { series = traffic_series(0.1) },
      fleet = [[
defaults:
  prometheus: {url: "http://prometheus.invalid"}
  thresholds: {request_rate: false, latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}
clusters: {old: {prometheus: {labels: {cluster: old}}}, new: {prometheus: {labels: {cluster: new}}}}
tenants: {shop: {namespace: shop, workloads: web}}
]],
    })
    log.configure { stream = io.stderr }
    assert.are.equal("succeeded", report.status)
    assert.are.equal("pass", report.comparisons[1].verdict)
    assert.is_nil(io.open(report.json_path), "the temp directory is removed")
  end)
end)

describe("validate-cluster with a shared Prometheus", function()
  it("counts only the alerts of its own cluster", function()
    log.configure { stream = io.tmpfile() }
    local function validate(alerts)
      return recipe.test("validate-cluster", {
        params = { cluster = "new" },
        clusters = { new = testing.fake_cluster { name = "new" } },
        prom = testing.fake_prom { alerts = alerts },
        fleet = [[
clusters:
  new: {validation: {namespaces: []}, prometheus: {url: "http://prometheus.invalid", labels: {cluster: new}}}
]],
      })
    end
    local report = validate { { labels = { alertname = "KubeAPIDown", cluster = "old" }, state = "firing" } }
    assert.are.equal("succeeded", report.status)
    local _, err = validate { { labels = { alertname = "KubeAPIDown", cluster = "new" }, state = "firing" } }
    log.configure { stream = io.stderr }
    assert.matches("alert firing: KubeAPIDown", err.message)
  end)
end)
