-- A tenant's variant: after the stock deployment of the tenants (Flux and
-- the Canary analyses), the data tenant's database migration Job must
-- complete before the metrics are compared and traffic moves.
local recipe = require "recipe"

local base = recipe.load("upgrade-cluster")
local deploy = recipe.use("deploy-tenant").deploy_tenants("to")

return recipe.extend(base, {
  name = "upgrade-cluster-data",
  description = "upgrade-cluster where tenant data also runs its migration Job",
  steps = {
    replace = {
      ["deploy-tenants"] = {
        description = deploy.description .. ", then tenant data's migration Job",
        timeout = deploy.timeout,
        run = function(ctx)
          deploy.run(ctx)
          local c = ctx.k8s.new
          c:wait({ apiVersion = "batch/v1", kind = "Job", namespace = "data", name = "migrate" },
                 { ready = true, timeout = "20m" })
        end,
        undo = deploy.undo,
      },
    },
  },
})
