-- The stock upgrade-cluster recipe from `old` to `new` on tests/env, with
-- two tenants from the local Git server, to the report: green, and red when
-- a tenant's canary fails or its metrics regress (the new cluster's tenant
-- namespaces are then removed and `old` is untouched).
--
-- Flux and Flagger controllers do not run in tests/env: a task of this spec
-- plays them on `new` (marks Flux objects Ready, walks Canary phases),
-- through the real API server.
local env = require "tests.integration.support.env"
local helpers = require "tests.spec.support.helpers"
local http = require "http"
local json = require "json"
local k8s = require "k8s"
local log = require "log"
local recipe = require "recipe"
local task = require "task"
local yaml = require "yaml"

local FIXTURES = helpers.fixtures()
local GOTK = FIXTURES .. "/felipmiguel+gitops-demo-multitenant/clusters/staging/northeurope/flux-system/gotk-components.yaml"

local function now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function ready_status(obj)
  return {
    observedGeneration = obj.metadata.generation,
    lastHandledReconcileAt = obj.metadata.annotations and obj.metadata.annotations["reconcile.fluxcd.io/requestedAt"],
    conditions = { { type = "Ready", status = "True", reason = "ReconciliationSucceeded",
                     message = "Applied revision: main@sha1:0123456789", lastTransitionTime = now(),
                     observedGeneration = obj.metadata.generation } },
  }
end

-- Plays Flux and Flagger on a cluster until stopped. canary_outcome:
-- "Succeeded" or "Failed" for the Canary it creates in tenant-data.
local function controllers(c, canary_outcome)
  local handled = {}
  local function mark_flux_ready()
    for _, kind in ipairs { "GitRepository", "Kustomization" } do
      for _, obj in ipairs(c:list { kind = kind, all_namespaces = true }) do
        local st = obj.status or {}
        local key = obj.metadata.namespace .. "/" .. obj.metadata.name .. "/" .. tostring(obj.metadata.generation)
          .. "/" .. tostring(obj.metadata.annotations and obj.metadata.annotations["reconcile.fluxcd.io/requestedAt"])
        if not handled[key] or st.observedGeneration ~= obj.metadata.generation then
          c:patch(obj, { status = ready_status(obj) }, { type = "merge", subresource = "status" })
          handled[key] = true
        end
      end
    end
  end
  local function tenant_workload()
    -- what the tenant's repository would make Flux apply: a Deployment and its Canary
    if not c:find { apiVersion = "v1", kind = "Namespace", name = "tenant-data" } then return end
    if c:find { apiVersion = "flagger.app/v1beta1", kind = "Canary", namespace = "tenant-data", name = "api" } then
      return
    end
    c:apply(yaml.decode_all [[
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: tenant-data}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: registry.example/api:1}]}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: api, namespace: tenant-data}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  analysis: {interval: 10s, threshold: 2, iterations: 2}
  service: {port: 80}
]])
  end
  local function walk_canaries()
    for _, canary in ipairs(c:list { apiVersion = "flagger.app/v1beta1", kind = "Canary", all_namespaces = true }) do
      local phase = canary.status and canary.status.phase
      local target = c:find { apiVersion = "apps/v1", kind = "Deployment", namespace = canary.metadata.namespace,
                              name = canary.spec.targetRef.name }
      local template = target and json.encode(target.spec.template.metadata.annotations or {}) or ""
      local seen = canary.metadata.annotations and canary.metadata.annotations["test.ferry.dev/seen"]
      if target and not phase then
        -- Flagger takes a new Canary over: its first rollout is promoted as it is
        c:patch(canary, { metadata = { annotations = { ["test.ferry.dev/seen"] = template } } })
        c:patch(canary, { status = { phase = "Initialized", canaryWeight = 0, failedChecks = 0, iterations = 0,
          lastTransitionTime = now(), conditions = { { type = "Promoted", status = "True",
          reason = "Initialized", message = "Deployment initialization completed.", lastTransitionTime = now() } } } },
          { type = "merge", subresource = "status" })
      elseif target and seen ~= template then
        -- a new pod template (flagger.trigger): run an analysis
        c:patch(canary, { metadata = { annotations = { ["test.ferry.dev/seen"] = template } } })
        c:patch(canary, { status = { phase = "Progressing", canaryWeight = 10, failedChecks = 0, iterations = 1,
          lastTransitionTime = now(), conditions = { { type = "Promoted", status = "Unknown",
          reason = "Progressing", message = "New revision detected", lastTransitionTime = now() } } } },
          { type = "merge", subresource = "status" })
      elseif phase == "Progressing" then
        local final = canary_outcome
        c:patch(canary, { status = { phase = final, canaryWeight = 0, iterations = 2,
          failedChecks = final == "Failed" and 2 or 0, lastTransitionTime = now(),
          conditions = { { type = "Promoted", status = final == "Failed" and "False" or "True",
          reason = final, message = "Canary analysis " .. final:lower(), lastTransitionTime = now() } } } },
          { type = "merge", subresource = "status" })
      end
    end
  end
  return task.spawn(function()
    while true do
      -- Flux applies a tenant's workloads before its Kustomization is Ready
      pcall(tenant_workload)
      pcall(mark_flux_ready)
      pcall(walk_canaries)
      task.sleep(0.3)
    end
  end)
end

local function set_metrics(samples)
  local r = http.request { url = env.status().metrics_target .. "/samples", method = "POST",
                           body = json.encode(samples), headers = { ["Content-Type"] = "application/json" } }
  assert(r.status < 300, r.body)
end

-- A healthy workload like the metrics target's seed (10 req/s, ~40 ms),
-- for one tenant on one cluster label. Each test uses cluster labels of its
-- own, so no earlier test's series is in its window.
local function healthy_workload(cluster, namespace, workload_name, errors_per_second)
  local workload = { cluster = cluster, reporter = "destination", destination_workload = workload_name,
                     destination_workload_namespace = namespace, destination_service_name = workload_name }
  local samples = {
    { name = "istio_requests_total", labels = { response_code = "200" }, rate = 9.9 },
    { name = "istio_requests_total", labels = { response_code = "500" }, rate = errors_per_second or 0.1 },
    { name = "istio_request_duration_milliseconds_count", labels = {}, rate = 10 },
  }
  local bounds = { "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "+Inf" }
  local shares = { 0.02, 0.10, 0.35, 0.75, 0.95, 0.99, 0.995, 0.999, 1.0, 1.0, 1.0 }
  for i, le in ipairs(bounds) do
    samples[#samples + 1] = { name = "istio_request_duration_milliseconds_bucket", labels = { le = le }, rate = 10 * shares[i] }
  end
  for _, s in ipairs(samples) do
    for k, v in pairs(workload) do s.labels[k] = v end
    s.value = 0
  end
  local pod = { cluster = cluster, namespace = namespace, pod = workload_name .. "-0", container = workload_name }
  samples[#samples + 1] = { name = "container_cpu_usage_seconds_total", labels = pod, value = 0, rate = 0.05 }
  samples[#samples + 1] = { name = "container_memory_working_set_bytes", labels = pod, value = 64 * 1024 * 1024 }
  return samples
end

local function fleet_file(dir, traffic_log, labels)
  local s = env.status()
  local g = s.git
  local secret = { username = g.username, token = g.token }
  return yaml.encode {
    defaults = {
      prometheus = { url = s.prometheus },
      validation = { namespaces = { "flux-system" } },
      -- one look at 2 s samples of the window: the series are a minute old; the error rate's margin is
      -- what 300 requests a side can show at alpha 0.05
      judge = { step = "2s", looks = 1 }, thresholds = { error_rate = { margin = 3 } },
      traffic = { driver = "command", steps = { 50, 100 },
        switch_command = { "sh", "-c", "echo switch {to} {weight} >> " .. traffic_log },
        rollback_command = { "sh", "-c", "echo rollback {from} >> " .. traffic_log } },
      flux = { manifests = GOTK, timeout = "3m",
               repo = { url = g.repos.fleet.http, branch = "main", path = "./clusters/staging/northeurope",
                        secret = secret } },
      timeout = "3m", analysis_timeout = "3m",
    },
    clusters = {
      old = { context = s.clusters.old.contexts.admin, kubeconfig = s.kubeconfig,
              prometheus = { labels = { cluster = labels.old } } },
      new = { provider = "ferry-env", prometheus = { labels = { cluster = labels.new } } },
    },
    tenants = {
      ["tenant-core"] = { namespace = "tenant-core", workloads = "podinfo",
        repo = { url = g.repos["tenant-core"].http, branch = "main", path = "./staging/northeurope" } },
      ["tenant-data"] = { namespace = "tenant-data", workloads = "api",
        repo = { url = g.repos["tenant-data"].http, branch = "main", path = "./staging/northeurope", secret = secret } },
    },
  }
end

describe("upgrade-cluster on tests/env", function()
  local dir, old, new, fleet, traffic_log, labels

  setup(function()
    old, new = env.connect("old"), env.connect("new")
    -- Flagger's CRDs, as the fleet's infrastructure would have installed them
    local crd = helpers.read_file(FIXTURES .. "/fluxcd+flagger/v1.44.0/artifacts/flagger/crd.yaml")
    new:apply(crd)
    -- a sentinel on old: the upgrade must never change it
    old:apply { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "upgrade-sentinel", namespace = "default" },
                data = { state = "untouched" } }
  end)

  before_each(function()
    dir = helpers.tmpdir()
    traffic_log = dir .. "/traffic.log"
    local id = env.unique("run")
    labels = { old = "old-" .. id, new = "new-" .. id }
    helpers.write_file(dir .. "/fleet.yaml", fleet_file(dir, traffic_log, labels))
    fleet = require("ferry.engine.fleet").load(dir .. "/fleet.yaml")
    for _, cluster in pairs(labels) do
      set_metrics(healthy_workload(cluster, "tenant-core", "podinfo"))
      set_metrics(healthy_workload(cluster, "tenant-data", "api"))
    end
    log.configure { stream = io.open(dir .. "/progress.log", "w") }
  end)

  after_each(function()
    -- back to the seed: this test's series must not show in other specs' queries
    http.request { url = env.status().metrics_target .. "/reset", method = "POST" }
    log.configure { stream = io.stderr }
    for _, ns in ipairs { "tenant-core", "tenant-data" } do
      new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true, wait = true, timeout = "2m" })
    end
    helpers.remove_tree(dir)
  end)

  local function upgrade(canary_outcome, window)
    local simulator = controllers(new, canary_outcome)
    local report, err = recipe.run(recipe.load("upgrade-cluster"), {
      params = { from = "old", to = "new", provider = "ferry-env", version = env.status().clusters.new.version,
                 compare_window = window or "30s" },
      fleet = fleet, state_dir = dir .. "/state", report_dir = dir, output = io.open(dir .. "/report.out", "w"),
    })
    simulator:cancel()
    return report, err
  end

  local function lines(path)
    local out = {}
    local f = io.open(path)
    if f then
      for line in f:lines() do out[#out + 1] = line end
      f:close()
    end
    return out
  end

  local function old_untouched()
    local sentinel = old:get { apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "upgrade-sentinel" }
    return sentinel.data.state == "untouched"
  end

  it("moves two tenants to the new cluster and reports green", function()
    task.sleep(25)                            -- the gate judges samples: let the window fill
    local report, err = upgrade("Succeeded")
    assert.is_nil(err, err and require("ferry.errors").format(err))
    assert.are.equal("succeeded", report.status)
    local scopes = {}
    for _, row in ipairs(report.comparisons) do
      scopes[row.scope] = true
      assert.are.equal("pass", row.verdict, row.scope .. " " .. row.name .. ": " .. tostring(row.detail))
    end
    assert.is_true(scopes["tenant-core"] and scopes["tenant-data"])
    assert.are.same({ "switch new 50", "switch new 100" }, lines(traffic_log))
    assert.is_table(new:get { apiVersion = "v1", kind = "Namespace", name = "tenant-data" })
    local canary = new:get { apiVersion = "flagger.app/v1beta1", kind = "Canary", namespace = "tenant-data", name = "api" }
    assert.are.equal("Succeeded", canary.status.phase)
    assert.matches("upgrade%-cluster — SUCCEEDED", helpers.read_file(report.markdown_path))
    assert.is_true(old_untouched())
  end)

  it("stops, removes the tenants from new and leaves old alone when a canary fails", function()
    local report, err = upgrade("Failed")
    assert.is_not_nil(err)
    assert.are.equal("rolled_back", report.status)
    assert.are.equal("deploy-tenants", report.failed_step)
    assert.matches("Failed", report.error)
    assert.are.same({}, lines(traffic_log))
    local ns = new:find { apiVersion = "v1", kind = "Namespace", name = "tenant-data" }
    assert.is_true(ns == nil or ns.metadata.deletionTimestamp ~= nil, "tenant-data is being removed")
    assert.is_true(old_untouched())
  end)

  it("stops before traffic moves when the new cluster's metrics regress", function()
    set_metrics(healthy_workload(labels.new, "tenant-data", "api", 5)) -- a third of the requests fail on new
    task.sleep(25)                            -- let the 20 s window see it
    local report, err = upgrade("Succeeded", "20s")
    assert.is_not_nil(err)
    assert.are.equal("rolled_back", report.status)
    assert.are.equal("compare-clusters", report.failed_step)
    local failed = {}
    for _, row in ipairs(report.comparisons) do
      if row.verdict ~= "pass" then failed[#failed + 1] = row.scope .. "/" .. row.name end
    end
    assert.are.same({ "tenant-data/error_rate" }, failed)
    assert.are.same({}, lines(traffic_log))
    assert.is_true(old_untouched())
  end)
end)
