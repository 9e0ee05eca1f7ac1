-- validate-cluster: core components and Flux ready, probes answering, no firing alerts.
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "validate-cluster",
  description = "check that a cluster is healthy enough to take tenants",
  params = { { name = "cluster", required = true, help = "the cluster to validate" } },
  steps = { stock.validate_cluster("cluster") },
}
