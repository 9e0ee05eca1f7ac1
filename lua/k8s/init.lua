--- k8s: a Kubernetes client for recipes and the REPL.
--
--   local k8s = require "k8s"
--   local c = k8s.connect { context = "prod-eun-2" }
--   for _, d in ipairs(c:list { kind = "Deployment", namespace = "flux-system" }) do ... end
--
-- Clients are independent: several clusters side by side, none changes the
-- kubeconfig's current-context. See docs/modules/k8s.md.
local apply = require "k8s.apply"
local auth = require "k8s.auth"
local client = require "k8s.client"
local config = require "k8s.config"
local deprecations = require "k8s.deprecations"
local discovery = require "k8s.discovery"
local duration = require "ferry.duration"
local errors = require "ferry.errors"
local file = require "ferry.file"
local resources = require "k8s.resources"
local status = require "k8s.status"
local wait = require "k8s.wait"
local watch = require "k8s.watch"

local k8s = {
  config = config,
  status = status,
  time = require "k8s.time",
}

local Client = client.Client

Client.get = resources.get
Client.find = resources.find
Client.list = resources.list
Client.create = resources.create
Client.replace = resources.replace
Client.patch = resources.patch
Client.delete = resources.delete
Client.events = resources.events
Client.logs = resources.logs
Client.proxy = resources.proxy
Client.apply = apply.apply
Client.watch = watch.watch
Client.wait = wait.wait

--- c:resource(apiVersion, kind) -> the discovery mapping of a kind.
function Client:resource(api_version, kind)
  return discovery.resolve(self, api_version, kind)
end

--- c:refresh_discovery() -> forgets the cached discovery (after CRD changes
-- made elsewhere); the next lookup reads it again.
function Client:refresh_discovery()
  discovery.invalidate(self)
end

--- c:kinds() -> every kind the cluster serves (from discovery).
function Client:kinds()
  return discovery.entries(self)
end

--- c:ready(obj_or_ref) -> ok, reason (fetches the object when given a ref).
function Client:ready(ref)
  local obj = ref
  if not (type(ref) == "table" and ref.status) then obj = resources.find(self, ref) end
  return status.ready(obj)
end

function Client:__tostring()
  return string.format("k8s client %s (%s, namespace %s)", self.name, self.server, self.namespace)
end

local function in_cluster_wanted(options)
  if options.in_cluster then return true end
  if options.in_cluster == false or options.kubeconfig or options.context then return false end
  if not os.getenv("KUBERNETES_SERVICE_HOST") then return false end
  for _, path in ipairs(config.paths()) do
    if file.exists(path) then return false end
  end
  return true
end

--- k8s.connect{context, kubeconfig, namespace, in_cluster, server, qps,
-- burst, retries, timeout, stall_timeout, max_body_bytes} -> client.
-- server overrides the cluster's URL; timeout ("1m") bounds each plain
-- request, stall_timeout ("30s") one where less than a byte a second moves,
-- max_body_bytes (64 MiB) an answer's size (0 lifts each); watches and
-- followed logs have limits of their own (docs/modules/k8s.md). With no
-- kubeconfig and KUBERNETES_SERVICE_HOST set (inside a pod), the service
-- account is used.
function k8s.connect(options)
  options = options or {}
  if type(options) == "string" then options = { context = options } end
  local resolved
  if in_cluster_wanted(options) then
    local why
    resolved, why = config.in_cluster(options.service_account_dir)
    if not resolved then
      error(errors.new("kubeconfig", "in-cluster configuration unavailable: " .. why), 0)
    end
  else
    resolved = config.resolve(config.load { kubeconfig = options.kubeconfig }, options.context)
  end
  if options.server then
    -- e.g. through a port-forward or proxy; TLS still checks the cluster's CA
    local cluster = {}
    for k, v in pairs(resolved.cluster) do cluster[k] = v end
    cluster.server = options.server
    resolved.cluster = cluster
  end
  local c = client.new(auth.new(resolved), {
    name = resolved.name,
    namespace = options.namespace or resolved.namespace,
    qps = options.qps, burst = options.burst, retries = options.retries,
    timeout = duration.check(options.timeout, "k8s.connect", "timeout"),
    stall_timeout = duration.check(options.stall_timeout, "k8s.connect", "stall_timeout"),
    max_body_bytes = options.max_body_bytes,
  })
  return c
end

--- k8s.deprecations(client_or_objects, target_version_or_client) -> findings.
k8s.deprecations = deprecations.check

--- k8s.describe(ref) -> "Kind namespace/name".
k8s.describe = resources.describe

return k8s
