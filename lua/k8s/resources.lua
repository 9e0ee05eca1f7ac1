--- k8s.resources: get, list, create, replace, patch, delete — objects are
-- plain tables; a ref is {apiVersion, kind, name, namespace} or an object.
local discovery = require "k8s.discovery"
local errors = require "ferry.errors"
local http = require "http"
local json = require "json"
local task = require "task"
local duration = require "ferry.duration"
local timeutil = require "k8s.time"

local resources = {}

local PATCH_TYPES = {
  merge = "application/merge-patch+json",
  json = "application/json-patch+json",
  strategic = "application/strategic-merge-patch+json",
  apply = "application/apply-patch+yaml",
}

local function invalid(message)
  return errors.new("invalid", message)
end

--- Normalises a ref: the object's own fields, or metadata.name/namespace.
function resources.ref_of(ref)
  if type(ref) ~= "table" then
    error(invalid("a reference must be a table {apiVersion, kind, name, namespace} or an object"), 0)
  end
  local metadata = type(ref.metadata) == "table" and ref.metadata or {}
  return {
    apiVersion = ref.apiVersion, kind = ref.kind,
    name = ref.name or metadata.name,
    namespace = ref.namespace or metadata.namespace,
  }
end

--- "Deployment ns/name" — how objects are named in messages.
function resources.describe(ref)
  local r = resources.ref_of(ref)
  local name = r.namespace and (r.namespace .. "/" .. tostring(r.name)) or tostring(r.name)
  return string.format("%s %s", tostring(r.kind), name)
end

-- A path segment: ':' stays as it is (RFC 3986 allows it there), so a
-- proxied "https:web:443" reads as the API server expects.
local function escape(segment)
  return (http.escape(tostring(segment)):gsub("%%3A", ":"))
end

--- The API path of a kind (and optionally a namespace and a name).
function resources.path(c, mapping, namespace, name, subresource)
  local base = mapping.group == "" and ("/api/" .. mapping.version)
    or ("/apis/" .. mapping.group .. "/" .. mapping.version)
  local parts = { base }
  if mapping.namespaced and namespace then
    parts[#parts + 1] = "namespaces/" .. escape(namespace)
  end
  parts[#parts + 1] = mapping.resource
  if name then parts[#parts + 1] = escape(name) end
  if subresource then parts[#parts + 1] = subresource end
  return table.concat(parts, "/")
end

-- (mapping, namespace) of a ref; namespaced kinds default to the client's namespace.
local function locate(c, r)
  local mapping = discovery.resolve(c, r.apiVersion, r.kind)
  local namespace = nil
  if mapping.namespaced then namespace = r.namespace or c.namespace end
  return mapping, namespace
end
resources.locate = locate

local function named(r, what)
  if type(r.name) ~= "string" or r.name == "" then
    error(invalid(string.format("%s needs a name: {kind=%q, name=...}", what, tostring(r.kind))), 0)
  end
end

--- c:get(ref) -> object; raises {kind="api", reason="NotFound", status=404}.
function resources.get(c, ref)
  local r = resources.ref_of(ref)
  named(r, "get")
  local mapping, namespace = locate(c, r)
  return c:request { path = resources.path(c, mapping, namespace, r.name) }
end

--- c:find(ref) -> object or nil (nil only for NotFound).
function resources.find(c, ref)
  local ok, result = pcall(resources.get, c, ref)
  if ok then return result end
  if errors.is(result, "api") and errors.not_found(result) then return nil end
  error(result, 0)
end

--- c:list{apiVersion, kind, namespace, labelSelector, fieldSelector, limit,
-- all_namespaces} -> items (every page, following `continue`). The list's
-- resourceVersion is in the result's `resourceVersion` field.
function resources.list(c, options)
  options = options or {}
  local mapping = discovery.resolve(c, options.apiVersion, options.kind)
  local namespace = nil
  if mapping.namespaced and not options.all_namespaces then
    namespace = options.namespace or c.namespace
  end
  local path = resources.path(c, mapping, namespace)
  local items, continue, resource_version = json.array(), nil, nil
  local page_size = options.page_size or 500
  if options.limit ~= nil and (math.type(options.limit) ~= "integer" or options.limit < 1) then
    error(invalid("list limit must be a positive integer, got " .. tostring(options.limit)), 0)
  end
  repeat
    local remaining = options.limit and (options.limit - #items) or page_size
    local page = c:request { path = path, query = {
      labelSelector = options.labelSelector, fieldSelector = options.fieldSelector,
      limit = math.min(page_size, remaining), continue = continue,
    } }
    for _, item in ipairs(page.items or {}) do
      -- list items lack apiVersion/kind; give them back so they can be reused as refs
      item.apiVersion = item.apiVersion or mapping.apiVersion
      item.kind = item.kind or mapping.kind
      items[#items + 1] = item
    end
    local meta = page.metadata or {}
    continue = meta.continue ~= "" and meta.continue or nil
    resource_version = meta.resourceVersion
  until not continue or (options.limit and #items >= options.limit)
  return setmetatable(items, { __index = { resourceVersion = resource_version },
                               __jsontype = "array" })
end

local function with_query(options)
  local query = {}
  if options.dry_run then query.dryRun = "All" end
  if options.field_manager then query.fieldManager = options.field_manager end
  return query
end

--- c:create(obj, {dry_run, field_manager}) -> created object.
function resources.create(c, obj, options)
  options = options or {}
  local r = resources.ref_of(obj)
  local mapping, namespace = locate(c, r)
  return c:request { method = "POST", path = resources.path(c, mapping, namespace),
                     body = obj, query = with_query(options) }
end

--- c:replace(obj, {dry_run}) -> replaced object (PUT; needs metadata.resourceVersion
-- for optimistic concurrency, a 409 Conflict otherwise tells of a newer version).
function resources.replace(c, obj, options)
  options = options or {}
  local r = resources.ref_of(obj)
  named(r, "replace")
  local mapping, namespace = locate(c, r)
  return c:request { method = "PUT", path = resources.path(c, mapping, namespace, r.name),
                     body = obj, query = with_query(options) }
end

--- c:patch(ref, patch, {type = "merge"|"json"|"strategic", dry_run, subresource})
function resources.patch(c, ref, patch, options)
  options = options or {}
  local r = resources.ref_of(ref)
  named(r, "patch")
  local content_type = PATCH_TYPES[options.type or "merge"]
  if not content_type then
    error(invalid("patch type must be merge, json, strategic or apply, got " .. tostring(options.type)), 0)
  end
  local mapping, namespace = locate(c, r)
  return c:request { method = "PATCH", content_type = content_type,
                     path = resources.path(c, mapping, namespace, r.name, options.subresource),
                     body = type(patch) == "string" and patch or json.encode(patch),
                     query = with_query(options) }
end

--- c:delete(ref, {propagation = "Background"|"Foreground"|"Orphan", wait,
-- timeout, grace_period, missing_ok}) -> the server's answer, or nil when
-- missing_ok and already gone. wait=true returns once the object is gone.
function resources.delete(c, ref, options)
  options = options or {}
  local r = resources.ref_of(ref)
  named(r, "delete")
  local located, mapping, namespace = pcall(locate, c, r)
  if not located then
    -- a custom resource whose CRD is gone is gone too
    if options.missing_ok and errors.is(mapping, "unknown_kind") then return nil end
    error(mapping, 0)
  end
  local body = { apiVersion = "v1", kind = "DeleteOptions" }
  if options.propagation then body.propagationPolicy = options.propagation end
  if options.grace_period then body.gracePeriodSeconds = options.grace_period end
  if options.dry_run then body.dryRun = { "All" } end
  local ok, result = pcall(c.request, c, { method = "DELETE", body = body,
    path = resources.path(c, mapping, namespace, r.name) })
  if not ok then
    if options.missing_ok and errors.is(result, "api") and errors.not_found(result) then return nil end
    error(result, 0)
  end
  if options.wait and not options.dry_run then
    c:wait(r, { deleted = true, timeout = options.timeout or "5m" })
  end
  return result
end

--- c:events(ref) -> the Events about an object, oldest first.
function resources.events(c, ref)
  local r = resources.ref_of(ref)
  local selector = { "involvedObject.name=" .. tostring(r.name) }
  if r.kind then selector[#selector + 1] = "involvedObject.kind=" .. r.kind end
  local mapping = r.kind and discovery.resolve(c, r.apiVersion, r.kind)
  local namespace = mapping and mapping.namespaced and (r.namespace or c.namespace) or r.namespace
  local events = resources.list(c, {
    apiVersion = "v1", kind = "Event", namespace = namespace or "default",
    all_namespaces = namespace == nil, fieldSelector = table.concat(selector, ","),
  })
  local function when(e)
    return timeutil.parse(e.lastTimestamp or e.eventTime or
      (e.metadata and e.metadata.creationTimestamp) or "") or 0
  end
  table.sort(events, function(a, b) return when(a) < when(b) end)
  return events
end

--- c:logs{pod, container, namespace, tail, since, follow, on_line} -> text
-- (follow streams each line to on_line and returns when the stream ends).
function resources.logs(c, options)
  if type(options) ~= "table" or not options.pod then
    error(invalid("logs needs {pod = name}"), 0)
  end
  local namespace = options.namespace or c.namespace
  local since = duration.check(options.since, "c:logs", "since")
  local req = {
    path = string.format("/api/v1/namespaces/%s/pods/%s/log", escape(namespace), escape(options.pod)),
    query = { container = options.container, tailLines = options.tail,
              sinceSeconds = since and math.ceil(since), follow = options.follow and "true" or nil,
              timestamps = options.timestamps and "true" or nil },
    accept = "*/*", raw = true,
  }
  if options.follow then
    req.on_line = options.on_line or print
    req.timeout = duration.check(options.timeout, "c:logs", "timeout")
  end
  return c:request(req).body
end

--- c:proxy{service = "ns/name:port", path, query, method, body} -> body
-- through the API server's service proxy (no port-forward needed).
function resources.proxy(c, options)
  local namespace, name, port = tostring(options.service):match("^([^/]+)/([^:]+):?(.*)$")
  if not namespace then
    error(invalid("proxy service must look like 'namespace/name:port', got " .. tostring(options.service)), 0)
  end
  local target = port ~= "" and (name .. ":" .. port) or name
  local path = string.format("/api/v1/namespaces/%s/services/%s/proxy/%s", escape(namespace),
    escape(target), (options.path or ""):gsub("^/", ""))
  local response = c:request { method = options.method, path = path, query = options.query,
                               body = options.body, accept = "*/*", raw = true }
  return response.body, response
end

--- Runs fn over items with at most `limit` in flight (for bulk operations).
function resources.each_concurrently(items, limit, fn)
  local fns, results = {}, {}
  local next_index = 0
  local function worker()
    while true do
      next_index = next_index + 1
      local i = next_index
      if i > #items then return end
      results[i] = fn(items[i], i)
    end
  end
  for w = 1, math.min(limit, #items) do fns[w] = worker end
  task.all(fns)
  return results
end

return resources
