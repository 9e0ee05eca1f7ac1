-- compare-clusters: each tenant's metrics on two clusters, with the fleet's thresholds.
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "compare-clusters",
  description = "compare error rate, latency and resource use of tenants on two clusters",
  params = {
    { name = "from", required = true, help = "the baseline cluster" },
    { name = "to", required = true, help = "the candidate cluster" },
    { name = "tenants", type = "list", help = "tenants to compare (default: the fleet's)" },
    { name = "compare_window", type = "duration", help = "metrics window (default: the fleet's compare_window, else 10m)" },
  },
  steps = { stock.compare_clusters("from", "to") },
}
