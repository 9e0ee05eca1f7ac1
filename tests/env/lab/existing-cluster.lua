-- The lab's `old` cluster brought to the state of a cluster in service:
-- Flux installed and pointed at the cluster's folder of the fleet
-- repository, the cluster validated, then its tenants deployed through Flux
-- with a Flagger analysis each. These are upgrade-cluster's own steps, taken
-- from the stock recipes that hold them (recipe.use), on one cluster.
local recipe = require "recipe"
local bootstrap = recipe.use "bootstrap-flux"
local validate = recipe.use "validate-cluster"
local deploy = recipe.use "deploy-tenant"

return recipe {
  name = "lab-existing-cluster",
  description = "Flux, validation and tenants on a running cluster (the lab's old one)",
  params = {
    { name = "cluster", required = true, help = "the cluster to bring into service" },
  },
  steps = {
    bootstrap.install_flux("cluster"),
    bootstrap.bootstrap_flux("cluster"),
    validate.validate_cluster("cluster"),
    deploy.deploy_tenants("cluster"),
  },
}
