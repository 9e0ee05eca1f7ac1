-- prom without a server: values, templates, verdicts, result decoding and
-- compare over stand-in clients whose transport returns canned API data.
local errors = require "ferry.errors"
local log = require "log"
local prom = require "prom"

local function is_nan(v) return v ~= v end

-- A client whose API answers come from answer(path, params) instead of HTTP.
local function fake_client(name, answer)
  local p = prom.connect { url = "http://" .. name .. ".invalid:9090" }
  p.asked = {}
  p.get = function(self, path, params)
    local query
    for _, pair in ipairs(params or {}) do if pair[1] == "query" then query = pair[2] end end
    self.asked[#self.asked + 1] = query or path
    return answer(path, query, params)
  end
  return p
end

local function vector(...)
  local result = {}
  for i, v in ipairs { ... } do result[i] = { metric = { i = tostring(i) }, value = { 1700000000.5, v } } end
  return { resultType = "vector", result = result }
end

describe("prom values", function()
  it("reads Prometheus' sample strings, NaN and infinities included", function()
    assert.are.equal(0.25, prom.number("0.25"))
    assert.are.equal(1e-3, prom.number("1e-3"))
    assert.are.equal(math.huge, prom.number("+Inf"))
    assert.are.equal(-math.huge, prom.number("-Inf"))
    assert.is_true(is_nan(prom.number("NaN")))
    assert.are.equal(3, prom.number(3))
    assert.is_nil(prom.number("twelve"))
  end)

  it("writes numbers back the way Prometheus does", function()
    assert.are.equal("NaN", prom.format_number(0 / 0))
    assert.are.equal("+Inf", prom.format_number(math.huge))
    assert.are.equal("-Inf", prom.format_number(-math.huge))
    assert.are.equal("42", prom.format_number(42.0))
    assert.are.equal("0.1235", prom.format_number(0.123456))
    assert.are.equal("-", prom.format_number(nil))
  end)
end)

describe("prom.render", function()
  it("fills {{ name }} and {{ a.b }} and trims around {{- -}}", function()
    assert.are.equal('rate(x{ns="shop"}[5m])', prom.render('rate(x{ns="{{ namespace }}"}[{{interval}}])',
      { namespace = "shop", interval = "5m" }))
    assert.are.equal("dir=in", prom.render("dir={{ variables.direction }}", { variables = { direction = "in" } }))
    assert.are.equal("ab", prom.render("a  {{- x -}}  b", { x = "" }))
    assert.are.equal("3", prom.render("{{ n }}", { n = 3 }))
  end)

  it("names a variable that is not set, and what is", function()
    local ok, err = pcall(prom.render, "{{ namespace }}/{{ target }}", { namespace = "shop" }, "check 'x'")
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.are.equal("check 'x': template variable 'target' is not set (set: namespace)", err.message)
    ok, err = pcall(prom.render, "{{ variables.missing }}", { variables = {} })
    assert.is_false(ok)
    assert.matches("'variables.missing' is not set", err.message)
  end)

  it("refuses what it cannot render", function()
    local ok, err = pcall(prom.render, "sum({{ target )", { target = "x" })
    assert.is_false(ok)
    assert.matches("has no closing '}}'", err.message)
    ok, err = pcall(prom.render, "{{ printf \"%d\" 3 }}", {})
    assert.is_false(ok)
    assert.matches("only {{ name }} or {{ name.key }} is supported", err.message)
  end)

  it("turns labels into extra matchers, escaped and sorted", function()
    assert.are.equal("", prom.matchers(nil))
    assert.are.equal("", prom.matchers({}))
    assert.are.equal(',cluster="old",region="eu \\"n\\""', prom.matchers { region = 'eu "n"', cluster = "old" })
    assert.are.equal(',env="prod"', prom.matchers 'env="prod"')
    local ok, err = pcall(prom.matchers, { ["bad-name"] = "x" })
    assert.is_false(ok)
    assert.matches("not a valid Prometheus label name", err.message)
  end)
end)

describe("prom.judge", function()
  local judge = prom.judge

  it("passes within the limits and says which", function()
    local verdict, reason, ratio, delta = judge({ max_ratio = 1.5 }, 100, 120)
    assert.are.equal("pass", verdict)
    assert.are.equal("within max_ratio 1.5", reason)
    assert.are.equal(1.2, ratio)
    assert.are.equal(20, delta)
  end)

  it("fails with every limit that was crossed", function()
    local verdict, reason = judge({ max_ratio = 1.5, max_delta = 10, max = 150 }, 100, 200)
    assert.are.equal("fail", verdict)
    assert.are.equal("candidate 200 > max 150; ratio 2 > max_ratio 1.5 (candidate 200 / baseline 100); "
      .. "delta 100 > max_delta 10 (candidate 200 - baseline 100)", reason)
    assert.are.equal("fail", (judge({ min = 99 }, nil, 98.5)))
    assert.are.equal("fail", (judge({ min_ratio = 0.5 }, 10, 4)))
  end)

  it("never passes a candidate without data", function()
    local verdict, reason = judge({ max = 1 }, 0.5, nil)
    assert.are.equal("no_data", verdict)
    assert.matches("candidate has no data", reason)
    verdict, reason = judge({ max = 1 }, 0.5, 0 / 0)
    assert.are.equal("no_data", verdict)
    assert.matches("NaN", reason)
  end)

  it("needs a baseline only for relative limits", function()
    local verdict, reason = judge({ max_ratio = 2 }, nil, 1)
    assert.are.equal("no_data", verdict)
    assert.matches("baseline has no data %(no series%)", reason)
    assert.are.equal("no_data", (judge({ max_delta = 1 }, 0 / 0, 1)))
    assert.are.equal("pass", (judge({ max = 2 }, nil, 1)))
  end)

  it("compares against zero and infinity without dividing by zero", function()
    local verdict, _, ratio = judge({ max_ratio = 2 }, 0, 0)
    assert.are.equal("pass", verdict)
    assert.are.equal(1, ratio)
    verdict, _, ratio = judge({ max_ratio = 2 }, 0, 0.1)
    assert.are.equal("fail", verdict)
    assert.are.equal(math.huge, ratio)
    assert.are.equal("fail", (judge({ max = 500 }, 250, math.huge)))
    verdict, _, ratio = judge({ max_ratio = 1.2 }, math.huge, math.huge)
    assert.are.equal("pass", verdict)
    assert.are.equal(1, ratio)
  end)
end)

describe("prom stock checks", function()
  it("parameterise the seed's MetricTemplate queries", function()
    local q = prom.render(prom.checks.error_rate.query,
      { namespace = "shop", target = "web", interval = "5m", labels = prom.matchers { cluster = "new" } })
    assert.matches('^100 %- sum%(rate%(istio_requests_total{reporter="destination",'
      .. 'destination_workload_namespace="shop",destination_workload=~"web",cluster="new",'
      .. 'response_code!~"5%.%*"}%[5m%]%)%)', q)
    local p99 = prom.render(prom.checks.latency_p99.query,
      { namespace = "shop", target = "web", interval = "1m", labels = "" })
    assert.matches("^histogram_quantile%(0%.99, sum%(rate%(istio_request_duration_milliseconds_bucket{", p99)
    assert.matches("by %(le%)%)$", p99)
  end)

  it("take overrides: a new limit replaces the stock ones", function()
    local check = prom.check("latency_p99", { max = 800 })
    assert.are.equal(800, check.max)
    assert.is_nil(check.max_ratio)
    assert.are.equal(1.5, prom.check("latency_p99").max_ratio)
    assert.are.equal(1.5, prom.checks.latency_p99.max_ratio, "the stock table is not changed")
    local list = prom.stock_checks { cpu = false, memory = { max_ratio = 2 } }
    local names = {}
    for _, c in ipairs(list) do names[#names + 1] = c.name end
    assert.are.same({ "error_rate", "request_rate", "latency_p50", "latency_p90", "latency_p99", "memory" }, names)
    assert.are.equal(2, list[6].max_ratio)
    local ok, err = pcall(prom.check, "latency_p95")
    assert.is_false(ok)
    assert.matches("no stock check named 'latency_p95' %(stock checks: cpu, error_rate", err.message)
  end)
end)

describe("prom results", function()
  it("decodes vectors with NaN and +Inf kept, and single values", function()
    local p = fake_client("a", function() return vector("1.5", "NaN", "+Inf") end)
    local r = p:query "x"
    assert.are.equal("vector", r.type)
    assert.are.equal(3, #r.series)
    assert.are.equal(1.5, r.series[1].value)
    assert.are.equal("1", r.series[1].labels.i)
    assert.are.equal(1700000000.5, r.series[1].time)
    assert.is_true(is_nan(r.series[2].value))
    assert.are.equal(math.huge, r.series[3].value)
    local ok, err = pcall(r.number, r)
    assert.is_false(ok)
    assert.are.equal("ambiguous", err.kind)
    assert.matches("returned 3 series, not one", err.message)
  end)

  it("decodes scalars, strings and matrices", function()
    local answers = {
      scalar = { resultType = "scalar", result = { 1700000000, "-Inf" } },
      string = { resultType = "string", result = { 1700000000, "hello" } },
      matrix = { resultType = "matrix",
                 result = { { metric = { job = "a" }, values = { { 1, "1" }, { 2, "NaN" } } } } },
      empty = { resultType = "vector", result = {} },
    }
    local p = fake_client("b", function(_, query) return answers[query] end)
    assert.are.equal(-math.huge, p:query("scalar").value)
    assert.are.equal(-math.huge, p:value("scalar"))
    assert.are.equal("hello", p:query("string").value)
    local m = p:query "matrix"
    assert.are.equal("matrix", m.type)
    assert.are.equal("a", m.series[1].labels.job)
    assert.are.equal(1, m.series[1].values[1][2])
    assert.is_true(is_nan(m.series[1].values[2][2]))
    local value, why = p:value "empty"
    assert.is_nil(value)
    assert.are.equal("no series", why)
  end)

  it("checks arguments before asking", function()
    local p = fake_client("c", function() error("asked") end)
    local ok, err = pcall(p.query, p, "  ")
    assert.is_false(ok)
    assert.matches("needs a PromQL expression", err.message)
    ok, err = pcall(p.range, p, "up", {})
    assert.is_false(ok)
    assert.matches('range needs start %(or last = "10m"%)', err.message)
    ok, err = pcall(p.query, p, "up", { time = "yesterday" })
    assert.is_false(ok)
    assert.matches("RFC 3339", err.message)
    assert.are.equal(0, #p.asked)
  end)

  it("asks range queries with a step", function()
    local seen
    local p = fake_client("d", function(path, _, params)
      seen = { path = path }
      for _, pair in ipairs(params) do seen[pair[1]] = pair[2] end
      return { resultType = "matrix", result = {} }
    end)
    p:range("up", { start = 1000, stop = 1600, step = "1m" })
    assert.are.equal("api/v1/query_range", seen.path)
    assert.are.equal("1000.000", seen.start)
    assert.are.equal("1600.000", seen["end"])
    assert.are.equal("60", seen.step)
    p:range("up", { start = 0, stop = 2500 })
    assert.are.equal("10", seen.step, "250 points by default")
  end)
end)

describe("prom.connect", function()
  it("sends basic or bearer credentials and keeps them out of the logs", function()
    local p = prom.connect { url = "https://prom.example:9090/", auth = { username = "ferry", password = "pa55-word" } }
    assert.are.equal("https://prom.example:9090", p.url)
    assert.are.equal("Basic ZmVycnk6cGE1NS13b3Jk", p.headers.Authorization)
    assert.are.equal("***", log.redact("pa55-word"))
    assert.are.equal("Basic ***", log.redact(p.headers.Authorization))
    local b = prom.connect { url = "http://prom:9090", auth = { token = "t0ken-abc" } }
    assert.are.equal("Bearer t0ken-abc", b.headers.Authorization)
    assert.are.equal("***", log.redact("t0ken-abc"))
  end)

  it("explains what it needs", function()
    local ok, err = pcall(prom.connect, { url = "prom:9090" })
    assert.is_false(ok)
    assert.matches('needs url = "http%(s%)://host:port"', err.message)
    ok, err = pcall(prom.connect, { cluster = {}, service = "prometheus" })
    assert.is_false(ok)
    assert.matches('service = "namespace/name:port"', err.message)
    ok, err = pcall(prom.connect, { url = "http://p", auth = { user = "x" } })
    assert.is_false(ok)
    assert.matches("auth must be", err.message)
  end)
end)

describe("prom.compare", function()
  -- the value of each side follows from the cluster label in the query
  local function clients(values)
    local p = fake_client("shared", function(_, query)
      local cluster = query:match('cluster="(%w+)"')
      local key = query:match("^(%w+)") .. ":" .. tostring(cluster)
      local v = values[key]
      if v == "error" then
        error(errors.new("prom", "Prometheus: query failed: bad_data"), 0)
      end
      if v == nil then return { resultType = "vector", result = {} } end
      return vector(v)
    end)
    return { prom = p, labels = { cluster = "old" } }, { prom = p, labels = { cluster = "new" } }, p
  end

  it("gives each check both values, the ratio and a verdict", function()
    local baseline, candidate = clients { ["errors:old"] = "1", ["errors:new"] = "1.5",
                                          ["latency:old"] = "100", ["latency:new"] = "130" }
    local report = prom.compare { baseline = baseline, candidate = candidate, window = "5m",
      vars = { target = "web" },
      checks = { { name = "errors", query = 'errors{x="{{ target }}"{{ labels }}}', max_delta = 1 },
                 { name = "latency", query = 'latency{x=""{{ labels }}}', max_ratio = 1.2 } } }
    assert.is_false(report.ok)
    assert.are.same({ pass = 1, fail = 1, no_data = 0, error = 0 }, report.counts)
    local errors_check, latency = report.checks[1], report.checks[2]
    assert.are.equal("pass", errors_check.verdict)
    assert.are.equal(1, errors_check.baseline)
    assert.are.equal(1.5, errors_check.candidate)
    assert.are.equal(1.5, errors_check.ratio)
    assert.are.equal('errors{x="web",cluster="new"}', errors_check.queries.candidate)
    assert.are.equal('errors{x="web",cluster="old"}', errors_check.queries.baseline)
    assert.are.equal("fail", latency.verdict)
    assert.matches("ratio 1%.3 > max_ratio 1%.2", latency.reason)
    assert.matches("latency%s+100%s+130%s+1%.3%s+fail", report:format())
    assert.matches("1 passed, 1 failed, 0 without data, 0 errors %(window 5m%)", report:format())
  end)

  it("passes only when every check passes", function()
    local baseline, candidate = clients { ["errors:old"] = "1", ["errors:new"] = "1" }
    local report = prom.compare { baseline = baseline, candidate = candidate,
      checks = { { name = "errors", query = "errors{x=\"\"{{ labels }}}", max_delta = 1 } } }
    assert.is_true(report.ok)
    assert.are.equal("10m", report.window)
  end)

  it("keeps no data and failed queries apart from failures", function()
    local baseline, candidate = clients { ["errors:old"] = "1", ["latency:old"] = "error", ["latency:new"] = "5" }
    local report = prom.compare { baseline = baseline, candidate = candidate,
      checks = { { name = "errors", query = "errors{x=\"\"{{ labels }}}", max_delta = 1 },
                 { name = "latency", query = "latency{x=\"\"{{ labels }}}", max = 10 } } }
    assert.are.equal("no_data", report.checks[1].verdict)
    assert.are.equal("error", report.checks[2].verdict)
    assert.matches("^baseline query failed: prom: Prometheus: query failed: bad_data", report.checks[2].reason)
    assert.are.same({ pass = 0, fail = 0, no_data = 1, error = 1 }, report.counts)
    assert.is_false(report.ok)
  end)

  it("renders every query before asking any", function()
    local baseline, candidate, p = clients {}
    local ok, err = pcall(prom.compare, { baseline = baseline, candidate = candidate,
      checks = { { name = "fine", query = "up", max = 1 },
                 { name = "typo", query = "x{a=\"{{ namespce }}\"}", max = 1 } } })
    assert.is_false(ok)
    assert.matches("check 'typo': template variable 'namespce' is not set", err.message)
    assert.are.equal(0, #p.asked)
  end)

  it("refuses checks without a limit and sides that are not clients", function()
    local baseline, candidate = clients {}
    local ok, err = pcall(prom.compare, { baseline = baseline, candidate = candidate,
                                          checks = { { name = "x", query = "up" } } })
    assert.is_false(ok)
    assert.matches("check 'x' has no limit", err.message)
    ok, err = pcall(prom.compare, { baseline = "http://prom", candidate = candidate, checks = { "cpu" } })
    assert.is_false(ok)
    assert.matches("baseline = a prom client", err.message)
    ok, err = pcall(prom.compare, { baseline = baseline, candidate = candidate, checks = {} })
    assert.is_false(ok)
    assert.matches("needs checks", err.message)
    ok, err = pcall(prom.compare, { baseline = baseline, candidate = candidate, window = "10 minutes",
                                    checks = { "cpu" } })
    assert.is_false(ok)
    assert.matches('prom.compare: window "10 minutes" is not a duration', err.message)
  end)

  it("takes any client with :value, such as a recipe test's fake", function()
    local asked = {}
    local function fake(v)
      return { value = function(_, query) asked[#asked + 1] = query; return v end }
    end
    local report = prom.compare { baseline = fake(100), candidate = { prom = fake(nil) }, window = "5m",
                                  vars = { namespace = "shop", target = "web" }, checks = { "latency_p99" } }
    assert.are.equal("no_data", report.checks[1].verdict)
    assert.are.equal(100, report.checks[1].baseline)
    assert.are.equal(2, #asked)
  end)

  it("takes stock check names and per-side variables", function()
    local seen = {}
    local p = fake_client("e", function(_, query)
      seen[#seen + 1] = query
      return vector("1")
    end)
    local report = prom.compare { baseline = { prom = p, vars = { namespace = "shop-old" } },
                                  candidate = { prom = p, vars = { namespace = "shop-new" } },
                                  window = "2m", checks = { "memory" } }
    assert.is_true(report.ok)
    table.sort(seen)
    assert.matches('namespace="shop%-new"', seen[1])
    assert.matches('namespace="shop%-old"', seen[2])
    assert.is_nil(seen[1]:find("cluster", 1, true))
  end)
end)
