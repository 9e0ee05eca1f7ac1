-- The lab's `old` cluster brought to the state of a cluster in service:
-- Flux installed and pointed at the cluster's folder of the fleet
-- repository, the cluster validated, then its tenants deployed through Flux
-- with a Flagger analysis each. These are upgrade-cluster's own stock steps,
-- on one cluster: a recipe is a list of steps, and the stock ones compose.
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "lab-existing-cluster",
  description = "Flux, validation and tenants on a running cluster (the lab's old one)",
  params = {
    { name = "cluster", required = true, help = "the cluster to bring into service" },
  },
  steps = {
    stock.install_flux("cluster"),
    stock.bootstrap_flux("cluster"),
    stock.validate_cluster("cluster"),
    stock.deploy_tenants("cluster"),
  },
}
