--- ferry.testing: fakes for testing recipes without a cluster.
--
--   local testing = require "ferry.testing"
--   local old = testing.fake_cluster { name = "prod-eun-1", objects = seed_yaml }
--   local prom = testing.fake_prom { series = { ... } }
--
-- fake_cluster() is a k8s client (the object k8s.connect returns) backed
-- by an in-memory API server; fake_prom() is a prom client (the object
-- prom.connect returns) answering PromQL from series the test gives.
-- Both are checked against the real servers by
-- tests/integration/fake_contract_spec.lua. See docs/testing.md.
local testing = {}

testing.fake_cluster = function(options)
  return require("ferry.testing.cluster").new(options)
end

testing.fake_prom = function(options)
  return require("ferry.testing.prom").new(options)
end

--- testing.connector(clusters) -> function(cluster_name) -> client: what a
-- recipe run takes as its `connect` option (ferry.engine), so a recipe's
-- ctx.k8s.old / ctx.k8s.new (or any cluster name) are the fakes. An
-- unknown name raises, listing the known ones.
function testing.connector(clusters)
  return function(name)
    local c = clusters[name]
    if c then return c end
    local known = {}
    for k in pairs(clusters) do known[#known + 1] = tostring(k) end
    table.sort(known)
    error(require("ferry.errors").new("kubeconfig", string.format("no fake cluster named %q (fakes: %s)",
      tostring(name), table.concat(known, ", "))), 2)
  end
end

--- testing.use{clusters = {name = fake}, prom = fake_prom or {name = fake_prom}}
-- -> restore(): until restore() is called, k8s.connect{context = name}
-- returns the fake cluster of that name, and prom.connect returns the fake
-- Prometheus -- the one given, or the one named by the url, or by the name
-- of the cluster it is reached through (prom.connect{cluster = c, service}).
-- For code that connects by itself rather than through a recipe's ctx;
-- use with finally(restore) in a test.
function testing.use(fakes)
  local k8s = require "k8s"
  local prom = require "prom"
  local original_k8s, original_prom = k8s.connect, prom.connect
  local connect = testing.connector(fakes.clusters or {})
  k8s.connect = function(options)
    if type(options) == "string" then options = { context = options } end
    return connect((options or {}).context or "default")
  end
  if fakes.prom then
    local single = type(fakes.prom.query) == "function"
    prom.connect = function(options)
      if single then return fakes.prom end
      if type(options) == "string" then options = { url = options } end
      options = options or {}
      local key = options.url or (options.cluster and options.cluster.name) or options.service
      local p = fakes.prom[key]
      if not p then
        local known = {}
        for k in pairs(fakes.prom) do known[#known + 1] = tostring(k) end
        table.sort(known)
        error(require("ferry.errors").new("invalid", string.format("no fake Prometheus for %q (fakes: %s)",
          tostring(key), table.concat(known, ", "))), 2)
      end
      return p
    end
  end
  return function()
    k8s.connect, prom.connect = original_k8s, original_prom
  end
end

return testing
