-- flux without a cluster: references, generated objects (checked against the
-- upstream fixtures), secrets, readiness verdicts, dependsOn order, inventories.
local base64 = require "base64"
local flux = require "flux"
local helpers = require "tests.spec.support.helpers"
local json = require "json"
local log = require "log"
local yaml = require "yaml"

local MULTI = helpers.fixtures() .. "/felipmiguel+gitops-demo-multitenant"

local function documents(path)
  return helpers.documents(MULTI .. "/" .. path)
end

local function same_json(a, b)
  return json.encode(a, { sort_keys = true }) == json.encode(b, { sort_keys = true })
end

local function assert_same_objects(want, got)
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert.is_true(same_json(want[i], got[i]), string.format("object %d (%s) differs:\nwant %s\ngot  %s", i,
      tostring(want[i].kind), json.encode(want[i], { sort_keys = true }), json.encode(got[i], { sort_keys = true })))
  end
end

describe("flux.ref", function()
  it("takes kinds, short names and strings", function()
    assert.are.same({ kind = "Kustomization", name = "apps", namespace = "flux-system" }, flux.ref "ks/apps")
    assert.are.same({ kind = "HelmRelease", name = "podinfo", namespace = "shop" }, flux.ref "hr/shop/podinfo")
    assert.are.same({ kind = "GitRepository", name = "fleet", namespace = "flux-system" },
      flux.ref { kind = "gitrepository", name = "fleet" })
    local r = flux.ref { apiVersion = "kustomize.toolkit.fluxcd.io/v1beta2", kind = "Kustomization",
                         metadata = { name = "tenants", namespace = "ops" } }
    assert.are.same({ kind = "Kustomization", name = "tenants", namespace = "ops",
                      apiVersion = "kustomize.toolkit.fluxcd.io/v1beta2" }, r)
    assert.are.equal("Kustomization", flux.ref("apps", "Kustomization").kind)
  end)

  it("names the Flux kinds when given another", function()
    local ok, err = pcall(flux.ref, "deployment/web")
    assert.is_false(ok)
    assert.matches("'deployment' is not a Flux kind %(Flux kinds: Alert, Bucket, GitRepository", err.message)
    ok, err = pcall(flux.ref, { kind = "Kustomization" })
    assert.is_false(ok)
    assert.matches("needs a name", err.message)
  end)
end)

describe("flux values", function()
  it("writes paths the way Flux does", function()
    assert.are.equal("./clusters/prod", flux.path "clusters/prod")
    assert.are.equal("./clusters/prod", flux.path "./clusters/prod/")
    assert.are.equal("./", flux.path "./")
    assert.are.equal("./", flux.path(nil))
    local ok, err = pcall(flux.path, "../other-repo")
    assert.is_false(ok)
    assert.matches("must stay inside the repository", err.message)
  end)

  it("writes a number of seconds as a Go duration", function()
    assert.are.equal("90s", flux.duration(90, "interval"))
    assert.are.equal("1500ms", flux.duration(1.5, "interval"))
    local objects = flux.objects.tenant { name = "core", interval = 60, repo = { url = "https://git.example/x" } }
    assert.are.equal("60s", objects[#objects].spec.interval)
    local ok, err = pcall(flux.duration, -1, "interval")
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
  end)

  it("accepts Go durations and refuses the fixture's broken one", function()
    for _, d in ipairs { "1m0s", "10m", "1h30m", "500ms", "2m0s" } do
      assert.are.equal(d, flux.duration(d, "interval"))
    end
    -- clusters/production/northeurope/operations.yaml has "interval: 2m0" (SOURCES.md lists it)
    local broken = documents("clusters/production/northeurope/operations.yaml")[1].spec.interval
    assert.are.equal("2m0", broken)
    local ok, err = pcall(flux.objects.tenant, { name = "core", interval = broken,
                                                 repo = { url = "https://git.example/x" } })
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.matches("interval '2m0' is not a valid duration: every number needs a unit", err.message)
  end)
end)

describe("flux.objects.tenant", function()
  for _, tenant in ipairs { "core", "data" } do
    it("equals tenants/base/" .. tenant .. " field by field", function()
      local want = documents("tenants/base/" .. tenant .. "/rbac.yaml")
      local sync = documents("tenants/base/" .. tenant .. "/sync.yaml")
      for _, d in ipairs(sync) do want[#want + 1] = d end
      local got = flux.objects.tenant { name = tenant, labels = { ["istio-injection"] = "enabled" },
        role = "cluster-admin", repo = { url = sync[1].spec.url, branch = "main", secret = tenant } }
      assert_same_objects(want, got)
    end)
  end

  it("binds the namespace-scoped admin role unless told otherwise", function()
    local objects = flux.objects.tenant { name = "shop", repo = { url = "https://git.example/shop.git" } }
    local binding = objects[3]
    assert.are.equal("RoleBinding", binding.kind)
    assert.are.equal("admin", binding.roleRef.name)
    assert.are.equal("shop", binding.metadata.namespace)
    assert.are.same({ ["toolkit.fluxcd.io/tenant"] = "shop" }, objects[1].metadata.labels)
    assert.is_nil(objects[4].spec.secretRef, "no secret, no secretRef")
    assert.are.equal("./", objects[5].spec.path)
    local edit = flux.objects.tenant { name = "shop", role = "edit", repo = { url = "https://g/x" } }
    assert.are.equal("edit", edit[3].roleRef.name)
  end)

  it("creates the Git Secret when given credentials, and a namespace apart from the name", function()
    local objects = flux.objects.tenant { name = "shop", namespace = "shop-prod", target_namespace = "shop-prod",
      repo = { url = "https://git.example/shop.git", path = "prod", tag = "v1.2.0",
               secret = { username = "flux", token = "tenant-token-123" } } }
    local kinds = {}
    for i, o in ipairs(objects) do kinds[i] = o.kind end
    assert.are.same({ "Namespace", "ServiceAccount", "RoleBinding", "Secret", "GitRepository", "Kustomization" }, kinds)
    assert.are.equal("shop-prod", objects[4].metadata.namespace)
    assert.are.equal("tenant-token-123", base64.decode(objects[4].data.password))
    assert.are.equal("gotk:shop-prod:reconciler", objects[3].subjects[1].name)
    assert.are.same({ tag = "v1.2.0" }, objects[5].spec.ref)
    assert.are.same({ name = "shop" }, objects[5].spec.secretRef)
    assert.are.equal("./prod", objects[6].spec.path)
    assert.are.equal("shop-prod", objects[6].spec.targetNamespace)
  end)

  it("explains a bad tenant", function()
    local ok, err = pcall(flux.objects.tenant, { name = "Shop_1", repo = { url = "https://g/x" } })
    assert.is_false(ok)
    assert.matches("needs name = a DNS label", err.message)
    ok, err = pcall(flux.objects.tenant, { name = "shop" })
    assert.is_false(ok)
    assert.matches("flux.tenant shop needs repo = {url = ..., branch = ..., path = ...}", err.message)
    ok, err = pcall(flux.objects.tenant, { name = "shop", repo = { url = "git.example:shop" } })
    assert.is_false(ok)
    assert.matches('needs url = "https://..." or "ssh://..."', err.message)
  end)

  it("sets the Kustomization's post-build substitutions as strings, and only when given", function()
    local objects = flux.objects.tenant { name = "shop", repo = { url = "https://g/x" },
                                          substitute = { cluster = "prod-eun-2", replicas = 3, canary = true } }
    local ks = objects[#objects]
    assert.are.equal("Kustomization", ks.kind)
    assert.are.same({ substitute = { cluster = "prod-eun-2", replicas = "3", canary = "true" } }, ks.spec.postBuild)
    local plain = flux.objects.tenant { name = "shop", repo = { url = "https://g/x" } }
    assert.is_nil(plain[#plain].spec.postBuild)
    local empty = flux.objects.tenant { name = "shop", repo = { url = "https://g/x" }, substitute = {} }
    assert.is_nil(empty[#empty].spec.postBuild)
  end)

  it("names a substitution Flux would not take", function()
    local ok, err = pcall(flux.objects.tenant, { name = "shop", repo = { url = "https://g/x" },
                                                 substitute = { ["cluster-name"] = "x" } })
    assert.is_false(ok)
    assert.matches("substitute name cluster%-name is not a variable name", err.message)
    ok, err = pcall(flux.objects.tenant, { name = "shop", repo = { url = "https://g/x" },
                                           substitute = { cluster = { "x" } } })
    assert.is_false(ok)
    assert.matches("substitute.cluster must be a string, got table", err.message)
    ok, err = pcall(flux.objects.tenant, { name = "shop", repo = { url = "https://g/x" }, substitute = "x" })
    assert.is_false(ok)
    assert.matches("substitute must be a table", err.message)
  end)
end)

describe("flux.objects.bootstrap", function()
  it("equals the staging cluster's gotk-sync.yaml", function()
    local want = documents("clusters/staging/northeurope/flux-system/gotk-sync.yaml")
    local got = flux.objects.bootstrap { url = want[1].spec.url, branch = "main", path = "clusters/staging/northeurope",
                                         secret = "flux-system" }
    assert.are.equal("Namespace", got[1].kind)
    assert_same_objects(want, { got[2], got[3] })
  end)

  it("writes older API versions when asked: the production cluster's gotk-sync.yaml", function()
    local want = documents("clusters/production/northeurope/flux-system/gotk-sync.yaml")
    want[2].spec.validation = nil -- `validation: client` is not written (deprecated, gone in v1)
    local got = flux.objects.bootstrap { url = want[1].spec.url, path = want[2].spec.path,
      kustomization_interval = "2m0s", secret = "flux-system", versions = { ["source.toolkit.fluxcd.io"] = "v1beta1",
                                           ["kustomize.toolkit.fluxcd.io"] = "v1beta1" } }
    assert_same_objects(want, { got[2], got[3] })
  end)

  it("gives the text of gotk-sync.yaml", function()
    local want = documents("clusters/staging/northeurope/flux-system/gotk-sync.yaml")
    local text = flux.sync_manifests { url = want[1].spec.url, path = "./clusters/staging/northeurope",
                                       secret = "flux-system" }
    local docs = {}
    for _, d in ipairs(yaml.decode_all(text)) do if type(d) == "table" then docs[#docs + 1] = d end end
    assert_same_objects(want, docs)
    assert.matches("^# This manifest was generated by ferry", text)
  end)

  it("needs the cluster's path", function()
    local ok, err = pcall(flux.objects.bootstrap, { url = "https://git.example/fleet.git" })
    assert.is_false(ok)
    assert.matches("needs path = the cluster's folder", err.message)
  end)
end)

describe("flux.git_secret", function()
  it("holds HTTPS credentials as source-controller reads them, registered as secrets", function()
    local s = flux.git_secret("flux-system", "flux-system", { username = "git", token = "ghp_0123456789abcdef" },
      "https://github.com/org/fleet.git")
    assert.are.equal("Opaque", s.type)
    assert.are.equal("git", base64.decode(s.data.username))
    assert.are.equal("ghp_0123456789abcdef", base64.decode(s.data.password))
    assert.are.equal("token ***", log.redact("token ghp_0123456789abcdef"))
    assert.are.equal("***", log.redact(s.data.password))
    assert.is_nil(flux.git_secret("x", "y", "existing-secret", "https://g/x"))
  end)

  it("holds an SSH key with the host keys, and refuses one without them", function()
    local key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    local hosts = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    local s = flux.git_secret("flux-system", "flux-system", { identity = key, known_hosts = hosts },
      "ssh://git@github.com/org/fleet.git")
    assert.are.equal(key, base64.decode(s.data.identity))
    assert.are.equal(hosts, base64.decode(s.data.known_hosts))
    assert.are.equal("***", log.redact(key))
    local ok, err = pcall(flux.git_secret, "flux-system", "flux-system", { identity = key }, "ssh://git@github.com/o/r")
    assert.is_false(ok)
    assert.matches("SSH needs known_hosts", err.message)
  end)

  it("refuses credentials that do not fit the URL, without showing them", function()
    local ok, err = pcall(flux.git_secret, "s", "ns", { username = "git", token = "mismatched-token-42" },
      "ssh://git@github.com/org/fleet.git")
    assert.is_false(ok)
    assert.matches("needs {identity, known_hosts}", err.message)
    assert.is_nil(err.message:find("mismatched-token-42", 1, true))
    ok, err = pcall(flux.git_secret, "s", "ns", { identity = "k\n", known_hosts = "h k" }, "https://github.com/o/r")
    assert.is_false(ok)
    assert.matches("an SSH key needs an ssh:// URL", err.message)
    ok, err = pcall(flux.git_secret, "s", "ns", { username = "git" }, "https://github.com/o/r")
    assert.is_false(ok)
    assert.matches("HTTPS needs {username = ..., token = ...}", err.message)
  end)
end)

describe("flux.state", function()
  local function obj(conditions, extra)
    local o = { kind = "Kustomization", metadata = { name = "apps", namespace = "flux-system", generation = 3 },
                spec = {}, status = { observedGeneration = 3, conditions = conditions } }
    for k, v in pairs(extra or {}) do o.status[k] = v end
    return o
  end

  it("reads Ready, Stalled and Reconciling as `flux get` does", function()
    local ok, reason, message, final = flux.state(obj { { type = "Ready", status = "True",
      reason = "ReconciliationSucceeded", message = "Applied revision: main@sha1:abc" } })
    assert.is_true(ok)
    assert.are.equal("ReconciliationSucceeded", reason)
    assert.are.equal("Applied revision: main@sha1:abc", message)
    assert.is_false(final)

    ok, reason, message, final = flux.state(obj { { type = "Ready", status = "False", reason = "BuildFailed",
                                                    message = "x" } })
    assert.is_false(ok)
    assert.are.equal("BuildFailed", reason)
    assert.is_true(final, "Ready False with nothing in progress is decided")

    ok, reason, message, final = flux.state(obj { { type = "Ready", status = "False", reason = "Progressing" },
                                            { type = "Reconciling", status = "True", reason = "Progressing",
                                              message = "building" } })
    assert.is_false(ok)
    assert.are.equal("Progressing", reason)
    assert.is_false(final, "still reconciling")

    ok, reason, message, final = flux.state(obj { { type = "Stalled", status = "True", reason = "InvalidPath",
                                                    message = "no such path" },
                                            { type = "Ready", status = "False", reason = "InvalidPath" } })
    assert.is_false(ok)
    assert.are.equal("InvalidPath", reason)
    assert.is_true(final)

    ok, reason, message, final = flux.state(obj { { type = "Ready", status = "Unknown", reason = "Progressing" } })
    assert.is_false(ok)
    assert.is_false(final)
  end)

  it("distrusts a status from an older generation", function()
    local o = obj({ { type = "Ready", status = "True", reason = "ReconciliationSucceeded" } },
      { observedGeneration = 2 })
    local ok, reason, message = flux.state(o)
    assert.is_false(ok)
    assert.are.equal("Progressing", reason)
    assert.are.equal("the controller has not seen generation 3 yet (observed 2)", message)
    o = obj { { type = "Ready", status = "True", reason = "ReconciliationSucceeded", observedGeneration = 2 } }
    assert.is_false((flux.state(o)))
  end)

  it("says which controller has not answered", function()
    local ok, reason, message = flux.state { kind = "HelmRelease", metadata = { name = "x" }, spec = {} }
    assert.is_false(ok)
    assert.are.equal("NotReconciled", reason)
    assert.matches("helm%-controller", message)
  end)
end)

describe("flux.order", function()
  local function ks(name, depends, namespace)
    local deps = {}
    for i, d in ipairs(depends or {}) do deps[i] = { name = d } end
    return { kind = "Kustomization", metadata = { name = name, namespace = namespace or "flux-system" },
             spec = { dependsOn = deps } }
  end

  it("puts dependencies first, as the staging cluster's Kustomizations chain them", function()
    local objects = {}
    for _, file in ipairs { "tenants.yaml", "operations.yaml", "policies.yaml" } do
      for _, d in ipairs(documents("clusters/staging/northeurope/" .. file)) do objects[#objects + 1] = d end
    end
    local names = {}
    for i, entry in ipairs(flux.order(objects)) do names[i] = entry.object.metadata.name end
    assert.are.same({ "kyverno", "kyverno-policies", "operations-releases", "operations-manifests", "tenants" }, names)
  end)

  it("names a cycle", function()
    local ok, err = pcall(flux.order, { ks("a", { "c" }), ks("b", { "a" }), ks("c", { "b" }) })
    assert.is_false(ok)
    assert.are.equal("flux", err.kind)
    assert.are.equal("dependsOn cycle: Kustomization/flux-system/a -> Kustomization/flux-system/c -> "
      .. "Kustomization/flux-system/b -> Kustomization/flux-system/a", err.message)
  end)
end)

describe("flux inventories and tables", function()
  it("parses inventory ids, core group and cluster scope included", function()
    assert.are.same({ namespace = "shop", name = "web", group = "apps", kind = "Deployment" },
      flux.parse_inventory_id "shop_web_apps_Deployment")
    assert.are.same({ name = "shop", group = "", kind = "Namespace" }, flux.parse_inventory_id "_shop__Namespace")
    local id, why = flux.parse_inventory_id "garbage"
    assert.is_nil(id)
    assert.matches("not a Flux inventory id", why)
  end)

  it("prints a status table", function()
    local text = flux.format { { kind = "Kustomization", namespace = "flux-system", name = "apps", ready = false,
                                 suspended = true, reason = "BuildFailed", message = "kustomize build failed" } }
    assert.matches("^KIND%s+NAMESPACE/NAME%s+READY%s+SUSPENDED%s+REVISION%s+MESSAGE\n", text)
    assert.matches("Kustomization%s+flux%-system/apps%s+False%s+True%s+%-%s+BuildFailed: kustomize build failed", text)
  end)

  it("makes request tokens that are new and ordered, however fast", function()
    local tokens = {}
    for i = 1, 1000 do tokens[i] = flux.request_token() end
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%d%d%d%dZ$", tokens[1])
    for i = 2, #tokens do assert.is_true(tokens[i - 1] < tokens[i], tokens[i - 1] .. " then " .. tokens[i]) end
    local year = tonumber(tokens[1]:sub(1, 4))
    assert.are.equal(tonumber(os.date("!%Y")), year)
  end)
end)
