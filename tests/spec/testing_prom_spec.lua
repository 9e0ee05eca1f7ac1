-- ferry.testing.fake_prom(): a prom client answered from series the test
-- gives. That its PromQL answers match Prometheus' is checked against a
-- real Prometheus by tests/integration/fake_contract_spec.lua.

local testing = require "ferry.testing"
local prom = require "prom"

local NOW = 1700000000

-- request counters for two clusters: 2% errors on old, 10% on new
local function fleet()
  return testing.fake_prom {
    now = NOW,
    series = {
      ['http_requests_total{cluster="old",code="200"}'] = function(t) return t * 9.8 end,
      ['http_requests_total{cluster="old",code="500"}'] = function(t) return t * 0.2 end,
      ['http_requests_total{cluster="new",code="200"}'] = function(t) return t * 9 end,
      ['http_requests_total{cluster="new",code="500"}'] = function(t) return t * 1 end,
      ['up{cluster="old"}'] = 1,
      ['up{cluster="new"}'] = 0,
      ['queue_depth{cluster="new"}'] = { { NOW - 60, 3 }, { NOW - 30, 8 }, { NOW, 5 } },
    },
  }
end

local ERROR_RATIO = 'sum by (cluster) (rate(http_requests_total{code=~"5.."}[5m]))'
  .. ' / sum by (cluster) (rate(http_requests_total[5m]))'

describe("fake_prom", function()
  it("is a prom client", function()
    local p = fleet()
    assert.are.equal(prom.Prom, getmetatable(p).__index)
    assert.are.equal("prometheus fake", tostring(p))
  end)

  it("answers an instant query with prom's typed result", function()
    local r = fleet():query(ERROR_RATIO)
    assert.are.equal("vector", r.type)
    assert.are.equal(2, #r.series)
    assert.are.same({ cluster = "new" }, r.series[1].labels, "series come sorted by labels")
    assert.is.near(0.1, r.series[1].value, 1e-9)
    assert.is.near(0.02, r.series[2].value, 1e-9)
    assert.are.equal(NOW, r.series[1].time)
  end)

  it("gives one value with p:value, nil without data", function()
    local p = fleet()
    assert.is.near(0.1, p:value('sum(rate(http_requests_total{cluster="new",code="500"}[5m])) / '
      .. 'sum(rate(http_requests_total{cluster="new"}[5m]))'), 1e-9)
    local v, why = p:value('up{cluster="elsewhere"}')
    assert.is_nil(v)
    assert.are.equal("no series", why)
    local ok, err = pcall(p.value, p, "up")
    assert.is_false(ok)
    assert.are.equal("ambiguous", err.kind)
  end)

  it("keeps the metric name until a function or operator drops it", function()
    local p = fleet()
    assert.are.same({ __name__ = "up", cluster = "old" }, p:query("up == 1").series[1].labels)
    assert.are.same({ cluster = "new" }, p:query("up + 0").series[1].labels)
  end)

  it("answers at a given time", function()
    local r = fleet():query("queue_depth", { time = NOW - 30 })
    assert.are.equal(8, r.series[1].value)
    assert.are.equal(NOW - 30, r.series[1].time)
  end)

  it("finds nothing older than five minutes (the lookback)", function()
    assert.are.equal(0, #fleet():query("queue_depth", { time = NOW + 301 }).series)
    assert.are.equal(1, #fleet():query("queue_depth", { time = NOW + 300 }).series)
  end)

  it("answers scalars and strings", function()
    local p = fleet()
    local r = p:query("1 + 2 * 3")
    assert.are.equal("scalar", r.type)
    assert.are.equal(7, r.value)
    assert.are.equal(NOW, r.time)
    assert.are.equal(NOW, p:value("time()"))
    assert.are.equal("hi", p:query('"hi"').value)
    assert.are.equal(math.huge, p:value("vector(1) / 0"))
    local nan = p:value("vector(0) / 0")
    assert.is_true(nan ~= nan)
  end)

  it("answers a range query as a matrix", function()
    local r = fleet():range("sum(up)", { start = NOW - 120, stop = NOW, step = 60 })
    assert.are.equal("matrix", r.type)
    assert.are.same({ { labels = {}, values = { { NOW - 120, 1 }, { NOW - 60, 1 }, { NOW, 1 } } } }, r.series)
  end)

  it("returns a range vector as its samples", function()
    local r = fleet():query("queue_depth[1m]")
    assert.are.equal("matrix", r.type)
    assert.are.same({ { NOW - 60, 3 }, { NOW - 30, 8 }, { NOW, 5 } }, r.series[1].values)
  end)

  it("computes rates from counters, resets included", function()
    local p = testing.fake_prom { now = 1000, series = {
      { metric = { __name__ = "c_total" }, values = { { 700, 0 }, { 760, 60 }, { 820, 120 }, { 880, 10 },
                                                      { 940, 70 }, { 1000, 130 } } },
    } }
    -- 60 + 60 + (reset to) 10 + 60 + 60 counted in the 300 s window
    assert.is.near(250, p:value("increase(c_total[5m])"), 1e-9)
    assert.is.near(250 / 300, p:value("rate(c_total[5m])"), 1e-9)
  end)

  it("computes quantiles from histogram buckets", function()
    local p = testing.fake_prom { now = NOW, series = {
      ['lat_bucket{le="0.1"}'] = function(t) return t * 0.5 end,
      ['lat_bucket{le="0.5"}'] = function(t) return t * 0.9 end,
      ['lat_bucket{le="+Inf"}'] = function(t) return t end,
    } }
    assert.is.near(0.1, p:value("histogram_quantile(0.5, rate(lat_bucket[5m]))"), 1e-9)
    assert.is.near(0.3, p:value("histogram_quantile(0.7, rate(lat_bucket[5m]))"), 1e-9)
  end)

  it("filters with comparisons and keeps values with bool", function()
    local p = fleet()
    assert.are.equal(1, #p:query("up > 0").series)
    local flags = p:query("up > bool 0").series
    assert.are.equal(2, #flags)
    assert.are.equal(0, flags[1].value)
  end)

  it("matches vectors on and ignoring labels", function()
    local p = fleet()
    assert.are.equal(1, p:value('up{cluster="old"} - ignoring(cluster) up{cluster="new"}'))
    assert.are.equal(2, #p:query('http_requests_total and on(cluster) (up == 1)').series)
  end)

  it("answers given expressions as given", function()
    local p = testing.fake_prom { now = NOW, queries = {
      ["flagger_canary_weight"] = 25,
      ["slo:error_budget"] = function(t) return { resultType = "scalar", result = { t, tostring(t % 7) } } end,
    } }
    assert.are.equal(25, p:value("flagger_canary_weight"))
    assert.are.equal(NOW % 7, p:value("slo:error_budget"))
  end)

  it("lists series and alerts", function()
    local p = testing.fake_prom { now = NOW, series = { ['up{job="a"}'] = 1, ['up{job="b"}'] = 1 },
                                  alerts = { { labels = { alertname = "Down" }, state = "firing", value = 1 } } }
    local series = p:series('up{job="b"}')
    assert.are.same({ { __name__ = "up", job = "b" } }, series)
    local alerts = p:alerts()
    assert.are.equal("Down", alerts[1].labels.alertname)
    assert.are.equal("firing", alerts[1].state)
  end)

  it("records what was asked", function()
    local p = fleet()
    p:query("up")
    p:range("up", { start = NOW - 60, stop = NOW, step = 30 })
    assert.are.same({ kind = "query", expr = "up", time = NOW }, p.calls[1])
    assert.are.same({ kind = "range", expr = "up", start = NOW - 60, stop = NOW, step = 30 }, p.calls[2])
  end)

  it("takes series added later", function()
    local p = testing.fake_prom { now = NOW }
    p:add('errors_total{job="api"}', function(t) return t end)
    p:add({ __name__ = "load", job = "api" }, { { NOW, 0.7 } })
    assert.is.near(1, p:value("rate(errors_total[5m])"), 1e-9)
    assert.are.equal(0.7, p:value("load"))
  end)

  it("refuses what Prometheus refuses, with prom's errors", function()
    local p = fleet()
    local ok, err = pcall(p.query, p, "sum(rate(up[5m])")
    assert.is_false(ok)
    assert.are.equal("prom", err.kind)
    assert.are.equal("bad_data", err.error_type)
    assert.are.equal(400, err.status)
    assert.matches('^invalid parameter "query": 1:%d+: parse error: ', err.prom_error)
    ok, err = pcall(p.query, p, "rate(up)")
    assert.matches('expected type range vector in call to function "rate", got instant vector', err.prom_error)
    ok, err = pcall(p.query, p, "http_requests_total - ignoring(code) up")
    assert.is_false(ok)
    assert.are.equal("execution", err.error_type)
    assert.are.equal(422, err.status)
    ok, err = pcall(p.range, p, "up[5m]", { start = NOW - 60, stop = NOW, step = 30 })
    assert.is_false(ok)
    assert.matches('invalid expression type "range vector" for range query', err.prom_error)
  end)

  it("refuses series it cannot name", function()
    local ok, err = pcall(testing.fake_prom, { series = { ['up{job=~"x"}'] = 1 } })
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
  end)

  it("leaves out the sample at a range's left edge like Prometheus 3 when asked", function()
    local samples = { { NOW - 300, 1 }, { NOW - 150, 2 }, { NOW, 3 } }
    local v2 = testing.fake_prom { now = NOW, series = { ["g"] = samples } }
    local v3 = testing.fake_prom { now = NOW, series = { ["g"] = samples }, prometheus = 3 }
    assert.are.equal(3, v2:value("count_over_time(g[5m])"))
    assert.are.equal(2, v3:value("count_over_time(g[5m])"))
  end)

  it("feeds prom.compare", function()
    local p = fleet()
    local report = prom.compare {
      baseline = { prom = p, labels = { cluster = "old" } },
      candidate = { prom = p, labels = { cluster = "new" } },
      window = "5m",
      checks = { { name = "errors", max_delta = 0.01,
                   query = 'sum(rate(http_requests_total{code=~"5.."{{ labels }}}[{{ window }}])) / '
                     .. 'sum(rate(http_requests_total{code=~".+"{{ labels }}}[{{ window }}]))' } },
    }
    assert.is_false(report.ok, "10% errors against 2% is a regression")
    assert.are.equal("fail", report.checks[1].verdict)
    assert.is.near(0.02, report.checks[1].baseline, 1e-9)
    assert.is.near(0.1, report.checks[1].candidate, 1e-9)
  end)

  it("stands in for prom.connect with testing.use", function()
    local old, new = fleet(), fleet()
    local restore = testing.use { prom = { ["http://prom-old:9090"] = old, ["prod-eun-2"] = new } }
    finally(restore)
    assert.are.equal(old, prom.connect { url = "http://prom-old:9090" })
    assert.are.equal(new, prom.connect { cluster = { name = "prod-eun-2" }, service = "monitoring/prom:9090" })
    local ok, err = pcall(prom.connect, { url = "http://elsewhere:9090" })
    assert.is_false(ok)
    assert.matches('no fake Prometheus for "http://elsewhere:9090"', err.message)
  end)
end)
