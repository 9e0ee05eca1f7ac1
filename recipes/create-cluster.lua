-- create-cluster: a new cluster through a provider (existing, command, k3d, ferry-env).
-- Undo deletes it again (never a cluster of provider `existing`).
local log = require "log"
local recipe = require "recipe"

local create = {}

--- The cluster named by the parameter `role`, its fleet settings with the
-- run's `version` and `provider` parameters applied, and so the name of
-- its provider (default `existing`).
function create.cluster_settings(ctx, role)
  local name = recipe.cluster(ctx, role)
  local s = ctx.settings(name)
  s.version = ctx.params.version or s.version
  s.provider = ctx.params.provider or s.provider or "existing"
  return name, s
end

--- The step: creates the cluster named by the parameter `role` through
-- its provider; the context it made is kept in ctx.state.clusters.
function create.create_cluster(role)
  return {
    name = "create-cluster",
    description = "create the new cluster (no traffic goes to it)",
    timeout = "60m",
    plan = function(ctx)
      local name, s = create.cluster_settings(ctx, role)
      return string.format("create cluster %s with provider %s%s", name, s.provider,
        s.version and (" at " .. s.version) or "")
    end,
    run = function(ctx)
      local name, s = create.cluster_settings(ctx, role)
      local provider = recipe.provider(s.provider)
      ctx.status("creating %s", name)
      ctx.state.clusters = ctx.state.clusters or {}
      local made = provider.create(ctx, name, s)
      ctx.state.clusters[name] = { context = made.context, kubeconfig = made.kubeconfig, created = made.created }
      local v = ctx.k8s[name]:version()
      log.info("cluster %s is up: Kubernetes %s", name, v.gitVersion)
    end,
    undo = function(ctx)
      local name, s = create.cluster_settings(ctx, role)
      recipe.provider(s.provider).delete(ctx, name, s)
    end,
  }
end

return recipe {
  name = "create-cluster",
  description = "create a cluster through its provider",
  params = {
    { name = "cluster", required = true, help = "name of the cluster" },
    { name = "version", help = "Kubernetes version (e.g. v1.36.3)" },
    { name = "provider", help = "existing, command, k3d or ferry-env (default: the fleet's provider)" },
  },
  steps = { create.create_cluster("cluster") },
  exports = create,
}
