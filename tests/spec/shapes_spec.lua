-- Inputs of valid syntax but of the wrong shape (found by tests/fuzz): each
-- is refused with one ferry error naming the thing and the field, never a
-- raw Lua error ("attempt to index a number value") from deep inside.
local helpers = require "tests.spec.support.helpers"
local auth = require "k8s.auth"
local config = require "k8s.config"
local prom = require "prom"

-- A kubeconfig with one cluster, one user and one context, the user's
-- entry (and the cluster's) given as YAML flow mappings.
local function kubeconfig(user, cluster)
  return string.format([[
current-context: ctx
clusters:
- name: c
  cluster: %s
users:
- name: u
  user: %s
contexts:
- name: ctx
  context: {cluster: c, user: u}
]], cluster or "{server: https://127.0.0.1:6443}", user or "{}")
end

-- What k8s.connect does with a kubeconfig before its first request.
local function connect_with(dir, text)
  helpers.write_file(dir .. "/config", text)
  local a = auth.new(config.resolve(config.load { kubeconfig = dir .. "/config" }))
  a:prepare { headers = {} }
  return a
end

local function refusal(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.are.equal("table", type(err), "a raw error: " .. tostring(err))
  return err
end

describe("kubeconfig fields of the wrong kind", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  local cases = {
    { "a boolean token", kubeconfig "{token: true}", "users%[1%] 'u': token should be a string, not a boolean" },
    { "a number as exec", kubeconfig "{exec: 5}", "users%[1%] 'u': exec should be a mapping, not a number %(5%)" },
    { "exec args of lists", kubeconfig "{exec: {apiVersion: client.authentication.k8s.io/v1, command: p, args: [[1]]}}",
      "exec.args%[1%] should be a string, not a list" },
    { "an exec env entry without a name",
      kubeconfig "{exec: {apiVersion: client.authentication.k8s.io/v1, command: p, env: [{value: x}]}}",
      "exec.env%[1%].name is missing" },
    { "a mapping as a CA file", kubeconfig(nil, "{server: https://h, certificate-authority: {a: 1}}"),
      "clusters%[1%] 'c': certificate%-authority should be a string, not a mapping" },
    { "a boolean as CA data", kubeconfig(nil, "{server: https://h, certificate-authority-data: true}"),
      "certificate%-authority%-data should be a string, not a boolean" },
    { "a number as the cluster entry", kubeconfig(nil, "5"), "clusters%[1%] 'c': cluster should be a mapping" },
    { "clusters as a mapping", "clusters: {c: {server: https://h}}\n", "'clusters' must be a list, not a mapping" },
    { "a list as a context's cluster",
      "clusters: []\ncontexts:\n- {name: x, context: {cluster: [c]}}\n", "contexts%[1%] 'x': cluster should be a string" },
  }
  for _, case in ipairs(cases) do
    it("names the entry and the field: " .. case[1], function()
      local err = refusal(connect_with, dir, case[2])
      assert.are.equal("kubeconfig", err.kind)
      assert.matches(case[3], err.message)
      assert.matches(dir .. "/config", err.message, 1, true)
    end)
  end

  it("takes a null field as no field (token: ~ is no token)", function()
    local a = connect_with(dir, kubeconfig "{token: ~, exec: ~}")
    assert.is_nil(a.token)
    assert.is_nil(a.exec_config)
  end)

  it("still takes numbers among an exec plugin's args", function()
    helpers.write_file(dir .. "/config", kubeconfig "{exec: {apiVersion: client.authentication.k8s.io/v1, command: p, args: [--port, 8080]}}")
    local cfg = config.load { kubeconfig = dir .. "/config" }
    assert.are.same({ "--port", 8080 }, cfg.users.u.exec.args)
  end)
end)

describe("a KUBECONFIG naming files that do not exist", function()
  local getenv = os.getenv
  after_each(function() os.getenv = getenv end)

  it("names the paths and the fix", function()
    os.getenv = function(name)
      if name == "KUBECONFIG" then return "/nonexistent/one:/nonexistent/two" end
      return getenv(name)
    end
    local err = refusal(config.resolve, config.load(), nil)
    assert.are.equal("kubeconfig", err.kind)
    assert.matches("KUBECONFIG names /nonexistent/one:/nonexistent/two", err.message, 1, true)
    assert.matches("none of which exists", err.message, 1, true)
    assert.matches("fix KUBECONFIG", err.message, 1, true)
  end)

  it("names ~/.kube/config when KUBECONFIG is not set", function()
    os.getenv = function(name)
      if name == "KUBECONFIG" then return nil end
      if name == "HOME" then return "/nonexistent-home" end
      return getenv(name)
    end
    local err = refusal(config.resolve, config.load(), nil)
    assert.matches("/nonexistent-home/.kube/config does not exist", err.message, 1, true)
    assert.matches("set KUBECONFIG", err.message, 1, true)
  end)
end)

describe("Prometheus answers of another shape", function()
  -- a client whose service proxy answers body with HTTP 200
  local function answering(body)
    local cluster = { name = "test" }
    function cluster.proxy() return body, { status = 200 } end
    return prom.connect { cluster = cluster, service = "monitoring/prometheus:9090" }
  end

  local cases = {
    { "a success without data", '{"status":"success"}', "query", "no data" },
    { "a scalar without its value", '{"status":"success","data":{"resultType":"scalar"}}', "query",
      "data.result is not a %[time, value%] pair" },
    { "a vector series without its value",
      '{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}', "query",
      "data.result%[1%] is not a series with a value" },
    { "a vector result that is a number", '{"status":"success","data":{"resultType":"vector","result":5}}',
      "query", "data.result is not a list" },
    { "a series with labels of a string", '{"status":"success","data":{"resultType":"vector","result":[{"metric":"up","value":[1,"1"]}]}}',
      "query", "data.result%[1%] is not a series" },
    { "a matrix point that is a number",
      '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[5]}]}}', "range",
      "data.result%[1%] is not a series with values" },
    { "alerts without data", '{"status":"success"}', "alerts", "no data" },
    { "alerts that are a string", '{"status":"success","data":{"alerts":"none"}}', "alerts", "data.alerts is not a list" },
    { "series that are numbers", '{"status":"success","data":[1,2]}', "series", "data%[1%] is not a set of labels" },
  }
  local calls = {
    query = function(p) return p:query "up" end,
    range = function(p) return p:range("up", { start = 0, stop = 60, step = 15 }) end,
    alerts = function(p) return p:alerts() end,
    series = function(p) return p:series "up" end,
  }
  for _, case in ipairs(cases) do
    it("names the field: " .. case[1], function()
      local err = refusal(calls[case[3]], answering(case[2]))
      assert.are.equal("prom", err.kind)
      assert.matches("service monitoring/prometheus:9090 on test", err.message, 1, true)
      assert.matches(case[4], err.message)
    end)
  end

  it("still reads a well-formed answer", function()
    local p = answering '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2.5"]}]}}'
    assert.are.equal(2.5, p:value "up")
  end)
end)
