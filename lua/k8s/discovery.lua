--- k8s.discovery: which kinds a cluster serves, under which resource names
-- and scopes — read from the server (aggregated discovery, with the older
-- per-group documents as a fallback), cached per client, refreshed when a
-- kind is unknown (e.g. right after its CRD was installed).
local errors = require "ferry.errors"

local discovery = {}

local AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
  .. "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
local MIN_REFRESH_INTERVAL = 1 -- seconds between refreshes caused by unknown kinds

local function group_version(group, version)
  return group == "" and version or (group .. "/" .. version)
end

local function add_resource(index, group, version, r, preferred)
  if r.resource:find("/", 1, true) then return end -- subresources (pods/log)
  local kind = r.kind
  local entry = {
    group = group, version = version, apiVersion = group_version(group, version),
    kind = kind, resource = r.resource, namespaced = r.namespaced, verbs = r.verbs or {},
    short_names = r.short_names or {}, singular = r.singular, preferred = preferred,
  }
  index.by_gvk[entry.apiVersion .. "|" .. kind] = entry
  local same_kind = index.by_kind[kind] or {}
  same_kind[#same_kind + 1] = entry
  index.by_kind[kind] = same_kind
  index.by_resource[entry.apiVersion .. "|" .. r.resource] = entry
  index.all[#index.all + 1] = entry
end

local function new_index()
  return { by_gvk = {}, by_kind = {}, by_resource = {}, all = {}, groups = {} }
end

-- Aggregated discovery (Kubernetes 1.26+): two requests for everything.
local function read_aggregated(list, index)
  for _, item in ipairs(list.items or {}) do
    local group = item.metadata and item.metadata.name or ""
    index.groups[group] = {}
    for i, v in ipairs(item.versions or {}) do
      index.groups[group][#index.groups[group] + 1] = v.version
      for _, r in ipairs(v.resources or {}) do
        local rk = r.responseKind or {}
        add_resource(index, group, v.version, {
          resource = r.resource, kind = rk.kind, namespaced = r.scope == "Namespaced",
          verbs = r.verbs, short_names = r.shortNames, singular = r.singularResource,
        }, i == 1)
      end
    end
  end
end

local function read_resource_list(c, index, group, version, preferred)
  local list = c:request { path = (group == "" and "/api/" or "/apis/" .. group .. "/") .. version }
  for _, r in ipairs(list.resources or {}) do
    add_resource(index, group, version, {
      resource = r.name, kind = r.kind, namespaced = r.namespaced, verbs = r.verbs,
      short_names = r.shortNames, singular = r.singularName,
    }, preferred)
  end
end

-- The per-group documents of older servers.
local function read_legacy(c, core, groups, index)
  index.groups[""] = {}
  for i, version in ipairs(core.versions or {}) do
    index.groups[""][#index.groups[""] + 1] = version
    read_resource_list(c, index, "", version, i == 1)
  end
  for _, g in ipairs(groups.groups or {}) do
    index.groups[g.name] = {}
    local preferred = g.preferredVersion and g.preferredVersion.version
    for _, v in ipairs(g.versions or {}) do
      index.groups[g.name][#index.groups[g.name] + 1] = v.version
      read_resource_list(c, index, g.name, v.version, v.version == preferred)
    end
  end
end

-- A discovery document of one of the kinds asked for, or an error naming
-- the request and the cluster (an empty index would read as "the cluster
-- does not serve" every kind).
local function document(c, path, kinds)
  local doc = c:request { path = path, accept = AGGREGATED }
  for _, kind in ipairs(kinds) do
    if type(doc) == "table" and doc.kind == kind then return doc end
  end
  local got = type(doc) == "table" and ("kind " .. tostring(doc.kind)) or type(doc)
  error(errors.new("api", string.format("the answer is not a discovery document (%s, expected %s) (GET %s on %s)",
    got, table.concat(kinds, " or "), path, c.name), { reason = "NotDiscovery", method = "GET", path = path,
    context = c.name }), 0)
end

--- Reads the server's discovery documents into a fresh index.
function discovery.load(c)
  local index = new_index()
  local core = document(c, "/api", { "APIGroupDiscoveryList", "APIVersions" })
  local groups = document(c, "/apis", { "APIGroupDiscoveryList", "APIGroupList" })
  if core.kind == "APIGroupDiscoveryList" and groups.kind == "APIGroupDiscoveryList" then
    read_aggregated(core, index)
    read_aggregated(groups, index)
  else
    read_legacy(c, core, groups, index)
  end
  index.loaded_at = require("ferry.sys").monotonic()
  return index
end

local function index_of(c)
  if not c.discovery_index then c.discovery_index = discovery.load(c) end
  return c.discovery_index
end

--- Forgets the cached discovery of a client.
function discovery.invalidate(c)
  c.discovery_index = nil
end

local function refresh(c)
  local index = c.discovery_index
  local sys = require "ferry.sys"
  if index and sys.monotonic() - index.loaded_at < MIN_REFRESH_INTERVAL then return false end
  c.discovery_index = discovery.load(c)
  return true
end

local function lookup(index, api_version, kind)
  if api_version then return index.by_gvk[api_version .. "|" .. kind] end
  local candidates = index.by_kind[kind]
  if not candidates then return nil end
  for _, e in ipairs(candidates) do
    if e.preferred then return e end
  end
  return candidates[1]
end

--- The mapping of (apiVersion, kind): {resource, namespaced, group,
-- version, apiVersion, kind, verbs}. apiVersion may be nil (the preferred
-- version of the kind). Raises {kind="unknown_kind"} when the cluster does
-- not serve it, after one refresh of discovery.
function discovery.resolve(c, api_version, kind)
  if type(kind) ~= "string" or kind == "" then
    error(errors.new("invalid", "the object or reference has no kind"), 0)
  end
  local entry = lookup(index_of(c), api_version, kind)
  if entry then return entry end
  if refresh(c) then
    entry = lookup(c.discovery_index, api_version, kind)
    if entry then return entry end
  end
  local served = {}
  for _, e in ipairs(c.discovery_index.by_kind[kind] or {}) do served[#served + 1] = e.apiVersion end
  local hint = #served > 0 and (" (it serves " .. kind .. " as " .. table.concat(served, ", ") .. ")")
    or " (is its CustomResourceDefinition installed?)"
  error(errors.new("unknown_kind", string.format("cluster %s does not serve %s%s%s", c.name,
    api_version and (api_version .. " ") or "", kind, hint),
    { apiVersion = api_version, object_kind = kind, context = c.name }), 0)
end

--- Finds a kind by kind name, resource name, singular or short name
-- ("deploy", "deployments", "Deployment"), for the REPL and CLI.
function discovery.find(c, name)
  local index = index_of(c)
  local lower = name:lower()
  for _, e in ipairs(index.all) do
    if e.preferred and (e.kind:lower() == lower or e.resource == lower or e.singular == lower) then
      return e
    end
  end
  for _, e in ipairs(index.all) do
    for _, short in ipairs(e.short_names) do
      if short == lower then return e end
    end
  end
  return nil
end

--- Every served (apiVersion, kind) entry.
function discovery.entries(c)
  return index_of(c).all
end

--- Whether the cluster serves any version of apiVersion's group (a group
-- it lacks entirely is a CRD not installed yet, not a removal).
function discovery.serves_group(c, api_version)
  local group = api_version:match("^(.-)/?[^/]+$")
  return index_of(c).groups[group] ~= nil
end

--- Whether the cluster serves apiVersion (e.g. "autoscaling/v2beta2").
function discovery.serves(c, api_version)
  local index = index_of(c)
  local group, version = api_version:match("^(.-)/?([^/]+)$")
  for _, v in ipairs(index.groups[group] or {}) do
    if v == version then return true end
  end
  return false
end

return discovery
