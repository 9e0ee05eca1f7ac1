-- retire-cluster: keep a cluster for a rollback window, or delete it through its provider.
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "retire-cluster",
  description = "retire a cluster after an upgrade",
  params = {
    { name = "cluster", required = true, help = "the cluster to retire" },
    { name = "retire", default = "keep", choices = { "keep", "delete" }, help = "keep it, or delete it now" },
    { name = "keep", type = "duration", help = "rollback window (default 24h)" },
    { name = "old_provider", help = "its provider (default: the fleet's provider setting)" },
  },
  steps = { stock.retire_cluster("cluster") },
}
