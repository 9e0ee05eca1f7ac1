-- The stock recipes compose by recipe.use: upgrade-cluster takes each
-- step from the recipe of the same name, a copy's siblings come first,
-- and `ferry recipes copy` hands over the whole procedure.
local helpers = require "tests.spec.support.helpers"
local log = require "log"
local recipe = require "recipe"
local testing = require "ferry.testing"

local FLEET = [[
defaults:
  prometheus: {url: "http://prometheus.invalid"}
  thresholds: {request_rate: false, latency_p50: false, latency_p90: false, latency_p99: false, cpu: false, memory: false}
clusters: {old: {prometheus: {labels: {cluster: old}}}, new: {prometheus: {labels: {cluster: new}}}}
tenants: {shop: {namespace: shop, workloads: web}}
]]

local function plan_of(target, dir)
  return helpers.ferry({ "plan", target, "--set", "from=old", "--set", "to=new" }, { cwd = dir })
end

describe("recipes that compose", function()
  local dir

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  it("upgrade-cluster's steps are those of the recipes it uses", function()
    local upgrade = recipe.load("upgrade-cluster")
    assert.are.same({ "create-cluster", "bootstrap-flux", "validate-cluster", "deploy-tenant", "compare-clusters",
                      "switch-traffic", "retire-cluster" }, upgrade.uses)
    local validate = recipe.load("validate-cluster")
    local step = upgrade.steps[upgrade:step_index("validate-cluster")]
    assert.are.equal(validate.steps[1].description, step.description)
    assert.is_function(recipe.use("validate-cluster").check_workloads)
  end)

  it("copies the whole procedure into a directory, and the copy plans exactly as the stock recipe", function()
    local target = dir .. "/mine"
    local r = helpers.ferry({ "recipes", "copy", "upgrade-cluster", target })
    assert.are.equal(0, r.code, r.stderr)
    for _, name in ipairs { "upgrade-cluster", "create-cluster", "bootstrap-flux", "validate-cluster",
                            "deploy-tenant", "compare-clusters", "switch-traffic", "retire-cluster" } do
      assert.truthy(r.stdout:find("wrote " .. target .. "/" .. name .. ".lua", 1, true), r.stdout)
      assert.truthy(io.open(target .. "/" .. name .. ".lua"), name)
    end
    local stock, copy = plan_of("upgrade-cluster", dir), plan_of(target .. "/upgrade-cluster.lua", dir)
    assert.are.equal(0, copy.code, copy.stderr)
    assert.are.equal(stock.stdout, copy.stdout)
  end)

  it("never overwrites: with one file in the way it writes none", function()
    local target = dir .. "/mine"
    assert.are.equal(0, helpers.ferry({ "recipes", "copy", "validate-cluster", target }).code)
    local r = helpers.ferry({ "recipes", "copy", "upgrade-cluster", target })
    assert.are.equal(2, r.code)
    assert.matches("validate%-cluster%.lua exists already", r.stderr)
    assert.is_nil(io.open(target .. "/upgrade-cluster.lua"))
  end)

  it("copied to a .lua file, the recipe alone is written and says what it still uses", function()
    local r = helpers.ferry({ "recipes", "copy", "upgrade-cluster", dir .. "/weu.lua" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("it uses create%-cluster, bootstrap%-flux", r.stdout)
    assert.is_nil(io.open(dir .. "/validate-cluster.lua"))
  end)

  it("a copy with one step edited runs that step in the upgrade, on the fakes", function()
    local target = dir .. "/mine"
    assert.are.equal(0, helpers.ferry({ "recipes", "copy", "upgrade-cluster", target }).code)
    -- the copied compare-clusters fails when the new cluster's request rate is not twice the old one's
    local path = target .. "/compare-clusters.lua"
    local text = helpers.read_file(path)
    local edited = text:gsub("if #failures > 0 then",
      "failures[#failures + 1] = \"edited: \" .. #recipe.tenants(ctx, recipe.cluster(ctx, role_new)) .. \" tenant(s)\"\n"
      .. "      if #failures > 0 then", 1)
    assert.are_not.equal(text, edited)
    helpers.write_file(path, edited)
    local upgrade = recipe.load(target .. "/upgrade-cluster.lua")
    assert.are.same(recipe.load("upgrade-cluster"):step_names(), upgrade:step_names())
    -- only the comparison runs here: the steps before it need a real control plane
    local compare = recipe.extend(upgrade, { steps = { remove = { "preflight", "create-cluster", "install-flux",
      "bootstrap-flux", "validate-cluster", "deploy-tenants", "switch-traffic", "retire-cluster" } } })
    local series = {}
    for _, cluster in ipairs { "old", "new" } do
      series[string.format('istio_requests_total{cluster="%s",reporter="destination",destination_workload_namespace='
        .. '"shop",destination_workload="web",response_code="200"}', cluster)] = function(t) return t * 10 end
    end
    local function run(r)
      log.configure { stream = io.tmpfile() }
      local report, err = recipe.test(r, {
        params = { from = "old", to = "new", compare_window = "5m" },
        clusters = { old = testing.fake_cluster { name = "old" }, new = testing.fake_cluster { name = "new" } },
        prom = testing.fake_prom { series = series }, fleet = FLEET,
      })
      log.configure { stream = io.stderr }
      return report, err
    end
    local report, err = run(compare)
    assert.are.equal("rolled_back", report.status)
    assert.matches("edited: 1 tenant%(s%)", err.message)
    -- the stock recipe, untouched, passes on the same data
    local stock = recipe.extend("upgrade-cluster", { steps = { remove = { "preflight", "create-cluster",
      "install-flux", "bootstrap-flux", "validate-cluster", "deploy-tenants", "switch-traffic", "retire-cluster" } } })
    assert.are.equal("succeeded", run(stock).status)
  end)

  it("names a circle of recipes that use each other", function()
    helpers.write_file(dir .. "/a.lua", 'local recipe = require "recipe"\nrecipe.use "b"\n'
      .. 'return recipe { name = "a", steps = { { name = "s", run = function() end } } }\n')
    helpers.write_file(dir .. "/b.lua", 'local recipe = require "recipe"\nrecipe.use "a"\n'
      .. 'return recipe { name = "b", steps = { { name = "s", run = function() end } } }\n')
    local ok, err = pcall(recipe.load, dir .. "/a.lua")
    assert.is_false(ok)
    assert.matches("use each other in a circle: a %-> b %-> a", tostring(err.message or err))
  end)
end)
