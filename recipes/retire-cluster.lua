-- retire-cluster: keep a cluster for a rollback window, or delete it through its provider.
local recipe = require "recipe"

local retire = {}

--- The step: keeps the cluster of `role` for a rollback window (the
-- default; parameter keep or the fleet's retire.keep, else 24h), or
-- deletes it through its provider when the parameter retire is "delete".
-- It never rolls the run back: traffic has moved by then.
function retire.retire_cluster(role)
  return {
    name = "retire-cluster",
    description = "keep the old cluster for a rollback window, or delete it",
    no_rollback = true, -- traffic has moved: a failure here must not undo the upgrade
    run = function(ctx)
      local name = recipe.cluster(ctx, role)
      local s = ctx.settings(name)
      if ctx.params.retire == "delete" then
        ctx.status("deleting %s", name)
        local provider = ctx.params.old_provider or s.provider or "existing"
        -- the provider says what it did: `existing` deletes nothing
        local did = recipe.provider(provider).delete(ctx, name, s)
        ctx.report:section("Old cluster", string.format("%s %s.", name,
          type(did) == "string" and did or ("was deleted through provider " .. provider)))
        return
      end
      local keep = ctx.params.keep or (s.retire and s.retire.keep) or "24h"
      ctx.report:section("Old cluster", string.format("%s is kept for %s as the rollback target; delete it then "
        .. "with `ferry run retire-cluster --set cluster=%s --set retire=delete`.", name, keep, name))
    end,
  }
end

return recipe {
  name = "retire-cluster",
  description = "retire a cluster after an upgrade",
  params = {
    { name = "cluster", required = true, help = "the cluster to retire" },
    { name = "retire", default = "keep", choices = { "keep", "delete" }, help = "keep it, or delete it now" },
    { name = "keep", type = "duration", help = "rollback window (default 24h)" },
    { name = "old_provider", help = "its provider (default: the fleet's provider setting)" },
  },
  steps = { retire.retire_cluster("cluster") },
  exports = retire,
}
