--- ferry.testing.server: an in-memory Kubernetes API server -- the
-- storage, REST semantics and errors behind ferry.testing.fake_cluster().
--
-- It answers the requests a k8s client sends (method, path, query, body)
-- with what kube-apiserver answers: objects with uid, creationTimestamp,
-- generation and a resourceVersion that grows with every write; Status
-- errors with the same code, reason, message and details (NotFound,
-- AlreadyExists, Conflict on a stale resourceVersion, Invalid names,
-- field manager conflicts of server-side apply); lists with pages and
-- selectors; watches from a resourceVersion, 410 Gone once compacted;
-- discovery of the built-in kinds and of those CRDs add. No controllers
-- run: a Deployment never becomes ready by itself (the test says when,
-- see FakeCluster:set_status), and deleting an object deletes what it
-- owns at once, as garbage collection would later.
local base64 = require "base64"
local fields = require "ferry.testing.fields"
local http = require "http"
local json = require "json"
local kinds = require "ferry.testing.kinds"
local patch = require "ferry.testing.patch"
local selectors = require "ferry.testing.selectors"
local task = require "task"
local values = require "ferry.testing.values"
local yaml = require "yaml"
local sys = require "ferry.sys"

local server = {}

local Server = {}
Server.__index = Server

local null = json.null

local SYSTEM_NAMESPACES = { "default", "kube-system", "kube-public", "kube-node-lease" }

-- Responses ------------------------------------------------------------

local function ok(body, code)
  return { status = code or 200, body = body }
end

local function failure(code, reason, message, details)
  local body = { kind = "Status", apiVersion = "v1", metadata = json.object(), status = "Failure",
                 message = message, reason = reason, details = details, code = code }
  return { status = code, body = body }
end

local function qualified(e)
  return e.group == "" and e.resource or (e.resource .. "." .. e.group)
end

local function details_of(e, name)
  return { name = name, group = e.group ~= "" and e.group or nil, kind = e.resource }
end

local function not_found(e, name)
  return failure(404, "NotFound", string.format('%s "%s" not found', qualified(e), name), details_of(e, name))
end

local function namespace_not_found(name)
  return failure(404, "NotFound", string.format('namespaces "%s" not found', name),
    { name = name, kind = "namespaces" })
end

local function already_exists(e, name)
  return failure(409, "AlreadyExists", string.format('%s "%s" already exists', qualified(e), name),
    details_of(e, name))
end

local function conflict(e, name)
  return failure(409, "Conflict", string.format('Operation cannot be fulfilled on %s "%s": the object has been '
    .. "modified; please apply your changes to the latest version and try again", qualified(e), name),
    details_of(e, name))
end

local function invalid(e, name, causes)
  local texts = {}
  for _, c in ipairs(causes) do texts[#texts + 1] = c.field .. ": " .. c.message end
  local message
  if #texts == 1 then
    message = string.format('%s "%s" is invalid: %s', e.kind, name or "", texts[1])
  else
    message = string.format('%s "%s" is invalid: [%s]', e.kind, name or "", table.concat(texts, ", "))
  end
  return failure(422, "Invalid", message, { name = name ~= "" and name or nil,
    group = e.group ~= "" and e.group or nil, kind = e.kind, causes = causes })
end

local function bad_request(message)
  return failure(400, "BadRequest", message, nil)
end

-- Names ----------------------------------------------------------------

local SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
  .. "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
  .. "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
local LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
  .. "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
  .. "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
local DNS1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
  .. "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used "
  .. "for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

local function is_label(s)
  return s:match("^[a-z0-9]$") ~= nil or s:match("^[a-z0-9][-a-z0-9]*[a-z0-9]$") ~= nil
end

local function is_subdomain(s)
  for part in (s .. "."):gmatch("([^.]*)%.") do
    if not is_label(part) then return false end
  end
  return true
end

-- The causes for an invalid metadata.name, or nil.
local function name_problems(e, name)
  local causes = {}
  local function add(message)
    causes[#causes + 1] = { reason = "FieldValueInvalid", field = "metadata.name",
                            message = string.format('Invalid value: "%s": %s', name, message) }
  end
  if e.kind == "Namespace" then
    if #name > 63 then add("must be no more than 63 characters") end
    if name:find(".", 1, true) then
      add("must not contain dots")
    elseif not is_label(name) then
      add(LABEL)
    end
  elseif e.kind == "Service" then
    if #name > 63 then add("must be no more than 63 characters") end
    if not (name:match("^[a-z]$") or name:match("^[a-z][-a-z0-9]*[a-z0-9]$")) then add(DNS1035) end
  else
    if #name > 253 then add("must be no more than 253 characters") end
    if not is_subdomain(name) then add(SUBDOMAIN) end
  end
  return #causes > 0 and causes or nil
end

local GENERATED = "bcdfghjklmnpqrstvwxz2456789"

local function generated_name(prefix)
  local chars = {}
  for i = 1, 5 do
    local n = math.random(1, #GENERATED)
    chars[i] = GENERATED:sub(n, n)
  end
  return prefix .. table.concat(chars)
end

-- The server -----------------------------------------------------------

--- A new server. options: name, version ("1.35.4" or {major, minor,
-- gitVersion, ...}), history (how many events watches can resume from).
function server.new(options)
  options = options or {}
  local version = options.version or "1.35.4"
  if type(version) == "string" then
    local major, minor = version:match("^v?(%d+)%.(%d+)")
    version = { major = major or "1", minor = minor or "35", gitVersion = "v" .. version:gsub("^v", ""),
                platform = "linux/amd64", goVersion = "go1.25.0", compiler = "gc",
                buildDate = "2026-01-01T00:00:00Z", gitTreeState = "clean", gitCommit = "fake" }
  end
  local self = setmetatable({
    name = options.name or "fake",
    kinds = kinds.new(),
    objects = {},   -- [store key][namespace or ""][name] = object
    revision = 0,
    history = {},   -- watch events, oldest first: {rv, store_key, type, object}
    history_limit = options.history or 10000,
    oldest = 1,     -- the oldest resourceVersion a watch can start after
    waiters = {},
    version = version,
    logs = {},
    -- clients whose discovery cache goes stale when CRDs come and go
    clients = setmetatable({}, { __mode = "k" }),
  }, Server)
  for _, ns in ipairs(SYSTEM_NAMESPACES) do
    self:create_object(self.kinds:find("v1", "Namespace"), nil,
      { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }, { manager = "kube-apiserver" })
  end
  return self
end

local function bucket(self, e, namespace)
  local key = kinds.store_key(e)
  self.objects[key] = self.objects[key] or {}
  local ns = e.namespaced and namespace or ""
  self.objects[key][ns] = self.objects[key][ns] or {}
  return self.objects[key][ns]
end

function Server:lookup(e, namespace, name)
  return bucket(self, e, namespace)[name]
end

-- Every object of a kind, sorted by namespace and name (etcd's order).
function Server:all(e, namespace)
  local out = {}
  local by_ns = self.objects[kinds.store_key(e)] or {}
  local namespaces = {}
  for ns in pairs(by_ns) do
    if not (e.namespaced and namespace) or ns == namespace then namespaces[#namespaces + 1] = ns end
  end
  table.sort(namespaces)
  for _, ns in ipairs(namespaces) do
    local names = {}
    for name in pairs(by_ns[ns]) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do out[#out + 1] = by_ns[ns][name] end
  end
  return out
end

-- Wakes the watches waiting for a change.
function Server:notify()
  for ch in pairs(self.waiters) do
    self.waiters[ch] = nil
    if ch:empty() then ch:put(true) end
  end
end

function Server:record(e, event_type, obj)
  self.history[#self.history + 1] = {
    rv = tonumber(obj.metadata.resourceVersion), store_key = kinds.store_key(e),
    type = event_type, object = values.copy(obj),
  }
  while #self.history > self.history_limit do
    local dropped = table.remove(self.history, 1)
    self.oldest = dropped.rv
  end
  self:notify()
end

--- Forgets the watch history: watches from an older resourceVersion get
-- 410 Gone (as after etcd compaction).
function Server:compact()
  if #self.history > 0 then
    self.oldest = self.history[#self.history].rv
  else
    self.oldest = self.revision
  end
  self.history = {}
end

-- The kinds changed (a CRD was added or removed): clients forget what
-- discovery told them, as they would find out on their next refresh.
function Server:kinds_changed()
  local discovery = require "k8s.discovery"
  for c in pairs(self.clients) do discovery.invalidate(c) end
end

function Server:next_revision()
  self.revision = self.revision + 1
  return tostring(self.revision)
end

-- How an object of a kind looks when created: the defaults a real server
-- adds that recipes read.
-- Those a real server does not count as the creator's fields come
-- `late`, after field ownership is recorded.
local function with_defaults(self, e, obj, late)
  local kind = e.kind
  if late then
    if kind == "Namespace" then
      obj.spec = obj.spec or json.object()
      obj.spec.finalizers = obj.spec.finalizers or json.array({ "kubernetes" })
    end
    return obj
  end
  if kind == "Namespace" then
    obj.metadata.labels = obj.metadata.labels or json.object()
    obj.metadata.labels["kubernetes.io/metadata.name"] = obj.metadata.name
  elseif kind == "Service" then
    obj.spec = obj.spec or json.object()
    obj.spec.type = obj.spec.type or "ClusterIP"
    obj.spec.sessionAffinity = obj.spec.sessionAffinity or "None"
    if obj.spec.clusterIP == nil and obj.spec.type ~= "ExternalName" then
      obj.spec.clusterIP = string.format("10.0.%d.%d", math.random(0, 255), math.random(1, 254))
      obj.spec.clusterIPs = json.array({ obj.spec.clusterIP })
    end
    for _, port in ipairs(obj.spec.ports or {}) do
      port.protocol = port.protocol or "TCP"
      port.targetPort = port.targetPort or port.port
    end
  elseif kind == "Deployment" or kind == "StatefulSet" or kind == "ReplicaSet" then
    obj.spec = obj.spec or json.object()
    if obj.spec.replicas == nil then obj.spec.replicas = 1 end
  elseif kind == "Secret" then
    obj.type = obj.type or "Opaque"
    if type(obj.stringData) == "table" then
      obj.data = obj.data or json.object()
      for k, v in pairs(obj.stringData) do obj.data[k] = base64.encode(tostring(v)) end
      obj.stringData = nil
    end
  end
  return obj
end

-- Go's omitempty: empty maps and lists of metadata (and of a ConfigMap's
-- or Secret's data) are not kept.
local function drop_empty(e, obj)
  local meta = obj.metadata
  for _, k in ipairs({ "labels", "annotations", "finalizers", "ownerReferences" }) do
    if type(meta[k]) == "table" and next(meta[k]) == nil then meta[k] = nil end
  end
  if e.builtin then
    for _, k in ipairs({ "data", "binaryData", "stringData" }) do
      if type(obj[k]) == "table" and next(obj[k]) == nil then obj[k] = nil end
    end
  end
end

-- The status an object starts with, for kinds with a status subresource.
local function initial_status(e, obj)
  if e.kind == "Namespace" then return { phase = "Active" } end
  if e.kind == "Pod" then return { phase = "Pending" } end
  if e.kind == "Service" then return { loadBalancer = json.object() } end
  if e.kind == "CustomResourceDefinition" then
    local names = obj.spec and obj.spec.names or {}
    return {
      acceptedNames = { kind = names.kind, listKind = names.listKind or ((names.kind or "") .. "List"),
                        plural = names.plural, singular = names.singular or (names.kind or ""):lower(),
                        shortNames = names.shortNames },
      conditions = {
        { type = "NamesAccepted", status = "True", reason = "NoConflicts", message = "no conflicts found",
          lastTransitionTime = values.now() },
        { type = "Established", status = "True", reason = "InitialNamesAccepted",
          message = "the initial names have been accepted", lastTransitionTime = values.now() },
      },
      storedVersions = { (function()
        for _, v in ipairs(obj.spec and obj.spec.versions or {}) do
          if v.storage then return v.name end
        end
        return nil
      end)() },
    }
  end
  if e.builtin then return json.object() end
  return nil
end

-- Everything of an object but metadata and status: a change there is a
-- new generation.
local function spec_of(obj, e)
  local copy = {}
  for k, v in pairs(obj) do
    if k ~= "metadata" and k ~= "status" and k ~= "apiVersion" and k ~= "kind" then copy[k] = v end
  end
  if not e.status then copy.status = obj.status end
  return copy
end

--- Creates an object (a POST). Returns the response.
function Server:create_object(e, namespace, body, options)
  options = options or {}
  if type(body) ~= "table" or type(body.metadata) ~= "table" then
    body = type(body) == "table" and body or {}
    body.metadata = body.metadata or json.object()
  end
  local obj = values.copy(body)
  obj.apiVersion, obj.kind = e.apiVersion, e.kind
  local meta = obj.metadata
  if e.namespaced then
    if meta.namespace and meta.namespace ~= namespace then
      return bad_request("the namespace of the provided object does not match the namespace sent on the request")
    end
    meta.namespace = namespace
  else
    meta.namespace = nil
  end
  if meta.resourceVersion ~= nil and meta.resourceVersion ~= "" then
    local response = failure(500, nil, "resourceVersion should not be set on objects to be created", nil)
    response.body.reason = nil
    return response
  end
  if (meta.name == nil or meta.name == "") and type(meta.generateName) == "string" and meta.generateName ~= "" then
    meta.name = generated_name(meta.generateName)
  end
  if meta.name == nil or meta.name == "" then
    return invalid(e, "", { { reason = "FieldValueRequired", field = "metadata.name",
                              message = "Required value: name or generateName is required" } })
  end
  local problems = name_problems(e, meta.name)
  if problems then return invalid(e, meta.name, problems) end
  if e.namespaced then
    local ns_entry = self.kinds:find("v1", "Namespace")
    local ns = self:lookup(ns_entry, nil, namespace)
    if not ns then return namespace_not_found(namespace) end
    if ns.metadata.deletionTimestamp then
      return failure(403, "Forbidden", string.format("%s \"%s\" is forbidden: unable to create new content in "
        .. "namespace %s because it is being terminated", qualified(e), meta.name, namespace),
        details_of(e, meta.name))
    end
  end
  if self:lookup(e, namespace, meta.name) then return already_exists(e, meta.name) end
  if e.kind == "CustomResourceDefinition" then
    local spec = obj.spec or {}
    local expected = string.format("%s.%s", tostring(spec.names and spec.names.plural), tostring(spec.group))
    if meta.name ~= expected then
      return invalid(e, meta.name, { { reason = "FieldValueInvalid", field = "metadata.name",
        message = string.format('Invalid value: "%s": must be spec.names.plural+"."+spec.group', meta.name) } })
    end
  end

  drop_empty(e, obj)
  with_defaults(self, e, obj)
  meta.uid = values.uid()
  meta.creationTimestamp = values.now()
  if e.generation then meta.generation = 1 end
  if e.status then obj.status = initial_status(e, obj) end
  meta.managedFields = nil
  if options.apply then
    obj = options.apply(obj)
  else
    fields.update(e, nil, obj, options.manager or "ferry")
  end
  with_defaults(self, e, obj, true)
  if options.dry_run then
    return ok(obj, 201)
  end
  meta = obj.metadata
  meta.resourceVersion = self:next_revision()
  bucket(self, e, namespace)[meta.name] = obj
  if e.kind == "CustomResourceDefinition" then
    self.kinds:add_crd(obj)
    self:kinds_changed()
  end
  self:record(e, "ADDED", obj)
  return ok(obj, 201)
end

-- Removes an object for good (DELETED event), then what it owned.
function Server:remove_object(e, obj, propagation)
  local meta = obj.metadata
  bucket(self, e, meta.namespace)[meta.name] = nil
  local gone = values.copy(obj)
  gone.metadata.resourceVersion = self:next_revision()
  self:record(e, "DELETED", gone)
  if e.kind == "CustomResourceDefinition" then
    -- its custom resources go with it
    for _, served in ipairs(self.kinds.entries) do
      if served.crd == meta.name then
        for _, cr in ipairs(self:all(served)) do self:remove_object(served, cr) end
        break
      end
    end
    self.kinds:remove_crd(obj)
    self:kinds_changed()
  elseif e.kind == "Namespace" then
    for _, served in ipairs(self.kinds.entries) do
      if served.namespaced then
        for _, child in ipairs(self:all(served, meta.name)) do
          if self:lookup(served, meta.name, child.metadata.name) then self:remove_object(served, child) end
        end
      end
    end
  end
  self:collect_dependents(meta.uid, propagation)
end

-- Garbage collection of objects owned (ownerReferences) by a deleted uid.
function Server:collect_dependents(uid, propagation)
  for _, served in ipairs(self.kinds.entries) do
    for _, obj in ipairs(self:all(served)) do
      local refs = obj.metadata.ownerReferences
      if type(refs) == "table" then
        for i, ref in ipairs(refs) do
          if ref.uid == uid then
            if propagation == "Orphan" then
              table.remove(refs, i)
              if #refs == 0 then obj.metadata.ownerReferences = nil end
              obj.metadata.resourceVersion = self:next_revision()
              self:record(served, "MODIFIED", obj)
            elseif self:lookup(served, obj.metadata.namespace, obj.metadata.name) then
              self:delete_object(served, obj, {})
            end
            break
          end
        end
      end
    end
  end
end

-- Stores a changed object (MODIFIED), or removes it when it was being
-- deleted and its last finalizer is gone.
function Server:store_update(e, old, new)
  local meta = new.metadata
  if old.metadata.deletionTimestamp and (type(meta.finalizers) ~= "table" or #meta.finalizers == 0) then
    self:remove_object(e, new)
    return new
  end
  meta.resourceVersion = self:next_revision()
  bucket(self, e, meta.namespace)[meta.name] = new
  if e.kind == "CustomResourceDefinition" then
    self.kinds:add_crd(new)
    self:kinds_changed()
  end
  self:record(e, "MODIFIED", new)
  return new
end

-- A write to an existing object: `new` is what the client wants it to
-- be. Keeps what the server owns, applies the status subresource rules,
-- counts generations, records field ownership. Returns the response.
function Server:update_object(e, old, new, options)
  options = options or {}
  local old_meta = old.metadata
  if options.apply then
    local applied, message, causes, unchanged = options.apply(old)
    if not applied then
      return failure(409, "Conflict", message, { causes = causes })
    end
    if unchanged then return ok(old) end
    new = applied
  else
    new = values.copy(new)
    new.metadata = values.is_object(new.metadata) and new.metadata or json.object()
    local meta = new.metadata
    if meta.name ~= nil and meta.name ~= old_meta.name then
      return bad_request(string.format("the name of the object (%s) does not match the name on the URL (%s)",
        tostring(meta.name), old_meta.name))
    end
    local rv = meta.resourceVersion
    if rv ~= nil and rv ~= "" and rv ~= old_meta.resourceVersion then
      return conflict(e, old_meta.name)
    end
    if options.subresource == "status" then
      local status = new.status
      new = values.copy(old)
      new.status = status
    end
  end
  new.apiVersion, new.kind = e.apiVersion, e.kind
  drop_empty(e, new)
  local meta = new.metadata
  for _, k in ipairs({ "name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds", "generation", "resourceVersion" }) do
    meta[k] = old_meta[k]
  end
  if options.subresource ~= "status" then
    if e.status then new.status = old.status end
    if e.kind == "Namespace" then new.spec = old.spec end
  end
  if e.generation and not values.equal(spec_of(old, e), spec_of(new, e)) then
    meta.generation = (old_meta.generation or 0) + 1
  end
  if not options.apply then
    meta.managedFields = nil
    fields.update(e, old, new, options.manager or "ferry", { subresource = options.subresource })
  end
  local a, b = values.copy(old), values.copy(new)
  a.metadata.managedFields, b.metadata.managedFields = nil, nil
  if values.equal(a, b) and not options.apply then
    return ok(old)
  end
  if options.dry_run then return ok(new) end
  return ok(self:store_update(e, old, new))
end

--- Deletes an object (a DELETE). Returns the response.
function Server:delete_object(e, obj, delete_options)
  delete_options = delete_options or {}
  local meta = obj.metadata
  local dry_run = type(delete_options.dryRun) == "table" and #delete_options.dryRun > 0
  local finalizers = type(meta.finalizers) == "table" and #meta.finalizers > 0
  if e.kind == "Namespace" then
    if dry_run then return ok(obj) end
    local terminating = values.copy(obj)
    terminating.metadata.deletionTimestamp = terminating.metadata.deletionTimestamp or values.now()
    terminating.status = { phase = "Terminating" }
    terminating.metadata.resourceVersion = self:next_revision()
    bucket(self, e, nil)[meta.name] = terminating
    self:record(e, "MODIFIED", terminating)
    -- the namespace controller empties it and lifts its finalizer at once;
    -- finalizers of its own (metadata.finalizers) keep it Terminating
    if not finalizers then
      self:remove_object(e, terminating, delete_options.propagationPolicy)
    end
    return ok(terminating)
  end
  if finalizers then
    if meta.deletionTimestamp then return ok(obj) end
    if dry_run then return ok(obj) end
    local marked = values.copy(obj)
    marked.metadata.deletionTimestamp = values.now()
    marked.metadata.deletionGracePeriodSeconds = 0
    marked.metadata.resourceVersion = self:next_revision()
    bucket(self, e, meta.namespace)[meta.name] = marked
    self:record(e, "MODIFIED", marked)
    return ok(marked)
  end
  local answer = { kind = "Status", apiVersion = "v1", metadata = json.object(), status = "Success",
                   details = { name = meta.name, group = e.group ~= "" and e.group or nil, kind = e.resource,
                               uid = meta.uid } }
  if dry_run then return ok(answer) end
  self:remove_object(e, obj, delete_options.propagationPolicy)
  return ok(answer)
end

-- Requests -------------------------------------------------------------

-- (entry, namespace, name, subresource) of a REST path, or nil.
function Server:route(path)
  local segments = {}
  for s in path:gmatch("[^/]+") do segments[#segments + 1] = s end
  local group, version, rest
  if segments[1] == "api" and segments[2] then
    group, version, rest = "", segments[2], 3
  elseif segments[1] == "apis" and segments[3] then
    group, version, rest = segments[2], segments[3], 4
  else
    return nil
  end
  local namespace
  if segments[rest] == "namespaces" and segments[rest + 2] and self.kinds:by_resource(group, version, segments[rest + 2]) then
    namespace = segments[rest + 1]
    rest = rest + 2
  end
  local e = self.kinds:by_resource(group, version, segments[rest] or "")
  if not e then return nil end
  return e, namespace, segments[rest + 1], segments[rest + 2]
end

local function unescape(s)
  return s and http.unescape(s)
end

local function decode_body(body)
  if type(body) == "table" then return values.copy(body) end
  if type(body) ~= "string" or body == "" then return nil end
  local ok_json, decoded = pcall(json.decode, body)
  if ok_json then return decoded end
  local ok_yaml, from_yaml = pcall(yaml.decode, body)
  if ok_yaml then return from_yaml end
  return nil
end

function Server:discovery(core)
  local groups, order = {}, {}
  for _, e in ipairs(self.kinds.entries) do
    if (e.group == "") == core then
      if not groups[e.group] then
        groups[e.group] = { versions = {}, order = {} }
        order[#order + 1] = e.group
      end
      local g = groups[e.group]
      if not g.versions[e.version] then
        g.versions[e.version] = json.array()
        g.order[#g.order + 1] = e.version
      end
      table.insert(g.versions[e.version], {
        resource = e.resource, responseKind = { group = e.group, version = e.version, kind = e.kind },
        scope = e.namespaced and "Namespaced" or "Cluster", singularResource = e.singular,
        shortNames = #e.short_names > 0 and e.short_names or nil, verbs = e.verbs,
      })
    end
  end
  local items = json.array()
  for _, name in ipairs(order) do
    local versions = json.array()
    for _, v in ipairs(groups[name].order) do
      versions[#versions + 1] = { version = v, resources = groups[name].versions[v], freshness = "Current" }
    end
    items[#items + 1] = { metadata = { name = name }, versions = versions }
  end
  return { kind = "APIGroupDiscoveryList", apiVersion = "apidiscovery.k8s.io/v2", metadata = json.object(),
           items = items }
end

local function matches(obj, label_reqs, field_reqs)
  return selectors.match_labels(label_reqs, obj.metadata.labels) and selectors.match_fields(field_reqs, obj)
end

function Server:list(e, namespace, query)
  local label_reqs, err = selectors.parse_labels(unescape(query.labelSelector))
  if not label_reqs then return bad_request(err) end
  local field_reqs
  field_reqs, err = selectors.parse_fields(unescape(query.fieldSelector), e.kind)
  if not field_reqs then return bad_request(err) end
  local all = {}
  for _, obj in ipairs(self:all(e, namespace)) do
    if matches(obj, label_reqs, field_reqs) then all[#all + 1] = obj end
  end
  local start = 1
  local rv = tostring(self.revision)
  if query.continue then
    local token_rv, offset = tostring(query.continue):match("^(%d+):(%d+)$")
    if not offset then
      return bad_request("continue key is not valid: illegal base64 data at input byte 0")
    end
    start = tonumber(offset) + 1
    rv = token_rv
  end
  local limit = tonumber(query.limit)
  local items = json.array()
  local last = #all
  if limit and limit > 0 then last = math.min(#all, start + limit - 1) end
  for i = start, last do
    local item = values.copy(all[i])
    item.apiVersion, item.kind = nil, nil
    items[#items + 1] = item
  end
  local metadata = { resourceVersion = rv }
  if last < #all then
    metadata.continue = rv .. ":" .. last
    metadata.remainingItemCount = #all - last
  end
  return ok({ kind = e.kind .. "List", apiVersion = e.apiVersion, metadata = metadata, items = items })
end

-- A watch: streams {"type", "object"} lines through on_line until
-- timeoutSeconds; 410 Gone for a resourceVersion older than the history.
function Server:watch(e, namespace, query, on_line)
  local label_reqs, err = selectors.parse_labels(unescape(query.labelSelector))
  if not label_reqs then return bad_request(err) end
  local field_reqs
  field_reqs, err = selectors.parse_fields(unescape(query.fieldSelector), e.kind)
  if not field_reqs then return bad_request(err) end
  local key = kinds.store_key(e)
  local function send(event_type, obj)
    local copy = values.copy(obj)
    copy.apiVersion, copy.kind = e.apiVersion, e.kind
    on_line(json.encode({ type = event_type, object = copy }))
  end
  local function wanted(obj)
    return (not e.namespaced or not namespace or obj.metadata.namespace == namespace)
      and matches(obj, label_reqs, field_reqs)
  end
  local from = tonumber(query.resourceVersion)
  if query.resourceVersion == nil or query.resourceVersion == "" or from == 0 then
    for _, obj in ipairs(self:all(e, namespace)) do
      if wanted(obj) then send("ADDED", obj) end
    end
    from = self.revision
  elseif not from or from < self.oldest then
    send("ERROR", { kind = "Status", apiVersion = "v1", metadata = json.object(), status = "Failure",
                    message = string.format("too old resource version: %s (%d)", tostring(query.resourceVersion),
                      self.oldest), reason = "Expired", code = 410 })
    return ok(nil)
  end
  local seconds = tonumber(query.timeoutSeconds) or 1800
  local deadline = sys.monotonic() + seconds
  local last = from
  while true do
    for _, event in ipairs(self.history) do
      if event.rv > last and event.store_key == key then
        last = event.rv
        local obj = event.object
        local was = wanted(obj)
        if was then send(event.type, obj) end
      elseif event.rv > last then
        last = event.rv
      end
    end
    local remaining = deadline - sys.monotonic()
    if remaining <= 0 then return ok(nil) end
    local ch = task.channel()
    self.waiters[ch] = true
    local waited, why = pcall(task.timeout, remaining, ch.get, ch)
    self.waiters[ch] = nil
    if not waited and not (type(why) == "table" and why.kind == "timeout") then
      error(why, 0)
    end
  end
end

local function manager_of(query)
  return query.fieldManager and unescape(query.fieldManager) or "ferry"
end

local PATCH_TYPES = {
  ["application/merge-patch+json"] = "merge",
  ["application/json-patch+json"] = "json",
  ["application/strategic-merge-patch+json"] = "strategic",
  ["application/apply-patch+yaml"] = "apply",
}

function Server:patch(e, namespace, name, subresource, req, query)
  local patch_type = PATCH_TYPES[req.content_type or ""]
  if not patch_type then
    return failure(415, "UnsupportedMediaType", string.format("the body of the request was in an unknown format - "
      .. "accepted media types include: %s", "application/json-patch+json, application/merge-patch+json, "
      .. "application/apply-patch+yaml"), nil)
  end
  if patch_type == "strategic" and not e.builtin then
    return failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
      .. "media types include: application/json-patch+json, application/merge-patch+json, "
      .. "application/apply-patch+yaml", nil)
  end
  local body = decode_body(req.body)
  if body == nil then
    return bad_request("the request body could not be decoded")
  end
  local dry_run = query.dryRun ~= nil
  local live = self:lookup(e, namespace, name)
  if patch_type == "apply" then
    if not query.fieldManager then
      return bad_request("PATCH requests with apply patch type require a field manager")
    end
    if body.apiVersion ~= e.apiVersion or body.kind ~= e.kind then
      return bad_request(string.format("the API version in the data (%s) does not match the expected API version "
        .. "(%s)", tostring(body.apiVersion), e.apiVersion))
    end
    local manager = manager_of(query)
    local force = query.force == "true" or query.force == true
    if subresource == "status" then
      if not live then return not_found(e, name) end
      return self:update_object(e, live, patch.merge(live, { status = body.status }),
        { manager = manager, subresource = "status", dry_run = dry_run })
    end
    if not live then
      body.metadata = body.metadata or json.object()
      body.metadata.name = body.metadata.name or name
      local config = values.copy(body)
      return self:create_object(e, namespace, body, {
        dry_run = dry_run,
        apply = function(obj)
          local created = fields.apply(e, nil, config, manager, { force = force })
          obj.metadata.managedFields = created.metadata.managedFields
          return obj
        end,
      })
    end
    local sent_rv = type(body.metadata) == "table" and body.metadata.resourceVersion
    if sent_rv and sent_rv ~= null and sent_rv ~= live.metadata.resourceVersion then
      return conflict(e, name)
    end
    return self:update_object(e, live, nil, {
      dry_run = dry_run,
      apply = function(current)
        return fields.apply(e, current, body, manager, { force = force })
      end,
    })
  end
  if not live then return not_found(e, name) end
  local target, err
  if patch_type == "merge" then
    target = patch.merge(live, body)
  elseif patch_type == "json" then
    target, err = patch.json(live, body)
  else
    target = patch.strategic(live, body, e)
  end
  if not target then
    return failure(422, "Invalid", "the server rejected our request due to an error in our request", json.object())
  end
  local sent_rv = type(body) == "table" and type(body.metadata) == "table" and body.metadata.resourceVersion
  if not sent_rv or sent_rv == null then target.metadata.resourceVersion = nil end
  return self:update_object(e, live, target, { manager = manager_of(query), subresource = subresource,
                                                dry_run = dry_run })
end

--- Answers one request: {method, path, query, body, content_type, on_line}.
-- Returns {status, body} (body a Lua value, or text for raw answers).
function Server:handle(req)
  local method = (req.method or "GET"):upper()
  local path = req.path
  local query = req.query or {}
  if path == "/version" then return ok(self.version) end
  if path == "/api" then return ok(self:discovery(true)) end
  if path == "/apis" then return ok(self:discovery(false)) end
  local e, namespace, name, subresource = self:route(path)
  if not e then
    return failure(404, "NotFound", "the server could not find the requested resource", json.object())
  end
  namespace = unescape(namespace)
  name = unescape(name)
  if not e.namespaced then namespace = nil end
  if subresource and subresource ~= "status" and not (subresource == "log" and e.kind == "Pod") then
    return failure(404, "NotFound", "the server could not find the requested resource", json.object())
  end

  if method == "GET" then
    if not name then
      if query.watch == "true" or query.watch == true then
        return self:watch(e, namespace, query, req.on_line or function() end)
      end
      return self:list(e, namespace, query)
    end
    local obj = self:lookup(e, namespace, name)
    if not obj then return not_found(e, name) end
    if subresource == "log" then
      return { status = 200, text = self.logs[(namespace or "") .. "/" .. name] or "" }
    end
    return ok(obj)
  elseif method == "POST" then
    if name then return failure(405, "MethodNotAllowed", "the server does not allow this method on the requested "
      .. "resource", json.object()) end
    local body = decode_body(req.body)
    if type(body) ~= "table" then return bad_request("the request body could not be decoded") end
    if body.apiVersion and body.apiVersion ~= e.apiVersion or body.kind and body.kind ~= e.kind then
      return bad_request(string.format("the API version in the data (%s) does not match the expected API version "
        .. "(%s)", tostring(body.apiVersion), e.apiVersion))
    end
    return self:create_object(e, namespace, body, { manager = manager_of(query), dry_run = query.dryRun ~= nil })
  elseif method == "PUT" then
    local body = decode_body(req.body)
    if type(body) ~= "table" then return bad_request("the request body could not be decoded") end
    local live = self:lookup(e, namespace, name)
    if not live then return not_found(e, name) end
    return self:update_object(e, live, body, { manager = manager_of(query), subresource = subresource,
                                               dry_run = query.dryRun ~= nil })
  elseif method == "PATCH" then
    return self:patch(e, namespace, name, subresource, req, query)
  elseif method == "DELETE" then
    local live = name and self:lookup(e, namespace, name)
    if not live then return not_found(e, name or "") end
    return self:delete_object(e, live, decode_body(req.body) or {})
  end
  return failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
    json.object())
end

return server
