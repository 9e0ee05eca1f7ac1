-- The HTTP transport and the Kubernetes client against tests/env/fault-server.py:
-- dropped connections, stalls, answers that are not JSON, huge answers and
-- secrets in URLs, counted at the server.
local fault_server = require "tests.spec.support.fault_server"
local history = require "repl.history"
local http = require "http"
local k8s = require "k8s"
local log = require "log"
local sys = require "ferry.sys"

local CM_PATH = "/api/v1/namespaces/default/configmaps"

local function configmap(name)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = "default" },
           data = { key = "value" } }
end

local function fails(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_table(err)
  return err
end

describe("faults", function()
  local server

  setup(function() server = fault_server.start() end)
  teardown(function() server:stop() end)

  local function connect(options)
    options = options or {}
    options.kubeconfig, options.context, options.qps = server.kubeconfig, "faulty", 0
    return k8s.connect(options)
  end

  describe("a reused connection dropped after the request was read", function()
    it("never sends a create twice, and names the request and the cluster", function()
      server:faults { { method = "POST", path = CM_PATH, fault = "close", reused = true, times = 1 } }
      local c = connect()
      c:list { kind = "ConfigMap" } -- discovery and a list open the connection the create reuses
      local err = fails(c.create, c, configmap("once"))
      assert.are.equal(1, server:count("POST", CM_PATH))
      assert.are.equal("connection", err.kind)
      assert.matches("POST " .. CM_PATH, err.message, 1, true)
      assert.matches("on faulty", err.message, 1, true)
      assert.matches("not sent again", err.message, 1, true)
    end)

    it("never sends an apply twice", function()
      server:faults { { method = "PATCH", path = CM_PATH .. "/applied", fault = "close", reused = true, times = 1 } }
      local c = connect()
      c:list { kind = "ConfigMap" }
      local err = fails(c.apply, c, configmap("applied"))
      assert.are.equal(1, server:count("PATCH", CM_PATH .. "/applied"))
      assert.matches("PATCH " .. CM_PATH .. "/applied", tostring(err.message or err), 1, true)
    end)

    it("never sends a POST of http.request twice", function()
      server:faults { { method = "POST", path = "/plain/second", fault = "close", reused = true, times = 1 } }
      assert.are.equal(200, http.request { method = "POST", url = server.url .. "/plain/first", body = "1" }.status)
      local err = fails(http.request, { method = "POST", url = server.url .. "/plain/second", body = "2" })
      assert.are.equal(1, server:count("POST", "/plain/second"))
      assert.are.equal("connection", err.kind)
    end)

    it("still sends a GET again on a fresh connection", function()
      server:faults { { method = "GET", path = "/plain/read", fault = "close", reused = true, times = 1 } }
      assert.are.equal(200, http.request { url = server.url .. "/plain/warm" }.status)
      assert.are.equal(200, http.request { url = server.url .. "/plain/read" }.status)
      assert.are.equal(2, server:count("GET", "/plain/read"))
    end)
  end)

  describe("a 2xx answer that is not JSON", function()
    it("fails a get with the request, the cluster, the status and what came back", function()
      server:faults { { path = CM_PATH .. "/x", fault = "html" } }
      local c = connect()
      local err = fails(c.get, c, { kind = "ConfigMap", name = "x" })
      assert.are.equal("api", err.kind)
      assert.are.equal(200, err.status)
      assert.matches("GET " .. CM_PATH .. "/x", err.message, 1, true)
      assert.matches("on faulty", err.message, 1, true)
      assert.matches("HTTP 200", err.message, 1, true)
      assert.matches("text/html", err.message, 1, true)
      assert.matches("<!DOCTYPE html>", err.message, 1, true)
    end)

    it("fails a create whose answer is truncated", function()
      server:faults { { method = "POST", path = CM_PATH, fault = "truncated" } }
      local c = connect()
      local err = fails(c.create, c, configmap("cut"))
      assert.matches("POST " .. CM_PATH, err.message, 1, true)
      assert.matches("not JSON", err.message, 1, true)
    end)

    it("fails a patch answered by a login page", function()
      server:faults { { method = "PATCH", fault = "html" } }
      local c = connect()
      local err = fails(c.patch, c, { kind = "ConfigMap", name = "p" }, { data = { a = "b" } })
      assert.matches("PATCH " .. CM_PATH .. "/p", err.message, 1, true)
    end)

    it("fails discovery answered by a login page, not as a missing CRD", function()
      server:faults { { path = "/api", fault = "html" } }
      local c = connect()
      local err = fails(c.get, c, { kind = "ConfigMap", name = "x" })
      assert.is_nil(err.message:find("CustomResourceDefinition", 1, true))
      assert.matches("GET /api", err.message, 1, true)
      assert.matches("on faulty", err.message, 1, true)
    end)

    it("fails discovery answered with JSON that is not a discovery document", function()
      server:faults { { path = "/apis", fault = "status", status = 200, body = '{"hello": "proxy"}' } }
      local c = connect()
      local err = fails(c.get, c, { kind = "ConfigMap", name = "x" })
      assert.matches("not a discovery document", err.message, 1, true)
      assert.matches("GET /apis on faulty", err.message, 1, true)
    end)

    it("shows the first bytes redacted", function()
      log.secret("sekrit-in-the-page")
      server:faults { { path = CM_PATH .. "/x", fault = "status", status = 200,
                        body = "<html>sekrit-in-the-page</html>" } }
      local c = connect()
      local err = fails(c.get, c, { kind = "ConfigMap", name = "x" })
      assert.is_nil(err.message:find("sekrit-in-the-page", 1, true))
      assert.matches("<html>***</html>", err.message, 1, true)
    end)

    it("still returns the text of a raw request", function()
      server:faults { { path = "/healthz", fault = "status", status = 200, body = "ok", content_type = "text/plain" } }
      assert.are.equal("ok", connect():raw("GET", "/healthz"))
    end)
  end)

  describe("stalls", function()
    it("end a k8s request after its timeout", function()
      server:faults { { path = CM_PATH .. "/slow", fault = "stall" } }
      local c = connect { timeout = 0.5 }
      c:list { kind = "ConfigMap" }
      local started = sys.monotonic()
      local err = fails(c.get, c, { kind = "ConfigMap", name = "slow" })
      assert.are.equal("timeout", err.kind)
      assert.matches("GET " .. CM_PATH .. "/slow", err.message, 1, true)
      -- a GET is retried (3 times by default): 4 timeouts and the back-off, not the step's hour
      assert.are.equal(4, server:count("GET", CM_PATH .. "/slow"))
      assert.is_true(sys.monotonic() - started < 10)
    end)

    it("end a request whose answer stops coming after its stall timeout", function()
      server:faults { { path = "/plain/headers-only", fault = "stall_body" } }
      local started = sys.monotonic()
      local err = fails(http.request, { url = server.url .. "/plain/headers-only", stall_timeout = 1 })
      assert.are.equal("timeout", err.kind)
      assert.is_true(sys.monotonic() - started < 5)
    end)

    it("leave a watch idle, but end a watch request the server should have ended", function()
      local c = connect()
      c:list { kind = "ConfigMap" }
      local real, seen = http.request, nil
      http.request = function(options)
        if options.url:find("watch=true", 1, true) then
          seen = options
          error("stop watching", 0)
        end
        return real(options)
      end
      local ok, err = pcall(function() for _ in c:watch { kind = "ConfigMap", timeout = 1 } do end end)
      http.request = real
      assert.is_false(ok)
      assert.matches("stop watching", tostring(err), 1, true)
      assert.matches("timeoutSeconds=1", seen.url, 1, true)
      assert.are.equal(31, seen.timeout)     -- timeoutSeconds + 30 s
      assert.are.equal(0, seen.stall_timeout) -- a quiet watch is no stall
    end)

    it("have defaults: k8s requests 1m and 30s stalled, http.request 5m and 60s", function()
      local c = connect()
      assert.are.equal(60, c.timeout)
      assert.are.equal(30, c.stall_timeout)
      assert.are.same({ timeout = 300, stall_timeout = 60, max_body_bytes = 64 * 1024 * 1024 }, http.defaults)
    end)
  end)

  describe("huge answers", function()
    it("fail before they are read when the size is announced", function()
      local started = sys.monotonic()
      local err = fails(http.request, { url = server.url .. "/fault/huge/209715200" })
      assert.are.equal("too_large", err.kind)
      assert.matches("64 MiB", err.message, 1, true)
      assert.matches("max_body_bytes", err.message, 1, true)
      assert.is_true(sys.monotonic() - started < 5)
    end)

    it("fail as they cross the cap when the size is not announced", function()
      server:faults { { path = "/plain/chunked", fault = "huge", bytes = 8 * 1024 * 1024, chunked = true } }
      local err = fails(http.request, { url = server.url .. "/plain/chunked", max_body_bytes = 1024 * 1024 })
      assert.are.equal("too_large", err.kind)
      assert.matches("1 MiB", err.message, 1, true)
    end)

    it("fail a k8s request naming the cap, the request and the cluster", function()
      server:faults { { path = CM_PATH, method = "GET", fault = "huge", bytes = 4 * 1024 * 1024 } }
      local c = connect { max_body_bytes = 1024 * 1024 }
      local err = fails(c.list, c, { kind = "ConfigMap" })
      assert.are.equal("too_large", err.kind)
      assert.matches("GET " .. CM_PATH, err.message, 1, true)
      assert.matches("on faulty", err.message, 1, true)
      assert.matches("max_body_bytes", err.message, 1, true)
    end)

    it("are read up to the cap", function()
      server:faults { { path = "/plain/big", fault = "huge", bytes = 1024 * 1024 } }
      assert.are.equal(1024 * 1024, #http.request { url = server.url .. "/plain/big",
                                                     max_body_bytes = 1024 * 1024 }.body)
    end)
  end)

  describe("secrets in URLs", function()
    it("are not in transport errors", function()
      local err = fails(http.request, { url = "http://127.0.0.1:1/x?token=tok-in-query&access_token=acc-in-query&page=2" })
      assert.is_nil(err.message:find("tok-in-query", 1, true))
      assert.is_nil(err.message:find("acc-in-query", 1, true))
      assert.is_nil(err.url:find("tok-in-query", 1, true))
      assert.matches("token=***", err.message, 1, true)
      assert.matches("page=2", err.message, 1, true)
    end)

    it("are not in a k8s request's errors", function()
      server:faults { { path = "/plain/stalled", fault = "stall" } }
      local c = connect { timeout = 0.3 }
      local err = fails(c.request, c, { path = "/plain/stalled", query = { access_token = "acc-in-k8s" } })
      assert.is_nil(tostring(err.message):find("acc-in-k8s", 1, true))
      assert.is_nil(tostring(err.path):find("acc-in-k8s", 1, true))
      assert.is_nil(tostring(err.url):find("acc-in-k8s", 1, true))
    end)
  end)
end)

describe("repl.history and secrets written in Lua escapes", function()
  local function redact(text) return (text:gsub('pa"ss\\wd', "***")) end

  it("keeps no line holding the secret escaped as a Lua string writes it", function()
    assert.is_false(history.keep([[s = "pa\"ss\\wd"]], redact))
    assert.is_false(history.keep([[s = 'pa"ss\\wd']], redact))
    assert.is_false(history.keep([[s = "\112a\x22ss\\wd"]], redact))
    assert.is_false(history.keep('s = [[pa"ss\\wd]]', redact))
    assert.is_true(history.keep([[s = "harmless \" line"]], redact))
  end)
end)
