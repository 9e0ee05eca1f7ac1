-- The per-region and per-tenant examples in recipes/examples extend the
-- stock upgrade-cluster recipe; they must load and do what they say.
local helpers = require "tests.spec.support.helpers"
local recipe = require "recipe"

local EXAMPLES = helpers.root .. "/recipes/examples"

local function load_example(name)
  local chunk = assert(loadfile(EXAMPLES .. "/" .. name .. ".lua"))
  return chunk()
end

describe("recipe examples", function()
  it("region-eun adds its ingress check right after validation and keeps the rest", function()
    local r = load_example("region-eun")
    local stock = recipe.load("upgrade-cluster")
    local expected = {}
    for _, name in ipairs(stock:step_names()) do
      expected[#expected + 1] = name
      if name == "validate-cluster" then expected[#expected + 1] = "check-ingress" end
    end
    assert.are.equal("upgrade-cluster-eun", r.name)
    assert.are.same(expected, r:step_names())
    assert.is_function(r.hooks.after_tenant)
  end)

  it("region-eun's ingress check fails without the gateway and passes with it", function()
    local step = load_example("region-eun").steps[6]
    assert.are.equal("check-ingress", step.name)
    local gateway
    local ctx = { state = {}, k8s = { new = { find = function(_, ref)
      assert.are.equal("istio-ingressgateway", ref.name)
      return gateway
    end } } }
    assert.has_error(function() step.run(ctx) end,
      "the ingress gateway Service istio-system/istio-ingressgateway is missing")
    gateway = { kind = "Service" }
    step.run(ctx)
    assert.is_true(ctx.state.ingress_checked)
  end)

  it("tenant-data replaces deploy-tenants and keeps its undo", function()
    local r = load_example("tenant-data")
    local stock = recipe.load("upgrade-cluster")
    assert.are.same(stock:step_names(), r:step_names())
    local replaced = r.steps[r:step_index("deploy-tenants")]
    assert.are_not.equal(stock.steps[stock:step_index("deploy-tenants")].run, replaced.run)
    assert.is_function(replaced.undo)
  end)

  it("every stock recipe loads and lists its parameters", function()
    for _, name in ipairs { "upgrade-cluster", "create-cluster", "validate-cluster", "deploy-tenant",
                            "compare-clusters", "switch-traffic", "retire-cluster" } do
      local r = recipe.load(name)
      assert.are.equal(name, r.name)
      assert.is_true(#r.steps >= 1)
      assert.is_true(#r.params >= 1)
    end
  end)

  it("plans the whole upgrade without touching anything", function()
    local out = io.tmpfile()
    require("ferry.engine").plan(recipe.load("upgrade-cluster"), {
      params = { from = "prod-eun-1", to = "prod-eun-2", version = "v1.36.3", provider = "k3d" }, output = out,
    })
    out:seek("set")
    local text = out:read("a")
    assert.matches("Plan of upgrade%-cluster %(9 steps; nothing is changed%)", text)
    assert.matches("create cluster prod%-eun%-2 with provider k3d at v1.36.3", text)
    assert.matches("move traffic prod%-eun%-1 %-> prod%-eun%-2 with driver none, weights 100", text)
  end)
end)
