-- flagger without a cluster: references, Canary summaries, MetricTemplate
-- rendering (the seed's templates), and argument checks that come before
-- any request.
local flagger = require "flagger"
local helpers = require "tests.spec.support.helpers"
local yaml = require "yaml"

local FIXTURES = helpers.fixtures()

local function documents(path)
  return helpers.documents(FIXTURES .. "/" .. path)
end

-- A client that fails the test if anything reaches the API server.
local untouchable = setmetatable({ name = "untouchable", namespace = "default" }, {
  __index = function(_, key) error("the API server was asked (" .. tostring(key) .. ")", 2) end,
})

describe("flagger.ref", function()
  it("takes namespace/name, tables and objects", function()
    assert.are.same({ kind = "Canary", name = "web", namespace = "shop" }, flagger.ref "shop/web")
    assert.are.same({ kind = "Canary", name = "web", namespace = "prod" }, flagger.ref("web", "prod"))
    local canary = documents("fluxcd+flagger/v1.44.0/artifacts/examples/istio-canary.yaml")[1]
    assert.are.same({ kind = "Canary", name = "podinfo", namespace = "test" }, flagger.ref(canary))
    local ok, err = pcall(flagger.ref, {})
    assert.is_false(ok)
    assert.matches('"namespace/name"', err.message)
  end)
end)

describe("flagger.summary", function()
  it("reads a Canary Flagger has not seen as phase Unknown", function()
    local canary = documents("fluxcd+flagger/v1.44.0/artifacts/examples/istio-canary.yaml")[1]
    local s = flagger.summary(canary)
    assert.are.equal("Unknown", s.phase)
    assert.are.equal(0, s.weight)
    assert.are.equal(0, s.failed_checks)
    assert.are.equal(10, s.threshold)
    assert.are.equal(50, s.max_weight)
    assert.are.equal("podinfo", s.target.name)
    assert.is_false(s.promoted)
    assert.is_false(s.skip_analysis)
  end)

  it("reads the status Flagger writes", function()
    local s = flagger.summary { metadata = { name = "web", namespace = "shop" },
      spec = { analysis = { threshold = 5 } },
      status = { phase = "Progressing", canaryWeight = 30, failedChecks = 1, iterations = 4,
                 lastTransitionTime = "2026-11-25T10:00:00Z",
                 conditions = { { type = "Promoted", status = "Unknown", reason = "Progressing",
                                  message = "Advance web.shop canary weight 30" } } } }
    assert.are.equal("Progressing", s.phase)
    assert.are.equal(30, s.weight)
    assert.are.equal(1, s.failed_checks)
    assert.are.equal(4, s.iterations)
    assert.are.equal("Advance web.shop canary weight 30", s.message)
    assert.are.equal("Progressing, weight 30%, iteration 4, 1 failed check of 5 allowed: "
      .. "Advance web.shop canary weight 30", flagger.describe_state(s))
  end)
end)

describe("flagger.render", function()
  it("renders the seed's MetricTemplates as Flagger does", function()
    local templates = documents("felipmiguel+gitops-demo-multitenant/operations/manifests/base/istio-system/"
      .. "flagger-metrics.yaml")
    local canary = documents("fluxcd+flagger/v1.44.0/artifacts/examples/istio-canary.yaml")[1]
    local metric = canary.spec.analysis.metrics[1]
    local vars = flagger.model(canary, metric)
    assert.are.same({ name = "podinfo", namespace = "test", target = "podinfo", service = "podinfo", ingress = "",
                      route = "", interval = "1m", variables = {} }, vars)
    local error_rate = flagger.render(templates[1].spec.query, vars)
    assert.matches('destination_workload_namespace="test",', error_rate)
    assert.matches('destination_workload=~"podinfo",', error_rate)
    assert.matches("}%[1m%]", error_rate)
    assert.is_nil(error_rate:find("{{", 1, true))
    local latency = flagger.render(templates[2].spec.query, flagger.model(canary, canary.spec.analysis.metrics[2]))
    assert.matches("}%[30s%]", latency)
  end)

  it("renders templateVariables and the builtin Istio queries", function()
    assert.are.equal('x{direction="inbound"}', flagger.render('x{direction="{{ variables.direction }}"}',
      { variables = { direction = "inbound" } }))
    local q = flagger.render(flagger.BUILTIN["request-success-rate"],
      { namespace = "shop", target = "web", interval = "1m" })
    assert.matches('response_code!~"5%.%*"}%[1m%]', q)
  end)

  it("refuses variables Flagger does not have, and unset ones", function()
    local ok, err = pcall(flagger.render, "{{ cluster }}", { cluster = "old" })
    assert.is_false(ok)
    assert.matches("'cluster' is not a Flagger template variable", err.message)
    ok, err = pcall(flagger.render, "{{ target }}", { namespace = "shop" })
    assert.is_false(ok)
    assert.matches("MetricTemplate query: template variable 'target' is not set", err.message)
  end)
end)

describe("flagger arguments", function()
  it("checks wait's phases before asking the API server", function()
    local ok, err = pcall(flagger.wait, untouchable, "shop/web", { phases = { "Promoted" } })
    assert.is_false(ok)
    assert.matches("'Promoted' is not a Canary phase %(phases: Initializing, Initialized", err.message)
    ok, err = pcall(flagger.wait, untouchable, "shop/web", { fail_on = "Broken" })
    assert.is_false(ok)
    assert.matches("wait fail_on: 'Broken'", err.message)
  end)

  it("checks gate actions and webhook payloads before sending anything", function()
    local ok, err = pcall(flagger.gate, "http://loadtester.invalid/", "unlock", "shop/web")
    assert.is_false(ok)
    assert.matches("gate action must be open, close, check, approve or halt", err.message)
    ok, err = pcall(flagger.gate, "http://loadtester.invalid/", "approve", "shop/web", { rollback = true })
    assert.is_false(ok)
    assert.matches("rollback gate has open, close and check", err.message)
    ok, err = pcall(flagger.gate, "loadtester:80", "open", "shop/web")
    assert.is_false(ok)
    assert.matches("needs the load tester's URL", err.message)
    ok, err = pcall(flagger.run_webhook, "http://loadtester.invalid/", { name = "web", namespace = "shop",
                                                                          metadata = { cmd = "hey", replicas = 2 } })
    assert.is_false(ok)
    assert.matches("metadata values must be strings", err.message)
    ok, err = pcall(flagger.run_webhook, "http://loadtester.invalid/", { metadata = { cmd = "hey" } })
    assert.is_false(ok)
    assert.matches("needs the canary's name and namespace", err.message)
    ok, err = pcall(flagger.run_webhook, "http://loadtester.invalid/",
      { name = "a", namespace = "b", timeout = "soon" })
    assert.is_false(ok)
    assert.matches('flagger.run_webhook: timeout "soon" is not a duration', err.message)
  end)
end)
