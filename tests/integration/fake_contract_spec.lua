-- The contract of ferry.testing.fake_cluster(): every behaviour a recipe
-- test may rely on, written once and run against the fake and against
-- the real API server of tests/env, so the fake cannot drift from the
-- real thing. Each test works in a namespace of its own and looks only at
-- objects it labelled (a real cluster's controllers add others, such as
-- the kube-root-ca.crt ConfigMap of every namespace).

local testing = require "ferry.testing"
local json = require "json"
local task = require "task"
local yaml = require "yaml"

local LABEL = "contract.ferry.dev/test"

local CRD = [[
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.contract.ferry.dev}
spec:
  group: contract.ferry.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
]]

local made = 0
local function unique(prefix)
  made = made + 1
  return string.format("%s-%d-%d-%d", prefix, os.time() % 100000, made, math.random(1000, 9999))
end

local function configmap(name, namespace, data, labels)
  local cm = { apiVersion = "v1", kind = "ConfigMap",
               metadata = { name = name, namespace = namespace, labels = labels or { [LABEL] = "yes" } },
               data = data or { key = "value" } }
  return cm
end

local function widget(name, namespace, spec)
  return { apiVersion = "contract.ferry.dev/v1", kind = "Widget",
           metadata = { name = name, namespace = namespace, labels = { [LABEL] = "yes" } },
           spec = spec or { size = 1 } }
end

local function failing(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- The error of an API call as the test compares it: everything but the
-- client's name, which differs from cluster to cluster.
local function shape(err, c)
  return {
    kind = err.kind, reason = err.reason, status = err.status,
    message = (err.message:gsub(" on " .. c.name:gsub("%p", "%%%0") .. "%)$", " on CLIENT)")),
    api_message = err.api_message, method = err.method, path = err.path,
    details = err.details,
  }
end

local function managers(obj)
  local by_name = {}
  for _, m in ipairs(obj.metadata.managedFields or {}) do
    by_name[m.manager .. "/" .. m.operation] = m.fieldsV1
  end
  return by_name
end

-- make_client() -> a client; set_status(c, ref, status) writes an
-- object's status as its controller would (the fake's set_status, a
-- status-subresource patch on the real server).
local function contract(make_client, set_status)
  local c, ns

  setup(function()
    c = make_client()
    c:apply(CRD, { wait_crds = "1m" })
  end)

  before_each(function()
    ns = unique("contract")
    c:create { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }
  end)

  after_each(function()
    c:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
  end)

  describe("objects", function()
    it("are created with a uid, a creation time and a resourceVersion", function()
      local created = c:create(configmap("a", ns))
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", created.metadata.uid)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", created.metadata.creationTimestamp)
      assert.matches("^%d+$", created.metadata.resourceVersion)
      assert.are.equal(ns, created.metadata.namespace)
      assert.is_nil(created.metadata.generation, "ConfigMaps have no generation")
      local got = c:get { apiVersion = "v1", kind = "ConfigMap", name = "a", namespace = ns }
      assert.are.same(created, got)
    end)

    it("get a resourceVersion that grows with every write", function()
      local v1 = tonumber(c:create(configmap("a", ns)).metadata.resourceVersion)
      local v2 = tonumber(c:patch(configmap("a", ns), { data = { more = "1" } }).metadata.resourceVersion)
      local v3 = tonumber(c:create(configmap("b", ns)).metadata.resourceVersion)
      assert.is_true(v2 > v1)
      assert.is_true(v3 > v2)
    end)

    it("record the field manager of each write", function()
      local created = c:create(configmap("a", ns, { k = "v" }, {}))
      assert.are.same({ ["ferry/Update"] = { ["f:data"] = { ["."] = {}, ["f:k"] = {} } } }, managers(created))
      local patched = c:patch(created, { data = { other = "x" } }, { field_manager = "patcher" })
      assert.are.same({ ["f:data"] = { ["f:other"] = {} } }, managers(patched)["patcher/Update"])
    end)

    it("are named from generateName", function()
      local created = c:create { apiVersion = "v1", kind = "ConfigMap",
                                 metadata = { generateName = "gen-", namespace = ns } }
      assert.matches("^gen%-[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]$", created.metadata.name)
      assert.are.equal("gen-", created.metadata.generateName)
    end)

    it("cannot be created twice (AlreadyExists)", function()
      c:create(configmap("dup", ns))
      local err = failing(c.create, c, configmap("dup", ns))
      assert.are.same({
        kind = "api", reason = "AlreadyExists", status = 409,
        message = 'configmaps "dup" already exists (POST /api/v1/namespaces/' .. ns .. "/configmaps on CLIENT)",
        api_message = 'configmaps "dup" already exists', method = "POST",
        path = "/api/v1/namespaces/" .. ns .. "/configmaps",
        details = { name = "dup", kind = "configmaps" },
      }, shape(err, c))
    end)

    it("are NotFound when missing, also for get, patch, replace and delete", function()
      local ref = { apiVersion = "apps/v1", kind = "Deployment", name = "nope", namespace = ns }
      local err = failing(c.get, c, ref)
      assert.are.same({
        kind = "api", reason = "NotFound", status = 404,
        message = 'deployments.apps "nope" not found (GET /apis/apps/v1/namespaces/' .. ns
          .. "/deployments/nope on CLIENT)",
        api_message = 'deployments.apps "nope" not found', method = "GET",
        path = "/apis/apps/v1/namespaces/" .. ns .. "/deployments/nope",
        details = { name = "nope", group = "apps", kind = "deployments" },
      }, shape(err, c))
      assert.is_nil(c:find(ref))
      local cm = configmap("missing", ns)
      assert.are.equal("PATCH", failing(c.patch, c, cm, { data = { a = "b" } }).method)
      assert.are.equal("NotFound", failing(c.patch, c, cm, { data = { a = "b" } }).reason)
      assert.are.equal("NotFound", failing(c.replace, c, cm).reason)
      assert.are.equal(404, failing(c.delete, c, cm).status)
      assert.is_nil(c:delete(cm, { missing_ok = true }))
    end)

    it("need their namespace to exist", function()
      local err = failing(c.create, c, configmap("a", ns .. "-none"))
      assert.are.equal(404, err.status)
      assert.are.equal('namespaces "' .. ns .. '-none" not found', err.api_message)
      assert.are.same({ name = ns .. "-none", kind = "namespaces" }, err.details)
    end)

    it("refuse an invalid name (Invalid)", function()
      local err = failing(c.create, c, configmap("Bad_Name", ns))
      assert.are.equal(422, err.status)
      assert.are.equal("Invalid", err.reason)
      assert.are.equal('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        .. "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
        .. "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        .. "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')", err.api_message)
      assert.are.equal("metadata.name", err.details.causes[1].field)
      assert.are.equal("FieldValueInvalid", err.details.causes[1].reason)
      assert.are.equal("ConfigMap", err.details.kind)
      local unnamed = failing(c.create, c, { apiVersion = "v1", kind = "Namespace", metadata = { name = "a.b" } })
      assert.are.equal('Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": must not contain dots',
        unnamed.api_message)
    end)

    it("are replaced only from their latest resourceVersion (Conflict)", function()
      local created = c:create(configmap("a", ns))
      local updated = c:patch(created, { data = { key = "changed" } })
      local err = failing(c.replace, c, created)
      assert.are.equal(409, err.status)
      assert.are.equal("Conflict", err.reason)
      assert.are.equal('Operation cannot be fulfilled on configmaps "a": the object has been modified; please '
        .. "apply your changes to the latest version and try again", err.api_message)
      updated.data.key = "replaced"
      assert.are.equal("replaced", c:replace(updated).data.key)
      updated.metadata.resourceVersion = nil
      updated.data.key = "unconditional"
      assert.are.equal("unconditional", c:replace(updated).data.key)
    end)

    it("keep their resourceVersion when a write changes nothing", function()
      local created = c:create(configmap("a", ns))
      local same = c:patch(created, { data = { key = "value" } })
      assert.are.equal(created.metadata.resourceVersion, same.metadata.resourceVersion)
    end)

    it("refuse a resourceVersion on create", function()
      local cm = configmap("a", ns)
      cm.metadata.resourceVersion = "5"
      local err = failing(c.create, c, cm)
      assert.are.equal(500, err.status)
      assert.are.equal("resourceVersion should not be set on objects to be created", err.api_message)
    end)
  end)

  describe("lists", function()
    before_each(function()
      for i, tier in ipairs({ "web", "web", "db", "cache", "web" }) do
        c:create(configmap("item-" .. i, ns, nil, { [LABEL] = "yes", tier = tier, ["n" .. i] = "x" }))
      end
    end)

    local function names(items)
      local out = {}
      for _, item in ipairs(items) do out[#out + 1] = item.metadata.name end
      return out
    end

    local function select(selector)
      return names(c:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                            labelSelector = LABEL .. (selector ~= "" and ("," .. selector) or "") })
    end

    it("select by label, sorted by name", function()
      assert.are.same({ "item-1", "item-2", "item-3", "item-4", "item-5" }, select(""))
      assert.are.same({ "item-1", "item-2", "item-5" }, select("tier=web"))
      assert.are.same({ "item-3", "item-4" }, select("tier!=web"))
      assert.are.same({ "item-3", "item-4" }, select("tier in (db,cache)"))
      assert.are.same({ "item-1", "item-2", "item-5" }, select("tier notin (db, cache)"))
      assert.are.same({ "item-2" }, select("n2"))
      assert.are.same({ "item-1", "item-3", "item-4", "item-5" }, select("!n2"))
    end)

    it("select by field", function()
      local items = c:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                             fieldSelector = "metadata.name=item-3" }
      assert.are.same({ "item-3" }, names(items))
      assert.are.equal("v1", items[1].apiVersion)
      assert.are.equal("ConfigMap", items[1].kind)
    end)

    it("come in pages and carry the list's resourceVersion", function()
      local all = c:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns, labelSelector = LABEL,
                           page_size = 2 }
      assert.are.same({ "item-1", "item-2", "item-3", "item-4", "item-5" }, names(all))
      assert.matches("^%d+$", all.resourceVersion)
      assert.are.equal(3, #c:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns, labelSelector = LABEL,
                                    limit = 3 })
    end)

    it("refuse selectors they cannot parse", function()
      local err = failing(c.list, c, { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                                       labelSelector = "tier in web" })
      assert.are.equal(400, err.status)
      assert.are.equal("BadRequest", err.reason)
      assert.are.equal("unable to parse requirement: found 'web' expected: '('", err.api_message)
      err = failing(c.list, c, { apiVersion = "v1", kind = "ConfigMap", namespace = ns, fieldSelector = "data.x=1" })
      assert.are.equal('"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
        err.api_message)
    end)
  end)

  describe("patches", function()
    it("merge, removing what is null", function()
      local cm = c:create(configmap("a", ns, { keep = "1", drop = "2" }))
      local patched = c:patch(cm, { data = { drop = json.null, added = "3" } })
      assert.are.same({ keep = "1", added = "3" }, patched.data)
    end)

    it("apply JSON patch operations, all or none", function()
      local cm = c:create(configmap("a", ns, { a = "1" }))
      local patched = c:patch(cm, {
        { op = "add", path = "/data/b", value = "2" },
        { op = "replace", path = "/data/a", value = "one" },
        { op = "test", path = "/data/b", value = "2" },
      }, { type = "json" })
      assert.are.same({ a = "one", b = "2" }, patched.data)
      local err = failing(c.patch, c, cm, {
        { op = "remove", path = "/data/a" },
        { op = "test", path = "/data/b", value = "3" },
      }, { type = "json" })
      assert.are.equal(422, err.status)
      assert.are.equal("Invalid", err.reason)
      assert.are.equal("the server rejected our request due to an error in our request", err.api_message)
      assert.are.same({ a = "one", b = "2" }, c:get(cm).data)
    end)

    it("merge lists by key in strategic merge patches", function()
      local deployment = yaml.decode(string.format([[
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s, labels: {%s: "yes"}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1"}]
]], ns, LABEL))
      local created = c:create(deployment)
      assert.are.equal(1, created.metadata.generation)
      local patched = c:patch(created, { spec = { template = { spec = { containers = {
        { name = "sidecar", image = "registry.example/side:1" },
        { name = "web", image = "registry.example/web:2" },
      } } } } }, { type = "strategic" })
      local images = {}
      for _, container in ipairs(patched.spec.template.spec.containers) do
        images[container.name] = container.image
      end
      assert.are.same({ web = "registry.example/web:2", sidecar = "registry.example/side:1" }, images)
      assert.are.equal(2, patched.metadata.generation)
      local relabelled = c:patch(created, { metadata = { labels = { extra = "1" } } })
      assert.are.equal(2, relabelled.metadata.generation, "metadata changes are no new generation")
    end)

    it("are not strategic for custom resources", function()
      local w = c:create(widget("w", ns))
      local err = failing(c.patch, c, w, { spec = { size = 2 } }, { type = "strategic" })
      assert.are.equal(415, err.status)
      assert.are.equal("UnsupportedMediaType", err.reason)
      assert.are.equal(2, c:patch(w, { spec = { size = 2 } }).spec.size)
    end)
  end)

  describe("status", function()
    it("is written through the status subresource only", function()
      local w = c:create(widget("w", ns))
      assert.are.equal(1, w.metadata.generation)
      local main = c:patch(w, { status = { phase = "ignored" }, spec = { size = 2 } })
      assert.is_nil(main.status)
      assert.are.equal(2, main.metadata.generation)
      local status = c:patch(w, { status = { phase = "Ready" }, spec = { size = 9 } }, { subresource = "status" })
      assert.are.equal("Ready", status.status.phase)
      assert.are.equal(2, status.spec.size, "the status subresource leaves the spec alone")
      assert.are.equal(2, status.metadata.generation)
    end)

    it("is what waits wait for", function()
      local w = c:create(widget("w", ns))
      local writer = task.spawn(function()
        task.sleep(0.2)
        c:patch(w, { status = { conditions = { { type = "Ready", status = "True", reason = "Done",
                                                  message = "all good" } } } }, { subresource = "status" })
      end)
      local ready = c:wait(w, { condition = "Ready", timeout = "20s" })
      writer:wait()
      assert.are.equal("True", ready.status.conditions[1].status)
      assert.is_true((c:ready(w)))
    end)

    it("changes as a controller writes it", function()
      local w = c:create(widget("w", ns))
      local seen = {}
      local watcher = task.spawn(function()
        for event in c:watch { apiVersion = "contract.ferry.dev/v1", kind = "Widget", namespace = ns,
                               resource_version = w.metadata.resourceVersion, timeout = 30 } do
          seen[#seen + 1] = event.type .. " " .. tostring(event.object.status and event.object.status.phase)
          return
        end
      end)
      task.sleep(0.2)
      set_status(c, w, { phase = "Running", observedGeneration = 1 })
      task.timeout(20, function() watcher:wait() end)
      assert.are.same({ "MODIFIED Running" }, seen)
      local now = c:get(w)
      assert.are.equal("Running", now.status.phase)
      assert.are.equal(1, now.metadata.generation)
      assert.is_true(tonumber(now.metadata.resourceVersion) > tonumber(w.metadata.resourceVersion))
      assert.are.same({ size = 1 }, now.spec)
    end)

    it("tells why a wait timed out", function()
      local err = failing(c.wait, c, widget("never", ns), { condition = "Ready", timeout = "1s" })
      assert.are.equal("timeout", err.kind)
      assert.are.equal("Widget " .. ns .. "/never on " .. c.name .. " not Ready=True after 1s: does not exist yet",
        err.message)
    end)
  end)

  describe("deletion", function()
    it("answers with a Status", function()
      local cm = c:create(configmap("a", ns))
      local answer = c:delete(cm)
      assert.are.equal("Status", answer.kind)
      assert.are.equal("Success", answer.status)
      assert.are.same({ name = "a", kind = "configmaps", uid = cm.metadata.uid }, answer.details)
      assert.is_nil(c:find(cm))
    end)

    it("waits for finalizers", function()
      local cm = configmap("held", ns)
      cm.metadata.finalizers = { "contract.ferry.dev/hold" }
      c:create(cm)
      local answer = c:delete(cm)
      assert.are.equal("ConfigMap", answer.kind)
      assert.is_string(answer.metadata.deletionTimestamp)
      assert.is_string(c:get(cm).metadata.deletionTimestamp)
      c:patch(cm, { metadata = { finalizers = json.null } })
      assert.is_nil(c:wait(cm, { deleted = true, timeout = "20s" }))
    end)

    it("of a namespace takes what is in it", function()
      local other = unique("contract-ns")
      local created = c:create { apiVersion = "v1", kind = "Namespace", metadata = { name = other } }
      assert.are.equal("Active", created.status.phase)
      assert.are.same({ "kubernetes" }, created.spec.finalizers)
      assert.are.equal(other, created.metadata.labels["kubernetes.io/metadata.name"])
      c:create(configmap("inside", other))
      local answer = c:delete(created)
      assert.are.equal("Terminating", answer.status.phase)
      c:wait(created, { deleted = true, timeout = "2m" })
      assert.is_nil(c:find(configmap("inside", other)))
    end)
  end)

  describe("server-side apply", function()
    local function cm(data, labels)
      return configmap("applied", ns, data, labels)
    end

    it("creates, then changes nothing when nothing changed", function()
      local first = c:apply(cm({ x = "1" }), { field_manager = "mgr-a" })[1]
      local again = c:apply(cm({ x = "1" }), { field_manager = "mgr-a" })[1]
      assert.are.equal(first.metadata.resourceVersion, again.metadata.resourceVersion)
      assert.are.same({ ["f:data"] = { ["f:x"] = {} }, ["f:metadata"] = { ["f:labels"] = { ["f:" .. LABEL] = {} } } },
        managers(again)["mgr-a/Apply"])
    end)

    it("refuses to change another manager's field (conflict)", function()
      c:apply(cm({ x = "1", y = "2" }), { field_manager = "mgr-a" })
      local err = failing(c.apply, c, cm({ x = "changed" }), { field_manager = "mgr-b", force = false })
      assert.are.equal("apply", err.kind)
      assert.are.equal(409, err.cause.status)
      assert.are.equal("Conflict", err.cause.reason)
      assert.are.equal('Apply failed with 1 conflict: conflict with "mgr-a": .data.x', err.cause.api_message)
      assert.are.same({ causes = { { field = ".data.x", message = 'conflict with "mgr-a"',
                                     reason = "FieldManagerConflict" } } }, err.cause.details)
      err = failing(c.apply, c, cm({ x = "9", y = "9" }), { field_manager = "mgr-b", force = false })
      assert.are.equal('Apply failed with 2 conflicts: conflicts with "mgr-a":\n- .data.x\n- .data.y',
        err.cause.api_message)
    end)

    it("names writers that are not appliers with their API version", function()
      c:apply(cm({ x = "1" }), { field_manager = "mgr-a" })
      c:patch(cm(), { data = { w = "9" } }, { field_manager = "updater" })
      local err = failing(c.apply, c, cm({ x = "2", w = "10" }), { field_manager = "mgr-b", force = false })
      assert.are.equal('Apply failed with 2 conflicts: conflicts with "mgr-a":\n- .data.x\n'
        .. 'conflicts with "updater" using v1:\n- .data.w', err.cause.api_message)
    end)

    it("shares fields applied with the same value", function()
      c:apply(cm({ x = "1" }), { field_manager = "mgr-a" })
      local shared = c:apply(cm({ x = "1", z = "3" }), { field_manager = "mgr-b", force = false })[1]
      local by = managers(shared)
      assert.are.same({ ["f:x"] = {} }, by["mgr-a/Apply"]["f:data"])
      assert.are.same({ ["f:x"] = {}, ["f:z"] = {} }, by["mgr-b/Apply"]["f:data"])
    end)

    it("takes fields over when forced", function()
      c:apply(cm({ x = "1", y = "2" }), { field_manager = "mgr-a" })
      local forced = c:apply(cm({ x = "forced" }), { field_manager = "mgr-b", force = true })[1]
      assert.are.equal("forced", forced.data.x)
      local by = managers(forced)
      assert.are.same({ ["f:y"] = {} }, by["mgr-a/Apply"]["f:data"])
      assert.are.same({ ["f:x"] = {} }, by["mgr-b/Apply"]["f:data"])
    end)

    it("removes fields a manager no longer applies, unless another owns them", function()
      c:apply(cm({ x = "1", y = "2", shared = "s" }, { [LABEL] = "yes", extra = "e" }), { field_manager = "mgr-a" })
      c:apply(cm({ shared = "s" }), { field_manager = "mgr-b" })
      local after = c:apply(cm({ x = "1" }), { field_manager = "mgr-a" })[1]
      assert.are.same({ x = "1", shared = "s" }, after.data)
      assert.are.same({ [LABEL] = "yes" }, after.metadata.labels)
    end)

    it("merges lists by key", function()
      local function deployment(containers)
        return yaml.decode(string.format([[
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: %s}
]], ns, json.encode(containers)))
      end
      c:apply(deployment({ { name = "web", image = "web:1", ports = { { containerPort = 80 } } } }),
        { field_manager = "mgr-a" })
      local err = failing(c.apply, c, deployment({ { name = "web", image = "web:2" } }),
        { field_manager = "mgr-b", force = false })
      assert.are.equal('Apply failed with 1 conflict: conflict with "mgr-a": '
        .. '.spec.template.spec.containers[name="web"].image', err.cause.api_message)
      local both = c:apply(deployment({ { name = "side", image = "side:1" } }), { field_manager = "mgr-b" })[1]
      local names = {}
      for _, container in ipairs(both.spec.template.spec.containers) do names[#names + 1] = container.name end
      table.sort(names)
      assert.are.same({ "side", "web" }, names)
      local fields = managers(both)["mgr-a/Apply"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
      assert.are.same({ ["."] = {}, ["f:containerPort"] = {} },
        fields['k:{"name":"web"}']["f:ports"]['k:{"containerPort":80,"protocol":"TCP"}'])
    end)

    it("changes nothing with dry_run", function()
      local planned = c:apply(cm({ x = "1" }), { dry_run = true })[1]
      assert.are.equal("applied", planned.metadata.name)
      assert.is_nil(planned.metadata.resourceVersion)
      assert.is_nil(c:find(cm()))
    end)
  end)

  describe("watches", function()
    it("see what happens, in order", function()
      local seen = {}
      local watcher = task.spawn(function()
        for event in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = ns, labelSelector = LABEL,
                               timeout = 60 } do
          seen[#seen + 1] = event.type .. " " .. event.object.metadata.name
            .. (event.object.data and event.object.data.key and (" " .. event.object.data.key) or "")
          if event.type == "DELETED" then return end
        end
      end)
      task.sleep(0.3)
      local a = c:create(configmap("a", ns))
      c:patch(a, { data = { key = "two" } })
      c:create(configmap("b", ns, {}, { other = "label" }))
      c:delete(a)
      task.timeout(30, function() watcher:wait() end)
      assert.are.same({ "ADDED a value", "MODIFIED a two", "DELETED a two" }, seen)
    end)

    it("start from a resourceVersion", function()
      local a = c:create(configmap("a", ns))
      c:patch(a, { data = { key = "later" } })
      local seen = {}
      for event in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = ns, name = "a",
                             resource_version = a.metadata.resourceVersion, timeout = 30 } do
        seen[#seen + 1] = event.type .. " " .. event.object.data.key
        break
      end
      assert.are.same({ "MODIFIED later" }, seen)
    end)
  end)

  describe("custom resources", function()
    it("are served once their CRD is there", function()
      local mapping = c:resource("contract.ferry.dev/v1", "Widget")
      assert.are.equal("widgets", mapping.resource)
      assert.is_true(mapping.namespaced)
      local created = c:create(widget("w", ns, { size = 3, tags = { "a" } }))
      assert.are.same({ size = 3, tags = { "a" } }, created.spec)
      assert.are.equal(1, #c:list { apiVersion = "contract.ferry.dev/v1", kind = "Widget", namespace = ns })
    end)

    it("are unknown without one", function()
      local err = failing(c.get, c, { apiVersion = "nothere.ferry.dev/v1", kind = "Gadget", name = "x" })
      assert.are.equal("unknown_kind", err.kind)
    end)
  end)

  describe("the server", function()
    it("tells its version", function()
      local v = c:version()
      assert.are.equal("1", v.major)
      assert.matches("^v1%.%d+%.%d+", v.gitVersion)
    end)

    it("lists no events for a quiet object", function()
      local cm = c:create(configmap("quiet", ns))
      local events = c:events(cm)
      assert.are.equal(0, #events)
      assert.are.equal("array", getmetatable(events).__jsontype)
    end)

    it("maps built-in kinds to their resources", function()
      local deployments = c:resource("apps/v1", "Deployment")
      assert.are.equal("deployments", deployments.resource)
      assert.is_true(deployments.namespaced)
      assert.is_false(c:resource("v1", "Namespace").namespaced)
      assert.are.equal("autoscaling/v2", c:resource(nil, "HorizontalPodAutoscaler").apiVersion)
    end)
  end)
end

describe("ferry.testing.fake_cluster", function()
  contract(function()
    return testing.fake_cluster { name = "contract-fake" }
  end, function(c, ref, status)
    c:set_status(ref, status)
  end)
end)

describe("kube-apiserver (tests/env)", function()
  if not os.getenv("FERRY_ENV_STATUS") then
    error("FERRY_ENV_STATUS is not set: the contract of the fake cluster must also run against the real API "
      .. "server; run through tests/run-all (make test), or start tests/env and point FERRY_ENV_STATUS at "
      .. "`tests/env/ferry-env status`", 0)
  end
  local env = require "tests.integration.support.env"
  contract(function()
    return env.connect("old")
  end, function(c, ref, status)
    c:patch(ref, { status = status }, { subresource = "status" })
  end)
end)

-- fake_prom answers PromQL as Prometheus does: the same series are
-- loaded into a Prometheus of its own (Debian's, as tests/env uses, filled
-- with promtool's backfill) and into the fake, and both are asked the
-- same queries at the same times.
describe("ferry.testing.fake_prom against Prometheus", function()
  local exec = require "exec"
  local http = require "http"
  local sys = require "ferry.sys"

  local STEP = 15
  local base = math.floor((os.time() - 3 * 3600) / STEP) * STEP
  local N = 480 -- two hours of samples

  local function series()
    local list = {}
    local function add(metric, fn)
      local values = {}
      for i = 0, N - 1 do
        local v = fn(i)
        if v then values[#values + 1] = { base + i * STEP, v } end
      end
      list[#list + 1] = { metric = metric, values = values }
    end
    add({ __name__ = "http_requests_total", job = "web", code = "200", instance = "a" }, function(i) return i * 150 end)
    add({ __name__ = "http_requests_total", job = "web", code = "500", instance = "a" }, function(i)
      return (i < 250 and i or i - 250) * 7.5 -- a counter reset half-way
    end)
    add({ __name__ = "http_requests_total", job = "web", code = "200", instance = "b" }, function(i) return i * 105 end)
    add({ __name__ = "http_requests_total", job = "web", code = "503", instance = "b" }, function(i) return i * 3 end)
    for _, instance in ipairs({ "a", "b" }) do
      add({ __name__ = "queue_depth", job = "worker", instance = instance }, function(i)
        return math.floor((5 + 3 * math.sin(i / 7 + (instance == "b" and 1 or 0))) * 1000 + 0.5) / 1000
      end)
    end
    for le, share in pairs({ ["0.05"] = 0.3, ["0.1"] = 0.55, ["0.5"] = 0.9, ["1"] = 0.97, ["+Inf"] = 1 }) do
      add({ __name__ = "latency_seconds_bucket", job = "web", le = le }, function(i) return math.floor(i * 40 * share) end)
    end
    add({ __name__ = "sparse_gauge", job = "batch" }, function(i) return i % 40 < 20 and (i % 7) or nil end)
    return list
  end

  local SERIES = series()
  local dir, process, url, fake

  local function openmetrics()
    local lines = {}
    for _, s in ipairs(SERIES) do
      local labels = {}
      local keys = {}
      for k in pairs(s.metric) do if k ~= "__name__" then keys[#keys + 1] = k end end
      table.sort(keys)
      for _, k in ipairs(keys) do labels[#labels + 1] = string.format('%s="%s"', k, s.metric[k]) end
      local head = s.metric.__name__ .. "{" .. table.concat(labels, ",") .. "}"
      for _, sample in ipairs(s.values) do
        lines[#lines + 1] = string.format("%s %s %d", head, string.format("%.17g", sample[2]), sample[1])
      end
    end
    lines[#lines + 1] = "# EOF"
    return table.concat(lines, "\n") .. "\n"
  end

  local function get(path, params)
    local parts = {}
    for k, v in pairs(params) do
      parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", c:byte())
      end)
    end
    local r = http.request { url = url .. path .. "?" .. table.concat(parts, "&"), timeout = 30 }
    local decoded = json.decode(r.body)
    decoded.http_status = r.status
    return decoded
  end

  setup(function()
    for _, tool in ipairs({ "prometheus", "promtool" }) do
      if not exec.which(tool) then
        error(tool .. " is not installed (Debian package prometheus, which tests/env installs too)", 0)
      end
    end
    dir = exec.run({ argv = { "mktemp", "-d", "/tmp/ferry-prom-contract.XXXXXX" } }).stdout:gsub("%s+$", "")
    local f = assert(io.open(dir .. "/series.om", "w"))
    f:write(openmetrics())
    f:close()
    local made = exec.run { argv = { "promtool", "tsdb", "create-blocks-from", "openmetrics", dir .. "/series.om",
                                     dir .. "/data" }, timeout = 120 }
    assert(made.code == 0, made.stderr)
    f = assert(io.open(dir .. "/prometheus.yml", "w"))
    f:write("global:\n  scrape_interval: 15s\n")
    f:close()
    local port = exec.run({ argv = { "python3", "-c",
      "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" } }).stdout:match("%d+")
    url = "http://127.0.0.1:" .. port
    process = exec.spawn { argv = { "prometheus", "--config.file=" .. dir .. "/prometheus.yml",
                                    "--storage.tsdb.path=" .. dir .. "/data", "--web.listen-address=127.0.0.1:" .. port,
                                    "--log.level=warn" } }
    local deadline = sys.monotonic() + 60
    while true do
      local ok, r = pcall(http.request, { url = url .. "/-/ready", timeout = 2 })
      if ok and r.status == 200 then break end
      assert(sys.monotonic() < deadline, "prometheus did not become ready")
      task.sleep(0.2)
    end
    fake = testing.fake_prom { series = SERIES }
  end)

  teardown(function()
    if process then process:close() end
    if dir and dir:match("^/tmp/ferry%-prom%-contract%.") then exec.run { argv = { "rm", "-rf", dir } } end
  end)

  local function label_key(metric)
    local keys = {}
    for k in pairs(metric) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. metric[k] end
    return "{" .. table.concat(parts, ",") .. "}"
  end

  local function number(text)
    if text == "NaN" then return 0 / 0 end
    if text == "+Inf" then return math.huge end
    if text == "-Inf" then return -math.huge end
    return tonumber(text)
  end

  local function close(a, b)
    if a ~= a or b ~= b then return a ~= a and b ~= b end
    if a == b then return true end
    return math.abs(a - b) <= 1e-9 * math.max(1, math.abs(a), math.abs(b))
  end

  -- Both answers as {label set = value} (or the scalar), compared: the
  -- fake through the prom client, Prometheus through its HTTP API.
  local function agree(expr, at)
    local real = get("/api/v1/query", { query = expr, time = at })
    assert.are.equal("success", real.status, expr .. ": " .. tostring(real.error))
    local mine = fake:query(expr, { time = at })
    assert.are.equal(real.data.resultType, mine.type, expr)
    if mine.type == "scalar" then
      assert.is_true(close(number(real.data.result[2]), mine.value),
        expr .. ": Prometheus " .. real.data.result[2] .. ", fake " .. tostring(mine.value))
      return
    end
    local want, got = {}, {}
    for _, e in ipairs(real.data.result) do want[label_key(e.metric)] = number(e.value[2]) end
    for _, e in ipairs(mine.series) do got[label_key(e.labels)] = e.value end
    for key, v in pairs(want) do
      assert.is_true(got[key] ~= nil and close(v, got[key]),
        string.format("%s at %d: %s is %s in Prometheus, %s in the fake", expr, at, key, tostring(v), tostring(got[key])))
    end
    for key, v in pairs(got) do
      assert.is_truthy(want[key], string.format("%s at %d: the fake has %s = %s, Prometheus does not", expr, at,
        key, tostring(v)))
    end
  end

  local EXPRESSIONS = {
    'http_requests_total',
    'http_requests_total{code="500"}',
    'http_requests_total{code=~"5.."}',
    'http_requests_total{code!="200",instance="b"}',
    'http_requests_total{code!~"2..|503"}',
    'rate(http_requests_total[5m])',
    'rate(http_requests_total{code="500"}[30m])',
    'irate(http_requests_total[1m])',
    'increase(http_requests_total[10m])',
    'delta(queue_depth[5m])',
    'idelta(queue_depth[2m])',
    'sum(rate(http_requests_total[5m]))',
    'sum by (code) (rate(http_requests_total[5m]))',
    'sum without (instance) (rate(http_requests_total[5m]))',
    'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
    'avg(queue_depth)', 'max(queue_depth)', 'min by (job) (queue_depth)', 'count(http_requests_total)',
    'stddev(queue_depth)', 'topk(1, queue_depth)', 'bottomk(1, rate(http_requests_total[5m]))',
    'quantile(0.5, rate(http_requests_total[5m]))', 'group by (job) (queue_depth)',
    'avg_over_time(queue_depth[10m])', 'max_over_time(queue_depth[10m])', 'min_over_time(queue_depth[10m])',
    'sum_over_time(queue_depth[5m])', 'count_over_time(queue_depth[5m])', 'last_over_time(sparse_gauge[10m])',
    'sparse_gauge',
    'histogram_quantile(0.9, sum by (le) (rate(latency_seconds_bucket[5m])))',
    'histogram_quantile(0.5, rate(latency_seconds_bucket[5m]))',
    'queue_depth > 5', 'queue_depth > bool 5', 'rate(http_requests_total[5m]) >= 7',
    'rate(http_requests_total[5m])',
    'queue_depth{instance="a"} - on(job) queue_depth{instance="b"}',
    'queue_depth{instance="a"} - ignoring(instance) queue_depth{instance="b"}',
    'http_requests_total{instance="a"} and http_requests_total{code="200"}',
    'http_requests_total{instance="a"} unless on(code) http_requests_total{instance="b"}',
    'http_requests_total{code="503"} or http_requests_total{code="500"}',
    'abs(queue_depth - 5)', 'clamp_max(queue_depth, 5)', 'clamp_min(queue_depth, 5)', 'round(queue_depth)',
    'round(queue_depth, 0.5)', 'ceil(queue_depth)', 'floor(queue_depth)', 'sqrt(queue_depth)',
    'vector(1)', 'scalar(sum(queue_depth))', 'time()', '1 + 2 * 3 ^ 2', '-2 ^ 2', '10 % 3', '2 > bool 1',
    'queue_depth offset 5m', 'rate(http_requests_total[5m] offset 10m)',
    'absent(nothing_here{job="x"})', 'absent(queue_depth)',
    '-queue_depth', 'queue_depth * 2 + 1', '(queue_depth)',
  }

  local TIMES = { base + 3600, base + 3607, base + 5400 + 3, base + 60 * 90 }

  for _, expr in ipairs(EXPRESSIONS) do
    it("agrees on " .. expr, function()
      for _, at in ipairs(TIMES) do agree(expr, at) end
    end)
  end

  it("agrees on range queries", function()
    for _, expr in ipairs({ 'sum(rate(http_requests_total[5m]))', 'queue_depth', 'sum by (code) (increase(http_requests_total[1m]))' }) do
      local start, stop, step = base + 1800, base + 3600, 60
      local real = get("/api/v1/query_range", { query = expr, start = start, ["end"] = stop, step = step })
      local mine = fake:range(expr, { start = start, stop = stop, step = step })
      assert.are.equal("matrix", real.data.resultType)
      assert.are.equal(#real.data.result, #mine.series, expr)
      local by_key = {}
      for _, s in ipairs(mine.series) do by_key[label_key(s.labels)] = s.values end
      for _, s in ipairs(real.data.result) do
        local values = by_key[label_key(s.metric)]
        assert.is_table(values, expr .. " " .. label_key(s.metric))
        assert.are.equal(#s.values, #values)
        for i, v in ipairs(s.values) do
          assert.are.equal(v[1], values[i][1])
          assert.is_true(close(number(v[2]), values[i][2]), expr)
        end
      end
    end
  end)

  it("refuses what Prometheus refuses", function()
    for _, expr in ipairs({ 'sum(rate(x[5m])', 'rate(queue_depth)', 'queue_depth{job=}', '1 > 2', 'nope(1)',
                            'rate(queue_depth[5m], 1)', '{job=""}', 'sum(queue_depth[5m])', '1 and 2',
                            'queue_depth - ignoring(instance) group by (job) (queue_depth)' }) do
      local real = get("/api/v1/query", { query = expr, time = base + 3600 })
      assert.are.equal("error", real.status, expr)
      local ok, err = pcall(fake.query, fake, expr, { time = base + 3600 })
      assert.is_false(ok, expr)
      assert.are.equal("prom", err.kind)
      assert.are.equal(real.errorType, err.error_type, expr .. ": Prometheus says " .. tostring(real.error))
      assert.are.equal(real.http_status, err.status, expr)
    end
  end)
end)
