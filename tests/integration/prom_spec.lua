-- The prom module against the real Prometheus of tests/env, which scrapes
-- the suite's metrics target every second; the target's samples carry a
-- `cluster` label ("old", "new"), so one Prometheus stands for the
-- Prometheus of each cluster and the compare sides select by that label.
local env = require "tests.integration.support.env"
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local http = require "http"
local json = require "json"
local prom = require "prom"

local WINDOW = "30s"

local run_doc_example = helpers.run_doc_example

local function target(method, path, body)
  local r = http.request { method = method, url = env.status().metrics_target .. path,
                           body = body and json.encode(body), timeout = 10,
                           headers = { ["Content-Type"] = "application/json" } }
  assert(r.status == 200, "metrics target: HTTP " .. r.status .. " " .. r.body)
end

local function requests(cluster, workload, code, rate)
  return { name = "istio_requests_total", value = 0, rate = rate,
           labels = { cluster = cluster, reporter = "destination", destination_workload = workload,
                      destination_workload_namespace = "tenant-core", destination_service_name = workload,
                      response_code = code } }
end

local function latency_buckets(cluster, workload)
  local out = {}
  local shares = { ["5"] = 0.02, ["10"] = 0.1, ["25"] = 0.35, ["50"] = 0.75, ["100"] = 0.95, ["250"] = 0.99,
                   ["500"] = 0.995, ["1000"] = 0.999, ["2500"] = 1, ["5000"] = 1, ["+Inf"] = 1 }
  for le, share in pairs(shares) do
    out[#out + 1] = { name = "istio_request_duration_milliseconds_bucket", value = 0, rate = 10 * share,
                      labels = { cluster = cluster, reporter = "destination", destination_workload = workload,
                                 destination_workload_namespace = "tenant-core", destination_service_name = workload,
                                 le = le } }
  end
  return out
end

local function verdicts(report)
  local out = {}
  for _, check in ipairs(report.checks) do out[check.name] = check end
  return out
end

-- A non-loopback IPv4 address of this machine: the API server refuses to
-- proxy to loopback addresses.
local function host_address()
  local r = exec.run { argv = { "hostname", "-I" } }
  for address in (r.stdout or ""):gmatch("%S+") do
    if address:match("^%d+%.%d+%.%d+%.%d+$") and not address:match("^127%.") then return address end
  end
  return nil
end

local FORWARDER = [[
import socket, sys, threading, time
listen_host, target_port, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((listen_host, 0))
server.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.getsockname()[1]))
import os; os.rename(port_file + ".tmp", port_file)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data: break
            b.sendall(data)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
def serve():
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
time.sleep(300)
]]

describe("prom against a real Prometheus", function()
  local p

  setup(function()
    p = prom.connect { url = env.status().prometheus }
  end)

  teardown(function()
    target("POST", "/reset")
  end)

  it("runs the example of docs/modules/prom.md", function()
    local r = run_doc_example("prom.md", { PROMETHEUS_URL = env.status().prometheus })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("old\t%d", r.stdout)
    assert.matches("new\t%d", r.stdout)
    assert.matches("\ninf\n", r.stdout)
    assert.matches("error_rate%s+1%s+1%s+1%s+pass", r.stdout)
    assert.matches("7 passed, 0 failed, 0 without data, 0 errors %(window 1m%)", r.stdout)
  end)

  describe("queries", function()
    it("returns typed vectors and scalars", function()
      local r = p:query 'sum by (cluster) (rate(istio_requests_total{destination_workload="podinfo",cluster=~"old|new"}[30s]))'
      assert.are.equal("vector", r.type)
      assert.are.equal(2, #r.series)
      local clusters = {}
      for _, series in ipairs(r.series) do
        clusters[series.labels.cluster] = series.value
        assert.is_number(series.time)
      end
      assert.is_true(math.abs(clusters.old - 10) < 0.5, "old: " .. tostring(clusters.old))
      assert.is_true(math.abs(clusters.new - 10) < 0.5, "new: " .. tostring(clusters.new))
      local scalar = p:query "scalar(vector(42))"
      assert.are.equal("scalar", scalar.type)
      assert.are.equal(42, scalar.value)
      assert.are.equal(42, scalar:number())
    end)

    it("keeps NaN and ±Inf, computed and scraped", function()
      local nan = p:value "0/0"
      assert.is_true(nan ~= nan, "0/0 is NaN")
      assert.are.equal(math.huge, p:value "vector(1)/0")
      assert.are.equal(-math.huge, p:value "-vector(1)/0")
      local gauge = function(cluster, value)
        return { name = "container_memory_working_set_bytes", value = value,
                 labels = { cluster = cluster, namespace = "nan-test", pod = "p-0", container = "c" } }
      end
      target("POST", "/samples", { gauge("old", "+Inf"), gauge("new", "NaN") })
      local values = helpers.eventually(function()
        local r = p:query 'container_memory_working_set_bytes{namespace="nan-test"}'
        if #r.series < 2 then return nil end
        local out = {}
        for _, series in ipairs(r.series) do out[series.labels.cluster] = series.value end
        return out
      end, 20, "the scraped NaN and +Inf samples")
      assert.are.equal(math.huge, values.old)
      assert.is_true(values.new ~= values.new, "NaN scraped as NaN")
    end)

    it("runs range queries and lists series and alerts", function()
      local r = p:range('sum(rate(istio_requests_total{cluster="old"}[10s]))', { last = "20s", step = "5s" })
      assert.are.equal("matrix", r.type)
      assert.are.equal(1, #r.series)
      assert.is_true(#r.series[1].values >= 2)
      local t, v = r.series[1].values[1][1], r.series[1].values[1][2]
      assert.is_number(t)
      assert.is_number(v)
      local series = p:series { 'istio_requests_total{cluster="new",destination_workload="podinfo"}' }
      assert.are.equal(2, #series) -- response codes 200 and 500
      for _, labels in ipairs(series) do assert.are.equal("new", labels.cluster) end
      assert.are.same({}, p:alerts())
    end)

    it("gives Prometheus' own error for a bad query", function()
      local ok, err = pcall(p.query, p, "sum(rate(istio_requests_total[5m])")
      assert.is_false(ok)
      assert.are.equal("prom", err.kind)
      assert.are.equal("bad_data", err.error_type)
      assert.are.equal(400, err.status)
      assert.matches("parse error", err.message)
      ok, err = pcall(p.value, p, "istio_requests_total")
      assert.is_false(ok)
      assert.are.equal("ambiguous", err.kind)
    end)

    it("reports an unreachable Prometheus as a connection error", function()
      local dead = prom.connect { url = "http://127.0.0.1:1", retries = 0, timeout = 5 }
      local ok, err = pcall(dead.query, dead, "up")
      assert.is_false(ok)
      assert.are.equal("connect", err.kind)
    end)
  end)

  describe("through the API server's service proxy", function()
    local new, ns, forwarder, dir

    setup(function()
      local address = host_address()
      if not address then return end
      new = env.connect("new")
      ns = env.unique("ferry-prom")
      dir = helpers.tmpdir()
      local prom_port = env.status().prometheus:match(":(%d+)$")
      helpers.write_file(dir .. "/forward.py", FORWARDER)
      forwarder = exec.spawn { argv = { "python3", dir .. "/forward.py", address, prom_port, dir .. "/port" } }
      local port = helpers.eventually(function()
        local f = io.open(dir .. "/port")
        if f then local text = f:read("a"); f:close(); return tonumber(text) end
      end, 10, "the forwarder")
      -- The API server proxies only to an address of a Pod: a Pod that is
      -- never scheduled, with the forwarder's address as its IP, stands in
      -- for the Prometheus pod; the Endpoints point at it.
      local pod = { apiVersion = "v1", kind = "Pod", metadata = { name = "prometheus-0", namespace = ns },
                    spec = { nodeSelector = { ["ferry.dev/never"] = "true" },
                             containers = { { name = "prometheus", image = "quay.io/prometheus/prometheus" } } } }
      new:apply {
        { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } },
        { apiVersion = "v1", kind = "Service", metadata = { name = "prometheus", namespace = ns },
          spec = { ports = { { name = "web", port = 9090, targetPort = port } } } },
        pod,
      }
      new:patch(pod, { status = { podIP = address, podIPs = { { ip = address } } } },
        { type = "merge", subresource = "status" })
      local target_ref = { kind = "Pod", name = "prometheus-0", namespace = ns }
      new:apply {
        { apiVersion = "v1", kind = "Endpoints", metadata = { name = "prometheus", namespace = ns },
          subsets = { { addresses = { { ip = address, targetRef = target_ref } },
                        ports = { { name = "web", port = port } } } } },
        { apiVersion = "discovery.k8s.io/v1", kind = "EndpointSlice",
          metadata = { name = "prometheus-1", namespace = ns,
                       labels = { ["kubernetes.io/service-name"] = "prometheus" } },
          addressType = "IPv4", ports = { { name = "web", port = port, protocol = "TCP" } },
          endpoints = { { addresses = { address }, conditions = { ready = true }, targetRef = target_ref } } },
      }
    end)

    teardown(function()
      if forwarder then forwarder:close() end
      if ns then new:delete({ apiVersion = "v1", kind = "Namespace", name = ns }, { missing_ok = true }) end
      if dir then helpers.remove_tree(dir) end
    end)

    it("queries Prometheus without a port-forward", function()
      if not new then pending("this machine has no non-loopback IPv4 address to proxy to") end
      local p_proxy = prom.connect { cluster = new, service = ns .. "/prometheus:9090" }
      local value = helpers.eventually(function()
        local ok, v = pcall(p_proxy.value, p_proxy, "vector(7)")
        return ok and v
      end, 20, "the service proxy")
      assert.are.equal(7, value)
      local r = p_proxy:query 'count(istio_requests_total{cluster="new"})'
      assert.are.equal(r.series[1].value, p:value 'count(istio_requests_total{cluster="new"})')
      local ok, err = pcall(p_proxy.query, p_proxy, "rate(")
      assert.is_false(ok)
      assert.are.equal("prom", err.kind)
      assert.matches("parse error", err.message)
      local missing = prom.connect { cluster = new, service = ns .. "/no-such-prometheus:9090" }
      ok, err = pcall(missing.query, missing, "up")
      assert.is_false(ok)
      assert.are.equal("prom", err.kind)
      assert.matches("does the service exist", err.message)
    end)
  end)

  describe("compare", function()
    local function sides()
      return { prom = p, labels = { cluster = "old" } }, { prom = p, labels = { cluster = "new" } }
    end

    it("passes two clusters with the same traffic on every stock check", function()
      local baseline, candidate = sides()
      local report = prom.compare { baseline = baseline, candidate = candidate, window = WINDOW,
                                    vars = { namespace = "tenant-core", target = "podinfo" },
                                    checks = prom.stock_checks() }
      assert.is_true(report.ok, report:format())
      assert.are.equal(7, report.counts.pass)
      local by_name = verdicts(report)
      assert.is_true(math.abs(by_name.error_rate.candidate - 1) < 0.2, "1% of requests are 500s")
      assert.is_true(by_name.latency_p99.candidate > by_name.latency_p50.candidate)
      assert.are.equal(64 * 1024 * 1024, by_name.memory.baseline)
      assert.matches('cluster="new"', by_name.cpu.queries.candidate)
      assert.matches('cluster="old"', by_name.cpu.queries.baseline)
      assert.matches("error_rate%s+1%s+1%s+1%s+pass", report:format())
    end)

    it("fails a candidate whose error rate went up", function()
      -- a workload of its own: the seed's podinfo stays as it is for other specs
      local samples = { requests("old", "checkout", "200", 9.9), requests("old", "checkout", "500", 0.1),
                        requests("new", "checkout", "200", 5), requests("new", "checkout", "503", 5) }
      target("POST", "/samples", samples)
      local baseline, candidate = sides()
      local checks = { prom.check("error_rate"), prom.check("request_rate") }
      local report = helpers.eventually(function()
        local r = prom.compare { baseline = baseline, candidate = candidate, window = WINDOW,
                                 vars = { namespace = "tenant-core", target = "checkout" }, checks = checks }
        local by_name = verdicts(r)
        -- both sides need two scrapes of the new series before rate() answers
        return by_name.error_rate.baseline and by_name.error_rate.candidate
          and by_name.error_rate.candidate > 30 and r
      end, 30, "Prometheus to see both sides, and the candidate's errors")
      local by_name = verdicts(report)
      assert.is_false(report.ok)
      assert.are.equal("fail", by_name.error_rate.verdict)
      assert.matches("delta %S+ > max_delta 1 %(candidate %S+ %- baseline %S+%)", by_name.error_rate.reason)
      assert.is_true(by_name.error_rate.baseline < 2)
      assert.are.equal("pass", by_name.request_rate.verdict, by_name.request_rate.reason)
      assert.are.same({ pass = 1, fail = 1, no_data = 0, error = 0 }, report.counts)
    end)

    it("sees a cluster seeded later, its faults, and nothing once it is dropped", function()
      -- the lab's switches: a cluster that starts (/clusters), is made worse (/faults), stops
      local fast, slow = env.unique("fast"), env.unique("slow")
      target("POST", "/faults", { cluster = slow, fault = "latency" })
      target("POST", "/clusters", { cluster = fast })
      target("POST", "/clusters", { cluster = slow })
      local checks = { prom.check("latency_p90"), prom.check("error_rate") }
      local vars = { namespace = "tenant-core", target = "podinfo" }
      local report = helpers.eventually(function()
        local r = prom.compare { baseline = { prom = p, labels = { cluster = fast } },
                                 candidate = { prom = p, labels = { cluster = slow } },
                                 window = WINDOW, vars = vars, checks = checks }
        local by_name = verdicts(r)
        return by_name.latency_p90.baseline and by_name.latency_p90.candidate and r
      end, 30, "Prometheus to see both new clusters")
      local by_name = verdicts(report)
      assert.is_true(by_name.latency_p90.baseline < 100, "healthy p90 " .. by_name.latency_p90.baseline)
      assert.is_true(by_name.latency_p90.candidate > 500, "slow p90 " .. by_name.latency_p90.candidate)
      assert.are.equal("fail", by_name.latency_p90.verdict)
      assert.are.equal("pass", by_name.error_rate.verdict, by_name.error_rate.reason)
      target("DELETE", "/samples?cluster=" .. slow)
      local r = http.request { url = env.status().metrics_target .. "/samples" }
      assert.is_nil(r.body:find(slow, 1, true), "the dropped cluster's samples are gone")
      assert.is_truthy(r.body:find(fast, 1, true))
      local ok, err = pcall(target, "POST", "/faults", { cluster = fast, fault = "slowness" })
      assert.is_false(ok)
      assert.matches("unknown fault 'slowness'", tostring(err))
      target("DELETE", "/samples?cluster=" .. fast)
    end)

    it("never passes a candidate without traffic: no data is its own verdict", function()
      target("POST", "/samples", { requests("old", "cart", "200", 10) })
      for _, bucket in ipairs(latency_buckets("old", "cart")) do target("POST", "/samples", bucket) end
      local baseline, candidate = sides()
      local report = helpers.eventually(function()
        local r = prom.compare { baseline = baseline, candidate = candidate, window = WINDOW,
                                 vars = { namespace = "tenant-core", target = "cart" },
                                 checks = { prom.check("error_rate"), prom.check("latency_p99"),
                                            { name = "traffic", query = prom.checks.request_rate.query, min = 1 } } }
        return verdicts(r).error_rate.baseline and r
      end, 30, "Prometheus to see the baseline's traffic")
      local by_name = verdicts(report)
      assert.is_false(report.ok)
      for _, name in ipairs { "error_rate", "latency_p99", "traffic" } do
        assert.are.equal("no_data", by_name[name].verdict, name)
        assert.is_nil(by_name[name].candidate)
      end
      assert.are.equal(0, by_name.error_rate.baseline)
      assert.matches("candidate has no data", by_name.traffic.reason)
      assert.are.equal(3, report.counts.no_data)
      assert.are.equal(0, report.counts.pass)
    end)

    it("treats a NaN candidate as no data and reports a failing query as an error", function()
      local gauge = { name = "container_memory_working_set_bytes", value = "NaN",
                      labels = { cluster = "new", namespace = "nan-compare", pod = "p", container = "c" } }
      local base = { name = "container_memory_working_set_bytes", value = 1024,
                     labels = { cluster = "old", namespace = "nan-compare", pod = "p", container = "c" } }
      target("POST", "/samples", { gauge, base })
      local baseline, candidate = sides()
      local report = helpers.eventually(function()
        local r = prom.compare { baseline = baseline, candidate = candidate, window = WINDOW,
                                 vars = { namespace = "nan-compare" },
                                 checks = { prom.check("memory"), { name = "broken", query = "sum(", max = 1 } } }
        -- both sides scraped: the candidate's series exists (its value is NaN)
        local memory = verdicts(r).memory
        return memory.baseline and not tostring(memory.reason):find("no series", 1, true) and r
      end, 20, "the NaN sample")
      local by_name = verdicts(report)
      assert.are.equal("no_data", by_name.memory.verdict)
      assert.matches("NaN", by_name.memory.reason)
      assert.are.equal("error", by_name.broken.verdict)
      assert.matches("parse error", by_name.broken.reason)
      assert.are.same({ pass = 0, fail = 0, no_data = 1, error = 1 }, report.counts)
    end)
  end)
end)
