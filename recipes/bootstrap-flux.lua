-- bootstrap-flux: Flux's components on a cluster, then Flux pointed at the
-- cluster's own path in the fleet repository.
local recipe = require "recipe"

local bootstrap = {}

--- The step that installs Flux's components (CRDs, controllers) on the
-- cluster of `role`, from the parameter `flux_manifests` or the fleet's
-- flux.manifests, and waits until they are ready.
function bootstrap.install_flux(role)
  return {
    name = "install-flux",
    description = "Flux components (CRDs, controllers)",
    timeout = "15m",
    run = function(ctx)
      local flux = require "flux"
      local name = recipe.cluster(ctx, role)
      local s = ctx.settings(name)
      local manifests = ctx.params.flux_manifests or (s.flux and s.flux.manifests)
      if not manifests then
        recipe.fail("install-flux needs the Flux components manifest: --set flux_manifests=gotk-components.yaml, "
          .. "or flux.manifests in the fleet file")
      end
      ctx.status("installing Flux on %s", name)
      flux.install(ctx.k8s[name], { manifests = manifests, wait = true, timeout = s.flux and s.flux.timeout })
      ctx.state.flux_installed = true
    end,
  }
end

--- The step that points Flux at the fleet repository: a GitRepository and
-- the root Kustomization of the cluster's path (parameters fleet_repo,
-- fleet_branch, fleet_path, else the fleet's flux.repo), ready.
function bootstrap.bootstrap_flux(role)
  return {
    name = "bootstrap-flux",
    description = "GitRepository and root Kustomization for the cluster's path in the fleet repo",
    timeout = "15m",
    run = function(ctx)
      local flux = require "flux"
      local name = recipe.cluster(ctx, role)
      local s = ctx.settings(name)
      local repo = (s.flux and s.flux.repo) or {}
      local url = ctx.params.fleet_repo or repo.url
      if not url then
        recipe.fail("bootstrap-flux needs the fleet repository: --set fleet_repo=URL or flux.repo.url in the fleet file")
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

return recipe {
  name = "bootstrap-flux",
  description = "install Flux on a cluster and point it at the fleet repository",
  params = {
    { name = "cluster", required = true, help = "the cluster" },
    { name = "flux_manifests", help = "Flux components manifest (gotk-components.yaml)" },
    { name = "fleet_repo", help = "URL of the fleet Git repository (default: flux.repo.url)" },
    { name = "fleet_branch", help = "branch of the fleet repository" },
    { name = "fleet_path", help = "the cluster's path in the fleet repository" },
  },
  steps = { bootstrap.install_flux("cluster"), bootstrap.bootstrap_flux("cluster") },
  exports = bootstrap,
}
