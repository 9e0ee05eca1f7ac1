-- validate-cluster: core components and Flux ready, probes answering, no firing alerts.
local errors = require "ferry.errors"
local k8s = require "k8s"
local recipe = require "recipe"
local sys = require "ferry.sys"
local task = require "task"

local validate = {}

--- Appends to `problems` a line for each Deployment, StatefulSet and
-- DaemonSet of `namespace` that is not ready ("Deployment ns/name: why").
-- A kind the cluster does not serve is left out.
function validate.check_workloads(c, namespace, problems)
  for _, kind in ipairs { "Deployment", "StatefulSet", "DaemonSet" } do
    local ok, items = pcall(c.list, c, { apiVersion = "apps/v1", kind = kind, namespace = namespace })
    if ok then
      for _, obj in ipairs(items) do
        local ready, why = k8s.status.ready(obj)
        if not ready then problems[#problems + 1] = k8s.describe(obj) .. ": " .. why end
      end
    end
  end
  return problems
end

--- The workloads of the validated namespaces (v.namespaces, default
-- kube-system and flux-system) that are not ready. A cluster just
-- bootstrapped is still rolling them out: they get v.settle (default 60s)
-- to become ready before they count as problems.
function validate.settled_workloads(ctx, c, v)
  local namespaces = v.namespaces or { "kube-system", "flux-system" }
  local deadline = sys.monotonic() + require("ferry.duration").check(v.settle, "validate-cluster", "validation.settle", "60s")
  while true do
    local problems = {}
    for _, ns in ipairs(namespaces) do
      ctx.status("checking workloads in %s", ns)
      validate.check_workloads(c, ns, problems)
    end
    if #problems == 0 or sys.monotonic() >= deadline then return problems end
    ctx.status("waiting for %d workload(s) to be ready: %s", #problems, problems[1])
    task.sleep(2)
  end
end

--- Runs one probe of the fleet's validation.probes: {url, status = 200,
-- insecure, timeout = 10} or {argv, timeout = 60}. Returns true, or false
-- and why.
function validate.run_probe(probe)
  if probe.url then
    local ok, r = pcall(require("http").request, { url = probe.url, timeout = probe.timeout or 10,
                                                  insecure = probe.insecure })
    if not ok then return false, errors.format(r) end
    local want = probe.status or 200
    if r.status ~= want then return false, string.format("HTTP %d, expected %d", r.status, want) end
    return true
  end
  local r = require("exec").run { argv = probe.argv, timeout = probe.timeout or 60 }
  if r.code ~= 0 then return false, string.format("exit %d: %s", r.code, r.stderr:gsub("%s+$", "")) end
  return true
end

-- With a Prometheus shared by several clusters, an alert belongs to this
-- one when it carries the cluster's labels (an alert without them counts).
local function of_cluster(alert_labels, cluster_labels)
  for k, v in pairs(cluster_labels or {}) do
    if alert_labels[k] ~= nil and alert_labels[k] ~= v then return false end
  end
  return true
end

--- The names of the alerts firing for the cluster, except those in
-- v.alerts_allowed (default Watchdog).
function validate.firing_alerts(ctx, cluster, v)
  local s = ctx.settings(cluster)
  local allowed = {}
  for _, a in ipairs(v.alerts_allowed or { "Watchdog" }) do allowed[a] = true end
  local firing = {}
  for _, alert in ipairs(recipe.prometheus(ctx, cluster):alerts()) do
    local labels = alert.labels or {}
    if alert.state == "firing" and not allowed[labels.alertname] and of_cluster(labels, s.prometheus.labels) then
      firing[#firing + 1] = tostring(labels.alertname)
    end
  end
  return firing
end

--- The step: the cluster of `role` passes when its workloads are ready,
-- the team's probes answer and no unexpected alert fires (fleet setting
-- `validation`).
function validate.validate_cluster(role)
  return {
    name = "validate-cluster",
    description = "core components and Flux ready, probes answer, no firing alerts",
    timeout = "15m",
    retries = 2,
    run = function(ctx)
      local name = recipe.cluster(ctx, role)
      local c = ctx.k8s[name]
      local s = ctx.settings(name)
      local v = s.validation or {}
      local problems = validate.settled_workloads(ctx, c, v)
      for _, probe in ipairs(v.probes or {}) do
        ctx.status("probe %s", probe.name or probe.url or table.concat(probe.argv or {}, " "))
        local ok, why = validate.run_probe(probe)
        if not ok then problems[#problems + 1] = "probe " .. tostring(probe.name or probe.url) .. ": " .. why end
      end
      if s.prometheus then
        for _, alertname in ipairs(validate.firing_alerts(ctx, name, v)) do
          problems[#problems + 1] = "alert firing: " .. alertname
        end
      end
      if #problems > 0 then
        recipe.fail(string.format("cluster %s is not healthy: %s", name, table.concat(problems, "; ")),
          { problems = problems })
      end
      ctx.report:section("Validation of " .. name, "Core components ready; " .. #(v.probes or {})
        .. " probes passed; no unexpected alerts.")
    end,
  }
end

return recipe {
  name = "validate-cluster",
  description = "check that a cluster is healthy enough to take tenants",
  params = { { name = "cluster", required = true, help = "the cluster to validate" } },
  steps = { validate.validate_cluster("cluster") },
  exports = validate,
}
