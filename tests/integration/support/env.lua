-- The running test environment (tests/env), as `ferry-env status` printed it.
local json = require "json"

local env = {}

local status

--- The status object: {kubeconfig, clusters = {old = {server, version, contexts}}, prometheus, git}.
function env.status()
  if status then return status end
  local path = os.getenv("FERRY_ENV_STATUS")
  assert(path, "FERRY_ENV_STATUS is not set: run the integration specs through tests/run-all "
    .. "(make test), which starts tests/env")
  local f = assert(io.open(path))
  status = json.decode(f:read("a"))
  f:close()
  return status
end

--- A client of a cluster's context: env.connect("old", "admin", {...}).
function env.connect(cluster, user, options)
  local k8s = require "k8s"
  local s = env.status()
  local o = { kubeconfig = s.kubeconfig, context = s.clusters[cluster].contexts[user or "admin"], qps = 0 }
  for k, v in pairs(options or {}) do o[k] = v end
  return k8s.connect(o)
end

--- A namespace name unique to this run.
function env.unique(prefix)
  return string.format("%s-%d-%d", prefix, os.time() % 100000, math.random(1000, 9999))
end

return env
