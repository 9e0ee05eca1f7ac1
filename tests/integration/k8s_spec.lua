-- The k8s module against the real control planes of tests/env.
local env = require "tests.integration.support.env"
local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local json = require "json"
local k8s = require "k8s"
local task = require "task"
local yaml = require "yaml"

local FIXTURES = helpers.fixtures()

local function admin_token(cluster)
  local cfg = k8s.config.load { kubeconfig = env.status().kubeconfig }
  local context = cfg.contexts[env.status().clusters[cluster].contexts.admin]
  return cfg.users[context.user].token
end

local function configmap(name, namespace, data)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = namespace },
           data = data or { key = "value" } }
end

describe("k8s against real API servers", function()
  local old, new

  setup(function()
    old = env.connect("old")
    new = env.connect("new")
  end)

  describe("connecting", function()
    it("talks to two clusters of different versions side by side", function()
      local versions = task.all {
        function() return old:version() end,
        function() return new:version() end,
      }
      assert.are.equal(env.status().clusters.old.version, versions[1].gitVersion)
      assert.are.equal(env.status().clusters.new.version, versions[2].gitVersion)
      assert.are_not.equal(versions[1].minor, versions[2].minor)
    end)

    it("authenticates with a client certificate", function()
      local c = env.connect("old", "cert")
      assert.is_table(c:get { apiVersion = "v1", kind = "Namespace", name = "default" })
    end)

    it("authenticates with an exec credential plugin, caching and re-running it", function()
      local dir = helpers.tmpdir()
      local count_file = dir .. "/count"
      local token = admin_token("old")
      -- the first run returns a wrong token: the 401 makes ferry run the plugin again
      helpers.write_file(dir .. "/plugin.sh", string.format([[#!/bin/sh
n=$(cat %s 2>/dev/null || echo 0); n=$((n + 1)); echo $n > %s
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 1;; esac
if [ $n -eq 1 ]; then token=wrong; else token=%s; fi
expiry=$(date -u -d "+2 seconds" +%%Y-%%m-%%dT%%H:%%M:%%SZ)
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%%s","expirationTimestamp":"%%s"}}' "$token" "$expiry"
]], count_file, count_file, token))
      exec.run { argv = { "chmod", "+x", dir .. "/plugin.sh" } }
      local server = env.status().clusters.old.server
      local cfg = k8s.config.load { kubeconfig = env.status().kubeconfig }
      local cluster = cfg.clusters[cfg.contexts[env.status().clusters.old.contexts.admin].cluster]
      helpers.write_file(dir .. "/kubeconfig", yaml.encode {
        apiVersion = "v1", kind = "Config", ["current-context"] = "plugin",
        clusters = { { name = "old", cluster = { server = server,
          ["certificate-authority-data"] = cluster["certificate-authority-data"],
          ["certificate-authority"] = cluster["certificate-authority"] } } },
        users = { { name = "plugin", user = { exec = {
          apiVersion = "client.authentication.k8s.io/v1", command = "./plugin.sh",
          interactiveMode = "Never" } } } },
        contexts = { { name = "plugin", context = { cluster = "old", user = "plugin" } } },
      })
      local c = k8s.connect { kubeconfig = dir .. "/kubeconfig" }
      assert.is_table(c:version())
      assert.are.equal("2", helpers.read_file(count_file):match("%d+"))
      c:version() -- cached: no new run
      assert.are.equal("2", helpers.read_file(count_file):match("%d+"))
      task.sleep(2.5) -- the credential expired
      c:version()
      assert.are.equal("3", helpers.read_file(count_file):match("%d+"))
      helpers.remove_tree(dir)
    end)

    it("authenticates in-cluster from service-account files", function()
      local dir = helpers.tmpdir()
      local cfg = k8s.config.load { kubeconfig = env.status().kubeconfig }
      local cluster = cfg.clusters[cfg.contexts[env.status().clusters.old.contexts.admin].cluster]
      local ca = cluster["certificate-authority"] and helpers.read_file(cluster["certificate-authority"])
        or require("base64").decode(cluster["certificate-authority-data"])
      helpers.write_file(dir .. "/ca.crt", ca)
      helpers.write_file(dir .. "/token", "rotated-away\n")
      helpers.write_file(dir .. "/namespace", "kube-system")
      local host, port = cluster.server:match("^https://([^:/]+):(%d+)")
      local script = string.format([[
        local k8s = require "k8s"
        local c = k8s.connect { in_cluster = true, service_account_dir = %q }
        local ok, err = pcall(c.version, c)
        assert(not ok and err.status == 401, "expected 401 with the old token")
        local f = io.open(%q, "w"); f:write(%q); f:close() -- the token rotates
        return c.namespace .. " " .. c:version().gitVersion]], dir, dir .. "/token", admin_token("old"))
      local r = helpers.ferry({ "eval", script },
        { env = { KUBERNETES_SERVICE_HOST = host, KUBERNETES_SERVICE_PORT = port } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("kube-system " .. env.status().clusters.old.version .. "\n", r.stdout)
      helpers.remove_tree(dir)
    end)

    it("gives the restricted user's 403 as a structured error", function()
      local c = env.connect("old", "restricted")
      assert.is_table(c:list { apiVersion = "v1", kind = "ConfigMap" }) -- its own namespace
      local ok, err = pcall(c.list, c, { apiVersion = "v1", kind = "Secret", namespace = "kube-system" })
      assert.is_false(ok)
      assert.are.equal("api", err.kind)
      assert.are.equal(403, err.status)
      assert.are.equal("Forbidden", err.reason)
      assert.matches("forbidden", tostring(err))
    end)

    it("reports a dead server as a connect error naming the context", function()
      local c = env.connect("old", "admin", { server = "https://127.0.0.1:1" })
      local ok, err = pcall(c.version, c)
      assert.is_false(ok)
      assert.are.equal("connect", err.kind)
      assert.is_truthy(err.message:find(c.name, 1, true))
    end)
  end)

  describe("objects", function()
    local ns

    setup(function()
      ns = env.unique("ferry-objects")
      old:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }
    end)

    teardown(function()
      old:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
    end)

    it("creates, gets, patches, replaces and deletes", function()
      local created = old:create(configmap("a", ns))
      assert.are.equal("a", created.metadata.name)
      local got = old:get { apiVersion = "v1", kind = "ConfigMap", name = "a", namespace = ns }
      assert.are.equal("value", got.data.key)
      local patched = old:patch(got, { data = { extra = "1" } })
      assert.are.equal("1", patched.data.extra)
      patched.data.key = "replaced"
      assert.are.equal("replaced", old:replace(patched).data.key)
      local stale_ok, stale = pcall(old.replace, old, got) -- old resourceVersion
      assert.is_false(stale_ok)
      assert.are.equal(409, stale.status)
      assert.are.equal("Conflict", stale.reason)
      old:delete(got, { wait = true, timeout = "30s" })
      local ok, err = pcall(old.get, old, got)
      assert.is_false(ok)
      assert.are.equal("NotFound", err.reason)
      assert.is_nil(old:find(got))
    end)

    it("reports AlreadyExists and invalid objects with the server's message", function()
      old:create(configmap("dup", ns))
      local ok, err = pcall(old.create, old, configmap("dup", ns))
      assert.is_false(ok)
      assert.are.equal("AlreadyExists", err.reason)
      ok, err = pcall(old.create, old, configmap("Not_A_Valid_Name", ns))
      assert.is_false(ok)
      assert.are.equal(422, err.status)
      assert.matches("Invalid value", err.message)
    end)

    it("lists over 2,000 objects through continue pages", function()
      local items = {}
      for i = 1, 2100 do items[i] = configmap(string.format("page-%04d", i), ns) end
      require("k8s.resources").each_concurrently(items, 16, function(obj) return old:create(obj) end)
      local listed = old:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                                labelSelector = nil, page_size = 500 }
      local pages = 0
      for _, cm in ipairs(listed) do
        if cm.metadata.name:match("^page%-") then pages = pages + 1 end
      end
      assert.are.equal(2100, pages)
      assert.is_string(listed.resourceVersion)
      assert.are.equal(10, #old:list { apiVersion = "v1", kind = "ConfigMap", namespace = ns, limit = 10 })
    end)

    it("refreshes discovery when a CRD appears and names unknown kinds", function()
      -- CRDs outlive the namespace: a group and kind of this run's own
      local group = env.unique("w") .. ".ferry.dev"
      local kind = "Widget" .. group:match("%d+")
      local ok, err = pcall(old.get, old, { apiVersion = group .. "/v1", kind = kind, name = "x" })
      assert.is_false(ok)
      assert.are.equal("unknown_kind", err.kind)
      assert.matches("CustomResourceDefinition", err.message)
      old:apply(string.format([[
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %ss.%s}
spec:
  group: %s
  scope: Namespaced
  names: {plural: %ss, singular: %s, kind: %s}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: %s/v1
kind: %s
metadata: {name: w1, namespace: %s}
spec: {size: 3}
]], kind:lower(), group, group, kind:lower(), kind:lower(), kind, group, kind, ns))
      local w = old:get { apiVersion = group .. "/v1", kind = kind, name = "w1", namespace = ns }
      assert.are.equal(3, w.spec.size)
    end)

    it("applies with server-side dry run without changing anything", function()
      local applied = old:apply(configmap("dry", ns), { dry_run = true })
      assert.are.equal("dry", applied[1].metadata.name)
      assert.is_nil(old:find { apiVersion = "v1", kind = "ConfigMap", name = "dry", namespace = ns })
    end)

    it("watches, resuming after the connection drops", function()
      local s = env.status()
      local host, port = s.clusters.old.server:match("^https://([^:/]+):(%d+)")
      local dir = helpers.tmpdir()
      local proxy = exec.spawn { argv = { "python3", helpers.root .. "/tests/integration/support/tcp_proxy.py",
                                          host, port, dir .. "/port" } }
      local proxy_port = helpers.eventually(function()
        local f = io.open(dir .. "/port")
        if f then local p = f:read("a"); f:close(); return tonumber(p) end
      end, 10, "the TCP proxy")
      local via_proxy = env.connect("old", "admin", { server = "https://127.0.0.1:" .. proxy_port })
      local seen = {}
      local watcher = task.spawn(function()
        for event in via_proxy:watch { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                                       labelSelector = "watch=resume", timeout = 60 } do
          seen[#seen + 1] = event.type .. " " .. event.object.metadata.name
          if event.object.metadata.name == "after-cut" then return end
        end
      end)
      local labelled = function(name)
        local cm = configmap(name, ns)
        cm.metadata.labels = { watch = "resume" }
        return cm
      end
      task.sleep(0.5)
      old:create(labelled("before-cut"))
      helpers.eventually(function() return #seen >= 1 end, 10, "the first event")
      proxy:kill(10) -- SIGUSR1: cut every connection
      task.sleep(0.5)
      old:create(labelled("after-cut"))
      task.timeout(30, function() watcher:wait() end)
      assert.are.same({ "ADDED before-cut", "ADDED after-cut" }, seen)
      proxy:close()
      helpers.remove_tree(dir)
    end)

    it("relists on 410 Gone and goes on watching", function()
      local seen = {}
      local watcher = task.spawn(function()
        for event in old:watch { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
                                 resource_version = "1", timeout = 60 } do
          seen[event.object.metadata.name] = event.type
          if event.object.metadata.name == "after-relist" then return end
        end
      end)
      helpers.eventually(function() return seen["page-0001"] end, 30, "the relisted objects")
      old:create(configmap("after-relist", ns))
      task.timeout(30, function() watcher:wait() end)
      assert.are.equal("ADDED", seen["page-0001"])
      assert.are.equal("ADDED", seen["after-relist"])
    end)

  end)

  describe("readiness", function()
    local ns

    setup(function()
      ns = env.unique("ferry-ready")
      new:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }
    end)

    teardown(function()
      new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
    end)

    it("waits for a Deployment to become Available and ready", function()
      local deployment = yaml.decode(string.format([[
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example/web:1}]
]], ns))
      new:apply(deployment)
      local available = new:wait(deployment, { condition = "Available", timeout = "2m" })
      assert.are.equal("True", k8s.status.condition(available, "Available").status)
      local ready = new:wait(deployment, { ready = true, timeout = "2m" })
      assert.are.equal(2, ready.status.availableReplicas)
      assert.is_true((new:ready(deployment)))
      local reasons = {}
      for _, e in ipairs(new:events(deployment)) do reasons[e.reason] = true end
      assert.is_true(reasons.ScalingReplicaSet, "the controller's events are listed")
    end)

    it("says why not yet when a wait times out", function()
      local cm = configmap("never-ready", ns)
      local ok, err = pcall(new.wait, new, cm, { condition = "Ready", timeout = "1s" })
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      assert.matches("ConfigMap " .. ns:gsub("%-", "%%-") .. "/never%-ready on .* not Ready=True after 1s: "
        .. "does not exist yet", err.message)
    end)

    it("waits for deletion", function()
      local cm = configmap("short-lived", ns)
      new:apply(cm)
      task.spawn(function() task.sleep(0.3); new:delete(cm) end)
      assert.is_nil(new:wait(cm, { deleted = true, timeout = "30s" }))
    end)
  end)

  describe("fixtures", function()
    local function documents_of(path)
      local f = assert(io.open(path))
      local text = f:read("a")
      f:close()
      return yaml.decode_all(text, { source = path })
    end

    it("applies the Flux components and Flagger CRDs on both clusters", function()
      local flux = FIXTURES .. "/felipmiguel+gitops-demo-multitenant/clusters/staging/northeurope/flux-system/gotk-components.yaml"
      local find = exec.run { argv = { "sh", "-c", "ls " .. FIXTURES .. "/fluxcd+flagger/v1.44.0/*/crd.yaml "
        .. FIXTURES .. "/fluxcd+flagger/v1.44.0/kustomize/base/flagger/crd.yaml 2>/dev/null | head -n 1" } }
      local flagger = find.stdout:match("[^\n]+")
      for _, c in ipairs { old, new } do
        local applied = c:apply(documents_of(flux))
        assert.is_true(#applied > 10)
        if flagger then assert.is_true(#c:apply(documents_of(flagger)) >= 1) end
        assert.is_table(c:get { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition",
                                name = "kustomizations.kustomize.toolkit.fluxcd.io" })
      end
    end)

    it("applies every fixture document the server accepts and explains the others", function()
      local list = exec.run { argv = { "sh", "-c", "find " .. FIXTURES .. " -name '*.yaml' | sort" } }
      local accepted, refused = 0, 0
      for path in list.stdout:gmatch("[^\n]+") do
        local ok_decode, docs = pcall(documents_of, path)
        if ok_decode then
          for _, doc in ipairs(docs) do
            if type(doc) == "table" and doc.kind and doc.metadata and doc.metadata.name then
              local ok, err = pcall(old.apply, old, doc, { dry_run = doc.kind ~= "CustomResourceDefinition" })
              if ok then
                accepted = accepted + 1
              else
                refused = refused + 1
                assert.is_truthy(err.kind == "apply" or err.kind == "unknown_kind", tostring(err))
                assert.is_truthy(#tostring(err) > 20)
              end
            end
          end
        end
      end
      assert.is_true(accepted > 50)
      assert.is_true(refused > 0) -- Istio, Kyverno, cert-manager kinds are not installed
    end)
  end)

  describe("deprecations", function()
    it("reports an autoscaling/v2beta2 HPA against the new cluster", function()
      local findings = k8s.deprecations([[
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec: {maxReplicas: 3, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: shop}
]], new)
      assert.are.equal(1, #findings)
      assert.are.equal("autoscaling/v2", findings[1].replacement)
      assert.are.equal("web", findings[1].name)
    end)
  end)
end)
