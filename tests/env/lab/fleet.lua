-- fleet.lua STATUS-JSON FLEET-YAML FERRY-ENV: writes the lab's fleet file
-- from `ferry-env status`: clusters old (in service) and new (made by the
-- ferry-env provider), the two tenants of the lab's Git server, Prometheus,
-- and HAProxy as the traffic driver. A real fleet file names the same
-- things with its own providers, URLs and load balancer.
local json = require "json"
local yaml = require "yaml"

local status_path, fleet_path, ferry_env = arg[1], arg[2], arg[3]
assert(status_path and fleet_path and ferry_env, "usage: ferry run fleet.lua -- STATUS-JSON FLEET-YAML FERRY-ENV")
local f = assert(io.open(status_path))
local s = json.decode(f:read("a"))
f:close()

local function cluster(name, provider)
  return {
    provider = provider,
    prometheus = { labels = { cluster = name } },
    -- ${cluster} and ${prometheus_url} in the tenants' manifests (their MetricTemplates)
    substitute = { cluster = name, prometheus_url = s.prometheus },
  }
end

local old = cluster("old", "existing")
old.context, old.kubeconfig = s.clusters.old.contexts.admin, s.kubeconfig

local fleet = {
  defaults = {
    region = "lab",
    version = s.clusters.new and s.clusters.new.version or nil,
    ferry_env = ferry_env,
    prometheus = { url = s.prometheus },
    flux = {
      manifests = s.flux_manifests,
      timeout = "5m",
      repo = { url = s.git.repos.fleet.http, branch = "main",
               secret = { username = s.git.username, token = s.git.token } },
    },
    validation = { namespaces = { "flux-system", "ingress" } },
    traffic = {
      driver = "haproxy", runtime_api = s.haproxy.runtime_api, backend = s.haproxy.backend,
      servers = { old = "old", new = "new" }, steps = { 10, 50, 100 }, pause = "5s", check_window = "30s",
    },
    compare_window = "1m",
    timeout = "5m",
    analysis_timeout = "5m",
  },
  regions = { lab = {} },
  clusters = { old = old, new = cluster("new", "ferry-env") },
  tenants = {
    ["tenant-core"] = { namespace = "tenant-core", workloads = "podinfo",
      repo = { url = s.git.repos["tenant-core"].http, branch = "main", path = "./staging/northeurope" } },
    ["tenant-data"] = { namespace = "tenant-data", workloads = "api",
      repo = { url = s.git.repos["tenant-data"].http, branch = "main", path = "./staging/northeurope" } },
  },
}

local out = assert(io.open(fleet_path, "w"))
out:write("# The lab's fleet (written by tests/env/lab/fleet.lua from `ferry-env status`).\n", yaml.encode(fleet))
out:close()
