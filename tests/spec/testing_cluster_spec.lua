-- ferry.testing.fake_cluster(): what only the fake has (seeding, setting
-- status and readiness, events, logs, compaction, connecting a recipe).
-- What it shares with a real API server is checked against one by
-- tests/integration/fake_contract_spec.lua.

local testing = require "ferry.testing"
local json = require "json"
local task = require "task"

local SEED = [[
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: tenant-a}
data: {mode: blue}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec: {containers: [{name: web, image: "registry.example/web:1"}]}
status: {phase: Running}
]]

local deployment = { apiVersion = "apps/v1", kind = "Deployment", namespace = "shop", name = "web" }

describe("fake_cluster", function()
  local c

  before_each(function()
    c = testing.fake_cluster { name = "prod-eun-2", objects = SEED }
  end)

  describe("seeding", function()
    it("stores YAML documents, creating missing namespaces", function()
      assert.are.equal("blue", c:get { apiVersion = "v1", kind = "ConfigMap", namespace = "tenant-a",
                                       name = "settings" }.data.mode)
      assert.is_table(c:get { apiVersion = "v1", kind = "Namespace", name = "tenant-a" })
      assert.are.equal(3, c:get(deployment).spec.replicas)
    end)

    it("keeps the status of seeded objects", function()
      assert.are.equal("Running", c:get { apiVersion = "v1", kind = "Pod", namespace = "shop", name = "web-1" }
        .status.phase)
    end)

    it("takes objects too, and loads more later", function()
      local more = testing.fake_cluster { objects = { { apiVersion = "v1", kind = "ConfigMap",
                                                        metadata = { name = "one", namespace = "default" } } } }
      assert.is_table(more:find { apiVersion = "v1", kind = "ConfigMap", name = "one" })
      more:load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n")
      assert.are.same({ "one", "two" }, (function()
        local names = {}
        for _, cm in ipairs(more:objects { kind = "ConfigMap", namespace = "default" }) do
          names[#names + 1] = cm.metadata.name
        end
        return names
      end)())
    end)

    it("loads custom resources after their CRD", function()
      c:load([[
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: tenant-a, namespace: flux-system}
spec: {interval: 5m, path: ./tenants/a}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: kustomizations.kustomize.toolkit.fluxcd.io}
spec:
  group: kustomize.toolkit.fluxcd.io
  scope: Namespaced
  names: {kind: Kustomization, plural: kustomizations, singular: kustomization, shortNames: [ks]}
  versions: [{name: v1, served: true, storage: true, subresources: {status: {}}}]
]])
      local ks = c:get { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
                         namespace = "flux-system", name = "tenant-a" }
      assert.are.equal("./tenants/a", ks.spec.path)
    end)

    it("refuses a kind it does not serve", function()
      local ok, err = pcall(c.load, c, "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n")
      assert.is_false(ok)
      assert.are.equal("unknown_kind", err.kind)
      assert.matches("CustomResourceDefinition", err.message)
    end)

    it("has the namespaces every cluster has", function()
      local fresh = testing.fake_cluster()
      local names = {}
      for _, ns in ipairs(fresh:list { apiVersion = "v1", kind = "Namespace" }) do
        names[#names + 1] = ns.metadata.name
      end
      assert.are.same({ "default", "kube-node-lease", "kube-public", "kube-system" }, names)
    end)
  end)

  describe("readiness", function()
    it("is not there until the test says so", function()
      local ok, reason = c:ready(deployment)
      assert.is_false(ok)
      assert.are.equal("0 of 3 replicas updated", reason)
      c:set_ready(deployment)
      assert.is_true((c:ready(deployment)))
      local d = c:get(deployment)
      assert.are.equal(3, d.status.availableReplicas)
      assert.are.equal(d.metadata.generation, d.status.observedGeneration)
    end)

    it("can fail", function()
      c:set_ready(deployment, false)
      local ok, reason = c:ready(deployment)
      assert.is_false(ok)
      assert.are.equal("0 of 3 replicas available", reason)
    end)

    it("wakes a wait at once", function()
      task.spawn(function()
        task.sleep(0.05)
        c:set_ready(deployment)
      end)
      local ready = c:wait(deployment, { timeout = "5s" })
      assert.are.equal(3, ready.status.readyReplicas)
    end)

    it("fails a wait that cannot succeed", function()
      local job = { apiVersion = "batch/v1", kind = "Job", metadata = { name = "migrate", namespace = "shop" },
                    spec = { template = { spec = { restartPolicy = "Never",
                                                   containers = { { name = "m", image = "m:1" } } } } } }
      c:create(job)
      task.spawn(function() c:set_ready(job, false) end)
      local ok, err = pcall(c.wait, c, job, { timeout = "5s" })
      assert.is_false(ok)
      assert.are.equal("failed", err.kind)
      assert.matches("failed: Job has reached the specified backoff limit", err.message)
    end)

    it("follows k8s.status for generic kinds (a Ready condition)", function()
      c:load([[
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: canaries.flagger.app}
spec:
  group: flagger.app
  scope: Namespaced
  names: {kind: Canary, plural: canaries}
  versions: [{name: v1beta1, served: true, storage: true, subresources: {status: {}}}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: shop}
spec: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}}
]])
      local canary = { apiVersion = "flagger.app/v1beta1", kind = "Canary", namespace = "shop", name = "web" }
      assert.is_true((c:ready(canary)), "no conditions yet reads as current")
      c:set_status(canary, { phase = "Progressing", conditions = { { type = "Ready", status = "False",
                                                                     message = "analysis running" } } })
      local ok, reason = c:ready(canary)
      assert.is_false(ok)
      assert.are.equal("Ready=False: analysis running", reason)
      c:set_ready(canary)
      assert.is_true((c:ready(canary)))
      assert.are.equal("Progressing", c:get(canary).status.phase, "set_ready keeps the rest of the status")
    end)

    it("is a status write: new resourceVersion, same generation, seen by watches", function()
      local before = c:get(deployment)
      local events = {}
      local watcher = task.spawn(function()
        for event in c:watch { apiVersion = "apps/v1", kind = "Deployment", namespace = "shop",
                               resource_version = before.metadata.resourceVersion, timeout = 5 } do
          events[#events + 1] = event.type
          return
        end
      end)
      c:set_status(deployment, { replicas = 3 })
      watcher:wait()
      local after = c:get(deployment)
      assert.are.same({ "MODIFIED" }, events)
      assert.are.equal(before.metadata.generation, after.metadata.generation)
      assert.is_true(tonumber(after.metadata.resourceVersion) > tonumber(before.metadata.resourceVersion))
    end)

    it("needs the object to exist", function()
      local ok, err = pcall(c.set_status, c, { apiVersion = "v1", kind = "Pod", namespace = "shop", name = "none" },
        { phase = "Running" })
      assert.is_false(ok)
      assert.are.equal(404, err.status)
    end)
  end)

  describe("inspection", function()
    it("lists stored objects without requests", function()
      local pods = c:objects { kind = "Pod", namespace = "shop" }
      assert.are.equal(1, #pods)
      pods[1].spec = nil
      assert.is_table(c:objects({ kind = "Pod", namespace = "shop" })[1].spec, "callers get copies")
    end)

    it("hands out copies: changing a result changes nothing stored", function()
      local d = c:get(deployment)
      d.spec.replicas = 99
      assert.are.equal(3, c:get(deployment).spec.replicas)
    end)

    it("counts resourceVersions", function()
      local now = c:revision()
      c:patch(deployment, { metadata = { labels = { touched = "yes" } } })
      assert.are.equal(now + 1, c:revision())
    end)
  end)

  describe("events and logs", function()
    it("lists the events a test adds, oldest first", function()
      c:add_event(deployment, { reason = "ScalingReplicaSet", message = "Scaled up to 3" })
      c:add_event(deployment, { reason = "Unhealthy", message = "probe failed", type = "Warning" })
      local events = c:events(deployment)
      assert.are.equal(2, #events)
      assert.are.equal("ScalingReplicaSet", events[1].reason)
      assert.are.equal("Warning", events[2].type)
      assert.are.equal("web", events[2].involvedObject.name)
      assert.are.equal(0, #c:events { apiVersion = "v1", kind = "Pod", namespace = "shop", name = "web-1" })
    end)

    it("gives the logs a test sets", function()
      c:set_logs({ apiVersion = "v1", kind = "Pod", namespace = "shop", name = "web-1" }, "started\nready\n")
      assert.are.equal("started\nready\n", c:logs { pod = "web-1", namespace = "shop" })
      local ok, err = pcall(c.logs, c, { pod = "missing", namespace = "shop" })
      assert.is_false(ok)
      assert.are.equal('pods "missing" not found', err.api_message)
    end)
  end)

  describe("watches", function()
    it("resume after compaction by relisting (410 Gone)", function()
      local cm = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "w", namespace = "shop" } }
      local first = c:create(cm)
      c:patch(cm, { data = { step = "1" } })
      c:compact()
      local seen = {}
      local watcher = task.spawn(function()
        for event in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "shop",
                               resource_version = first.metadata.resourceVersion, timeout = 5 } do
          seen[#seen + 1] = event.type .. " " .. tostring(event.object.data and event.object.data.step)
          if #seen == 2 then return end
        end
      end)
      task.sleep(0.05)
      c:patch(cm, { data = { step = "2" } })
      watcher:wait()
      assert.are.same({ "ADDED 1", "MODIFIED 2" }, seen)
    end)

    it("stop when the loop is left", function()
      c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "a", namespace = "shop" } }
      local count = 0
      for _ in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "shop", send_initial = true,
                         timeout = 5 } do
        count = count + 1
        break
      end
      assert.are.equal(1, count)
    end)
  end)

  describe("clients", function()
    it("share the cluster with other namespaces and names", function()
      local other = c:client { namespace = "shop", name = "second" }
      assert.are.equal("second", other.name)
      assert.are.equal(3, other:get({ apiVersion = "apps/v1", kind = "Deployment", name = "web" }).spec.replicas)
      other:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "from-other" } }
      assert.is_table(c:find { apiVersion = "v1", kind = "ConfigMap", namespace = "shop", name = "from-other" })
    end)

    it("are k8s clients", function()
      local k8s = require "k8s"
      assert.are.equal(getmetatable(c).__index, getmetatable(c).__index)
      assert.is_function(c.apply)
      assert.matches("^k8s client prod%-eun%-2 %(fake://prod%-eun%-2, namespace default%)$", tostring(c))
      assert.is_table(k8s.status)
    end)

    it("apply manifests with CRDs and their objects in one call", function()
      local applied = c:apply([[
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: helmreleases.helm.toolkit.fluxcd.io}
spec:
  group: helm.toolkit.fluxcd.io
  scope: Namespaced
  names: {kind: HelmRelease, plural: helmreleases}
  versions: [{name: v2, served: true, storage: true, subresources: {status: {}}}]
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: shop}
spec: {interval: 5m}
]])
      assert.are.equal(2, #applied)
      assert.are.equal("podinfo", applied[2].metadata.name)
      assert.are.equal("HelmRelease", c:resource("helm.toolkit.fluxcd.io/v2", "HelmRelease").kind)
    end)

    it("report the version they are given", function()
      local old = testing.fake_cluster { version = "1.29.7" }
      assert.are.equal("v1.29.7", old:version().gitVersion)
      assert.are.equal("29", old:version().minor)
    end)
  end)

  describe("connecting a recipe", function()
    it("maps cluster names to fakes", function()
      local other = testing.fake_cluster { name = "prod-eun-1" }
      local connect = testing.connector { ["prod-eun-1"] = other, ["prod-eun-2"] = c }
      assert.are.equal(c, connect("prod-eun-2"))
      local ok, err = pcall(connect, "prod-weu-1")
      assert.is_false(ok)
      assert.are.equal('no fake cluster named "prod-weu-1" (fakes: prod-eun-1, prod-eun-2)', err.message)
    end)

    it("runs a recipe against fakes", function()
      local recipe = require "recipe"
      local scale = recipe {
        name = "scale-web",
        params = { { name = "to", required = true } },
        steps = { { name = "scale", run = function(ctx)
          local new = ctx.k8s.new
          new:patch(deployment, { spec = { replicas = 5 } })
          new:wait(deployment, { timeout = "5s" })
        end } },
      }
      task.spawn(function() c:set_ready(deployment) end)
      local state_dir = os.tmpname()
      os.remove(state_dir)
      finally(function() os.execute("rm -rf '" .. state_dir .. "'") end)
      -- the run's log lines and report go to a sink, not into the spec's output
      local sink = { write = function(self) return self end, flush = function() end }
      local log = require "log"
      log.configure { stream = sink }
      finally(function() log.configure { stream = io.stderr } end)
      local report = recipe.run(scale, { params = { to = "prod-eun-2" }, state_dir = state_dir, output = sink,
                                         connect = testing.connector { ["prod-eun-2"] = c } })
      assert.are.equal("succeeded", report.status)
      assert.are.equal(5, c:get(deployment).spec.replicas)
      assert.are.equal(2, c:get(deployment).metadata.generation)
    end)

    it("stands in for k8s.connect until restored", function()
      local k8s = require "k8s"
      local restore = testing.use { clusters = { ["prod-eun-2"] = c } }
      finally(restore)
      assert.are.equal(c, k8s.connect { context = "prod-eun-2" })
      assert.are.equal(c, k8s.connect("prod-eun-2"))
      restore()
      local ok = pcall(k8s.connect, { context = "prod-eun-2", kubeconfig = "/nonexistent/kubeconfig" })
      assert.is_false(ok)
    end)
  end)

  describe("errors", function()
    it("have the client's shape", function()
      local ok, err = pcall(c.get, c, { apiVersion = "v1", kind = "Secret", namespace = "shop", name = "nope" })
      assert.is_false(ok)
      assert.are.equal("api", err.kind)
      assert.are.equal('api: secrets "nope" not found (GET /api/v1/namespaces/shop/secrets/nope on prod-eun-2)',
        tostring(err))
      assert.are.same({ name = "nope", kind = "secrets" }, err.details)
    end)

    it("come from the apply tiers as from a real cluster", function()
      local ok, err = pcall(c.apply, c, { apiVersion = "v1", kind = "ConfigMap",
                                          metadata = { name = "x", namespace = "no-such-ns" } })
      assert.is_false(ok)
      assert.are.equal("apply", err.kind)
      assert.are.equal(404, err.cause.status)
      assert.are.equal('namespaces "no-such-ns" not found', err.cause.api_message)
    end)

    it("include Secrets' stringData as data", function()
      local s = c:create { apiVersion = "v1", kind = "Secret", metadata = { name = "creds", namespace = "shop" },
                           stringData = { token = "abc" } }
      assert.is_nil(s.stringData)
      assert.are.equal("YWJj", s.data.token)
      assert.are.equal("Opaque", s.type)
      assert.are.equal(json.null, json.null)
    end)
  end)
end)
