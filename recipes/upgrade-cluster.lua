-- upgrade-cluster: the blue/green upgrade of one cluster.
--   preflight → create the new cluster → install and bootstrap Flux →
--   validate it → deploy the tenants (Flagger analysis) → compare metrics
--   with the old cluster → switch traffic → keep (or delete) the old one.
-- Any failing step stops the run; the finished steps are then undone in
-- reverse, which deletes the new cluster: the old one never lost traffic.
local recipe = require "recipe"
local stock = require "recipe.stock"

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
    stock.preflight("from"),
    stock.create_cluster("to"),
    stock.install_flux("to"),
    stock.bootstrap_flux("to"),
    stock.validate_cluster("to"),
    stock.deploy_tenants("to"),
    stock.compare_clusters("from", "to"),
    stock.switch_traffic("from", "to"),
    stock.retire_cluster("from"),
  },
}
