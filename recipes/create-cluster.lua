-- create-cluster: a new cluster through a provider (existing, command, k3d, ferry-env).
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "create-cluster",
  description = "create a cluster through its provider",
  params = {
    { name = "cluster", required = true, help = "name of the cluster" },
    { name = "version", help = "Kubernetes version (e.g. v1.36.3)" },
    { name = "provider", help = "existing, command, k3d or ferry-env (default: the fleet's provider)" },
  },
  steps = { stock.create_cluster("cluster") },
}
