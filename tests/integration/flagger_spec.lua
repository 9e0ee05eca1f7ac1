-- The flagger module against the real API server of tests/env with
-- Flagger's CRDs (the v1.44.0 fixture). No Flagger controller runs there:
-- the spec plays it by patching the Canary's status, phase by phase, as
-- Flagger's scheduler does.
local env = require "tests.integration.support.env"
local exec = require "exec"
local flagger = require "flagger"
local helpers = require "tests.spec.support.helpers"
local log = require "log"
local prom = require "prom"
local task = require "task"
local yaml = require "yaml"

local FIXTURES = helpers.fixtures()
local FLAGGER = FIXTURES .. "/fluxcd+flagger/v1.44.0"
local METRICS = FIXTURES .. "/felipmiguel+gitops-demo-multitenant/operations/manifests/base/istio-system/"
  .. "flagger-metrics.yaml"

local run_doc_example = helpers.run_doc_example

local documents = helpers.documents

local function now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- What Flagger's scheduler writes at each step of an analysis.
local function set_phase(c, ref, phase, fields)
  fields = fields or {}
  local promoted = { type = "Promoted", status = fields.promoted or "Unknown", reason = fields.reason or phase,
                     message = fields.message or ("Canary " .. phase), lastUpdateTime = now(),
                     lastTransitionTime = now() }
  c:patch(ref, { status = { phase = phase, canaryWeight = fields.weight or 0, iterations = fields.iterations or 0,
                            failedChecks = fields.failed or 0, lastTransitionTime = now(),
                            conditions = { promoted } } },
    { type = "merge", subresource = "status" })
  task.sleep(0.05) -- the watch sees each step, as it sees Flagger's
end

-- Runs fn with the log lines going to a file; returns fn's results and the lines.
local function capture_log(fn)
  local dir = helpers.tmpdir()
  local file = assert(io.open(dir .. "/log", "w"))
  log.configure { stream = file, tty = false }
  local results = table.pack(pcall(fn))
  log.configure { stream = io.stderr }
  file:close()
  local text = helpers.read_file(dir .. "/log")
  helpers.remove_tree(dir)
  if not results[1] then error(results[2], 0) end
  return text, table.unpack(results, 2, results.n)
end

-- A stand-in for Flagger's load tester (tests/env runs none): the gate and
-- webhook endpoints of pkg/loadtester/server.go, with "bash" tasks run
-- blocking through sh, as the real one runs them.
local LOADTESTER = [[
import json, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
gates = set()
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, text=""):
        body = text.encode()
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path
        if path == "/gate/approve": return self.reply(200, "OK")
        if path == "/gate/halt": return self.reply(403, "Forbidden")
        try: payload = json.loads(raw)
        except ValueError: return self.reply(400)
        name = "%s.%s" % (payload.get("name"), payload.get("namespace"))
        for prefix, key in (("/gate/", name), ("/rollback/", "rollback." + name)):
            if path == prefix + "open": gates.add(key); return self.reply(202)
            if path == prefix + "close": gates.discard(key); return self.reply(202)
            if path == prefix + "check":
                return self.reply(200, "Approved") if key in gates else self.reply(403, "Forbidden")
        if path != "/": return self.reply(404)
        meta = payload.get("metadata") or {}
        if not meta: return self.reply(400, "metadata not found in payload")
        if meta.get("type") == "bash":
            r = subprocess.run(["sh", "-c", meta.get("cmd", "")], capture_output=True, text=True, timeout=30)
            return self.reply(200) if r.returncode == 0 else self.reply(500, r.stderr or r.stdout)
        return self.reply(202)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
open(sys.argv[1] + ".tmp", "w").write(str(server.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(300, server.shutdown).start()
server.serve_forever()
]]

describe("flagger against a real API server", function()
  local new, ns, canary, deployment

  setup(function()
    new = env.connect("new")
    new:apply(helpers.read_file(FLAGGER .. "/artifacts/flagger/crd.yaml"))
    ns = env.unique("ferry-canary")
    deployment = documents(FLAGGER .. "/kustomize/podinfo/deployment.yaml")[1]
    deployment.metadata.namespace = ns
    canary = documents(FLAGGER .. "/artifacts/examples/istio-canary.yaml")[1]
    canary.metadata.namespace = ns
    new:apply { { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }, deployment, canary }
    new:wait(deployment, { timeout = "2m" })
  end)

  teardown(function()
    new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true })
  end)

  local function ref()
    return { apiVersion = "flagger.app/v1beta1", kind = "Canary", name = "podinfo", namespace = ns }
  end

  it("reads a Canary that Flagger has not seen yet", function()
    local s = flagger.status(new, ns .. "/podinfo")
    assert.are.equal("Unknown", s.phase)
    assert.are.equal(0, s.weight)
    assert.are.equal(10, s.threshold)
    assert.are.same({ apiVersion = "apps/v1", kind = "Deployment", name = "podinfo" }, s.target)
    local list = flagger.canaries(new, { namespace = ns })
    assert.are.equal(1, #list)
    assert.are.equal("podinfo", list[1].name)
    local everywhere = flagger.canaries(new)
    local found = false
    for _, c in ipairs(everywhere) do if c.namespace == ns then found = true end end
    assert.is_true(found)
  end)

  it("walks a first rollout, then an analysis that Flagger promotes", function()
    set_phase(new, ref(), "Initializing")
    set_phase(new, ref(), "Initialized", { promoted = "True", reason = "Initialized",
                                           message = "Deployment initialization completed." })
    assert.are.equal("Initialized", flagger.wait(new, ref(), { phases = { "Initialized" }, timeout = "10s" }).phase)
    -- a first rollout is never analysed: waiting for one says how to start it
    local ok, err = pcall(flagger.wait, new, ref(), { new_run = true, timeout = "1s", progress = false })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    assert.matches("flagger.trigger", err.message)

    local generation = new:get(deployment).metadata.generation
    local triggered = flagger.trigger(new, ref())
    local d = new:get(deployment)
    assert.are.equal(triggered.value, d.spec.template.metadata.annotations["ferry.dev/analysis-requested-at"])
    assert.are.equal("true", d.spec.template.metadata.annotations["prometheus.io/scrape"], "other annotations kept")
    assert.is_true(d.metadata.generation > generation, "the pod template changed")

    local text, result = capture_log(function()
      local waiting = task.spawn(flagger.wait, new, ref(), { new_run = true, timeout = "60s" })
      task.sleep(0.2)
      set_phase(new, ref(), "Progressing", { weight = 5, iterations = 1, message = "New revision detected!" })
      set_phase(new, ref(), "Progressing", { weight = 10, iterations = 2,
                                             message = "Advance podinfo canary weight 10" })
      set_phase(new, ref(), "Promoting", { weight = 50, iterations = 10, message = "Copying podinfo template spec" })
      set_phase(new, ref(), "Finalising", { weight = 0, message = "Routing all traffic to primary" })
      set_phase(new, ref(), "Succeeded", { promoted = "True", reason = "Succeeded",
                                            message = "Canary analysis completed successfully, promotion finished." })
      return task.timeout(30, function() return waiting:wait() end)
    end)
    assert.are.equal("Succeeded", result.phase)
    assert.is_true(result.promoted)
    assert.matches("Progressing, weight 10%%, iteration 2: Advance podinfo canary weight 10", text)
    assert.matches("Promoting, weight 50%%", text)
    assert.matches("done — Succeeded", text)
  end)

  it("raises when the analysis fails, with the failed checks", function()
    set_phase(new, ref(), "Succeeded", { promoted = "True", reason = "Succeeded" })
    flagger.trigger(new, ref())
    local waiting = task.spawn(function()
      return pcall(flagger.wait, new, ref(), { new_run = true, timeout = "60s", progress = false })
    end)
    task.sleep(0.5)
    assert.is_false(waiting:done(), "the last run's Succeeded ended the wait of a new run")
    set_phase(new, ref(), "Progressing", { weight = 5, iterations = 1 })
    set_phase(new, ref(), "Progressing", { weight = 5, iterations = 2, failed = 1,
                                            message = "Halt advancement podinfo request-success-rate 93.81% < 99%" })
    set_phase(new, ref(), "Progressing", { weight = 5, iterations = 3, failed = 2 })
    set_phase(new, ref(), "Failed", { failed = 2, promoted = "False", reason = "Failed",
                                       message = "Canary analysis failed, Deployment podinfo." .. ns
                                         .. " promotion failed" })
    local ok, err = task.timeout(30, function() return waiting:wait() end)
    assert.is_false(ok)
    assert.are.equal("flagger", err.kind)
    assert.are.equal("Failed", err.phase)
    assert.matches("Canary " .. ns:gsub("%-", "%%-") .. "/podinfo on new%-admin: analysis failed: Failed, 2 failed "
      .. "checks of 10 allowed: Canary analysis failed", err.message)
    assert.are.equal(2, flagger.status(new, ref()).failed_checks)
  end)

  it("refuses to trigger what Flagger would not analyse", function()
    new:patch(ref(), { spec = { suspend = true } }, { type = "merge" })
    local ok, err = pcall(flagger.trigger, new, ref())
    assert.is_false(ok)
    assert.matches("is suspended", err.message)
    new:patch(ref(), { spec = { suspend = false } }, { type = "merge" })
    local service_target = { apiVersion = "flagger.app/v1beta1", kind = "Canary",
                             metadata = { name = "by-service", namespace = ns },
                             spec = { targetRef = { apiVersion = "v1", kind = "Service", name = "podinfo" },
                                      service = { port = 80 },
                                      analysis = { interval = "1m", threshold = 5, stepWeight = 10 } } }
    new:apply(service_target)
    ok, err = pcall(flagger.trigger, new, ns .. "/by-service")
    assert.is_false(ok)
    assert.matches("targets a Service, which has no pod template", err.message)
    ok, err = pcall(flagger.status, new, ns .. "/no-such-canary")
    assert.is_false(ok)
    assert.are.equal("NotFound", err.reason)
  end)

  it("runs the example of docs/modules/flagger.md", function()
    local r = run_doc_example("flagger.md", { KUBECONFIG = env.status().kubeconfig,
      KUBE_CONTEXT = env.status().clusters.new.contexts.admin, PROMETHEUS_URL = env.status().prometheus,
      FLAGGER_CRDS = FLAGGER .. "/artifacts/flagger/crd.yaml" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("request%-success%-rate\t99[%d.]*\tpass", r.stdout)
    assert.matches("request%-duration\t%d[%d.]*\tpass", r.stdout)
    assert.matches("Succeeded\tfalse", r.stdout)
  end)

  describe("analysis run by ferry", function()
    -- the metrics target serves the seed's podinfo traffic in tenant-core
    local analysis_ns = "tenant-core"
    local p

    setup(function()
      p = prom.connect { url = env.status().prometheus }
      local objects = { { apiVersion = "v1", kind = "Namespace", metadata = { name = analysis_ns } } }
      for _, template in ipairs(documents(METRICS)) do
        template.metadata.namespace = analysis_ns
        objects[#objects + 1] = template
      end
      local function canary_for(name, target, metrics)
        return { apiVersion = "flagger.app/v1beta1", kind = "Canary",
                 metadata = { name = name, namespace = analysis_ns },
                 spec = { provider = "istio",
                          targetRef = { apiVersion = "apps/v1", kind = "Deployment", name = target },
                          service = { port = 9898 },
                          analysis = { interval = "15s", threshold = 5, maxWeight = 50, stepWeight = 10,
                                       metrics = metrics } } }
      end
      objects[#objects + 1] = canary_for("podinfo", "podinfo", {
        { name = "request-success-rate", thresholdRange = { min = 98 }, interval = "30s" },
        { name = "request-duration", thresholdRange = { max = 500 }, interval = "30s" },
        { name = "error-rate", templateRef = { name = "error-rate" }, thresholdRange = { max = 2 }, interval = "30s" },
        { name = "latency", templateRef = { name = "latency" }, thresholdRange = { max = 100 }, interval = "30s" },
        { name = "missing", templateRef = { name = "no-such-template" }, thresholdRange = { max = 1 } },
      })
      objects[#objects + 1] = canary_for("ghost", "ghost", {
        { name = "request-success-rate", thresholdRange = { min = 99 }, interval = "30s" } })
      new:apply(objects)
    end)

    teardown(function()
      new:delete({ apiVersion = "v1", kind = "Namespace", name = analysis_ns }, { missing_ok = true })
    end)

    it("runs a Canary's metrics against Prometheus, as Flagger would", function()
      local report = flagger.analyse(new, analysis_ns .. "/podinfo",
        { prom = p, providers = { ["http://prometheus.istio-system:9090"] = p } })
      local by_name = {}
      for _, check in ipairs(report.checks) do by_name[check.name] = check end
      assert.is_false(report.ok)
      assert.are.equal("pass", by_name["request-success-rate"].verdict, by_name["request-success-rate"].reason)
      assert.is_true(math.abs(by_name["request-success-rate"].value - 99) < 0.2)
      assert.are.equal("pass", by_name["request-duration"].verdict)
      assert.are.equal("pass", by_name["error-rate"].verdict, by_name["error-rate"].reason)
      assert.matches('destination_workload_namespace="tenant%-core"', by_name["error-rate"].query)
      assert.matches("%[30s%]", by_name["error-rate"].query)
      assert.are.equal("fail", by_name.latency.verdict)
      assert.matches("candidate 250 > max 100", by_name.latency.reason)
      assert.are.equal("error", by_name.missing.verdict)
      assert.matches("no%-such%-template", by_name.missing.reason)
      assert.are.same({ pass = 3, fail = 1, no_data = 0, error = 1 }, report.counts)
    end)

    it("gives no data, not a pass, for a workload without traffic", function()
      local report = flagger.analyse(new, analysis_ns .. "/ghost", { prom = p })
      assert.is_false(report.ok)
      assert.are.equal("no_data", report.checks[1].verdict)
      assert.are.equal(1, report.counts.no_data)
    end)

    it("needs a way to reach the MetricTemplate's Prometheus", function()
      local report = flagger.analyse(new, analysis_ns .. "/podinfo", {})
      for _, check in ipairs(report.checks) do assert.are.equal("error", check.verdict, check.name) end
      assert.matches("pass prom = prom.connect", report.checks[3].reason)
    end)
  end)

  describe("load tester", function()
    local url, process, dir

    setup(function()
      dir = helpers.tmpdir()
      helpers.write_file(dir .. "/loadtester.py", LOADTESTER)
      process = exec.spawn { argv = { "python3", dir .. "/loadtester.py", dir .. "/port" } }
      local port = helpers.eventually(function()
        local f = io.open(dir .. "/port")
        if f then local text = f:read("a"); f:close(); return tonumber(text) end
      end, 10, "the load tester")
      url = "http://127.0.0.1:" .. port .. "/"
    end)

    teardown(function()
      if process then process:close() end
      if dir then helpers.remove_tree(dir) end
    end)

    it("opens, checks and closes a canary's gates", function()
      local c = { name = "podinfo", namespace = "test" }
      assert.is_false(flagger.gate(url, "check", c))
      assert.is_true(flagger.gate(url, "open", c))
      assert.is_true(flagger.gate(url, "check", c))
      assert.is_false(flagger.gate(url, "check", "test/other"), "gates are per canary")
      assert.is_true(flagger.gate(url, "close", "test/podinfo"))
      assert.is_false(flagger.gate(url, "check", c))
      assert.is_true(flagger.gate(url, "approve", c))
      assert.is_false(flagger.gate(url, "halt", c))
      assert.is_false(flagger.gate(url, "check", c, { rollback = true }))
      flagger.gate(url, "open", c, { rollback = true })
      assert.is_true(flagger.gate(url, "check", c, { rollback = true }))
      assert.is_false(flagger.gate(url, "check", c), "the rollback gate is apart from the promotion gate")
    end)

    it("runs webhooks and gives Flagger's verdict", function()
      local ok, status = flagger.run_webhook(url, { name = "podinfo", namespace = "test", phase = "Progressing",
                                                    metadata = { type = "bash", cmd = "test 1 -eq 1" } })
      assert.is_true(ok)
      assert.are.equal(200, status)
      local body
      ok, status, body = flagger.run_webhook(url, { name = "podinfo", namespace = "test",
        metadata = { type = "bash", cmd = "echo conformance failed >&2; exit 3" } })
      assert.is_false(ok)
      assert.are.equal(500, status)
      assert.matches("conformance failed", body)
      ok, status = flagger.run_webhook(url, { name = "podinfo", namespace = "test",
        metadata = { type = "cmd", cmd = "hey -z 1m http://podinfo-canary.test/" } })
      assert.is_true(ok)
      assert.are.equal(202, status)
      local sent, err = pcall(flagger.run_webhook, "http://127.0.0.1:1/", { name = "x", namespace = "y" })
      assert.is_false(sent)
      assert.are.equal("connect", err.kind)
    end)
  end)
end)
