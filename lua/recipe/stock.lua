--- recipe.stock: the steps the stock recipes (recipes/*.lua) are built
-- from. Each function returns a step table; the recipes put them together
-- and users extend or replace them one by one (recipe.extend).
--
-- Settings come from the fleet file (ctx.settings(cluster[, tenant])):
--   provider, version, context, kubeconfig            how clusters are made and reached
--   flux = {manifests, repo = {url, branch, path, secret = {username, token}}, timeout}
--   validation = {namespaces = {...}, settle = "60s", probes = {{name, url | argv, status}}, alerts_allowed = {...}}
--   prometheus = {url | service = "ns/name:port", labels = {cluster = "..."}}
--   tenants: {name = {namespace, repo = {url, branch, path, secret}, role, substitute = {var = value},
--             workloads, thresholds}}
--   traffic = {driver = none|command|haproxy, steps = {10, 50, 100}, ...driver settings}
--   retire = {keep = "24h"}
local errors = require "ferry.errors"
local k8s = require "k8s"
local log = require "log"
local providers = require "recipe.providers"
local sys = require "ferry.sys"
local task = require "task"
local traffic = require "recipe.traffic"

local stock = {}

local function fail(message, fields)
  error(errors.new("recipe", message, fields), 0)
end

local function cluster_of(ctx, role)
  local name = ctx.params[role]
  if not name then fail("this step needs the parameter " .. role) end
  return name
end

local function tenants_of(ctx, cluster)
  if ctx.params.tenants and #ctx.params.tenants > 0 then return ctx.params.tenants end
  if ctx.params.tenant then return { ctx.params.tenant } end
  return ctx.fleet:tenant_names(cluster)
end

-- A tenant's namespace: its own `namespace` in the fleet's tenants section
-- (not the merged settings, where `namespace` is also a client default).
local function tenant_namespace(ctx, tenant)
  local entry = ctx.fleet.tenants[tenant]
  return entry and entry.namespace or tenant
end

-- Preflight --------------------------------------------------------------------

--- Objects of the old cluster written with API versions the target
-- version removes (k8s.deprecations); any finding stops the run unless
-- the parameter allow_deprecated is true.
function stock.preflight(role_old)
  return {
    name = "preflight",
    description = "old cluster's objects against the target version's removed APIs",
    run = function(ctx)
      local target = ctx.params.version or ctx.settings(ctx.params.to or cluster_of(ctx, role_old)).version
      if not target then
        log.warn("no target version (--set version=v1.36.3, or version in the fleet file): "
          .. "the deprecation check is skipped")
        return
      end
      local old = ctx.k8s[cluster_of(ctx, role_old)]
      ctx.status("checking %s's objects against Kubernetes %s", old.name, target)
      local findings = k8s.deprecations(old, target)
      local lines = {}
      for _, f in ipairs(findings) do
        lines[#lines + 1] = string.format("- %s %s/%s uses %s (removed in %s%s; from %s)", f.kind,
          tostring(f.namespace or ""), tostring(f.name), f.apiVersion, tostring(f.removed_in),
          f.replacement and (", use " .. f.replacement) or "", f.source)
      end
      ctx.report:section("Preflight", #lines == 0 and "No object uses an API removed in " .. target .. "."
        or table.concat(lines, "\n"))
      if #findings > 0 and not ctx.params.allow_deprecated then
        fail(string.format("%d objects use APIs removed in %s (see the report; --set allow_deprecated=true "
          .. "to go on anyway): %s", #findings, target, table.concat(lines, " "):sub(1, 500)))
      end
    end,
  }
end

-- Clusters -----------------------------------------------------------------------

-- The cluster of `role`, its settings with the run's version and provider
-- parameters applied, and the name of its provider.
local function cluster_settings(ctx, role)
  local name = cluster_of(ctx, role)
  local s = ctx.settings(name)
  s.version = ctx.params.version or s.version
  s.provider = ctx.params.provider or s.provider or "existing"
  return name, s
end

--- Creates the cluster named by the parameter `role` through its provider;
-- undo deletes it (never a cluster of provider `existing`).
function stock.create_cluster(role)
  return {
    name = "create-cluster",
    description = "create the new cluster (no traffic goes to it)",
    timeout = "60m",
    plan = function(ctx)
      local name, s = cluster_settings(ctx, role)
      return string.format("create cluster %s with provider %s%s", name, s.provider,
        s.version and (" at " .. s.version) or "")
    end,
    run = function(ctx)
      local name, s = cluster_settings(ctx, role)
      local provider = providers.get(s.provider)
      ctx.status("creating %s", name)
      ctx.state.clusters = ctx.state.clusters or {}
      local made = provider.create(ctx, name, s)
      ctx.state.clusters[name] = { context = made.context, kubeconfig = made.kubeconfig, created = made.created }
      local v = ctx.k8s[name]:version()
      log.info("cluster %s is up: Kubernetes %s", name, v.gitVersion)
    end,
    undo = function(ctx)
      local name, s = cluster_settings(ctx, role)
      providers.get(s.provider).delete(ctx, name, s)
    end,
  }
end

--- Installs Flux's components on the cluster of `role`.
function stock.install_flux(role)
  return {
    name = "install-flux",
    description = "Flux components (CRDs, controllers)",
    timeout = "15m",
    run = function(ctx)
      local flux = require "flux"
      local name = cluster_of(ctx, role)
      local s = ctx.settings(name)
      local manifests = ctx.params.flux_manifests or (s.flux and s.flux.manifests)
      if not manifests then
        fail("install-flux needs the Flux components manifest: --set flux_manifests=gotk-components.yaml, "
          .. "or flux.manifests in the fleet file")
      end
      ctx.status("installing Flux on %s", name)
      flux.install(ctx.k8s[name], { manifests = manifests, wait = true, timeout = s.flux and s.flux.timeout })
      ctx.state.flux_installed = true
    end,
  }
end

--- Points Flux at the fleet repository (the cluster's own path).
function stock.bootstrap_flux(role)
  return {
    name = "bootstrap-flux",
    description = "GitRepository and root Kustomization for the cluster's path in the fleet repo",
    timeout = "15m",
    run = function(ctx)
      local flux = require "flux"
      local name = cluster_of(ctx, role)
      local s = ctx.settings(name)
      local repo = (s.flux and s.flux.repo) or {}
      local url = ctx.params.fleet_repo or repo.url
      if not url then
        fail("bootstrap-flux needs the fleet repository: --set fleet_repo=URL or flux.repo.url in the fleet file")
      end
      ctx.status("bootstrapping Flux on %s from %s", name, url)
      flux.bootstrap(ctx.k8s[name], {
        url = url, branch = ctx.params.fleet_branch or repo.branch or "main",
        path = ctx.params.fleet_path or repo.path or ("./clusters/" .. name),
        secret = repo.secret, wait = true, timeout = s.flux and s.flux.timeout or "10m",
      })
    end,
  }
end

-- Validation -------------------------------------------------------------------

local function check_workloads(c, namespace, problems)
  for _, kind in ipairs { "Deployment", "StatefulSet", "DaemonSet" } do
    local ok, items = pcall(c.list, c, { apiVersion = "apps/v1", kind = kind, namespace = namespace })
    if ok then
      for _, obj in ipairs(items) do
        local ready, why = k8s.status.ready(obj)
        if not ready then problems[#problems + 1] = k8s.describe(obj) .. ": " .. why end
      end
    end
  end
end

-- With a Prometheus shared by several clusters, an alert belongs to this
-- one when it carries the cluster's labels (an alert without them counts).
local function of_cluster(alert_labels, cluster_labels)
  for k, v in pairs(cluster_labels or {}) do
    if alert_labels[k] ~= nil and alert_labels[k] ~= v then return false end
  end
  return true
end

local function run_probe(probe)
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

-- The workloads of the validated namespaces that are not ready. A cluster
-- just bootstrapped is still rolling them out: they get validation.settle
-- (default 60s) to become ready before they count as problems.
local function settled_workloads(ctx, c, v)
  local namespaces = v.namespaces or { "kube-system", "flux-system" }
  local deadline = sys.monotonic() + require("k8s.time").checked_duration(v.settle or "60s", "validation.settle")
  while true do
    local problems = {}
    for _, ns in ipairs(namespaces) do
      ctx.status("checking workloads in %s", ns)
      check_workloads(c, ns, problems)
    end
    if #problems == 0 or sys.monotonic() >= deadline then return problems end
    ctx.status("waiting for %d workload(s) to be ready: %s", #problems, problems[1])
    task.sleep(2)
  end
end

--- Core components and Flux ready, the team's probes answering, no firing alerts.
function stock.validate_cluster(role)
  return {
    name = "validate-cluster",
    description = "core components and Flux ready, probes answer, no firing alerts",
    timeout = "15m",
    retries = 2,
    run = function(ctx)
      local name = cluster_of(ctx, role)
      local c = ctx.k8s[name]
      local s = ctx.settings(name)
      local v = s.validation or {}
      local problems = settled_workloads(ctx, c, v)
      for _, probe in ipairs(v.probes or {}) do
        ctx.status("probe %s", probe.name or probe.url or table.concat(probe.argv or {}, " "))
        local ok, why = run_probe(probe)
        if not ok then problems[#problems + 1] = "probe " .. tostring(probe.name or probe.url) .. ": " .. why end
      end
      if s.prometheus then
        local allowed = {}
        for _, a in ipairs(v.alerts_allowed or { "Watchdog" }) do allowed[a] = true end
        for _, alert in ipairs(stock.prometheus(ctx, name):alerts()) do
          local labels = alert.labels or {}
          local alertname = labels.alertname
          if alert.state == "firing" and not allowed[alertname] and of_cluster(labels, s.prometheus.labels) then
            problems[#problems + 1] = "alert firing: " .. tostring(alertname)
          end
        end
      end
      if #problems > 0 then
        fail(string.format("cluster %s is not healthy: %s", name, table.concat(problems, "; ")), { problems = problems })
      end
      ctx.report:section("Validation of " .. name, "Core components ready; " .. #(v.probes or {})
        .. " probes passed; no unexpected alerts.")
    end,
  }
end

-- Tenants ------------------------------------------------------------------------

-- Canary phases in which Flagger manages a Canary and runs no analysis.
local IDLE_PHASES = { "Initialized", "Succeeded", "Failed" }

--- Deploys each tenant: namespace and Flux objects, its Kustomization ready,
-- then a Flagger analysis of each Canary (triggered: on a fresh cluster
-- Flagger would promote the first rollout without analysing it).
function stock.deploy_tenants(role)
  return {
    name = "deploy-tenants",
    description = "each tenant through Flux, with a Flagger analysis of its Canaries",
    timeout = "60m",
    run = function(ctx)
      local flux, flagger = require "flux", require "flagger"
      local name = cluster_of(ctx, role)
      local c = ctx.k8s[name]
      ctx.state.tenants = ctx.state.tenants or {}
      for _, tenant in ipairs(tenants_of(ctx, name)) do
        local entry = ctx.state.tenants[tenant]
        if not (entry and entry.done) then
          local s = ctx.settings(name, tenant)
          local namespace = tenant_namespace(ctx, tenant)
          ctx.status("tenant %s: Flux objects", tenant)
          -- recorded first, so undo also removes a tenant that failed half-way
          ctx.state.tenants[tenant] = { namespace = namespace, done = false }
          ctx.journal:save()
          -- target_namespace: the tenant's objects land in its namespace, where its role holds
          local made = flux.tenant(c, { name = tenant, namespace = namespace, repo = s.repo, role = s.role,
                                        target_namespace = namespace, substitute = s.substitute,
                                        labels = { ["ferry.dev/run"] = ctx.run_id } })
          ctx.status("tenant %s: waiting for its Kustomization", tenant)
          flux.wait(c, { made.kustomization }, { timeout = s.timeout or "15m", progress = false })
          for _, canary in ipairs(flagger.canaries(c, { namespace = namespace })) do
            local ref = { namespace = namespace, name = canary.name }
            -- a change Flagger sees before it has taken the Canary over is
            -- its first rollout, promoted without analysis: wait until it is idle
            ctx.status("tenant %s: waiting for Flagger to take Canary %s over", tenant, canary.name)
            flagger.wait(c, ref, { ["until"] = IDLE_PHASES, fail_on = {}, timeout = s.timeout or "15m",
                                   progress = false })
            ctx.status("tenant %s: analysis of Canary %s", tenant, canary.name)
            flagger.trigger(c, ref)
            flagger.wait(c, ref, { new_run = true, timeout = s.analysis_timeout or "30m", progress = false })
          end
          ctx.hook("after_tenant", tenant, s)
          ctx.state.tenants[tenant].done = true
          ctx.journal:save()
        end
      end
    end,
    undo = function(ctx)
      local name = cluster_of(ctx, role)
      local c = ctx.k8s[name]
      for tenant, t in pairs(ctx.state.tenants or {}) do
        c:delete({ apiVersion = "v1", kind = "Namespace", name = t.namespace }, { missing_ok = true })
        log.info("tenant %s removed from %s", tenant, name)
      end
    end,
  }
end

-- Metrics --------------------------------------------------------------------------

--- The Prometheus client of a cluster: fleet setting prometheus = {url} or
-- {service = "ns/name:port"} (through the cluster's API server).
function stock.prometheus(ctx, cluster)
  local prom = require "prom"
  local p = ctx.settings(cluster).prometheus
  if not p then fail("cluster " .. cluster .. " has no prometheus setting in the fleet file") end
  if p.service then return prom.connect { cluster = ctx.k8s[cluster], service = p.service } end
  return prom.connect { url = p.url, headers = p.headers }
end

local function thresholds_of(s, tenant)
  for name, limits in pairs(s.thresholds or {}) do
    if type(limits) ~= "table" and limits ~= false then
      fail(string.format("tenant %s: thresholds.%s must be a table of limits such as {max_ratio = 1.2} "
        .. "or {max_delta = 1}, or false to leave the check out; got %s", tenant, tostring(name), tostring(limits)))
    end
  end
  return s.thresholds
end

-- prom.compare of every tenant, old vs new; rows go to the report under
-- scope_prefix. Returns the list of failures ("tenant check: reason").
local function compare_tenants(ctx, old, new, window, scope_prefix)
  local prom = require "prom"
  local failures = {}
  for _, tenant in ipairs(tenants_of(ctx, new)) do
    local s = ctx.settings(new, tenant)
    local so = ctx.settings(old, tenant)
    ctx.status("comparing tenant %s", tenant)
    local result = prom.compare {
      baseline = { prom = stock.prometheus(ctx, old), labels = so.prometheus.labels },
      candidate = { prom = stock.prometheus(ctx, new), labels = s.prometheus.labels },
      window = window or s.compare_window or "10m",
      vars = { namespace = tenant_namespace(ctx, tenant), target = s.workloads or ".*" },
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

--- Compares each tenant's metrics on the old and new clusters; "no data"
-- fails like a regression (a new cluster without traffic proves nothing).
function stock.compare_clusters(role_old, role_new)
  return {
    name = "compare-clusters",
    description = "error rate, latency and resources of each tenant, old vs new",
    timeout = "30m",
    run = function(ctx)
      local failures = compare_tenants(ctx, cluster_of(ctx, role_old), cluster_of(ctx, role_new),
        ctx.params.compare_window)
      if #failures > 0 then
        fail("the new cluster does not match the old one: " .. table.concat(failures, "; "), { failures = failures })
      end
    end,
  }
end

-- Traffic and retirement ---------------------------------------------------------

--- Moves traffic to the new cluster with the fleet's traffic driver; undo
-- puts the weights back.
function stock.switch_traffic(role_old, role_new)
  local function plan_of(ctx)
    local old, new = cluster_of(ctx, role_old), cluster_of(ctx, role_new)
    local t = ctx.settings(new).traffic or {}
    local plan = { from = old, to = new, steps = t.steps or { 100 }, settings = t,
                   pause = t.pause and require("k8s.time").checked_duration(t.pause, "traffic.pause") }
    if t.check_window then
      -- between weight steps: the tenants' metrics over the last check_window
      plan.check = function(c, weight)
        local failures = compare_tenants(c, old, new, t.check_window, weight .. "% ")
        if #failures > 0 then
          fail(string.format("at %d%% of traffic on %s: %s", weight, new, table.concat(failures, "; ")))
        end
      end
    end
    return plan, t
  end
  return {
    name = "switch-traffic",
    description = "load balancer to the new cluster, step by step",
    plan = function(ctx)
      local p, t = plan_of(ctx)
      return string.format("move traffic %s -> %s with driver %s, weights %s", p.from, p.to, t.driver or "none",
        table.concat(p.steps, ", "))
    end,
    run = function(ctx)
      local p, t = plan_of(ctx)
      local driver = traffic.get(t.driver)
      -- saved before the first weight moves, so a failure half-way is undone
      ctx.state.traffic_previous = driver.current and driver.current(ctx, p) or {}
      ctx.journal:save()
      driver.switch(ctx, p)
    end,
    undo = function(ctx)
      local p, t = plan_of(ctx)
      traffic.get(t.driver).restore(ctx, ctx.state.traffic_previous or {}, p)
    end,
  }
end

--- Keeps the old cluster for a rollback window (the default), or deletes it
-- through its provider when the parameter retire is "delete".
function stock.retire_cluster(role)
  return {
    name = "retire-cluster",
    description = "keep the old cluster for a rollback window, or delete it",
    no_rollback = true, -- traffic has moved: a failure here must not undo the upgrade
    run = function(ctx)
      local name = cluster_of(ctx, role)
      local s = ctx.settings(name)
      if ctx.params.retire == "delete" then
        ctx.status("deleting %s", name)
        providers.get(ctx.params.old_provider or s.provider).delete(ctx, name, s)
        ctx.report:section("Old cluster", name .. " was deleted.")
        return
      end
      local keep = ctx.params.keep or (s.retire and s.retire.keep) or "24h"
      ctx.report:section("Old cluster", string.format("%s is kept for %s as the rollback target; delete it then "
        .. "with `ferry run retire-cluster --set cluster=%s --set retire=delete`.", name, keep, name))
    end,
  }
end

return stock
