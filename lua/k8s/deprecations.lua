--- k8s.deprecations: which objects use API versions that a target
-- Kubernetes version no longer serves, and what replaces them — the
-- preflight check of an upgrade. The table below is the upstream
-- deprecation guide (kubernetes.io/docs/reference/using-api/deprecation-guide).
local discovery = require "k8s.discovery"
local errors = require "ferry.errors"
local json = require "json"

local deprecations = {}

-- {apiVersion, kinds (nil = every kind of that version), removed in, replacement}
local REMOVED = {
  { "extensions/v1beta1", { "Deployment", "DaemonSet", "ReplicaSet" }, "1.16", "apps/v1" },
  { "extensions/v1beta1", { "NetworkPolicy" }, "1.16", "networking.k8s.io/v1" },
  { "extensions/v1beta1", { "PodSecurityPolicy" }, "1.16", "policy/v1beta1" },
  { "apps/v1beta1", nil, "1.16", "apps/v1" },
  { "apps/v1beta2", nil, "1.16", "apps/v1" },
  { "extensions/v1beta1", { "Ingress" }, "1.22", "networking.k8s.io/v1" },
  { "networking.k8s.io/v1beta1", nil, "1.22", "networking.k8s.io/v1" },
  { "admissionregistration.k8s.io/v1beta1", nil, "1.22", "admissionregistration.k8s.io/v1" },
  { "apiextensions.k8s.io/v1beta1", nil, "1.22", "apiextensions.k8s.io/v1" },
  { "apiregistration.k8s.io/v1beta1", nil, "1.22", "apiregistration.k8s.io/v1" },
  { "authentication.k8s.io/v1beta1", nil, "1.22", "authentication.k8s.io/v1" },
  { "authorization.k8s.io/v1beta1", nil, "1.22", "authorization.k8s.io/v1" },
  { "certificates.k8s.io/v1beta1", nil, "1.22", "certificates.k8s.io/v1" },
  { "coordination.k8s.io/v1beta1", nil, "1.22", "coordination.k8s.io/v1" },
  { "rbac.authorization.k8s.io/v1beta1", nil, "1.22", "rbac.authorization.k8s.io/v1" },
  { "scheduling.k8s.io/v1beta1", nil, "1.22", "scheduling.k8s.io/v1" },
  { "storage.k8s.io/v1beta1", { "CSIDriver", "CSINode", "StorageClass", "VolumeAttachment" }, "1.22",
    "storage.k8s.io/v1" },
  { "batch/v1beta1", nil, "1.25", "batch/v1" },
  { "discovery.k8s.io/v1beta1", nil, "1.25", "discovery.k8s.io/v1" },
  { "events.k8s.io/v1beta1", nil, "1.25", "events.k8s.io/v1" },
  { "autoscaling/v2beta1", nil, "1.25", "autoscaling/v2" },
  { "policy/v1beta1", { "PodDisruptionBudget" }, "1.25", "policy/v1" },
  { "policy/v1beta1", { "PodSecurityPolicy" }, "1.25", nil },
  { "node.k8s.io/v1beta1", nil, "1.25", "node.k8s.io/v1" },
  { "flowcontrol.apiserver.k8s.io/v1beta1", nil, "1.26", "flowcontrol.apiserver.k8s.io/v1" },
  { "autoscaling/v2beta2", nil, "1.26", "autoscaling/v2" },
  { "storage.k8s.io/v1beta1", { "CSIStorageCapacity" }, "1.27", "storage.k8s.io/v1" },
  { "flowcontrol.apiserver.k8s.io/v1beta2", nil, "1.29", "flowcontrol.apiserver.k8s.io/v1" },
  { "flowcontrol.apiserver.k8s.io/v1beta3", nil, "1.32", "flowcontrol.apiserver.k8s.io/v1" },
}

--- "v1.36.3", "1.36", {major="1", minor="36+"} -> 1, 36 (numbers).
function deprecations.parse_version(v)
  if type(v) == "table" then
    return tonumber(tostring(v.major):match("%d+")), tonumber(tostring(v.minor):match("%d+"))
  end
  local major, minor = tostring(v):match("^v?(%d+)%.(%d+)")
  if not major then
    error(errors.new("invalid", "a Kubernetes version looks like 1.36 or v1.36.3, got " .. tostring(v)), 0)
  end
  return tonumber(major), tonumber(minor)
end

local function at_least(major, minor, version)
  local vmajor, vminor = version:match("^(%d+)%.(%d+)$")
  vmajor, vminor = tonumber(vmajor), tonumber(vminor)
  return major > vmajor or (major == vmajor and minor >= vminor)
end

local function rule_for(api_version, kind)
  for _, rule in ipairs(REMOVED) do
    if rule[1] == api_version then
      if not rule[2] then return rule end
      for _, k in ipairs(rule[2]) do
        if k == kind then return rule end
      end
    end
  end
  return nil
end

local function finding(obj, api_version, rule, source)
  local metadata = obj.metadata or {}
  return {
    kind = obj.kind, name = metadata.name, namespace = metadata.namespace,
    apiVersion = api_version, removed_in = rule and rule[3], replacement = rule and rule[4],
    source = source,
  }
end

-- The API versions an object was written with: its own, the last-applied
-- annotation's, and each field manager's.
local function versions_of(obj)
  local seen, list = {}, {}
  local function add(v, source)
    if type(v) == "string" and not seen[v] then
      seen[v] = true
      list[#list + 1] = { v, source }
    end
  end
  add(obj.apiVersion, "manifest")
  local metadata = obj.metadata or {}
  local annotations = metadata.annotations or {}
  local last = annotations["kubectl.kubernetes.io/last-applied-configuration"]
  if type(last) == "string" then
    local ok, decoded = pcall(json.decode, last)
    if ok and type(decoded) == "table" then add(decoded.apiVersion, "last-applied-configuration") end
  end
  for _, entry in ipairs(type(metadata.managedFields) == "table" and metadata.managedFields or {}) do
    add(entry.apiVersion, "managedFields (" .. tostring(entry.manager) .. ")")
  end
  return list
end

local function live_objects(c)
  local objects = {}
  for _, entry in ipairs(discovery.entries(c)) do
    local listable = false
    for _, verb in ipairs(entry.verbs) do listable = listable or verb == "list" end
    if entry.preferred and listable and entry.kind ~= "Event" then
      local ok, items = pcall(c.list, c, { apiVersion = entry.apiVersion, kind = entry.kind,
                                            all_namespaces = true })
      if ok then
        for _, item in ipairs(items) do objects[#objects + 1] = item end
      end
    end
  end
  return objects
end

--- k8s.deprecations(client_or_objects, target) -> findings: every object
-- written with an API version the target no longer serves:
-- {kind, name, namespace, apiVersion, removed_in, replacement, source}.
-- target: "1.36", "v1.36.3", or a client of the target cluster (then its
-- discovery is asked too, which also catches CRD versions it dropped).
-- Objects may be a list of tables or YAML text; a client means the live
-- objects of that cluster (their last-applied and managedFields versions).
function deprecations.check(source, target)
  local target_client = type(target) == "table" and target.request and target or nil
  local major, minor = deprecations.parse_version(target_client and target_client:version() or target)
  local objects
  if type(source) == "table" and source.request then
    objects = live_objects(source)
  else
    objects = require("k8s.apply").objects_of(source)
  end
  local findings = {}
  for _, obj in ipairs(objects) do
    for _, pair in ipairs(versions_of(obj)) do
      local api_version, origin = pair[1], pair[2]
      local rule = rule_for(api_version, obj.kind)
      if rule and at_least(major, minor, rule[3]) then
        findings[#findings + 1] = finding(obj, api_version, rule, origin)
      elseif not rule and target_client and discovery.serves_group(target_client, api_version)
          and not discovery.serves(target_client, api_version) then
        findings[#findings + 1] = finding(obj, api_version, nil, origin)
      end
    end
  end
  return findings
end

return deprecations
