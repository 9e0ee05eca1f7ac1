-- The flux module against the real API servers of tests/env. No Flux
-- controller runs there: where a controller would answer, the spec plays it
-- by patching the object's status, as kustomize-controller does.
local base64 = require "base64"
local env = require "tests.integration.support.env"
local flux = require "flux"
local helpers = require "tests.spec.support.helpers"
local json = require "json"
local task = require "task"
local yaml = require "yaml"

local FIXTURES = helpers.fixtures()
local MULTI = FIXTURES .. "/felipmiguel+gitops-demo-multitenant"
local COMPONENTS_V2 = MULTI .. "/clusters/staging/northeurope/flux-system/gotk-components.yaml"    -- v2.0.0-rc.5
local COMPONENTS_V0 = MULTI .. "/clusters/production/northeurope/flux-system/gotk-components.yaml" -- v0.30.2
local HELMRELEASE_CRD = FIXTURES .. "/fluxcd+helm-controller/config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"

local run_doc_example = helpers.run_doc_example

local documents = helpers.documents

local function find_doc(list, kind)
  for _, d in ipairs(list) do if d.kind == kind then return d end end
  error("no " .. kind .. " in the fixture")
end

local function now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- Every field of `expected` has the same value in `actual` (arrays: same
-- length, element by element); `actual` may hold more (server defaults).
local function assert_fields(expected, actual, path)
  path = path or "$"
  if type(expected) ~= "table" then
    assert.are.equal(expected, actual, path .. " differs")
    return
  end
  assert.is_table(actual, path .. " is missing")
  if #expected > 0 then
    assert.are.equal(#expected, #actual, path .. " has another length")
  end
  for k, v in pairs(expected) do assert_fields(v, actual[k], path .. "." .. tostring(k)) end
end

local function condition(type_name, status, reason, message, generation)
  return { type = type_name, status = status, reason = reason, message = message or reason,
           lastTransitionTime = now(), observedGeneration = generation }
end

-- Plays the controller: waits for the reconcile request, then answers it.
local function answer_request(c, ref, answer)
  local obj, token
  helpers.eventually(function()
    obj = c:get(ref)
    token = obj.metadata.annotations and obj.metadata.annotations["reconcile.fluxcd.io/requestedAt"]
    return token and (not answer.after or token ~= answer.after)
  end, 20, "the reconcile.fluxcd.io/requestedAt annotation")
  local generation = obj.metadata.generation
  local s = { lastHandledReconcileAt = token, observedGeneration = generation,
              conditions = { condition("Ready", answer.status, answer.reason, answer.message, generation) } }
  for k, v in pairs(answer.extra or {}) do s[k] = v == "token" and token or v end
  c:patch(ref, { status = s }, { type = "merge", subresource = "status" })
  return token
end

local function set_ready(c, ref, status_value, reason, message)
  local obj = c:get(ref)
  local generation = obj.metadata.generation
  c:patch(ref, { status = { observedGeneration = generation, conditions = {
    condition("Ready", status_value, reason, message, generation) } } }, { type = "merge", subresource = "status" })
end

describe("flux against real API servers", function()
  local old, new, s

  setup(function()
    old, new, s = env.connect("old"), env.connect("new"), env.status()
  end)

  describe("install", function()
    it("applies the gotk-components fixture, CRDs first, and waits for the controllers", function()
      local result = flux.install(new, { manifests = COMPONENTS_V2, timeout = "2m" })
      assert.are.equal("v2.0.0-rc.5", result.version)
      assert.are.equal(13, result.crds)
      assert.are.equal(6, #result.controllers)
      for _, controller in ipairs(result.controllers) do
        assert.is_true(controller.ready, controller.name .. ": " .. tostring(controller.reason))
        assert.is_true((new:ready { apiVersion = "apps/v1", kind = "Deployment", name = controller.name,
                                    namespace = "flux-system" }))
      end
      assert.are.equal("source.toolkit.fluxcd.io/v1", flux.api_version(new, "GitRepository"))
      assert.are.equal("kustomize.toolkit.fluxcd.io/v1", flux.api_version(new, "Kustomization"))
      assert.are.equal("helm.toolkit.fluxcd.io/v2beta1", flux.api_version(new, "HelmRelease"))
    end)

    it("installs the older Flux of the production fixture, which serves beta APIs only", function()
      -- a newer Flux left by an earlier run cannot be downgraded (stored CRD versions): start clean
      for _, crd in ipairs(old:list { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition" }) do
        if crd.spec.group:match("%.toolkit%.fluxcd%.io$") and not crd.spec.versions[1].name:match("beta") then
          local crds = old:list { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition" }
          for _, other in ipairs(crds) do
            if other.spec.group:match("%.toolkit%.fluxcd%.io$") then
              old:delete(other, { wait = true, timeout = "1m", missing_ok = true })
            end
          end
          require("k8s.discovery").invalidate(old)
          break
        end
      end
      local result = flux.install(old, { manifests = helpers.read_file(COMPONENTS_V0), timeout = "2m" })
      assert.are.equal("v0.30.2", result.version)
      assert.are.equal(12, result.crds)
      assert.are.equal("kustomize.toolkit.fluxcd.io/v1beta2", flux.api_version(old, "Kustomization"))
      assert.are.equal("source.toolkit.fluxcd.io/v1beta2", flux.api_version(old, "GitRepository"))
    end)

    it("names the controllers that do not become ready", function()
      local ns = env.unique("ferry-flux-stuck")
      local manifest = string.format([[
# Flux Version: v0.0.0-test
apiVersion: v1
kind: Namespace
metadata: {name: %s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck-controller, namespace: %s}
spec:
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {no-such-node: "true"}
      containers: [{name: manager, image: ghcr.io/fluxcd/stuck:v0}]
]], ns, ns)
      local ok, err = pcall(flux.install, new, { manifests = manifest, timeout = "3s" })
      new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
      assert.is_false(ok)
      assert.are.equal("flux", err.kind)
      assert.matches("not ready on new%-admin after 3s: stuck%-controller %(", err.message)
      assert.are.equal("stuck-controller", err.not_ready[1].name)
      assert.is_false(err.not_ready[1].ready)
    end)

    it("explains a missing manifests file", function()
      local ok, err = pcall(flux.install, new, { manifests = "/nonexistent/gotk-components.yaml" })
      assert.is_false(ok)
      assert.are.equal("invalid", err.kind)
      assert.matches("cannot read /nonexistent/gotk%-components.yaml", err.message)
    end)
  end)

  describe("bootstrap", function()
    it("leaves the objects of gotk-sync.yaml in the cluster", function()
      local fixture = documents(MULTI .. "/clusters/staging/northeurope/flux-system/gotk-sync.yaml")
      local result = flux.bootstrap(new, {
        url = s.git.private_repo, branch = "main", path = "clusters/staging/northeurope",
        secret = { username = s.git.username, token = s.git.token },
      })
      assert.are.equal(4, #result.objects)
      for _, kind in ipairs { "GitRepository", "Kustomization" } do
        local want = find_doc(fixture, kind)
        if kind == "GitRepository" then want.spec.url = s.git.private_repo end
        local got = new:get { apiVersion = want.apiVersion, kind = kind, name = "flux-system",
                              namespace = "flux-system" }
        assert.are.equal(want.apiVersion, got.apiVersion)
        assert_fields(want.metadata, got.metadata, kind .. ".metadata")
        assert_fields(want.spec, got.spec, kind .. ".spec")
      end
      local secret = new:get { apiVersion = "v1", kind = "Secret", name = "flux-system", namespace = "flux-system" }
      assert.are.equal("Opaque", secret.type)
      assert.are.equal(s.git.username, base64.decode(secret.data.username))
      assert.are.equal(s.git.token, base64.decode(secret.data.password))
    end)

    it("writes the newest API versions an older Flux serves", function()
      local fixture = documents(MULTI .. "/clusters/production/northeurope/flux-system/gotk-sync.yaml")
      local source, ks = find_doc(fixture, "GitRepository"), find_doc(fixture, "Kustomization")
      flux.bootstrap(old, { url = source.spec.url, branch = source.spec.ref.branch, path = ks.spec.path,
                            interval = source.spec.interval, kustomization_interval = ks.spec.interval,
                            secret = source.spec.secretRef.name })
      local got_source = old:get { apiVersion = "source.toolkit.fluxcd.io/v1beta2", kind = "GitRepository",
                                   name = "flux-system", namespace = "flux-system" }
      local got_ks = old:get { apiVersion = "kustomize.toolkit.fluxcd.io/v1beta2", kind = "Kustomization",
                               name = "flux-system", namespace = "flux-system" }
      assert_fields(source.spec, got_source.spec, "GitRepository.spec")
      ks.spec.validation = nil -- deprecated in v1beta2 and gone in v1: not written
      assert_fields(ks.spec, got_ks.spec, "Kustomization.spec")
    end)

    it("keeps the Git token out of the logs", function()
      local script = string.format([[
        local flux, log, k8s = require "flux", require "log", require "k8s"
        local c = k8s.connect { kubeconfig = %q, context = %q }
        local r = flux.bootstrap(c, { url = %q, path = "./clusters/leak-test", dry_run = true,
                                      secret = { username = "ferry", token = %q } })
        log.info("secret as applied: %%s", require("json").encode(r.objects[2].data))
        log.info("token: %%s", %q)
        return #r.objects]], s.kubeconfig, s.clusters.new.contexts.admin, s.git.private_repo,
        s.git.token, s.git.token)
      local r = helpers.ferry { "-v", "eval", script }
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("4\n", r.stdout)
      assert.is_nil(r.stderr:find(s.git.token, 1, true), "the token was logged")
      assert.is_nil(r.stderr:find(base64.encode(s.git.token), 1, true), "the encoded token was logged")
      assert.matches('"password":"%*%*%*"', r.stderr)
      assert.matches("token: %*%*%*", r.stderr)
    end)

    it("commits the sync manifests to the repository with commit = true", function()
      local git = require "git"
      local path = "clusters/" .. env.unique("ferry-bootstrap")
      local auth = { username = s.git.username, token = s.git.token }
      local result = flux.bootstrap(new, { url = s.git.private_repo, path = path, name = "commit-test",
                                           secret = auth, commit = true, author = "ferry-test <test@ferry.invalid>" })
      assert.is_string(result.git.commit)
      assert.are.same({ "gotk-sync.yaml" }, result.git.files)
      local dir = helpers.tmpdir()
      local repo <close> = git.clone(s.git.private_repo, dir .. "/fleet", { auth = auth })
      assert.are.equal(result.git.commit, (repo:head()))
      local sync = yaml.decode_all(repo:read(path .. "/flux-system/gotk-sync.yaml"))
      local by_kind = {}
      for _, d in ipairs(sync) do by_kind[d.kind] = d end
      assert.are.equal("./" .. path, by_kind.Kustomization.spec.path)
      assert.are.equal(s.git.private_repo, by_kind.GitRepository.spec.url)
      assert.are.equal("source.toolkit.fluxcd.io/v1", by_kind.GitRepository.apiVersion)
      -- what was pushed is what was applied
      local applied = new:get { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
                                name = "commit-test", namespace = "flux-system" }
      assert_fields(by_kind.Kustomization.spec, applied.spec)
      local kustomization = yaml.decode(repo:read(path .. "/flux-system/kustomization.yaml"))
      assert.are.same({ "gotk-sync.yaml" }, kustomization.resources)
      -- the same again changes nothing: no empty commit
      local again = flux.bootstrap(new, { url = s.git.private_repo, path = path, name = "commit-test",
                                          secret = auth, commit = true })
      assert.is_nil(again.git.commit)
      helpers.remove_tree(dir)
      for _, kind in ipairs { "Kustomization", "GitRepository" } do
        new:delete({ apiVersion = flux.api_version(new, kind), kind = kind, name = "commit-test",
                     namespace = "flux-system" }, { missing_ok = true })
      end
      new:delete({ apiVersion = "v1", kind = "Secret", name = "commit-test", namespace = "flux-system" },
        { missing_ok = true })
    end)

    it("names the remote, never the token, when the push is refused", function()
      local ok, err = pcall(flux.bootstrap, new, { url = s.git.private_repo, path = "clusters/refused",
        name = "refused-test", commit = true, secret = { username = s.git.username, token = "wrong-token-0123" } })
      assert.is_false(ok)
      assert.are.equal("git", err.kind)
      assert.is_nil(err.message:find("wrong-token-0123", 1, true))
      assert.matches("127%.0%.0%.1", err.message)
      assert.is_nil(new:find { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
                               name = "refused-test", namespace = "flux-system" }, "applied although Git refused")
    end)
  end)

  describe("tenants", function()
    local created = {}

    teardown(function()
      for _, ns in ipairs(created) do
        new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
      end
    end)

    for _, case in ipairs { { tenant = "core", repo = "tenant-core" }, { tenant = "data", repo = "tenant-data" } } do
      it("creates the objects of tenants/base/" .. case.tenant .. ", field by field", function()
        local dir = MULTI .. "/tenants/base/" .. case.tenant
        local fixture = documents(dir .. "/rbac.yaml")
        for _, d in ipairs(documents(dir .. "/sync.yaml")) do fixture[#fixture + 1] = d end
        local url = s.git.repos[case.repo].http
        created[#created + 1] = case.tenant
        local result = flux.tenant(new, { name = case.tenant, labels = { ["istio-injection"] = "enabled" },
                                          role = "cluster-admin",
                                          repo = { url = url, branch = "main", secret = case.tenant } })
        assert.are.equal(#fixture, #result.objects)
        for _, want in ipairs(fixture) do
          if want.kind == "GitRepository" then want.spec.url = url end
          local got = new:get(want)
          assert.are.equal(want.apiVersion, got.apiVersion)
          assert_fields(want.metadata, got.metadata, want.kind .. ".metadata")
          for _, field in ipairs { "spec", "roleRef", "subjects" } do
            if want[field] then assert_fields(want[field], got[field], want.kind .. "." .. field) end
          end
        end
      end)
    end

    it("binds the namespace-scoped admin role by default, never cluster-wide rights", function()
      local name = env.unique("tenant")
      created[#created + 1] = name
      flux.tenant(new, { name = name, repo = { url = s.git.public_repo, path = "staging/northeurope" } })
      local binding = new:get { apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",
                                name = name .. "-reconciler", namespace = name }
      assert.are.same({ apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "admin" }, binding.roleRef)
      local ks = new:get { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization", name = name,
                           namespace = name }
      assert.are.equal("./staging/northeurope", ks.spec.path)
      assert.are.equal(name, ks.spec.serviceAccountName)
      local function allowed(namespace, verb, group, resource)
        local review = new:create { apiVersion = "authorization.k8s.io/v1", kind = "SubjectAccessReview",
          spec = { user = "system:serviceaccount:" .. name .. ":" .. name,
                   groups = { "system:serviceaccounts", "system:serviceaccounts:" .. name },
                   resourceAttributes = { namespace = namespace, verb = verb, group = group, resource = resource } } }
        return review.status.allowed == true
      end
      assert.is_true(allowed(name, "create", "apps", "deployments"))
      assert.is_false(allowed("default", "create", "apps", "deployments"))
      assert.is_false(allowed(nil, "create", "", "namespaces"))
      assert.is_false(allowed(name, "create", "rbac.authorization.k8s.io", "clusterrolebindings"))
    end)
  end)

  describe("reconcile", function()
    local ks = { kind = "Kustomization", name = "flux-system", namespace = "flux-system",
                 apiVersion = "kustomize.toolkit.fluxcd.io/v1" }

    setup(function()
      flux.bootstrap(new, { url = s.git.private_repo, path = "clusters/staging/northeurope", secret = "flux-system" })
      new:patch(ks, { spec = { suspend = false } }, { type = "merge" })
    end)

    it("requests a reconciliation and waits for the controller to handle it", function()
      local annotations = new:get(ks).metadata.annotations or {}
      local before = annotations["reconcile.fluxcd.io/requestedAt"]
      local waiting = task.spawn(flux.reconcile, new, "ks/flux-system", { timeout = "30s" })
      -- a Ready of an earlier reconciliation is not the answer
      local obj = helpers.eventually(function()
        local o = new:get(ks)
        local token = o.metadata.annotations and o.metadata.annotations["reconcile.fluxcd.io/requestedAt"]
        return token and token ~= before and o
      end, 20, "the request")
      local generation = obj.metadata.generation
      new:patch(ks, { status = { lastHandledReconcileAt = "2020-01-01T00:00:00Z", observedGeneration = generation,
        conditions = { condition("Ready", "True", "ReconciliationSucceeded", "old news", generation) } } },
        { type = "merge", subresource = "status" })
      task.sleep(0.5)
      assert.is_false(waiting:done(), "an old Ready ended the wait")
      local token = answer_request(new, ks, { after = before, status = "True", reason = "ReconciliationSucceeded",
                                              message = "Applied revision: main@sha1:0123abcd" })
      local result = task.timeout(30, function() return waiting:wait() end)
      assert.are.equal(token, result.status.lastHandledReconcileAt)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", token)
      local ok, reason, message = flux.ready(new, "ks/flux-system")
      assert.is_true(ok)
      assert.are.equal("ReconciliationSucceeded", reason)
      assert.are.equal("Applied revision: main@sha1:0123abcd", message)
    end)

    it("raises the controller's failure with its reason", function()
      local before = new:get(ks).metadata.annotations["reconcile.fluxcd.io/requestedAt"]
      local waiting = task.spawn(function()
        return pcall(flux.reconcile, new, ks, { timeout = "30s" })
      end)
      answer_request(new, ks, { after = before, status = "False", reason = "BuildFailed",
                                message = "kustomize build failed: accumulating resources" })
      local ok, err = task.timeout(30, function() return waiting:wait() end)
      assert.is_false(ok)
      assert.are.equal("flux", err.kind)
      assert.matches("Kustomization flux%-system/flux%-system on new%-admin: reconciliation failed: BuildFailed: "
        .. "kustomize build failed", err.message)
      local ready, reason = flux.ready(new, ks)
      assert.is_false(ready)
      assert.are.equal("BuildFailed", reason)
    end)

    it("says so when no controller handles the request", function()
      local ok, err = pcall(flux.reconcile, new, ks, { timeout = "2s" })
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      assert.is_false(err.handled)
      assert.matches("never handled the request: is kustomize%-controller running", err.message)
    end)

    it("reconciles the source first with with_source", function()
      local source = { apiVersion = "source.toolkit.fluxcd.io/v1", kind = "GitRepository", name = "flux-system",
                       namespace = "flux-system" }
      local function requested(ref)
        local a = new:get(ref).metadata.annotations or {}
        return a["reconcile.fluxcd.io/requestedAt"]
      end
      local source_before, ks_before = requested(source), requested(ks)
      local waiting = task.spawn(flux.reconcile, new, ks, { with_source = true, timeout = "30s" })
      answer_request(new, source, { after = source_before, status = "True", reason = "Succeeded",
                                    message = "stored artifact for revision 'main@sha1:0123abcd'" })
      answer_request(new, ks, { after = ks_before, status = "True", reason = "ReconciliationSucceeded" })
      local result = task.timeout(30, function() return waiting:wait() end)
      assert.are.equal(requested(ks), result.status.lastHandledReconcileAt)
      local source_token, ks_token = requested(source), requested(ks)
      assert.is_true(source_token < ks_token, "the source was asked first")
      assert.is_true((flux.ready(new, source)))
    end)

    it("returns at once with wait = false", function()
      local obj, token = flux.reconcile(new, ks, { wait = false })
      assert.are.equal(token, obj.metadata.annotations["reconcile.fluxcd.io/requestedAt"])
    end)

    it("suspends and resumes", function()
      local suspended = flux.suspend(new, ks)
      assert.is_true(suspended.spec.suspend)
      local ok, err = pcall(flux.reconcile, new, ks, { timeout = "2s" })
      assert.is_false(ok)
      assert.matches("is suspended: flux.resume", err.message)
      local before = new:get(ks).metadata.annotations["reconcile.fluxcd.io/requestedAt"]
      local resumed = flux.resume(new, ks)
      assert.is_false(resumed.spec.suspend)
      assert.are_not.equal(before, resumed.metadata.annotations["reconcile.fluxcd.io/requestedAt"])
    end)

    describe("HelmRelease", function()
      -- the fixture's components serve HelmRelease v2beta1, which has no
      -- forceAt/resetAt handshake: this part swaps in helm-controller's
      -- current CRD (v2) and puts the fixture's back afterwards
      local crd_name = "helmreleases.helm.toolkit.fluxcd.io"
      local crd_ref = { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition", name = crd_name }
      local ns

      local function replace_crd(doc)
        new:delete(crd_ref, { missing_ok = true, wait = true, timeout = "1m" })
        new:apply(doc)
        require("k8s.discovery").invalidate(new)
      end

      setup(function()
        ns = env.unique("ferry-hr")
        new:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }
        replace_crd(helpers.read_file(HELMRELEASE_CRD))
      end)

      teardown(function()
        new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
        for _, doc in ipairs(documents(COMPONENTS_V2)) do
          if doc.kind == "CustomResourceDefinition" and doc.metadata.name == crd_name then replace_crd(doc) end
        end
      end)

      it("forces an upgrade through forceAt and waits for lastHandledForceAt", function()
        assert.are.equal("helm.toolkit.fluxcd.io/v2", flux.api_version(new, "HelmRelease"))
        local hr = { apiVersion = "helm.toolkit.fluxcd.io/v2", kind = "HelmRelease", name = "podinfo", namespace = ns }
        new:apply { apiVersion = hr.apiVersion, kind = "HelmRelease", metadata = { name = "podinfo", namespace = ns },
                    spec = { interval = "5m", chart = { spec = { chart = "podinfo", sourceRef = {
                      kind = "HelmRepository", name = "podinfo" } } } } }
        local waiting = task.spawn(flux.reconcile, new, "hr/" .. ns .. "/podinfo", { force = true, timeout = "30s" })
        local obj = helpers.eventually(function()
          local o = new:get(hr)
          return o.metadata.annotations and o.metadata.annotations["reconcile.fluxcd.io/forceAt"] and o
        end, 20, "the forceAt annotation")
        local token = obj.metadata.annotations["reconcile.fluxcd.io/requestedAt"]
        assert.are.equal(token, obj.metadata.annotations["reconcile.fluxcd.io/forceAt"])
        -- handled the reconcile but not (yet) the force: not done
        answer_request(new, hr, { status = "True", reason = "UpgradeSucceeded" })
        task.sleep(0.5)
        assert.is_false(waiting:done(), "returned before lastHandledForceAt")
        answer_request(new, hr, { status = "True", reason = "UpgradeSucceeded",
                                  extra = { lastHandledForceAt = "token" } })
        local result = task.timeout(30, function() return waiting:wait() end)
        assert.are.equal(token, result.status.lastHandledForceAt)
      end)

      it("refuses force for kinds other than HelmRelease", function()
        local ok, err = pcall(flux.reconcile, new, ks, { force = true })
        assert.is_false(ok)
        assert.matches("force and reset are for HelmReleases", err.message)
      end)
    end)
  end)

  describe("wait", function()
    local names = {}

    local function kustomization(name, depends)
      local deps = json.array()
      for _, d in ipairs(depends or {}) do deps[#deps + 1] = { name = d } end
      new:apply { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
                  metadata = { name = name, namespace = "flux-system" },
                  spec = { interval = "5m", path = "./" .. name, prune = true, dependsOn = deps,
                           sourceRef = { kind = "GitRepository", name = "flux-system" } } }
      names[#names + 1] = name
      return { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization", name = name,
               namespace = "flux-system" }
    end

    teardown(function()
      for _, name in ipairs(names) do
        new:delete({ apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization", name = name,
                     namespace = "flux-system" }, { missing_ok = true })
      end
    end)

    it("waits for an object's dependsOn first, adding those not listed", function()
      local prefix = env.unique("dep")
      local a = kustomization(prefix .. "-a")
      local b = kustomization(prefix .. "-b", { a.name })
      local c = kustomization(prefix .. "-c", { b.name })
      local waiting = task.spawn(flux.wait, new, { "ks/" .. c.name }, { timeout = "30s", progress = false })
      set_ready(new, c, "True", "ReconciliationSucceeded")
      set_ready(new, b, "True", "ReconciliationSucceeded")
      task.sleep(0.5)
      assert.is_false(waiting:done(), "returned while a dependency was not ready")
      set_ready(new, a, "True", "ReconciliationSucceeded")
      local result = task.timeout(30, function() return waiting:wait() end)
      assert.are.same({ a.name, b.name, c.name }, { result[1].name, result[2].name, result[3].name })
      assert.are.equal("ReconciliationSucceeded", result[3].reason)
    end)

    it("stops at a failed dependency, naming it", function()
      local prefix = env.unique("dep")
      local a = kustomization(prefix .. "-a")
      local b = kustomization(prefix .. "-b", { a.name })
      set_ready(new, a, "False", "HealthCheckFailed", "Deployment web not ready")
      local ok, err = pcall(flux.wait, new, { b }, { timeout = "20s", progress = false })
      assert.is_false(ok)
      assert.are.equal("flux", err.kind)
      assert.matches(a.name:gsub("%-", "%%-") .. ".*HealthCheckFailed: Deployment web not ready", err.message)
    end)

    it("reports a dependency that does not exist", function()
      local b = kustomization(env.unique("dep") .. "-b", { "no-such-kustomization" })
      local ok, err = pcall(flux.wait, new, { b }, { timeout = "5s", progress = false })
      assert.is_false(ok)
      assert.matches("depends on Kustomization flux%-system/no%-such%-kustomization, which does not exist", err.message)
    end)

    it("lists what was not ready when time runs out", function()
      local a = kustomization(env.unique("dep") .. "-slow")
      local ok, err = pcall(flux.wait, new, { a }, { timeout = "1s", progress = false })
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      assert.matches(a.name:gsub("%-", "%%-") .. " %(NotReconciled", err.message)
    end)
  end)

  it("runs the example of docs/modules/flux.md", function()
    local r = run_doc_example("flux.md", { KUBECONFIG = s.kubeconfig, KUBE_CONTEXT = s.clusters.new.contexts.admin,
      GOTK_COMPONENTS = COMPONENTS_V2, FLEET_URL = s.git.private_repo, FLEET_USER = s.git.username,
      FLEET_TOKEN = s.git.token })
    new:delete({ apiVersion = "v1", kind = "Namespace", name = "shop" }, { missing_ok = true })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("v2%.0%.0%-rc%.5\t13 CRDs\n", r.stdout)
    assert.matches("\nshop/shop\n", r.stdout)
    assert.matches("requested at %d%d%d%d%-", r.stdout)
    assert.matches("GitRepository%s+flux%-system/flux%-system", r.stdout)
    assert.is_nil(r.stderr:find(s.git.token, 1, true), "the token was logged")
  end)

  describe("status and tree", function()
    it("lists every Flux object with its state, on both API generations", function()
      local function entry(list, kind, name)
        for _, e in ipairs(list) do
          if e.kind == kind and e.namespace == "flux-system" and e.name == name then return e end
        end
      end
      set_ready(new, { apiVersion = "source.toolkit.fluxcd.io/v1", kind = "GitRepository", name = "flux-system",
                       namespace = "flux-system" }, "False", "GitOperationFailed", "authentication required")
      local on_new = flux.status(new)
      local source = entry(on_new, "GitRepository", "flux-system")
      assert.are.equal("source.toolkit.fluxcd.io/v1", source.apiVersion)
      assert.is_false(source.ready)
      assert.are.equal("GitOperationFailed", source.reason)
      assert.are.equal("authentication required", source.message)
      assert.is_false(source.suspended)
      assert.is_table(entry(on_new, "Kustomization", "flux-system"))
      local on_old = flux.status(old, { namespace = "flux-system" })
      assert.are.equal("kustomize.toolkit.fluxcd.io/v1beta2", entry(on_old, "Kustomization", "flux-system").apiVersion)
      assert.matches("GitRepository%s+flux%-system/flux%-system%s+False", flux.format(on_old))
    end)

    it("walks a Kustomization's inventory into the Kustomizations it applied", function()
      local root = { apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization", name = "flux-system",
                     namespace = "flux-system" }
      local t = env.unique("tree")
      flux.tenant(new, { name = t, repo = { url = s.git.repos["tenant-core"].http } })
      new:patch(root, { status = { inventory = { entries = {
        { id = "_" .. t .. "__Namespace", v = "v1" },
        { id = t .. "_" .. t .. "_kustomize.toolkit.fluxcd.io_Kustomization", v = "v1" },
        { id = t .. "_" .. t .. "_source.toolkit.fluxcd.io_GitRepository", v = "v1" },
      } } } }, { type = "merge", subresource = "status" })
      new:patch({ apiVersion = root.apiVersion, kind = "Kustomization", name = t, namespace = t },
        { status = { inventory = { entries = { { id = t .. "_podinfo_apps_Deployment", v = "v1" } } } } },
        { type = "merge", subresource = "status" })
      local tree = flux.tree(new, "ks/flux-system")
      assert.are.equal(3, #tree.children)
      local by_kind = {}
      for _, child in ipairs(tree.children) do by_kind[child.kind] = child end
      assert.is_nil(by_kind.Namespace.namespace)
      assert.are.equal("v1", by_kind.Namespace.apiVersion)
      local tenant = by_kind.Kustomization
      assert.are.equal(t, tenant.namespace)
      assert.are.equal(1, #tenant.children)
      assert.are.same({ kind = "Deployment", apiVersion = "apps/v1", namespace = t, name = "podinfo" },
        tenant.children[1])
      assert.is_nil(by_kind.GitRepository.children)
      new:delete({ apiVersion = "v1", kind = "Namespace", name = t }, { missing_ok = true })
    end)
  end)
end)
