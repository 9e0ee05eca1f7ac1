--- prom: Prometheus queries and the old-versus-new cluster comparison.
--
--   local prom = require "prom"
--   local p = prom.connect { url = "http://prometheus.monitoring:9090" }
--   local r = p:query 'sum(rate(istio_requests_total[5m]))'
--   local report = prom.compare { baseline = p_old, candidate = p_new, window = "10m",
--                                 vars = { namespace = "shop", target = "web" },
--                                 checks = prom.stock_checks() }
--
-- Sample values are Lua numbers with NaN and ±Inf kept (Prometheus sends
-- them as the strings "NaN", "+Inf", "-Inf"). A check whose query returns
-- nothing (or NaN) gets the verdict "no_data", never "pass": a new cluster
-- without traffic must not pass silently. See docs/modules/prom.md.
local base64 = require "base64"
local errors = require "ferry.errors"
local http = require "http"
local json = require "json"
local log = require "log"
local task = require "task"
local duration = require "ferry.duration"
local timeutil = require "k8s.time"

local prom = {}

local NAN = 0 / 0
local DEFAULT_TIMEOUT = 30

local Prom = {}
Prom.__index = Prom
prom.Prom = Prom

local function invalid(message, fields)
  return errors.new("invalid", message, fields)
end

--- A Prometheus sample value as a number: "NaN", "+Inf" and "-Inf" kept.
function prom.number(text)
  if type(text) == "number" then return text end
  if text == "NaN" then return NAN end
  if text == "+Inf" or text == "Inf" then return math.huge end
  if text == "-Inf" then return -math.huge end
  return tonumber(text)
end

local function is_nan(v) return v ~= v end
prom.is_nan = is_nan

--- A number as Prometheus writes it: NaN, +Inf, -Inf, or %g.
function prom.format_number(v)
  if v == nil then return "-" end
  if type(v) ~= "number" then return tostring(v) end
  if is_nan(v) then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if math.type(v) == "integer" or v == math.floor(v) and math.abs(v) < 1e15 then
    return string.format("%d", v)
  end
  return string.format("%.4g", v)
end

-- "query=...&time=..." from a list of {name, value} pairs (repeated names allowed).
local function form(pairs_list)
  local parts = {}
  for _, p in ipairs(pairs_list) do
    if p[2] ~= nil then parts[#parts + 1] = http.escape(tostring(p[1])) .. "=" .. http.escape(tostring(p[2])) end
  end
  return table.concat(parts, "&")
end

-- Seconds since the epoch, or an RFC 3339 text, as the API takes them.
local function api_time(value, what)
  if value == nil then return nil end
  if type(value) == "number" then return string.format("%.3f", value) end
  if type(value) == "string" and timeutil.parse(value) then return value end
  error(invalid(string.format("%s must be seconds since the epoch or an RFC 3339 time, got %s",
    what, tostring(value))), 0)
end

--- prom.connect{url, headers, auth = {username, password} | {token}, timeout,
-- ca_file, insecure, retries} or prom.connect{cluster = client, service =
-- "namespace/name:port", path_prefix} -> a Prometheus client.
function prom.connect(options)
  if type(options) == "string" then options = { url = options } end
  if type(options) ~= "table" then
    error(invalid("prom.connect takes {url = ...} or {cluster = client, service = \"namespace/name:port\"}"), 0)
  end
  local self = setmetatable({
    timeout = duration.check(options.timeout, "prom.connect", "timeout", DEFAULT_TIMEOUT),
    headers = {},
    retries = options.retries or 2,
  }, Prom)
  if options.cluster then
    if type(options.service) ~= "string" or not options.service:match("^[^/]+/[^:/]+") then
      error(invalid("prom.connect through a cluster needs service = \"namespace/name:port\" "
        .. "(e.g. \"monitoring/prometheus-operated:9090\"), got " .. tostring(options.service)), 0)
    end
    self.cluster, self.service = options.cluster, options.service
    self.prefix = (options.path_prefix or ""):gsub("^/", ""):gsub("/$", "")
    self.name = string.format("service %s on %s", options.service, tostring(options.cluster.name))
  else
    if type(options.url) ~= "string" or not options.url:match("^https?://") then
      error(invalid("prom.connect needs url = \"http(s)://host:port\" or cluster + service, got "
        .. tostring(options.url)), 0)
    end
    self.url = options.url:gsub("/+$", "")
    self.name = self.url
    self.ca_file, self.insecure = options.ca_file, options.insecure
  end
  for k, v in pairs(options.headers or {}) do self.headers[k] = v end
  local auth = options.auth
  if auth then
    if auth.token then
      self.headers.Authorization = "Bearer " .. log.secret(auth.token)
    elseif auth.username then
      log.secret(auth.password)
      local basic = base64.encode(auth.username .. ":" .. tostring(auth.password or ""))
      self.headers.Authorization = "Basic " .. log.secret(basic)
    else
      error(invalid("prom.connect auth must be {username = ..., password = ...} or {token = ...}"), 0)
    end
  end
  return self
end

function Prom:__tostring()
  return "prometheus " .. self.name
end

-- The Prometheus error of an answer, as one line.
local function api_failure(self, status, body, what)
  local ok, decoded = pcall(json.decode, body or "")
  if ok and type(decoded) == "table" and decoded.status == "error" then
    return errors.new("prom", string.format("Prometheus %s: %s failed: %s (%s)", self.name, what,
      tostring(decoded.error), tostring(decoded.errorType)),
      { status = status, error_type = decoded.errorType, prom_error = decoded.error })
  end
  local hint = ""
  if status == 401 or status == 403 then
    hint = ": check the credentials (auth = {username, password} or {token})"
  elseif status == 404 then
    hint = ": is this the Prometheus server (and its path prefix)?"
  end
  local text = tostring(body or ""):gsub("%s+", " "):sub(1, 200)
  return errors.new("prom", string.format("Prometheus %s: %s failed: HTTP %s%s%s", self.name, what,
    tostring(status), hint, text ~= "" and (" — " .. text) or ""), { status = status })
end

-- GET api_path?params -> the `data` of a successful answer, and its warnings.
function Prom:get(api_path, params, what)
  local query = form(params or {})
  local status, body
  if self.cluster then
    local path = (self.prefix ~= "" and (self.prefix .. "/") or "") .. api_path:gsub("^/", "")
    if query ~= "" then path = path .. "?" .. query end
    local ok, result, response = pcall(self.cluster.proxy, self.cluster, { service = self.service, path = path })
    if ok then
      status, body = response.status, result
    elseif errors.is(result, "api") then
      -- the API server passes Prometheus' own error answer through
      local proxied = result.api_message
      if result.reason == "NotFound" and not (proxied or ""):find("errorType", 1, true) then
        error(errors.new("prom", string.format("Prometheus %s: %s failed: %s (does the service exist?)",
          self.name, what, errors.format(result)), { status = result.status, cause = result }), 0)
      end
      error(api_failure(self, result.status, proxied, what), 0)
    else
      error(result, 0)
    end
  else
    local url = self.url .. "/" .. api_path:gsub("^/", "")
    if query ~= "" then url = url .. "?" .. query end
    local response = http.request { url = url, headers = self.headers, timeout = self.timeout,
                                    ca_file = self.ca_file, insecure = self.insecure, retries = self.retries }
    status, body = response.status, response.body
  end
  if status >= 400 then error(api_failure(self, status, body, what), 0) end
  local ok, decoded = pcall(json.decode, body)
  if not ok or type(decoded) ~= "table" or decoded.status ~= "success" then
    if ok and type(decoded) == "table" and decoded.status == "error" then
      error(api_failure(self, status, body, what), 0)
    end
    error(errors.new("prom", string.format("Prometheus %s: %s: the answer is not the Prometheus API's "
      .. "(HTTP %s: %s)", self.name, what, tostring(status), tostring(body):sub(1, 120))), 0)
  end
  return decoded.data, decoded.warnings
end

local function labels_of(metric)
  local labels = {}
  for k, v in pairs(metric or {}) do labels[k] = v end
  return labels
end

local Result = {}
Result.__index = Result
prom.Result = Result

--- result:number() -> the one number of a scalar or one-series vector;
-- nil, reason when there is no data; raises when there are several series.
function Result:number()
  if self.type == "scalar" then return self.value end
  if self.type ~= "vector" then
    error(invalid("a " .. self.type .. " result has no single value; use an instant query that returns "
      .. "one series (aggregate with sum/max/avg)"), 0)
  end
  local n = #self.series
  if n == 0 then return nil, "no series" end
  if n > 1 then
    error(errors.new("ambiguous", string.format("the query returned %d series, not one: aggregate them "
      .. "(sum, max, avg ... without the labels that differ)", n), { series = n }), 0)
  end
  return self.series[1].value
end

-- An answer of the API's status but of another shape (a proxy's, another
-- version's, cut short) is refused naming the field, not met later as a
-- raw Lua error.
local function shape_error(self, what, problem)
  return errors.new("prom", string.format("Prometheus %s: %s: the answer is not the Prometheus API's (%s)",
    self.name, what, problem))
end

local function is_sample(v) return type(v) == "table" and v[2] ~= nil end
local function is_labels(v) return v == nil or type(v) == "table" end
local function is_series(s)
  if type(s) ~= "table" or not is_labels(s.metric) then return false end
  if s.values == nil then return is_sample(s.value) end
  if type(s.values) ~= "table" then return false end
  for _, point in ipairs(s.values) do
    if not is_sample(point) then return false end
  end
  return true
end

-- list (nil: none) when it is a list whose items pass ok; else raises naming field.
local function checked_list(self, what, list, field, ok, shape)
  if list == nil then return {} end
  if type(list) ~= "table" then error(shape_error(self, what, field .. " is not a list"), 0) end
  for i, item in ipairs(list) do
    if not ok(item) then
      error(shape_error(self, what, string.format("%s[%d] is not %s", field, i, shape)), 0)
    end
  end
  return list
end

-- Typed result from the API's data: {type, series | value, time, warnings}.
local function decode_result(self, what, data, warnings)
  if type(data) ~= "table" then error(shape_error(self, what, "no data"), 0) end
  local kind = data.resultType
  local r = setmetatable({ type = kind, warnings = warnings or {} }, Result)
  if kind == "vector" then
    r.series = {}
    for i, s in ipairs(checked_list(self, what, data.result, "data.result", is_series, "a series with a value")) do
      r.series[i] = { labels = labels_of(s.metric), time = s.value[1], value = prom.number(s.value[2]) }
    end
  elseif kind == "matrix" then
    r.series = {}
    for i, s in ipairs(checked_list(self, what, data.result, "data.result", is_series, "a series with values")) do
      local values = {}
      for j, point in ipairs(s.values or {}) do values[j] = { point[1], prom.number(point[2]) } end
      r.series[i] = { labels = labels_of(s.metric), values = values }
    end
  elseif kind == "scalar" or kind == "string" then
    if not is_sample(data.result) then
      error(shape_error(self, what, "data.result is not a [time, value] pair"), 0)
    end
    r.time, r.value = data.result[1], data.result[2]
    if kind == "scalar" then r.value = prom.number(r.value) end
  else
    error(errors.new("prom", "unknown result type " .. tostring(kind)), 0)
  end
  return r
end

local function check_expr(expr, what)
  if type(expr) ~= "string" or expr:match("^%s*$") then
    error(invalid(what .. " needs a PromQL expression (a non-empty string)"), 0)
  end
end

local function short(expr)
  local one = expr:gsub("%s+", " "):gsub("^ ", "")
  return #one > 100 and (one:sub(1, 97) .. "...") or one
end

--- p:query(expr, {time, timeout}) -> result {type = "vector"|"scalar"|"matrix"|"string",
-- series = {{labels, value, time}} (vector) | {{labels, values = {{t, v}}}} (matrix),
-- value and time (scalar, string), warnings}; result:number() -> the single value.
function Prom:query(expr, options)
  check_expr(expr, "query")
  options = options or {}
  local data, warnings = self:get("api/v1/query", {
    { "query", expr }, { "time", api_time(options.time, "time") },
    { "timeout", options.timeout and (duration.check(options.timeout, "p:query", "timeout") .. "s") },
  }, "query " .. short(expr))
  return decode_result(self, "query " .. short(expr), data, warnings)
end

--- p:value(expr, {time}) -> number, or nil and why when there is no data.
function Prom:value(expr, options)
  return self:query(expr, options):number()
end

--- p:range(expr, {start, stop, step, last}) -> matrix result; start/stop in
-- seconds since the epoch or RFC 3339 (stop defaults to now), or last = "10m".
function Prom:range(expr, options)
  check_expr(expr, "range")
  options = options or {}
  local stop = options.stop or os.time()
  local start = options.start
  if options.last then
    if type(stop) ~= "number" then error(invalid("range: last needs a numeric stop (or none)"), 0) end
    start = stop - duration.check(options.last, "p:range", "last")
  end
  if start == nil then error(invalid("range needs start (or last = \"10m\")"), 0) end
  local step = options.step
  if step == nil then
    local s = type(start) == "number" and start or timeutil.parse(start)
    local e = type(stop) == "number" and stop or timeutil.parse(stop)
    step = math.max(1, math.ceil((e - s) / 250))
  else
    step = duration.check(step, "p:range", "step")
  end
  local data, warnings = self:get("api/v1/query_range", {
    { "query", expr }, { "start", api_time(start, "start") }, { "end", api_time(stop, "stop") },
    { "step", tostring(step) },
  }, "range query " .. short(expr))
  return decode_result(self, "range query " .. short(expr), data, warnings)
end

--- p:series(match, {start, stop}) -> list of label tables. match is a
-- selector or a list of them.
function Prom:series(match, options)
  options = options or {}
  local list = type(match) == "table" and match or { match }
  if #list == 0 then error(invalid("series needs at least one selector, e.g. 'up{job=\"api\"}'"), 0) end
  local params = {}
  for _, m in ipairs(list) do
    check_expr(m, "series")
    params[#params + 1] = { "match[]", m }
  end
  params[#params + 1] = { "start", api_time(options.start, "start") }
  params[#params + 1] = { "end", api_time(options.stop, "stop") }
  local what = "series " .. table.concat(list, ", ")
  local data = self:get("api/v1/series", params, what)
  local out = {}
  for i, labels in ipairs(checked_list(self, what, data, "data", is_labels, "a set of labels")) do
    out[i] = labels_of(labels)
  end
  return out
end

--- p:alerts() -> the active alerts {labels, annotations, state, active_at, value}.
function Prom:alerts()
  local data = self:get("api/v1/alerts", nil, "alerts")
  if type(data) ~= "table" then error(shape_error(self, "alerts", "no data"), 0) end
  local out = {}
  local function is_alert(a) return type(a) == "table" and is_labels(a.labels) and is_labels(a.annotations) end
  for i, a in ipairs(checked_list(self, "alerts", data.alerts, "data.alerts", is_alert, "an alert")) do
    out[i] = { labels = labels_of(a.labels), annotations = labels_of(a.annotations), state = a.state,
               active_at = a.activeAt, value = prom.number(a.value) }
  end
  return out
end

-- Templates --------------------------------------------------------------

--- prom.render(template, vars) -> text: replaces {{ name }} and
-- {{ a.b }} (nested tables) with vars; {{- and -}} trim the whitespace
-- next to them, as in Go templates. A variable that is not set is an error.
function prom.render(template, vars, what)
  if type(template) ~= "string" then
    error(invalid("render needs a template string, got " .. type(template)), 0)
  end
  vars = vars or {}
  local out, pos = {}, 1
  while true do
    local open = template:find("{{", pos, true)
    if not open then
      out[#out + 1] = template:sub(pos)
      break
    end
    local close = template:find("}}", open + 2, true)
    if not close then
      error(invalid(string.format("%s: '{{' at byte %d has no closing '}}'", what or "template", open)), 0)
    end
    local inner = template:sub(open + 2, close - 1)
    local text_before = template:sub(pos, open - 1)
    if inner:sub(1, 1) == "-" then
      text_before = text_before:gsub("%s+$", "")
      inner = inner:sub(2)
    end
    local trim_after = inner:sub(-1) == "-"
    if trim_after then inner = inner:sub(1, -2) end
    out[#out + 1] = text_before
    local name = inner:match("^%s*([%a_][%w_]*[%w_%.]*)%s*$")
    if not name then
      error(invalid(string.format("%s: cannot render {{%s}}: only {{ name }} or {{ name.key }} is supported",
        what or "template", inner)), 0)
    end
    local value = vars
    for part in name:gmatch("[^%.]+") do
      value = type(value) == "table" and value[part] or nil
    end
    if value == nil or type(value) == "table" then
      local known = {}
      for k in pairs(vars) do known[#known + 1] = tostring(k) end
      table.sort(known)
      error(invalid(string.format("%s: template variable '%s' is not set (set: %s)", what or "template",
        name, #known > 0 and table.concat(known, ", ") or "none"), { variable = name }), 0)
    end
    out[#out + 1] = tostring(value)
    pos = close + 2
    if trim_after then
      local rest = template:find("[^%s]", pos)
      pos = rest or (#template + 1)
    end
  end
  return table.concat(out)
end

--- Label matchers to append inside a selector's braces: {cluster = "old"}
-- -> ',cluster="old"' (empty when there are none), keys sorted.
function prom.matchers(labels)
  if labels == nil then return "" end
  if type(labels) == "string" then
    return labels == "" and "" or ("," .. labels:gsub("^,", ""))
  end
  local keys = {}
  for k in pairs(labels) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    if not tostring(k):match("^[%a_][%w_]*$") then
      error(invalid("label name '" .. tostring(k) .. "' is not a valid Prometheus label name"), 0)
    end
    local v = tostring(labels[k]):gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"')
    parts[#parts + 1] = string.format(',%s="%s"', k, v)
  end
  return table.concat(parts)
end

-- Checks -------------------------------------------------------------------

-- The workload selector of the mesh metrics, as in Flagger's Istio queries
-- and the seed's MetricTemplates.
local WORKLOAD = 'reporter="destination",destination_workload_namespace="{{ namespace }}",'
  .. 'destination_workload=~"{{ target }}"{{ labels }}'

local function latency(quantile)
  return "histogram_quantile(" .. quantile .. ", sum(rate(istio_request_duration_milliseconds_bucket{"
    .. WORKLOAD .. "}[{{ interval }}])) by (le))"
end

--- The stock checks: name -> {query, unit, description, default limit}.
-- Queries use {{ namespace }}, {{ target }} (a regular expression of
-- workload names), {{ interval }} (the window) and {{ labels }} (extra
-- matchers of each side, e.g. the cluster label of a shared Prometheus).
prom.checks = {
  error_rate = {
    description = "share of requests answered with 5xx, in percent",
    unit = "%",
    -- 100 - success rate: no 5xx series at all still gives 0, not "no data"
    query = "100 - sum(rate(istio_requests_total{" .. WORKLOAD .. ',response_code!~"5.*"}[{{ interval }}]))'
      .. " / sum(rate(istio_requests_total{" .. WORKLOAD .. "}[{{ interval }}])) * 100",
    max_delta = 1,
  },
  request_rate = {
    description = "requests per second",
    unit = "req/s",
    query = "sum(rate(istio_requests_total{" .. WORKLOAD .. "}[{{ interval }}]))",
    min_ratio = 0.5,
  },
  latency_p50 = { description = "median request duration", unit = "ms", query = latency("0.5"), max_ratio = 1.25 },
  latency_p90 = { description = "90th percentile request duration", unit = "ms", query = latency("0.9"),
                  max_ratio = 1.25 },
  latency_p99 = { description = "99th percentile request duration", unit = "ms", query = latency("0.99"),
                  max_ratio = 1.5 },
  cpu = {
    description = "CPU used by the namespace's containers, in cores",
    unit = "cores",
    query = 'sum(rate(container_cpu_usage_seconds_total{namespace="{{ namespace }}",container!="",'
      .. 'container!="POD"{{ labels }}}[{{ interval }}]))',
    max_ratio = 1.5,
  },
  memory = {
    description = "working-set memory of the namespace's containers, in bytes",
    unit = "bytes",
    query = 'sum(container_memory_working_set_bytes{namespace="{{ namespace }}",container!="",'
      .. 'container!="POD"{{ labels }}})',
    max_ratio = 1.5,
  },
}

local STOCK_ORDER = { "error_rate", "request_rate", "latency_p50", "latency_p90", "latency_p99", "cpu", "memory" }
local LIMITS = { "max", "min", "max_ratio", "min_ratio", "max_delta" }

--- prom.check(name, overrides) -> a stock check with its limits replaced
-- by overrides (e.g. {max_ratio = 1.1}); giving any limit drops the
-- stock default limits.
function prom.check(name, overrides)
  local stock = prom.checks[name]
  if not stock then
    local names = {}
    for k in pairs(prom.checks) do names[#names + 1] = k end
    table.sort(names)
    error(invalid("no stock check named '" .. tostring(name) .. "' (stock checks: "
      .. table.concat(names, ", ") .. ")"), 0)
  end
  local check = { name = name }
  for k, v in pairs(stock) do check[k] = v end
  overrides = overrides or {}
  local new_limit = false
  for _, l in ipairs(LIMITS) do if overrides[l] ~= nil then new_limit = true end end
  if new_limit then for _, l in ipairs(LIMITS) do check[l] = nil end end
  for k, v in pairs(overrides) do check[k] = v end
  return check
end

--- prom.stock_checks({name = overrides, ...}) -> every stock check (in a
-- fixed order); a name set to false is left out.
function prom.stock_checks(overrides)
  overrides = overrides or {}
  local list = {}
  for _, name in ipairs(STOCK_ORDER) do
    if overrides[name] ~= false then list[#list + 1] = prom.check(name, overrides[name]) end
  end
  return list
end

-- A client is anything with :value(expr, {time}) -> number | nil, why: a
-- prom.connect client, or a fake one in a recipe's unit tests.
local function is_client(value)
  return type(value) == "table" and type(value.value) == "function"
end

local function side_of(value, what)
  if is_client(value) then return { prom = value, labels = nil, vars = {} } end
  if type(value) ~= "table" then
    error(invalid("compare needs " .. what .. " = a prom client (prom.connect) or {prom = client, labels, vars}"), 0)
  end
  if not is_client(value.prom) then
    error(invalid("compare: " .. what .. ".prom must be a prom client (prom.connect)"), 0)
  end
  return { prom = value.prom, labels = value.labels, vars = value.vars or {} }
end

local function check_of(item, i)
  if type(item) == "string" then return prom.check(item) end
  if type(item) ~= "table" then
    error(invalid(string.format("compare: check %d must be a table or a stock check name", i)), 0)
  end
  local check = item
  if not item.query and prom.checks[item.name] then check = prom.check(item.name, item) end
  if type(check.name) ~= "string" or check.name == "" then
    error(invalid(string.format("compare: check %d needs a name", i)), 0)
  end
  if type(check.query) ~= "string" then
    error(invalid(string.format("compare: check '%s' needs a query", check.name)), 0)
  end
  local any = false
  for _, l in ipairs(LIMITS) do
    if check[l] ~= nil then
      if type(check[l]) ~= "number" then
        error(invalid(string.format("compare: check '%s': %s must be a number", check.name, l)), 0)
      end
      any = true
    end
  end
  if not any then
    error(invalid(string.format("compare: check '%s' has no limit: give max, min, max_ratio, min_ratio or max_delta",
      check.name)), 0)
  end
  return check
end

local function merged(...)
  local out = {}
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do out[k] = v end
  end
  return out
end

--- The verdict of one check from its two values (nil = no data):
-- "pass" | "fail" | "no_data", the reason, the ratio and the delta.
function prom.judge(check, baseline, candidate)
  local relative = check.max_ratio ~= nil or check.min_ratio ~= nil or check.max_delta ~= nil
  local fmt = prom.format_number
  if candidate == nil then
    return "no_data", "the candidate has no data (no series: no traffic, or the query selects nothing)"
  end
  if is_nan(candidate) then
    return "no_data", "the candidate's value is NaN (e.g. 0/0: no traffic in the window)"
  end
  local ratio, delta
  if baseline ~= nil and not is_nan(baseline) then
    if candidate == baseline then
      ratio, delta = 1, 0
    else
      delta = candidate - baseline
      if baseline == 0 then
        ratio = candidate > 0 and math.huge or -math.huge
      else
        ratio = candidate / baseline
      end
    end
  elseif relative then
    local why = baseline == nil and "no series" or "NaN"
    return "no_data", "the baseline has no data (" .. why .. "): nothing to compare the candidate with"
  end
  local failures = {}
  local function fail(text) failures[#failures + 1] = text end
  if check.max ~= nil and not (candidate <= check.max) then
    fail(string.format("candidate %s > max %s", fmt(candidate), fmt(check.max)))
  end
  if check.min ~= nil and not (candidate >= check.min) then
    fail(string.format("candidate %s < min %s", fmt(candidate), fmt(check.min)))
  end
  if check.max_ratio ~= nil and not (ratio <= check.max_ratio) then
    fail(string.format("ratio %s > max_ratio %s (candidate %s / baseline %s)", fmt(ratio), fmt(check.max_ratio),
      fmt(candidate), fmt(baseline)))
  end
  if check.min_ratio ~= nil and not (ratio >= check.min_ratio) then
    fail(string.format("ratio %s < min_ratio %s (candidate %s / baseline %s)", fmt(ratio), fmt(check.min_ratio),
      fmt(candidate), fmt(baseline)))
  end
  if check.max_delta ~= nil and not (delta <= check.max_delta) then
    fail(string.format("delta %s > max_delta %s (candidate %s - baseline %s)", fmt(delta), fmt(check.max_delta),
      fmt(candidate), fmt(baseline)))
  end
  if #failures > 0 then return "fail", table.concat(failures, "; "), ratio, delta end
  local limits = {}
  for _, l in ipairs(LIMITS) do
    if check[l] ~= nil then limits[#limits + 1] = l .. " " .. fmt(check[l]) end
  end
  return "pass", "within " .. table.concat(limits, ", "), ratio, delta
end

-- Errors that stop the whole run, not one check: Ctrl-C, a cancelled task.
local function stops_everything(err)
  return errors.is(err, "cancelled") or errors.is(err, "interrupted")
end
prom.stops_everything = stops_everything

local function evaluate(side, query, time)
  local ok, value, why = pcall(function()
    return side.prom:value(query, { time = time })
  end)
  if not ok and stops_everything(value) then error(value, 0) end
  if not ok then return { error = value } end
  return { value = value, why = why }
end

--- prom.compare{baseline, candidate, window = "10m", vars, checks, time}
-- -> report {ok, window, counts = {pass, fail, no_data, error}, checks =
-- {{name, verdict, reason, baseline, candidate, ratio, delta, queries}}}.
-- baseline/candidate: a prom client, or {prom = client, labels = {...},
-- vars = {...}} (labels fill {{ labels }}, vars override vars per side).
function prom.compare(options)
  if type(options) ~= "table" then error(invalid("prom.compare takes a table of options"), 0) end
  local baseline = side_of(options.baseline, "baseline")
  local candidate = side_of(options.candidate, "candidate")
  local window = options.window or "10m"
  duration.check(window, "prom.compare", "window")
  if type(options.checks) ~= "table" or #options.checks == 0 then
    error(invalid("compare needs checks = {...} (prom.stock_checks() gives the stock ones)"), 0)
  end
  local checks = {}
  for i, item in ipairs(options.checks) do checks[i] = check_of(item, i) end
  -- render every query first: a template mistake fails before any request
  local jobs = {}
  for i, check in ipairs(checks) do
    local queries = {}
    for _, which in ipairs { "baseline", "candidate" } do
      local side = which == "baseline" and baseline or candidate
      local vars = merged({ interval = window, window = window, labels = "" }, options.vars, check.vars, side.vars)
      vars.labels = prom.matchers(side.labels or vars.labels)
      queries[which] = prom.render(check.query, vars, "check '" .. check.name .. "'")
    end
    jobs[i] = queries
  end
  local fns = {}
  for i in ipairs(checks) do
    fns[#fns + 1] = function() return evaluate(baseline, jobs[i].baseline, options.time) end
    fns[#fns + 1] = function() return evaluate(candidate, jobs[i].candidate, options.time) end
  end
  local answers = task.all(fns)
  local report = { ok = true, window = window, counts = { pass = 0, fail = 0, no_data = 0, error = 0 }, checks = {} }
  for i, check in ipairs(checks) do
    local b, c = answers[2 * i - 1], answers[2 * i]
    local result = { name = check.name, unit = check.unit, description = check.description,
                     queries = jobs[i], limits = {} }
    for _, l in ipairs(LIMITS) do result.limits[l] = check[l] end
    if b.error or c.error then
      local which, err = b.error and "baseline" or "candidate", b.error or c.error
      result.verdict = "error"
      result.reason = which .. " query failed: " .. errors.format(err)
      result.error = err
      result.baseline, result.candidate = b.value, c.value
    else
      result.baseline, result.candidate = b.value, c.value
      result.verdict, result.reason, result.ratio, result.delta = prom.judge(check, b.value, c.value)
    end
    report.counts[result.verdict] = report.counts[result.verdict] + 1
    if result.verdict ~= "pass" then report.ok = false end
    report.checks[i] = result
  end
  return setmetatable(report, { __index = { format = prom.format } })
end

--- prom.format(report) -> a plain-text table of a compare report.
function prom.format(report)
  local rows = { { "CHECK", "BASELINE", "CANDIDATE", "RATIO", "VERDICT", "REASON" } }
  for _, r in ipairs(report.checks) do
    rows[#rows + 1] = { r.name, prom.format_number(r.baseline), prom.format_number(r.candidate),
                        prom.format_number(r.ratio), r.verdict, r.reason }
  end
  local lines = require("ferry.text").columns(rows)
  local c = report.counts
  lines[#lines + 1] = string.format("%d passed, %d failed, %d without data, %d errors (window %s)",
    c.pass, c.fail, c.no_data, c.error, report.window)
  return table.concat(lines, "\n")
end

return prom
