-- deploy-tenant: a tenant's namespace and Flux objects, its Kustomization
-- ready, then a Flagger analysis of each of its Canaries — triggered by
-- ferry, because on a fresh cluster Flagger promotes a first rollout
-- without analysing it.
local log = require "log"
local recipe = require "recipe"

local deploy = {}

-- Canary phases in which Flagger manages a Canary and runs no analysis.
deploy.IDLE_PHASES = { "Initialized", "Succeeded", "Failed" }

--- Deploys one tenant on client c with its merged settings s: Flux
-- objects (in namespace, labelled with the run), the Kustomization ready,
-- each Canary analysed once.
function deploy.deploy_tenant(ctx, c, tenant, s, namespace)
  local flux, flagger = require "flux", require "flagger"
  ctx.status("tenant %s: Flux objects", tenant)
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
    flagger.wait(c, ref, { phases = deploy.IDLE_PHASES, fail_on = {}, timeout = s.timeout or "15m",
                           progress = false })
    ctx.status("tenant %s: analysis of Canary %s", tenant, canary.name)
    flagger.trigger(c, ref)
    flagger.wait(c, ref, { new_run = true, timeout = s.analysis_timeout or "30m", progress = false })
  end
end

--- The step: deploys each tenant of the cluster of `role` (recipe.tenants)
-- in turn, with the hook after_tenant(ctx, tenant, settings) after each.
-- Each tenant is journaled, so a resumed run skips those done; undo
-- deletes the namespaces of the tenants it recorded.
function deploy.deploy_tenants(role)
  return {
    name = "deploy-tenants",
    description = "each tenant through Flux, with a Flagger analysis of its Canaries",
    timeout = "60m",
    run = function(ctx)
      local name = recipe.cluster(ctx, role)
      local c = ctx.k8s[name]
      ctx.state.tenants = ctx.state.tenants or {}
      for _, tenant in ipairs(recipe.tenants(ctx, name)) do
        local entry = ctx.state.tenants[tenant]
        if not (entry and entry.done) then
          local s = ctx.settings(name, tenant)
          local namespace = recipe.tenant_namespace(ctx, tenant)
          -- recorded first, so undo also removes a tenant that failed half-way
          ctx.state.tenants[tenant] = { namespace = namespace, done = false }
          ctx.journal:save()
          deploy.deploy_tenant(ctx, c, tenant, s, namespace)
          ctx.hook("after_tenant", tenant, s)
          ctx.state.tenants[tenant].done = true
          ctx.journal:save()
        end
      end
    end,
    undo = function(ctx)
      local name = recipe.cluster(ctx, role)
      local c = ctx.k8s[name]
      for tenant, t in pairs(ctx.state.tenants or {}) do
        c:delete({ apiVersion = "v1", kind = "Namespace", name = t.namespace }, { missing_ok = true })
        log.info("tenant %s removed from %s", tenant, name)
      end
    end,
  }
end

return recipe {
  name = "deploy-tenant",
  description = "deploy one tenant (or several) through Flux and Flagger",
  params = {
    { name = "cluster", required = true, help = "the cluster to deploy to" },
    { name = "tenant", help = "the tenant (default: every tenant of the cluster in the fleet file)" },
    { name = "tenants", type = "list", help = "several tenants" },
  },
  steps = { deploy.deploy_tenants("cluster") },
  exports = deploy,
}
