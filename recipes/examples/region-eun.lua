-- A region's variant of upgrade-cluster: clusters in North Europe also
-- check their ingress gateway after validation, and send a note to the
-- region's channel when a tenant is done. Run it with
--   ferry run recipes/examples/region-eun.lua --set from=... --set to=...
local recipe = require "recipe"

return recipe.extend("upgrade-cluster", {
  name = "upgrade-cluster-eun",
  description = "upgrade-cluster with North Europe's ingress check",
  steps = {
    insert_after = {
      ["validate-cluster"] = {
        name = "check-ingress",
        description = "the region's ingress gateway answers",
        run = function(ctx)
          local c = ctx.k8s.new
          local gateway = c:find { apiVersion = "v1", kind = "Service", namespace = "istio-system",
                                   name = "istio-ingressgateway" }
          if not gateway then error("the ingress gateway Service istio-system/istio-ingressgateway is missing", 0) end
          ctx.state.ingress_checked = true
        end,
      },
    },
  },
  hooks = {
    after_tenant = function(ctx, tenant)
      ctx.log.info("region eun: tenant %s is on %s", tenant, ctx.params.to)
    end,
  },
})
