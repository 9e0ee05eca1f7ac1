--- ferry.testing.kinds: the kinds a fake cluster serves, and what the
-- fake needs to know of each -- the REST resource, scope, short names,
-- whether it has a status subresource and a metadata.generation -- plus
-- the list and map shapes that strategic merge patches and server-side
-- apply depend on (which lists are merged by key, which maps are atomic).
--
-- Custom resources get their entries from CustomResourceDefinitions
-- created in the fake, as on a real API server.
local kinds = {}

-- {group, version, kind, resource, namespaced, short names, flags}
-- flags: status (a status subresource), generation (metadata.generation)
local BUILTIN = {
  { "", "v1", "Namespace", "namespaces", false, { "ns" }, { status = true } },
  { "", "v1", "ConfigMap", "configmaps", true, { "cm" }, {} },
  { "", "v1", "Secret", "secrets", true, {}, {} },
  { "", "v1", "ServiceAccount", "serviceaccounts", true, { "sa" }, {} },
  { "", "v1", "Service", "services", true, { "svc" }, { status = true } },
  { "", "v1", "Pod", "pods", true, { "po" }, { status = true, generation = true } },
  { "", "v1", "Event", "events", true, { "ev" }, {} },
  { "", "v1", "Endpoints", "endpoints", true, { "ep" }, {} },
  { "", "v1", "Node", "nodes", false, { "no" }, { status = true } },
  { "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, { "pvc" }, { status = true } },
  { "", "v1", "PersistentVolume", "persistentvolumes", false, { "pv" }, { status = true } },
  { "", "v1", "ResourceQuota", "resourcequotas", true, { "quota" }, { status = true } },
  { "", "v1", "LimitRange", "limitranges", true, { "limits" }, {} },
  { "apps", "v1", "Deployment", "deployments", true, { "deploy" }, { status = true, generation = true } },
  { "apps", "v1", "StatefulSet", "statefulsets", true, { "sts" }, { status = true, generation = true } },
  { "apps", "v1", "DaemonSet", "daemonsets", true, { "ds" }, { status = true, generation = true } },
  { "apps", "v1", "ReplicaSet", "replicasets", true, { "rs" }, { status = true, generation = true } },
  { "apps", "v1", "ControllerRevision", "controllerrevisions", true, {}, {} },
  { "batch", "v1", "Job", "jobs", true, {}, { status = true, generation = true } },
  { "batch", "v1", "CronJob", "cronjobs", true, { "cj" }, { status = true, generation = true } },
  { "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, { "hpa" },
    { status = true, generation = true } },
  { "autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, { "hpa" },
    { status = true, generation = true } },
  { "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, { "pdb" },
    { status = true, generation = true } },
  { "networking.k8s.io", "v1", "Ingress", "ingresses", true, { "ing" }, { status = true, generation = true } },
  { "networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, {}, { generation = true } },
  { "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, { "netpol" }, { generation = true } },
  { "rbac.authorization.k8s.io", "v1", "Role", "roles", true, {}, {} },
  { "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, {}, {} },
  { "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, {}, {} },
  { "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, {}, {} },
  { "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false,
    { "crd", "crds" }, { status = true, generation = true } },
  { "coordination.k8s.io", "v1", "Lease", "leases", true, {}, {} },
  { "storage.k8s.io", "v1", "StorageClass", "storageclasses", false, { "sc" }, {} },
  { "scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, { "pc" }, {} },
  { "events.k8s.io", "v1", "Event", "events", true, { "ev" }, {} },
  { "admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
    false, {}, { generation = true } },
  { "admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
    false, {}, { generation = true } },
}

local ALL_VERBS = { "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch" }

local function entry(group, version, kind, resource, namespaced, short_names, flags)
  return {
    group = group, version = version, kind = kind, resource = resource, namespaced = namespaced,
    apiVersion = group == "" and version or (group .. "/" .. version),
    short_names = short_names or {}, singular = kind:lower(),
    status = flags.status or false, generation = flags.generation or false,
    builtin = flags.builtin ~= false, verbs = ALL_VERBS,
  }
end

--- A new registry holding the built-in kinds.
function kinds.new()
  local registry = { entries = {} }
  for _, b in ipairs(BUILTIN) do
    registry.entries[#registry.entries + 1] = entry(b[1], b[2], b[3], b[4], b[5], b[6], b[7])
  end
  return setmetatable(registry, { __index = kinds })
end

--- The entry of (apiVersion, kind), or nil.
function kinds:find(api_version, kind)
  for _, e in ipairs(self.entries) do
    if e.apiVersion == api_version and e.kind == kind then return e end
  end
end

--- The entry of a REST path's (group, version, resource), or nil.
function kinds:by_resource(group, version, resource)
  for _, e in ipairs(self.entries) do
    if e.group == group and e.version == version and e.resource == resource then return e end
  end
end

--- Where objects of a kind are stored: one store per (group, resource),
-- whatever the version they are read in.
function kinds.store_key(e)
  return e.group .. "/" .. e.resource
end

--- Adds (or replaces) the kinds a CustomResourceDefinition serves.
function kinds:add_crd(crd)
  local spec = crd.spec or {}
  local names = spec.names or {}
  self:remove_crd(crd)
  for _, v in ipairs(spec.versions or {}) do
    if v.served ~= false and names.kind and names.plural then
      local e = entry(spec.group, v.name, names.kind, names.plural, spec.scope ~= "Cluster",
        names.shortNames, { status = type(v.subresources) == "table" and v.subresources.status ~= nil,
                            generation = true, builtin = false })
      e.singular = names.singular or names.kind:lower()
      e.crd = crd.metadata.name
      self.entries[#self.entries + 1] = e
    end
  end
end

function kinds:remove_crd(crd)
  local kept = {}
  for _, e in ipairs(self.entries) do
    if e.crd ~= crd.metadata.name then kept[#kept + 1] = e end
  end
  self.entries = kept
end

-- The shapes of lists and maps in built-in kinds. A path is the list of
-- field names from the object's root, list positions left out:
-- {"spec", "template", "spec", "containers"}.

local function last(path, n)
  return path[#path - (n or 0)]
end

-- Keys of lists merged by key under server-side apply (their
-- x-kubernetes-list-map-keys). Service ports are keyed by port, container
-- ports by containerPort; both with the protocol, which defaults to TCP.
function kinds.apply_list_keys(e, path)
  if not e or not e.builtin then return nil end
  local name = last(path)
  if name == "containers" or name == "initContainers" or name == "ephemeralContainers"
      or name == "env" or name == "volumes" or name == "imagePullSecrets" then
    return { "name" }
  elseif name == "volumeMounts" then
    return { "mountPath" }
  elseif name == "conditions" then
    return { "type" }
  elseif name == "ownerReferences" then
    return { "uid" }
  elseif name == "hostAliases" then
    return { "ip" }
  elseif name == "ports" then
    if e.kind == "Service" then return { "port", "protocol" } end
    if last(path, 1) == "containers" or last(path, 1) == "initContainers" then
      return { "containerPort", "protocol" }
    end
  end
  return nil
end

-- Defaults that are part of a list item's key.
function kinds.key_defaults(keys)
  for _, k in ipairs(keys) do
    if k == "protocol" then return { protocol = "TCP" } end
  end
  return {}
end

-- Lists whose items are a set of scalars (fieldsV1 "v:" entries).
function kinds.is_set(_, path)
  return #path == 2 and path[1] == "metadata" and path[2] == "finalizers"
end

-- Maps owned as a whole (x-kubernetes-map-type: atomic): label selectors.
function kinds.is_atomic_map(e, path)
  if not e or not e.builtin then return false end
  local name = last(path)
  if name == "selector" then
    return e.kind ~= "Service"
  end
  return name == "podSelector" or name == "namespaceSelector" or name == "labelSelector"
end

-- Maps with free-form keys (map[string]string and the like), owned
-- through "." by the write that creates them. Custom resources have no
-- schema here: every map of theirs is one.
local FREE_MAPS = { labels = true, annotations = true, data = true, binaryData = true, stringData = true,
                    matchLabels = true, nodeSelector = true, limits = true, requests = true }

function kinds.is_free_map(e, path)
  if not e or not e.builtin then return true end
  local name = last(path)
  return FREE_MAPS[name] or (name == "selector" and e.kind == "Service") or false
end

-- Keys of lists that strategic merge patches merge by key
-- (patchMergeKey), for built-in kinds only.
function kinds.strategic_list_key(e, path)
  if not e or not e.builtin then return nil end
  local name = last(path)
  if name == "containers" or name == "initContainers" or name == "ephemeralContainers"
      or name == "env" or name == "volumes" or name == "imagePullSecrets" then
    return "name"
  elseif name == "volumeMounts" then
    return "mountPath"
  elseif name == "conditions" then
    return "type"
  elseif name == "ownerReferences" then
    return "uid"
  elseif name == "ports" then
    if e.kind == "Service" then return "port" end
    return "containerPort"
  elseif name == "finalizers" and #path == 2 then
    return true -- a set of scalars: merged as a union
  end
  return nil
end

return kinds
