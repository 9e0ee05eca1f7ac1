--- ferry.testing.prom: fake_prom{series = ...} -- a Prometheus that
-- answers PromQL from series the test gives.
--
-- What it returns is a real prom client (the object prom.connect returns):
-- query/value/range/series/alerts and prom.compare run ferry's own prom
-- code, and only the HTTP API behind it is answered by the fake, so
-- results and errors have exactly the shapes they have with Prometheus.
--
--   local p = testing.fake_prom {
--     now = 1700000000,                       -- "now" for queries without a time
--     interval = 15,                          -- seconds between samples of generated series
--     series = {
--       ['http_requests_total{job="web",code="200"}'] = function(t) return t * 10 end,
--       ['up{job="web"}'] = 1,                -- a constant
--       ['queue_depth{job="worker"}'] = { { 1699999940, 3 }, { 1699999970, 5 } },  -- samples {t, v}
--       { metric = { __name__ = "load", job = "worker" }, values = { { 1699999970, 0.7 } } },
--     },
--     queries = { ["flagger_canary_status"] = 1 },  -- fixed answers to given expressions
--     alerts = { { labels = { alertname = "HighErrorRate" }, state = "firing" } },
--   }
--   p:query('sum(rate(http_requests_total{job="web"}[5m]))').series[1].value  --> 10
--
-- PromQL is evaluated by ferry.testing.promql as Prometheus 2 (the version
-- Debian ships) evaluates it: a range or the 5m lookback includes the
-- sample at its left edge; prometheus = 3 leaves it out, as Prometheus 3.
local errors = require "ferry.errors"
local http = require "http"
local json = require "json"
local promql = require "ferry.testing.promql"

local fake_prom = {}

local Series = {}
Series.__index = Series

-- Samples in [from, to], oldest first.
function Series:samples(from, to)
  local out = {}
  if self.values then
    for _, s in ipairs(self.values) do
      if s[1] >= from and s[1] <= to then out[#out + 1] = s end
    end
    return out
  end
  local step = self.interval
  local t = math.floor(from / step) * step
  if t < from then t = t + step end
  while t <= to do
    local v = self.fn(t)
    if v ~= nil then out[#out + 1] = { t, v } end
    t = t + step
  end
  return out
end

-- Labels of a series written as a selector: name{a="b",c="d"}.
local function parse_series_name(text)
  local tree, err = promql.parse(text)
  local ok = tree and tree.type == "selector" and tree.name
  if ok then
    for _, m in ipairs(tree.matchers) do
      if m.op ~= "=" then ok = false end
    end
  end
  if not ok then
    error(errors.new("invalid", "fake_prom: a series is named like a selector with = matchers only, "
      .. 'name{label="value"}, got ' .. tostring(text) .. (err and (": " .. err) or "")), 4)
  end
  local labels = { __name__ = tree.name }
  for _, m in ipairs(tree.matchers) do labels[m.name] = m.value end
  return labels
end

local function samples_of(list)
  local values = {}
  for _, s in ipairs(list) do values[#values + 1] = { s[1], tonumber(s[2]) } end
  table.sort(values, function(a, b) return a[1] < b[1] end)
  return values
end

local function make_series(labels, spec, interval)
  local series = setmetatable({ labels = labels, interval = interval }, Series)
  if type(spec) == "number" then
    series.fn = function() return spec end
  elseif type(spec) == "function" then
    series.fn = spec
  elseif type(spec) == "table" then
    series.values = samples_of(spec)
  else
    error(errors.new("invalid", "fake_prom: a series is a number, a function(t) or a list of {t, v} samples"), 4)
  end
  return series
end

-- A number as Prometheus writes sample values.
local function value_text(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.17g", v)
end

local function label_key(metric)
  local keys = {}
  for k in pairs(metric) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "\1" .. tostring(metric[k]) end
  return table.concat(parts, "\2")
end

local function sorted(result)
  table.sort(result, function(a, b) return label_key(a.metric) < label_key(b.metric) end)
  return result
end

local function metric_json(labels)
  local m = json.object()
  for k, v in pairs(labels) do m[k] = v end
  return m
end

-- The fake Prometheus behind the client: series, fixed answers, and the
-- HTTP API's endpoints.
local Backend = {}
Backend.__index = Backend

function Backend:select(predicate)
  local out = {}
  for _, s in ipairs(self.series) do
    if predicate(s.labels) then out[#out + 1] = s end
  end
  return out
end

local function api_error(error_type, message, status)
  return { status = status or 400, body = { status = "error", errorType = error_type, error = message } }
end

-- The API's `data` for one expression at one time, or an error answer.
function Backend:evaluate(expr, t)
  local fixed = self.queries[expr]
  if fixed ~= nil then
    if type(fixed) == "function" then fixed = fixed(t) end
    if type(fixed) == "number" then
      return { resultType = "vector", result = { { metric = json.object(), value = { t, value_text(fixed) } } } }
    end
    return fixed -- the API's data, as given
  end
  local tree, err = promql.parse(expr)
  if not tree then return nil, api_error("bad_data", "invalid parameter \"query\": " .. err) end
  local value, eval_err = promql.eval(tree, t, self)
  if not value then return nil, api_error("execution", eval_err, 422) end
  if value.type == "vector" then
    local result = json.array()
    for _, e in ipairs(value.result) do
      result[#result + 1] = { metric = metric_json(e.metric), value = { t, value_text(e.value) } }
    end
    return { resultType = "vector", result = sorted(result) }
  elseif value.type == "matrix" then
    local result = json.array()
    for _, s in ipairs(value.result) do
      local values = json.array()
      for _, sample in ipairs(s.samples) do values[#values + 1] = { sample[1], value_text(sample[2]) } end
      result[#result + 1] = { metric = metric_json(s.metric), values = values }
    end
    return { resultType = "matrix", result = sorted(result) }
  elseif value.type == "scalar" then
    return { resultType = "scalar", result = { t, value_text(value.value) } }
  end
  return { resultType = "string", result = { t, value.value } }
end

function Backend:query(params)
  local t = tonumber(params.time) or self:now()
  self.calls[#self.calls + 1] = { kind = "query", expr = params.query, time = t }
  local data, failure = self:evaluate(params.query or "", t)
  if not data then return failure end
  return { status = 200, body = { status = "success", data = data } }
end

function Backend:query_range(params)
  local start, stop, step = tonumber(params.start), tonumber(params["end"]), tonumber(params.step)
  self.calls[#self.calls + 1] = { kind = "range", expr = params.query, start = start, stop = stop, step = step }
  if not (start and stop and step) then return api_error("bad_data", "invalid parameter \"start\"") end
  if step <= 0 then
    return api_error("bad_data", "invalid parameter \"step\": zero or negative query resolution step widths "
      .. "are not accepted. Try a positive integer")
  end
  local series, order = {}, {}
  local t = start
  while t <= stop do
    local data, failure = self:evaluate(params.query or "", t)
    if not data then return failure end
    if data.resultType == "matrix" or data.resultType == "string" then
      return api_error("bad_data", "invalid expression type \"" .. (data.resultType == "matrix" and "range vector"
        or "string") .. "\" for range query, must be Scalar or instant Vector")
    end
    local elements = data.resultType == "scalar" and { { metric = json.object(), value = data.result } }
      or data.result
    for _, e in ipairs(elements) do
      local key = label_key(e.metric)
      if not series[key] then
        series[key] = { metric = e.metric, values = json.array() }
        order[#order + 1] = key
      end
      table.insert(series[key].values, { t, e.value[2] })
    end
    t = t + step
  end
  local result = json.array()
  for _, key in ipairs(order) do result[#result + 1] = series[key] end
  return { status = 200, body = { status = "success", data = { resultType = "matrix", result = sorted(result) } } }
end

function Backend:series_endpoint(params)
  local out, seen = json.array(), {}
  for _, match in ipairs(params["match[]"] or {}) do
    local tree, err = promql.parse(match)
    if not tree or tree.type ~= "selector" then
      return api_error("bad_data", "invalid parameter \"match[]\": " .. tostring(err or "not a selector"))
    end
    local selected = promql.eval(tree, self:now(), self)
    for _, s in ipairs(self.series) do
      local hit = false
      for _, e in ipairs(selected and selected.result or {}) do
        if label_key(e.metric) == label_key(s.labels) then hit = true end
      end
      if hit and not seen[label_key(s.labels)] then
        seen[label_key(s.labels)] = true
        out[#out + 1] = metric_json(s.labels)
      end
    end
  end
  return { status = 200, body = { status = "success", data = out } }
end

function Backend:now()
  return self.now_time or os.time()
end

-- One GET of the API: path "api/v1/query?query=...", answered as the
-- service proxy of a cluster answers (status and body text).
function Backend:get(path)
  local endpoint, query = path:match("^/?([^?]*)%??(.*)$")
  local params = {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = http.unescape(k)
    v = http.unescape((v:gsub("+", " ")))
    if k == "match[]" then
      params[k] = params[k] or {}
      table.insert(params[k], v)
    else
      params[k] = v
    end
  end
  local answer
  if endpoint == "api/v1/query" then
    answer = self:query(params)
  elseif endpoint == "api/v1/query_range" then
    answer = self:query_range(params)
  elseif endpoint == "api/v1/series" then
    answer = self:series_endpoint(params)
  elseif endpoint == "api/v1/alerts" then
    answer = { status = 200, body = { status = "success", data = { alerts = self.alerts } } }
  else
    answer = { status = 404, body = "404 page not found" }
  end
  local body = answer.body
  if type(body) ~= "string" then body = json.encode(body) end
  return body, { status = answer.status, body = body, headers = {} }
end

--- fake_prom{series, queries, alerts, now, interval, prometheus, name} ->
-- a prom client answered by the fake. series: {[name{labels}] = number |
-- function(t) | {{t, v}, ...}} and/or a list of {metric = labels, values
-- = {{t, v}...}}; queries: {[expr] = number | the API's data table |
-- function(t) -> either}; alerts: the list /api/v1/alerts returns.
-- The client also has p:add(name_or_labels, spec) to add a series,
-- p.calls, the queries it was asked, and p.clock = {now, sleep}.
function fake_prom.new(options)
  options = options or {}
  local backend = setmetatable({
    series = {}, queries = options.queries or {}, calls = {}, alerts = json.array(),
    now_time = options.now, interval = options.interval or 15,
    left_open = tonumber(options.prometheus or 2) >= 3,
  }, Backend)
  for _, a in ipairs(options.alerts or {}) do
    backend.alerts[#backend.alerts + 1] = {
      labels = a.labels or json.object(), annotations = a.annotations or json.object(), state = a.state or "firing",
      activeAt = a.active_at or a.activeAt or "2026-01-01T00:00:00Z", value = a.value and value_text(a.value) or "1",
    }
  end
  local function add(key, spec)
    if type(key) == "number" then
      -- {metric = {...}, values = {{t, v}, ...}} | {metric, value = n} | {metric, fn = function(t)}
      if type(spec) ~= "table" or type(spec.metric) ~= "table" then
        error(errors.new("invalid", "fake_prom: a series in the list is {metric = labels, values = {{t, v}...}}"), 3)
      end
      backend.series[#backend.series + 1] = make_series(spec.metric, spec.values or spec.fn or spec.value,
        backend.interval)
    elseif type(key) == "table" then
      backend.series[#backend.series + 1] = make_series(key, spec, backend.interval)
    else
      backend.series[#backend.series + 1] = make_series(parse_series_name(key), spec, backend.interval)
    end
  end
  for key, spec in pairs(options.series or {}) do add(key, spec) end

  local name = options.name or "fake"
  local proxy = {
    name = name,
    proxy = function(_, request) return backend:get(request.path) end,
  }
  local p = require("prom").connect { cluster = proxy, service = "fake/prometheus:9090" }
  p.name = name
  p.fake_backend = backend
  p.calls = backend.calls
  --- p:add(name_or_labels, spec): one more series.
  p.add = function(_, key, spec) add(key, spec) end
  --- p.clock: the fake's "now", which sleep moves on without waiting, so
  -- a gate that looks every 30 s (prom.gate) runs at once in a spec.
  p.clock = {
    now = function() return backend:now() end,
    sleep = function(seconds) backend.now_time = backend:now() + seconds end,
  }
  return p
end

return fake_prom
