-- upgrade-cluster: the blue/green upgrade of one cluster.
--   preflight → create the new cluster → install and bootstrap Flux →
--   validate it → deploy the tenants (Flagger analysis) → compare metrics
--   with the old cluster → switch traffic → keep (or delete) the old one.
-- Any failing step stops the run; the finished steps are then undone in
-- reverse, which deletes the new cluster: the old one never lost traffic.
--
-- Each step comes from the recipe of the same name (recipe.use), so a
-- change to validate-cluster.lua — a copy next to this file, or in
-- ./recipes — changes the upgrade too.
local k8s = require "k8s"
local log = require "log"
local recipe = require "recipe"

local create = recipe.use "create-cluster"
local bootstrap = recipe.use "bootstrap-flux"
local validate = recipe.use "validate-cluster"
local deploy = recipe.use "deploy-tenant"
local compare = recipe.use "compare-clusters"
local switch = recipe.use "switch-traffic"
local retire = recipe.use "retire-cluster"

local upgrade = {}

--- The step: the objects of the old cluster (parameter role_old) written
-- with API versions the target version (parameter version, else the
-- fleet's version of the new cluster) removes (k8s.deprecations); any
-- finding stops the run unless the parameter allow_deprecated is true.
function upgrade.preflight(role_old)
  return {
    name = "preflight",
    description = "old cluster's objects against the target version's removed APIs",
    run = function(ctx)
      local target = ctx.params.version or ctx.settings(ctx.params.to or recipe.cluster(ctx, role_old)).version
      if not target then
        log.warn("no target version (--set version=v1.36.3, or version in the fleet file): "
          .. "the deprecation check is skipped")
        return
      end
      local old = ctx.k8s[recipe.cluster(ctx, role_old)]
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
        recipe.fail(string.format("%d objects use APIs removed in %s (see the report; --set allow_deprecated=true "
          .. "to go on anyway): %s", #findings, target, table.concat(lines, " "):sub(1, 500)))
      end
    end,
  }
end

return recipe {
  name = "upgrade-cluster",
  description = "move the tenants of a cluster to a new cluster, blue/green",
  params = {
    { name = "from", required = true, help = "the cluster in service now" },
    { name = "to", required = true, help = "the cluster to create and move to" },
    { name = "version", help = "Kubernetes version of the new cluster (e.g. v1.36.3)" },
    { name = "provider", help = "how to create the new cluster: existing, command, k3d, ferry-env "
      .. "(default: the fleet's provider setting, else existing)" },
    { name = "tenants", type = "list", help = "tenants to move (default: the fleet's tenants of the cluster)" },
    { name = "flux_manifests", help = "Flux components manifest (gotk-components.yaml)" },
    { name = "fleet_repo", help = "URL of the fleet Git repository (default: flux.repo.url)" },
    { name = "fleet_branch", help = "branch of the fleet repository" },
    { name = "fleet_path", help = "the new cluster's path in the fleet repository" },
    { name = "compare_window", type = "duration", help = "metrics window to compare (default: the fleet's "
      .. "compare_window, else 10m)" },
    { name = "allow_deprecated", type = "boolean", default = false,
      help = "go on even when objects use APIs the target version removed" },
    { name = "retire", default = "keep", choices = { "keep", "delete" }, help = "what to do with the old cluster" },
    { name = "keep", type = "duration", help = "rollback window before the old cluster may go (default 24h)" },
    { name = "old_provider", help = "provider of the old cluster, to delete it (retire=delete)" },
  },
  steps = {
    upgrade.preflight("from"),
    create.create_cluster("to"),
    bootstrap.install_flux("to"),
    bootstrap.bootstrap_flux("to"),
    validate.validate_cluster("to"),
    deploy.deploy_tenants("to"),
    compare.compare_clusters("from", "to"),
    switch.switch_traffic("from", "to"),
    retire.retire_cluster("from"),
  },
  exports = upgrade,
}
