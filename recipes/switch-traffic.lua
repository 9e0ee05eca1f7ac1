-- switch-traffic: the load balancer from one cluster to another (drivers none, command, haproxy).
local recipe = require "recipe"
local stock = require "recipe.stock"

return recipe {
  name = "switch-traffic",
  description = "move traffic between clusters with the fleet's traffic driver",
  params = {
    { name = "from", required = true, help = "the cluster traffic leaves" },
    { name = "to", required = true, help = "the cluster traffic goes to" },
  },
  steps = { stock.switch_traffic("from", "to") },
}
