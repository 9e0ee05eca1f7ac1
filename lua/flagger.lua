--- flagger: Flagger canaries through the k8s client — their state, waiting
-- for an analysis, starting one, the load tester's gates and webhooks, and
-- running a Canary's metric checks directly against Prometheus.
--
--   local flagger = require "flagger"
--   flagger.trigger(c, "shop/web")   -- a fresh cluster: Flagger skips the first rollout
--   local s = flagger.wait(c, "shop/web", { new_run = true, timeout = "30m" })
--   print(s.phase, s.weight, s.failed_checks)
--
-- See docs/modules/flagger.md.
local errors = require "ferry.errors"
local http = require "http"
local json = require "json"
local log = require "log"
local prom = require "prom"
local sys = require "ferry.sys"
local duration = require "ferry.duration"

local flagger = {}

local GROUP = "flagger.app"
local VERSIONS = { "v1beta1", "v1alpha3" }
local TRIGGER_ANNOTATION = "ferry.dev/analysis-requested-at"
-- wall-clock time with sub-second precision (os.time() plus the monotonic clock)
local WALL_BASE, MONO_BASE = os.time(), sys.monotonic()

--- The phases of a Canary (status.phase), as Flagger's CRD lists them.
flagger.PHASES = { "Initializing", "Initialized", "Waiting", "Progressing", "WaitingPromotion",
                   "Promoting", "Finalising", "Succeeded", "Failed", "Terminating", "Terminated" }

--- Phases of an analysis in progress.
flagger.RUNNING = { Waiting = true, Progressing = true, WaitingPromotion = true, Promoting = true, Finalising = true }

local function invalid(message, fields)
  return errors.new("invalid", message, fields)
end

local function api_version(c, kind)
  local found = {}
  for _, e in ipairs(c:kinds()) do
    if e.group == GROUP and e.kind == kind then found[e.version] = true end
  end
  if next(found) == nil then
    require("k8s.discovery").invalidate(c)
    for _, e in ipairs(c:kinds()) do
      if e.group == GROUP and e.kind == kind then found[e.version] = true end
    end
  end
  for _, v in ipairs(VERSIONS) do
    if found[v] then return GROUP .. "/" .. v end
  end
  error(errors.new("unknown_kind", string.format("cluster %s does not serve Flagger's %s (%s): are Flagger's CRDs "
    .. "installed?", c.name, kind, GROUP), { object_kind = kind, context = c.name }), 0)
end

--- flagger.ref(x) -> {kind = "Canary", name, namespace}: x is a Canary
-- object, {name, namespace}, or "namespace/name".
function flagger.ref(x, default_namespace)
  local name, namespace
  if type(x) == "string" then
    namespace, name = x:match("^([^/]+)/([^/]+)$")
    if not namespace then name, namespace = x, default_namespace end
  elseif type(x) == "table" then
    local metadata = type(x.metadata) == "table" and x.metadata or {}
    name, namespace = x.name or metadata.name, x.namespace or metadata.namespace
  end
  if type(name) ~= "string" or name == "" then
    error(invalid("a Canary reference is \"namespace/name\", {name, namespace} or a Canary object"), 0)
  end
  return { kind = "Canary", name = name, namespace = namespace or default_namespace or "default" }
end

local function describe(r)
  return string.format("Canary %s/%s", r.namespace, r.name)
end

local function resolved(c, ref)
  local r = flagger.ref(ref, c.namespace)
  r.apiVersion = api_version(c, "Canary")
  return r
end

local function condition(obj, type_name)
  local s = type(obj.status) == "table" and obj.status or {}
  for _, cond in ipairs(type(s.conditions) == "table" and s.conditions or {}) do
    if cond.type == type_name then return cond end
  end
  return nil
end

--- flagger.summary(canary) -> {name, namespace, phase, weight, failed_checks,
-- iterations, conditions, promoted, message, last_transition, target,
-- suspended, skip_analysis, threshold, max_weight, object} of a Canary object.
function flagger.summary(obj)
  local s = type(obj.status) == "table" and obj.status or {}
  local spec = type(obj.spec) == "table" and obj.spec or {}
  local analysis = type(spec.analysis) == "table" and spec.analysis or {}
  local promoted = condition(obj, "Promoted")
  return {
    name = obj.metadata.name, namespace = obj.metadata.namespace,
    phase = s.phase ~= nil and s.phase ~= "" and s.phase or "Unknown",
    weight = math.tointeger(tonumber(s.canaryWeight)) or tonumber(s.canaryWeight) or 0,
    failed_checks = math.tointeger(tonumber(s.failedChecks)) or 0,
    iterations = math.tointeger(tonumber(s.iterations)) or 0,
    conditions = type(s.conditions) == "table" and s.conditions or {},
    promoted = promoted and promoted.status == "True" or false,
    message = promoted and promoted.message or "",
    last_transition = s.lastTransitionTime,
    target = spec.targetRef,
    suspended = spec.suspend == true,
    skip_analysis = spec.skipAnalysis == true,
    threshold = analysis.threshold,
    max_weight = analysis.maxWeight,
    object = obj,
  }
end

--- One line about a canary's state: "Progressing, weight 20%, iteration 2, 1 failed check(s)".
function flagger.describe_state(s)
  local parts = { s.phase }
  if flagger.RUNNING[s.phase] or s.weight > 0 then
    parts[#parts + 1] = string.format("weight %s%%", tostring(s.weight))
  end
  if s.iterations > 0 then parts[#parts + 1] = "iteration " .. s.iterations end
  if s.failed_checks > 0 then
    parts[#parts + 1] = string.format("%d failed check%s%s", s.failed_checks, s.failed_checks == 1 and "" or "s",
      s.threshold and (" of " .. tostring(s.threshold) .. " allowed") or "")
  end
  local text = table.concat(parts, ", ")
  if s.message ~= "" then text = text .. ": " .. s.message end
  return text
end

--- flagger.status(c, ref) -> flagger.summary of the Canary.
function flagger.status(c, ref)
  return flagger.summary(c:get(resolved(c, ref)))
end

--- flagger.canaries(c, {namespace}) -> the summaries of every Canary (of
-- one namespace, or of all), sorted by namespace and name.
function flagger.canaries(c, options)
  options = options or {}
  local items = c:list { apiVersion = api_version(c, "Canary"), kind = "Canary",
                         namespace = options.namespace, all_namespaces = options.namespace == nil }
  local out = {}
  for _, obj in ipairs(items) do out[#out + 1] = flagger.summary(obj) end
  table.sort(out, function(a, b)
    if a.namespace ~= b.namespace then return a.namespace < b.namespace end
    return a.name < b.name
  end)
  return out
end

local function set_of(list, what)
  local set = {}
  if type(list) == "string" then list = { list } end
  for _, phase in ipairs(list or {}) do
    local known = false
    for _, p in ipairs(flagger.PHASES) do if p == phase then known = true end end
    if not known then
      error(invalid(string.format("%s: '%s' is not a Canary phase (phases: %s)", what, tostring(phase),
        table.concat(flagger.PHASES, ", "))), 0)
    end
    set[phase] = true
  end
  return set
end

--- flagger.wait(c, ref, {phases = {"Succeeded"}, fail_on = {"Failed"},
-- timeout = "30m", new_run = false, progress = true}) -> summary once the
-- phase is one of `phases`; raises {kind = "flagger"} when it is one of
-- fail_on. new_run = true ignores final phases until an analysis was seen
-- running (after flagger.trigger, the last run's Succeeded does not count).
function flagger.wait(c, ref, options)
  options = options or {}
  local phases = options.phases or { "Succeeded" }
  local wanted = set_of(phases, "wait phases")
  local failing = set_of(options.fail_on or { "Failed" }, "wait fail_on")
  local r = resolved(c, ref)
  local what = describe(r) .. " on " .. c.name
  local timeout = duration.check(options.timeout, "flagger.wait", "timeout", "30m")
  local progress = options.progress ~= false and log.progress("flagger: " .. describe(r))
  local seen_running = not options.new_run
  local last
  local function test(obj)
    local s = flagger.summary(obj)
    last = s
    if flagger.RUNNING[s.phase] then seen_running = true end
    if not seen_running then
      local why = "waiting for a new analysis to start (now " .. s.phase .. ")"
      if progress then progress:update("%s", why) end
      return false, why
    end
    if progress then progress:update("%s", flagger.describe_state(s)) end
    if failing[s.phase] then return false, flagger.describe_state(s), true end
    if wanted[s.phase] then return true, s.phase end
    return false, flagger.describe_state(s)
  end
  local ok, result = pcall(c.wait, c, r, { test = test, timeout = timeout })
  if ok then
    local s = flagger.summary(result)
    if progress then progress:done("%s", flagger.describe_state(s)) end
    return s
  end
  local message
  if errors.is(result, "failed") then
    message = string.format("%s: analysis failed: %s", what, tostring(result.reason))
    if progress then progress:fail("%s", message) end
    error(errors.new("flagger", message, { status = last, phase = last and last.phase }), 0)
  end
  if errors.is(result, "timeout") then
    local hint = ""
    if last and last.phase == "Initialized" then
      hint = " — Flagger skips the analysis of a first rollout: flagger.trigger(c, ref) starts one"
    elseif last and last.suspended then
      hint = " — the Canary is suspended (spec.suspend)"
    end
    message = string.format("%s: not %s after %s: %s%s", what, table.concat(phases, "/"),
      duration.show(options.timeout or "30m"), tostring(result.reason), hint)
    if progress then progress:fail("%s", message) end
    error(errors.new("timeout", message, { status = last, phase = last and last.phase }), 0)
  end
  if progress then progress:fail("%s", errors.format(result)) end
  error(result, 0)
end

--- flagger.trigger(c, ref, {annotation}) -> {target, value}: starts a new
-- analysis by changing an annotation of the target's pod template — the
-- change Flagger watches for. Needed on a fresh cluster, where Flagger
-- promotes the first rollout without analysing it.
function flagger.trigger(c, ref, options)
  options = options or {}
  local r = resolved(c, ref)
  local canary = c:get(r)
  local spec = type(canary.spec) == "table" and canary.spec or {}
  if spec.suspend then
    error(errors.new("flagger", describe(r) .. " on " .. c.name
      .. " is suspended (spec.suspend): Flagger would not analyse it"), 0)
  end
  local target = spec.targetRef
  if type(target) ~= "table" or not target.name then
    error(invalid(describe(r) .. " has no spec.targetRef"), 0)
  end
  if target.kind ~= "Deployment" and target.kind ~= "DaemonSet" then
    error(invalid(string.format("%s targets a %s, which has no pod template to change: start the analysis by "
      .. "changing the %s itself", describe(r), tostring(target.kind), tostring(target.kind))), 0)
  end
  if spec.skipAnalysis then
    log.warn("%s has skipAnalysis set: Flagger will promote without analysing", describe(r))
  end
  local nanos = WALL_BASE * 1000000000 + math.floor((sys.monotonic() - MONO_BASE) * 1e9)
  local value = os.date("!%Y-%m-%dT%H:%M:%S", nanos // 1000000000) .. string.format(".%09dZ", nanos % 1000000000)
  local target_ref = { apiVersion = target.apiVersion or "apps/v1", kind = target.kind, name = target.name,
                       namespace = r.namespace }
  c:patch(target_ref, { spec = { template = { metadata = { annotations = {
    [options.annotation or TRIGGER_ANNOTATION] = value } } } } }, { type = "merge" })
  log.info("flagger: started a new analysis of %s on %s (pod template of %s %s changed)", describe(r), c.name,
    target.kind, target.name)
  return { target = target_ref, value = value }
end

-- The load tester ------------------------------------------------------------

local GATE_ACTIONS = { open = "open", close = "close", check = "check", approve = "approve", halt = "halt" }

local function payload_of(canary)
  if type(canary) == "string" then
    local r = flagger.ref(canary)
    return { name = r.name, namespace = r.namespace }
  end
  if type(canary) == "table" then
    local r = flagger.ref(canary)
    return { name = r.name, namespace = r.namespace }
  end
  error(invalid("the canary is \"namespace/name\", {name, namespace} or a Canary object"), 0)
end

local function base_url(url, what)
  if type(url) ~= "string" or not url:match("^https?://") then
    error(invalid(what .. " needs the load tester's URL, e.g. http://flagger-loadtester.test/ , got "
      .. tostring(url)), 0)
  end
  return (url:gsub("/+$", ""))
end

--- flagger.gate(url, action, canary, {rollback = false, timeout = 10}) ->
-- for "open"/"close": true (the load tester accepted it); for "check",
-- "approve", "halt": true when that gate lets the canary through (HTTP 200)
-- and false when it holds it (403). rollback = true uses the rollback gates.
function flagger.gate(url, action, canary, options)
  options = options or {}
  local endpoint = GATE_ACTIONS[action]
  if not endpoint then
    error(invalid("gate action must be open, close, check, approve or halt, got " .. tostring(action)), 0)
  end
  if options.rollback and (action == "approve" or action == "halt") then
    error(invalid("the rollback gate has open, close and check"), 0)
  end
  local payload = payload_of(canary)
  local path = (options.rollback and "/rollback/" or "/gate/") .. endpoint
  local full = base_url(url, "flagger.gate") .. path
  local response = http.request { method = "POST", url = full, timeout = duration.check(options.timeout, "flagger.gate", "timeout", 10),
                                  headers = { ["Content-Type"] = "application/json" }, body = json.encode(payload) }
  if action == "open" or action == "close" then
    if response.status ~= 202 and response.status ~= 200 then
      error(errors.new("flagger", string.format("load tester %s: %s of %s/%s failed: HTTP %d %s", full, action,
        payload.namespace, payload.name, response.status, response.body:sub(1, 200)), { status = response.status }), 0)
    end
    return true
  end
  if response.status == 200 then return true end
  if response.status == 403 then return false end
  error(errors.new("flagger", string.format("load tester %s: unexpected answer HTTP %d %s", full, response.status,
    response.body:sub(1, 200)), { status = response.status }), 0)
end

--- flagger.run_webhook(url, {name, namespace, phase, metadata, timeout =
-- "10s", checksum}) -> ok, status, body: posts the payload Flagger posts to
-- a webhook (the load tester runs metadata.cmd); ok is Flagger's verdict,
-- an HTTP status of 202 or lower.
function flagger.run_webhook(url, spec)
  if type(url) == "table" and spec == nil then spec, url = url, url.url end
  spec = spec or {}
  local target = base_url(url, "flagger.run_webhook")
  if url:match("/$") then target = target .. "/" end
  local payload = { name = spec.name, namespace = spec.namespace, phase = spec.phase or "Progressing",
                    checksum = spec.checksum, metadata = spec.metadata or json.null }
  if type(payload.name) ~= "string" or type(payload.namespace) ~= "string" then
    error(invalid("flagger.run_webhook needs the canary's name and namespace in its spec"), 0)
  end
  if type(spec.metadata) == "table" then
    for k, v in pairs(spec.metadata) do
      if type(v) ~= "string" then
        error(invalid("webhook metadata values must be strings (Flagger's metadata is a map of strings); "
          .. tostring(k) .. " is a " .. type(v)), 0)
      end
    end
  end
  local seconds = duration.check(spec.timeout, "flagger.run_webhook", "timeout", "10s")
  local response = http.request { method = "POST", url = target, timeout = seconds,
                                  headers = { ["Content-Type"] = "application/json" }, body = json.encode(payload) }
  return response.status <= 202, response.status, response.body
end

-- Metric templates and checks ------------------------------------------------------

local FLAGGER_VARIABLES = { "name", "namespace", "target", "service", "ingress", "route", "interval", "variables" }

--- flagger.render(template, vars) -> the query: renders a MetricTemplate
-- query ({{ namespace }}, {{ target }}, {{ interval }}, {{ name }},
-- {{ service }}, {{ ingress }}, {{ variables.key }}) the way Flagger does.
function flagger.render(template, vars)
  vars = vars or {}
  for k in pairs(vars) do
    local known = false
    for _, v in ipairs(FLAGGER_VARIABLES) do if v == k then known = true end end
    if not known then
      error(invalid(string.format("'%s' is not a Flagger template variable (they are: %s)", tostring(k),
        table.concat(FLAGGER_VARIABLES, ", "))), 0)
    end
  end
  return prom.render(template, vars, "MetricTemplate query")
end

--- flagger.model(canary, metric) -> the template variables Flagger gives
-- a metric of this Canary.
function flagger.model(canary, metric)
  local spec = type(canary.spec) == "table" and canary.spec or {}
  local target = type(spec.targetRef) == "table" and spec.targetRef.name or ""
  local service = type(spec.service) == "table" and spec.service.name or nil
  return {
    name = canary.metadata.name, namespace = canary.metadata.namespace, target = target,
    service = service or target,
    ingress = type(spec.ingressRef) == "table" and spec.ingressRef.name or "",
    route = type(spec.routeRef) == "table" and spec.routeRef.name or "",
    interval = (metric or {}).interval or "1m",
    variables = (metric or {}).templateVariables or {},
  }
end

-- Flagger's builtin checks of the Istio mesh (also what the seed uses).
flagger.BUILTIN = {
  ["request-success-rate"] = [[
sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",
  destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}]))
/ sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",
  destination_workload=~"{{ target }}"}[{{ interval }}])) * 100]],
  ["request-duration"] = [[
histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",
  destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))]],
}

--- flagger.analyse(c, ref, {prom = client, providers = {[address] = client}})
-- -> {ok, checks = {{name, query, value, min, max, verdict, reason}}}: runs
-- each metric of the Canary's analysis once, as Flagger would (builtin
-- Istio metrics, MetricTemplates with a prometheus provider, inline
-- queries), with the verdicts of prom.compare ("pass", "fail", "no_data",
-- "error"). For a fresh cluster where Flagger skipped the analysis.
function flagger.analyse(c, ref, options)
  options = options or {}
  local r = resolved(c, ref)
  local canary = c:get(r)
  local analysis = type(canary.spec) == "table" and type(canary.spec.analysis) == "table" and canary.spec.analysis
    or type(canary.spec) == "table" and canary.spec.canaryAnalysis or {}
  local metrics = type(analysis.metrics) == "table" and analysis.metrics or {}
  local report = { ok = true, checks = {}, counts = { pass = 0, fail = 0, no_data = 0, error = 0 } }
  for _, metric in ipairs(metrics) do
    local range = type(metric.thresholdRange) == "table" and metric.thresholdRange or {}
    local result = { name = metric.name, min = range.min, max = range.max }
    local ok, err = pcall(function()
      local template, client
      if type(metric.templateRef) == "table" then
        local mt = c:get { apiVersion = api_version(c, "MetricTemplate"), kind = "MetricTemplate",
                           name = metric.templateRef.name, namespace = metric.templateRef.namespace or r.namespace }
        local provider = type(mt.spec) == "table" and mt.spec.provider or {}
        if provider.type ~= "prometheus" then
          error(errors.new("unsupported", string.format("MetricTemplate %s uses provider %s; ferry runs "
            .. "prometheus ones", mt.metadata.name, tostring(provider.type))), 0)
        end
        template = mt.spec.query
        client = (options.providers or {})[provider.address] or options.prom
        if not client then
          error(invalid(string.format("MetricTemplate %s queries %s: pass prom = prom.connect{...} (or providers = "
            .. "{[address] = client}) to reach it", mt.metadata.name, tostring(provider.address))), 0)
        end
      elseif metric.query then
        template, client = metric.query, options.prom
      elseif flagger.BUILTIN[metric.name] then
        local provider = canary.spec.provider or "kubernetes"
        if provider ~= "istio" and not options.builtin_istio then
          error(errors.new("unsupported", string.format("builtin metric %s of provider %s: ferry knows the Istio "
            .. "queries only (builtin_istio = true uses them anyway)", metric.name, tostring(provider))), 0)
        end
        template, client = flagger.BUILTIN[metric.name], options.prom
      else
        error(invalid("metric " .. tostring(metric.name) .. " has neither templateRef nor query and is not builtin"), 0)
      end
      if not client then error(invalid("flagger.analyse needs prom = prom.connect{...}"), 0) end
      result.query = flagger.render(template, flagger.model(canary, metric))
      result.value = client:value(result.query)
    end)
    if not ok and prom.stops_everything(err) then error(err, 0) end
    if not ok then
      result.verdict, result.reason, result.error = "error", errors.format(err), err
    elseif range.min == nil and range.max == nil then
      result.verdict, result.reason = "error", "metric has no thresholdRange (min/max)"
    else
      result.verdict, result.reason = prom.judge({ min = range.min, max = range.max }, nil, result.value)
    end
    report.counts[result.verdict] = report.counts[result.verdict] + 1
    if result.verdict ~= "pass" then report.ok = false end
    report.checks[#report.checks + 1] = result
  end
  if #report.checks == 0 then
    report.ok = false
    report.reason = describe(r) .. " has no metrics in its analysis"
  end
  return report
end

return flagger
