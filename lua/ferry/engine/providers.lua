--- ferry.engine.providers: how a cluster is created and deleted. A provider is
-- {create = fn(ctx, name, settings) -> {context, kubeconfig, created},
--  delete = fn(ctx, name, settings) -> what it did}; created = false says the
-- cluster was there already (the run's journal keeps it, for delete). What
-- delete did is a sentence to follow the cluster's name ("was deleted
-- (k3d cluster delete)"), so a report says what happened, not what was asked.
--   existing   a context that already exists; never deleted by ferry
--   command    the team's own commands (eksctl, terraform, ...) from the fleet settings
--   k3d        k3d clusters, as the local setup of the multi-tenant GitOps demo makes them
--   ferry-env  the local control planes of tests/env
local errors = require "ferry.errors"
local command = require "ferry.engine.command"
local json = require "json"
local log = require "log"

local providers = {}

-- Runs a configured command ({cluster} and {version} are replaced).
local function run(argv, vars, setting)
  return command.run(argv, { vars = vars, setting = setting, kind = "provider", timeout = vars.timeout,
                             env = { FERRY_CLUSTER = vars.cluster, FERRY_VERSION = vars.version } })
end

providers.existing = {
  create = function(ctx, name, settings)
    local c = ctx.connect(name)
    local v = c:version()
    log.info("cluster %s exists (Kubernetes %s)", name, v.gitVersion)
    return { context = settings.context or name, kubeconfig = settings.kubeconfig }
  end,
  delete = function(_, name)
    local did = "was not created by ferry (provider existing): left as it is"
    log.warn("cluster %s %s", name, did)
    return did
  end,
}

providers.command = {
  create = function(_, name, settings)
    local vars = { cluster = name, version = settings.version }
    run(settings.create_command, vars, "create_command (provider command)")
    if settings.kubeconfig_command then run(settings.kubeconfig_command, vars, "kubeconfig_command") end
    return { context = settings.context or name, kubeconfig = settings.kubeconfig }
  end,
  delete = function(_, name, settings)
    run(settings.delete_command, { cluster = name, version = settings.version }, "delete_command (provider command)")
    return "was deleted (delete_command of provider command)"
  end,
}

providers.k3d = {
  create = function(_, name, settings)
    local argv = { "k3d", "cluster", "create", name, "--wait" }
    if settings.version then argv[#argv + 1] = "--image=rancher/k3s:" .. settings.version .. "-k3s1" end
    for _, a in ipairs(settings.k3d_args or {}) do argv[#argv + 1] = a end
    run(argv, { cluster = name }, "k3d")
    return { context = "k3d-" .. name }
  end,
  delete = function(_, name)
    run({ "k3d", "cluster", "delete", name }, { cluster = name }, "k3d")
    return "was deleted (k3d cluster delete)"
  end,
}

-- tests/env (and the lab): `ferry-env up NAME=VERSION` starts the control
-- plane if it is not running, `ferry-env down NAME` stops and removes it.
-- A cluster that was running before the run is not stopped: delete removes
-- what the run put on it (the namespaces it labelled) instead.
local function ferry_env(settings, ...)
  local script = settings.ferry_env or os.getenv("FERRY_ENV") or "tests/env/ferry-env"
  return run({ script, ... }, {}, "ferry-env")
end

providers["ferry-env"] = {
  create = function(_, name, settings)
    local status = json.decode(ferry_env(settings, "status").stdout)
    local cluster = status.clusters[name]
    local created = false
    if not cluster then
      ferry_env(settings, "up", settings.version and (name .. "=" .. settings.version) or name)
      status = json.decode(ferry_env(settings, "status").stdout)
      cluster, created = status.clusters[name], true
    end
    if not cluster then error(errors.new("provider", "ferry-env did not start cluster " .. name), 0) end
    return { context = cluster.contexts.admin, kubeconfig = status.kubeconfig, version = cluster.version,
             created = created }
  end,
  delete = function(ctx, name, settings)
    local made = ctx.state.clusters and ctx.state.clusters[name]
    if made and made.created then
      ferry_env(settings, "down", name)
      local did = string.format("was stopped and removed (ferry-env down %s)", name)
      log.info("cluster %s %s", name, did)
      return did
    end
    local c = ctx.connect(name)
    local selector = "ferry.dev/run=" .. tostring(ctx.run_id)
    for _, ns in ipairs(c:list { apiVersion = "v1", kind = "Namespace", labelSelector = selector }) do
      c:delete(ns, { missing_ok = true })
    end
    local did = "kept its control plane (ferry-env); the namespaces this run created were removed"
    log.info("cluster %s %s", name, did)
    return did
  end,
}

--- The provider of a name, or an error listing the known ones.
function providers.get(name)
  local p = providers[name or "existing"]
  if type(p) ~= "table" or not p.create then
    error(errors.new("provider", string.format("unknown provider '%s': use existing, command, k3d or ferry-env",
      tostring(name))), 0)
  end
  return p
end

return providers
