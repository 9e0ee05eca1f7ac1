-- deploy-tenant: a tenant's namespace and Flux objects, its Kustomization ready, its Canaries analysed.
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "deploy-tenant",
  description = "deploy one tenant (or several) through Flux and Flagger",
  params = {
    { name = "cluster", required = true, help = "the cluster to deploy to" },
    { name = "tenant", help = "the tenant (default: every tenant of the cluster in the fleet file)" },
    { name = "tenants", type = "list", help = "several tenants" },
  },
  steps = { stock.deploy_tenants("cluster") },
}
