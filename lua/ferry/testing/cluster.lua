--- ferry.testing.cluster: fake_cluster() -- a k8s client whose requests
-- are answered by an in-memory API server (ferry.testing.server) instead
-- of a real one.
--
-- The client is a real k8s client (the same object k8s.connect returns):
-- get/find/list/create/replace/patch/delete/apply/watch/wait/events/logs/
-- version/resource/kinds/ready all run ferry's own client code, and only
-- the transport is replaced, so errors have exactly the shapes real API
-- errors have. The fake's own controls are methods of the same object:
--
--   local c = testing.fake_cluster { name = "prod-eun-2", objects = [[ ...YAML... ]] }
--   c:apply(manifests)                           -- as against a cluster
--   c:set_ready { kind = "Deployment", namespace = "shop", name = "web" }
--   c:set_status(ref, { phase = "Bound" })
--   c:objects { kind = "ConfigMap" }             -- what is stored now
local client = require "k8s.client"
local errors = require "ferry.errors"
local json = require "json"
local server_module = require "ferry.testing.server"
local values = require "ferry.testing.values"
require "k8s" -- attaches the resource methods to the client class

local cluster = {}

-- The transport: one request, answered by the fake server, returned (or
-- raised) as Client:request does with a real server's answer.
local function fake_request(self, req)
  local method = (req.method or "GET"):upper()
  local path = req.path .. client.query_string(req.query)
  local query = {}
  for k, v in pairs(req.query or {}) do
    if v ~= nil and v ~= false then query[k] = tostring(v) end
  end
  local response = self.fake_server:handle {
    method = method, path = req.path, query = query, body = req.body,
    content_type = req.content_type, on_line = req.on_line,
  }
  if response.status >= 400 then
    error(client.api_error(self, method, path, {
      status = response.status, body = json.encode(response.body), headers = {},
    }), 0)
  end
  if req.raw then
    local text = response.text
    if text == nil and response.body ~= nil then text = json.encode(response.body) end
    return { status = response.status, body = text or "", headers = {} }
  end
  if response.text then return response.text end
  if response.body == nil then return nil end
  return values.copy(response.body)
end

local Fake = {}

-- A ref's (entry, namespace, name) on the fake server; raises as the
-- client would for an unknown kind.
local function locate(self, ref)
  local resources = require "k8s.resources"
  local r = resources.ref_of(ref)
  local mapping, namespace = resources.locate(self, r)
  local e = self.fake_server.kinds:find(mapping.apiVersion, mapping.kind)
  return e, namespace, r.name
end

local function stored(self, ref)
  local e, namespace, name = locate(self, ref)
  local obj = self.fake_server:lookup(e, namespace, name)
  if not obj then
    error(errors.new("api", string.format("%s not found in the fake cluster %s",
      require("k8s.resources").describe(ref), self.name), { status = 404, reason = "NotFound" }), 2)
  end
  return e, obj
end

--- c:set_status(ref, status): replaces the object's status, as its
-- controller would (a status write: new resourceVersion, a MODIFIED
-- event for watches). Returns the object.
function Fake.set_status(self, ref, status)
  local e, obj = stored(self, ref)
  local new = values.copy(obj)
  new.status = values.copy(status)
  return values.copy(self.fake_server:store_update(e, obj, new))
end

-- What "ready" means for a kind (k8s.status' rules), as a status.
local function ready_status(obj, ok)
  local kind = obj.kind
  local generation = obj.metadata.generation
  local spec = obj.spec or {}
  local replicas = math.tointeger(tonumber(spec.replicas)) or 1
  local function condition(type_name, status, reason, message)
    return { type = type_name, status = status, reason = reason, message = message,
             lastTransitionTime = values.now(), lastUpdateTime = values.now() }
  end
  if kind == "Deployment" then
    if not ok then
      return { observedGeneration = generation, replicas = replicas, updatedReplicas = replicas,
               availableReplicas = 0, unavailableReplicas = replicas,
               conditions = { condition("Available", "False", "MinimumReplicasUnavailable",
                 "Deployment does not have minimum availability.") } }
    end
    return { observedGeneration = generation, replicas = replicas, updatedReplicas = replicas,
             readyReplicas = replicas, availableReplicas = replicas,
             conditions = { condition("Available", "True", "MinimumReplicasAvailable",
                              "Deployment has minimum availability."),
                            condition("Progressing", "True", "NewReplicaSetAvailable",
                              "ReplicaSet has successfully progressed.") } }
  elseif kind == "StatefulSet" or kind == "ReplicaSet" then
    local n = ok and replicas or 0
    return { observedGeneration = generation, replicas = replicas, readyReplicas = n, updatedReplicas = replicas,
             availableReplicas = n, currentReplicas = replicas }
  elseif kind == "DaemonSet" then
    local want = tonumber(obj.status and obj.status.desiredNumberScheduled) or 1
    return { observedGeneration = generation, desiredNumberScheduled = want, currentNumberScheduled = want,
             updatedNumberScheduled = want, numberReady = ok and want or 0, numberAvailable = ok and want or 0 }
  elseif kind == "Job" then
    if ok then return { succeeded = 1, conditions = { condition("Complete", "True") } } end
    return { failed = 1, conditions = { condition("Failed", "True", "BackoffLimitExceeded",
                                                  "Job has reached the specified backoff limit") } }
  elseif kind == "Pod" then
    if ok then return { phase = "Running", conditions = { condition("Ready", "True") } } end
    return { phase = "Failed", reason = "Error" }
  elseif kind == "Namespace" then
    return { phase = ok and "Active" or "Terminating" }
  elseif kind == "PersistentVolumeClaim" then
    return { phase = ok and "Bound" or "Pending" }
  elseif kind == "Service" then
    return { loadBalancer = { ingress = ok and { { ip = "192.0.2.10" } } or json.array() } }
  end
  -- Flux, Flagger and most operators: a Ready condition
  local s = values.copy(obj.status or {})
  if type(s) ~= "table" then s = {} end
  s.observedGeneration = generation
  local conditions = {}
  for _, c in ipairs(s.conditions or {}) do
    if c.type ~= "Ready" then conditions[#conditions + 1] = c end
  end
  conditions[#conditions + 1] = condition("Ready", ok and "True" or "False", ok and "Succeeded" or "Failed",
    ok and "ready" or "not ready")
  s.conditions = conditions
  return s
end

--- c:set_ready(ref [, ok]): gives the object the status that makes it
-- ready (ok = false: one that says it failed) by the rules of
-- k8s.status, for its kind; seen by waits and watches at once.
function Fake.set_ready(self, ref, ok)
  local _, obj = stored(self, ref)
  return self:set_status(ref, ready_status(obj, ok ~= false))
end

--- c:objects{apiVersion, kind, namespace} -> copies of what is stored,
-- sorted by namespace and name (no request, no watch event).
function Fake.objects(self, options)
  options = options or {}
  local e = locate(self, { apiVersion = options.apiVersion, kind = options.kind, name = "-",
                           namespace = options.namespace })
  local out = json.array()
  for _, obj in ipairs(self.fake_server:all(e, e.namespaced and options.namespace or nil)) do
    out[#out + 1] = values.copy(obj)
  end
  return out
end

--- c:load(objects_or_yaml): stores objects as they are (status included),
-- creating their namespaces when needed -- a cluster as a test wants to
-- find it. Returns the stored objects.
function Fake.load(self, input)
  local objs = require("k8s.apply").objects_of(input, "fake cluster seed")
  local stored_list = json.array()
  local ns_entry = self.fake_server.kinds:find("v1", "Namespace")
  -- CRDs first, so their kinds can be loaded in the same call
  table.sort(objs, function(a, b)
    return (a.kind == "CustomResourceDefinition" and 0 or 1) < (b.kind == "CustomResourceDefinition" and 0 or 1)
  end)
  for _, obj in ipairs(objs) do
    local e = self.fake_server.kinds:find(obj.apiVersion, obj.kind)
    if not e then
      error(errors.new("unknown_kind", string.format("the fake cluster %s does not serve %s %s "
        .. "(load its CustomResourceDefinition first)", self.name, obj.apiVersion, obj.kind)), 2)
    end
    local namespace = e.namespaced and (obj.metadata.namespace or self.namespace) or nil
    if namespace and not self.fake_server:lookup(ns_entry, nil, namespace) then
      self.fake_server:create_object(ns_entry, nil, { apiVersion = "v1", kind = "Namespace",
                                                      metadata = { name = namespace } }, {})
    end
    local status = obj.status
    local response = self.fake_server:create_object(e, namespace, obj, { manager = "ferry.testing" })
    if response.status >= 400 then
      error(errors.new("invalid", "the fake cluster refused a seed object: " .. tostring(response.body.message),
        { status = response.status, reason = response.body.reason }), 2)
    end
    local created = response.body
    if status ~= nil and e.status then
      created = self:set_status(created, status)
    end
    stored_list[#stored_list + 1] = values.copy(created)
  end
  return stored_list
end

--- c:add_event(ref, {reason, message, type = "Normal"|"Warning", time,
-- component}): an Event about the object, as its controller would record
-- it (time: its RFC 3339 timestamp; by default now, kept increasing).
function Fake.add_event(self, ref, event)
  local _, obj = stored(self, ref)
  local meta = obj.metadata
  local e = self.fake_server.kinds:find("v1", "Event")
  local namespace = meta.namespace or "default"
  -- timestamps have seconds only: events added within one second still
  -- get increasing ones, so they list in the order they were added
  local now = os.time()
  local last = self.fake_server.last_event_time or 0
  if now <= last then now = last + 1 end
  self.fake_server.last_event_time = now
  local stamp = event.time or os.date("!%Y-%m-%dT%H:%M:%SZ", now)
  local response = self.fake_server:create_object(e, namespace, {
    apiVersion = "v1", kind = "Event",
    metadata = { generateName = meta.name .. ".", namespace = namespace },
    involvedObject = { apiVersion = obj.apiVersion, kind = obj.kind, name = meta.name,
                       namespace = meta.namespace, uid = meta.uid, resourceVersion = meta.resourceVersion },
    reason = event.reason, message = event.message, type = event.type or "Normal",
    source = { component = event.component or "fake-controller" },
    firstTimestamp = stamp, lastTimestamp = stamp, count = 1,
  }, { manager = "ferry.testing" })
  return values.copy(response.body)
end

--- c:set_logs(pod_ref, text): what c:logs{pod = name} returns.
function Fake.set_logs(self, ref, text)
  local _, obj = stored(self, ref)
  self.fake_server.logs[(obj.metadata.namespace or "") .. "/" .. obj.metadata.name] = text
end

--- c:compact(): watches from before now get 410 Gone, as after etcd
-- compaction (k8s.watch then relists).
function Fake.compact(self)
  self.fake_server:compact()
end

--- c:client{namespace, name}: another client of the same fake cluster
-- (another default namespace or context name).
function Fake.client(self, options)
  return cluster.connect(self.fake_server, options or {}, self)
end

--- c:revision() -> the fake's current resourceVersion, as a number.
function Fake.revision(self)
  return self.fake_server.revision
end

function cluster.connect(fake_server, options, like)
  local name = options.name or (like and like.name) or fake_server.name
  local c = client.new({ server = "fake://" .. name, prepare = function() end, unauthorized = function() end },
    { name = name, namespace = options.namespace or (like and like.namespace) or "default", qps = 0 })
  c.fake_server = fake_server
  fake_server.clients[c] = true
  c.request = fake_request
  for k, fn in pairs(Fake) do c[k] = fn end
  return c
end

--- fake_cluster{name, namespace, version, objects, history} -> client.
-- objects: YAML text or objects stored before the test starts (see
-- Fake.load); version: the Kubernetes version /version reports.
function cluster.new(options)
  options = options or {}
  if type(options) == "string" then options = { objects = options } end
  local fake_server = server_module.new { name = options.name or "fake", version = options.version,
                                          history = options.history }
  local c = cluster.connect(fake_server, options)
  if options.objects then c:load(options.objects) end
  return c
end

return cluster
