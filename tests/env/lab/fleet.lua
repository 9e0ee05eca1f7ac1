-- fleet.lua STATUS-JSON FLEET-YAML FERRY-ENV NEW-ADDRESSES-JSON: writes the lab's fleet file
-- from `ferry-env status`: clusters old (in service) and new (made by the
-- ferry-env provider), the two tenants of the lab's Git server, Prometheus,
-- and HAProxy as the traffic driver. A real fleet file names the same
-- things with its own providers, URLs and load balancer.
local json = require "json"
local yaml = require "yaml"

local status_path, fleet_path, ferry_env, new_path = arg[1], arg[2], arg[3], arg[4]
assert(status_path and fleet_path and ferry_env and new_path,
  "usage: ferry run fleet.lua -- STATUS-JSON FLEET-YAML FERRY-ENV NEW-ADDRESSES-JSON")
local function read_json(path)
  local f = assert(io.open(path))
  local value = json.decode(f:read("a"))
  f:close()
  return value
end
local s = read_json(status_path)
-- `ferry-env reserve new`: the entry point and load tester new will have
local new_addresses = read_json(new_path)

local TENANTS = { "tenant-core", "tenant-data" }
local PROBE = ferry_env:gsub("ferry%-env$", "lab/probe")

-- validate-cluster's probes of a cluster: its entry point answers for every
-- tenant (from the tenant's app on that cluster), and HAProxy's backend has
-- the cluster's server, health-checked up.
local function probes(name)
  local list = {}
  for _, tenant in ipairs(TENANTS) do
    list[#list + 1] = { name = "entry point of " .. name .. " answers for " .. tenant,
                        argv = { PROBE, ferry_env, "entry", name, tenant }, timeout = 30 }
  end
  list[#list + 1] = { name = "HAProxy's backend sees " .. name .. " up",
                      argv = { PROBE, ferry_env, "haproxy", name }, timeout = 30 }
  return list
end

local function cluster(name, provider, addresses)
  return {
    provider = provider,
    prometheus = { labels = { cluster = name } },
    -- ${cluster} and ${prometheus_url} in the tenants' manifests (their MetricTemplates),
    -- ${loadtester_url} and ${ingress_url} in their Canaries' webhooks
    substitute = { cluster = name, prometheus_url = s.prometheus,
                   loadtester_url = addresses.loadtester, ingress_url = addresses.ingress },
    validation = { probes = probes(name) },
  }
end

local old = cluster("old", "existing", s.clusters.old)
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
      servers = { old = "old", new = "new" }, steps = { 10, 50, 100 }, pause = "10s", check_window = "30s",
    },
    compare_window = "1m",
    -- The stock checks against real traffic split by weight: before the
    -- switch new serves only the smoke traffic, after it nearly everything,
    -- so its request rate and the CPU it spends follow the weight, not the
    -- health of its apps. The lab asks that new serves at all, and that its
    -- apps spend at most a twentieth of a core more than old's (podinfo
    -- itself uses about a hundredth; FAIL=cpu stresses a whole core).
    thresholds = { request_rate = { min = 0.5 }, cpu = { max_delta = 0.05 } },
    timeout = "5m",
    analysis_timeout = "5m",
  },
  regions = { lab = {} },
  clusters = { old = old, new = cluster("new", "ferry-env", new_addresses) },
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
