local helpers = require "tests.spec.support.helpers"
local config = require "k8s.config"
local k8s = require "k8s"

local FIRST = [[
apiVersion: v1
kind: Config
current-context: one
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: certs/ca.crt
- name: shared
  cluster:
    server: https://first.example:6443
users:
- name: u1
  user:
    token: first-token
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: bin/plugin
      interactiveMode: Never
contexts:
- name: one
  context: {cluster: c1, user: u1, namespace: team-a}
- name: shared
  context: {cluster: shared, user: u1}
]]

local SECOND = [[
apiVersion: v1
kind: Config
current-context: two
clusters:
- name: shared
  cluster:
    server: https://second.example:6443
- name: c2
  cluster:
    server: https://127.0.0.2:6443
users:
- name: u2
  user:
    username: admin
    password: secret
contexts:
- name: two
  context: {cluster: c2, user: u2}
- name: missing-cluster
  context: {cluster: nowhere, user: u1}
]]

describe("k8s.config", function()
  local dir

  before_each(function()
    dir = helpers.tmpdir()
    helpers.write_file(dir .. "/first", FIRST)
    helpers.write_file(dir .. "/second", SECOND)
  end)

  after_each(function() helpers.remove_tree(dir) end)

  it("reads one file's clusters, users, contexts and current-context", function()
    local cfg = config.load { kubeconfig = dir .. "/first" }
    assert.are.equal("one", cfg.current_context)
    assert.are.same({ "one", "shared" }, config.context_names(cfg))
    assert.are.equal("https://first.example:6443", cfg.clusters.shared.server)
    assert.are.same({ dir .. "/first" }, cfg.paths)
  end)

  it("resolves relative paths against the file that holds them", function()
    local cfg = config.load { kubeconfig = dir .. "/first" }
    assert.are.equal(dir .. "/certs/ca.crt", cfg.clusters.c1["certificate-authority"])
    assert.are.equal(dir .. "/bin/plugin", cfg.users["exec-user"].exec.command)
  end)

  it("resolves a context with its cluster, user and namespace", function()
    local cfg = config.load { kubeconfig = dir .. "/first" }
    local r = config.resolve(cfg, nil)
    assert.are.equal("one", r.name)
    assert.are.equal("team-a", r.namespace)
    assert.are.equal("https://127.0.0.1:6443", r.cluster.server)
    assert.are.equal("first-token", r.user.token)
  end)

  it("names the available contexts when one is missing", function()
    local cfg = config.load { kubeconfig = dir .. "/first" }
    local ok, err = pcall(config.resolve, cfg, "nope")
    assert.is_false(ok)
    assert.are.equal("kubeconfig", err.kind)
    assert.matches("no context 'nope'", err.message)
    assert.matches("one, shared", err.message)
  end)

  it("names a missing kubeconfig file and the fix", function()
    local ok, err = pcall(config.load, { kubeconfig = dir .. "/absent" })
    assert.is_false(ok)
    assert.matches("cannot read kubeconfig .*/absent", err.message)
  end)

  it("reports broken YAML with its location", function()
    helpers.write_file(dir .. "/broken", "clusters: [\n  - name: x\n  bad")
    local ok, err = pcall(config.load, { kubeconfig = dir .. "/broken" })
    assert.is_false(ok)
    assert.matches("broken is not valid YAML", err.message)
  end)

  it("names a missing certificate file and where to fix it", function()
    local ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/first", context = "one" })
    assert.is_false(ok)
    assert.are.equal("auth", err.kind)
    assert.matches("cannot read CA certificate .*/certs/ca.crt", err.message)
    assert.matches("fix the path in the kubeconfig", err.message)
  end)

  it("refuses basic auth with a clear error", function()
    local ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/second", context = "two" })
    assert.is_false(ok)
    assert.matches("basic auth", err.message)
    assert.is_nil(err.message:find("secret", 1, true))
  end)

  it("refuses impersonation and insecure-skip-tls-verify next to a CA", function()
    helpers.write_file(dir .. "/third", [[
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true, certificate-authority-data: Zm9v}
- name: d
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: abcd1234}
- name: imp
  user: {token: abcd1234, as: someone-else}
contexts:
- name: both
  context: {cluster: c, user: u}
- name: impersonating
  context: {cluster: d, user: imp}
]])
    local ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/third", context = "both" })
    assert.is_false(ok)
    assert.matches("exclude each other", err.message)
    ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/third", context = "impersonating" })
    assert.is_false(ok)
    assert.matches("impersonation", err.message)
  end)

  it("takes timeouts as durations and names a malformed one", function()
    helpers.write_file(dir .. "/plain", [[
clusters: [{name: d, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: abcd1234}}]
contexts: [{name: p, context: {cluster: d, user: u}}]
]])
    assert.are.equal(30, k8s.connect({ kubeconfig = dir .. "/plain", context = "p", timeout = "30s" }).timeout)
    local ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/plain", context = "p", timeout = "soon" })
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.matches("timeout", err.message)
  end)

  it("names a context whose cluster is missing", function()
    local ok, err = pcall(k8s.connect, { kubeconfig = dir .. "/second", context = "missing-cluster" })
    assert.is_false(ok)
    assert.matches("refers to cluster 'nowhere'", err.message)
  end)

  it("merges $KUBECONFIG lists in a subprocess, first file winning", function()
    local r = helpers.ferry({ "eval", [[
      local cfg = require('k8s.config').load()
      return cfg.current_context .. ' ' .. cfg.clusters.shared.server .. ' ' .. #cfg.paths]] },
      { env = { KUBECONFIG = dir .. "/first:" .. dir .. "/missing:" .. dir .. "/second" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("one https://first.example:6443 2\n", r.stdout)
  end)

  it("uses the service account inside a pod", function()
    helpers.write_file(dir .. "/token", "sa-token\n")
    helpers.write_file(dir .. "/namespace", "tenant-a")
    local r = helpers.ferry({ "eval", string.format([[
      local c = require('k8s').connect { in_cluster = true, service_account_dir = %q }
      return c.server .. ' ' .. c.namespace .. ' ' .. c.name]], dir) },
      { env = { KUBERNETES_SERVICE_HOST = "10.0.0.1", KUBERNETES_SERVICE_PORT = "443" } })
    -- no ca.crt in the dir: the error must say so
    assert.are.equal(1, r.code)
    assert.matches("ca.crt", r.stderr)
  end)
end)
