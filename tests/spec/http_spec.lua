local helpers = require "tests.spec.support.helpers"
local http = require "http"
local json = require "json"
local task = require "task"
local sys = require "ferry.sys"

describe("http", function()
  local server

  setup(function()
    server = helpers.start_http_server()
  end)

  teardown(function()
    helpers.stop_http_server(server)
  end)

  it("gets a response with status, lower-case headers and body", function()
    local r = http.request { url = server.url .. "/hello" }
    assert.are.equal(200, r.status)
    assert.are.equal("hello", r.body)
    assert.are.equal("yes", r.headers["x-test"])
    assert.are.equal("5", r.headers["content-length"])
  end)

  it("sends the method, headers and body", function()
    local r = http.request {
      url = server.url .. "/echo", method = "patch",
      headers = { ["Content-Type"] = "application/merge-patch+json", "X-Extra: 1" },
      body = '{"a":1}',
    }
    local echoed = json.decode(r.body)
    assert.are.equal("PATCH", echoed.method)
    assert.are.equal('{"a":1}', echoed.body)
    assert.are.equal("application/merge-patch+json", echoed.headers["content-type"])
    assert.are.equal("1", echoed.headers["x-extra"])
  end)

  it("returns HTTP error statuses as responses", function()
    local r = http.request { url = server.url .. "/missing" }
    assert.are.equal(404, r.status)
  end)

  it("streams a chunked response line by line as it arrives", function()
    local lines, times = {}, {}
    local r = http.request {
      url = server.url .. "/stream",
      on_line = function(line)
        lines[#lines + 1] = line
        times[#times + 1] = sys.monotonic()
      end,
    }
    assert.are.equal(200, r.status)
    assert.are.same({ "line 1", "line 2", "line 3", "line 4", "line 5" }, lines)
    assert.are.equal("", r.body)
    -- the server waits 50 ms between lines: they arrived over time, not at once
    assert.is_true(times[5] - times[1] > 0.1)
  end)

  it("streams raw chunks", function()
    local received = {}
    http.request { url = server.url .. "/stream", on_chunk = function(c) received[#received + 1] = c end }
    assert.are.equal("line 1\nline 2\nline 3\nline 4\nline 5\n", table.concat(received))
  end)

  it("keeps an error response's body for the caller instead of streaming it", function()
    local lines = {}
    local r = http.request { url = server.url .. "/missing", on_line = function(l) lines[#lines + 1] = l end }
    assert.are.equal(404, r.status)
    assert.are.equal(0, #lines)
    assert.are.equal("not found", r.body)
  end)

  it("raises a connection error when the server drops the connection", function()
    local ok, err = pcall(http.request, { url = server.url .. "/drop" })
    assert.is_false(ok)
    assert.are.equal("connection", err.kind)
    assert.are.equal(server.url .. "/drop", err.url)
  end)

  it("raises a connect error naming the URL for a dead server", function()
    local ok, err = pcall(http.request, { url = "http://127.0.0.1:1/x" })
    assert.is_false(ok)
    assert.are.equal("connect", err.kind)
    assert.matches("GET http://127.0.0.1:1/x", err.message)
  end)

  it("never puts credentials of the URL into errors", function()
    local ok, err = pcall(http.request, { url = "http://admin:hunter22@127.0.0.1:1/x" })
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("hunter22", 1, true))
    assert.is_nil(err.url:find("hunter22", 1, true))
  end)

  it("times out", function()
    local ok, err = pcall(http.request, { url = server.url .. "/slow", timeout = 0.3 })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
  end)

  it("retries 503 responses when asked to", function()
    local r = http.request { url = server.url .. "/flaky/a", retries = 3 }
    assert.are.equal(200, r.status)
    assert.are.equal("ok after 3", r.body)
    r = http.request { url = server.url .. "/flaky/b" }
    assert.are.equal(503, r.status)
  end)

  it("never sends a POST again once it may have reached the server", function()
    local r = http.request { url = server.url .. "/gateway/a", method = "POST", retries = 3 }
    assert.are.equal(504, r.status)
    -- the POST was one attempt: the GET's attempts are the second and third
    r = http.request { url = server.url .. "/gateway/a", retries = 3 }
    assert.are.equal("ok after 3", r.body)
  end)

  it("sends any method again after a 429, when Retry-After says", function()
    local started = sys.monotonic()
    local r = http.request { url = server.url .. "/busy/a?after=1", method = "POST", retries = 1 }
    assert.are.equal("ok after 2", r.body)
    assert.is_true(sys.monotonic() - started >= 0.9)
  end)

  it("takes a bogus or negative Retry-After as the default back-off", function()
    local started = sys.monotonic()
    local r = http.request { url = server.url .. "/busy/b?after=-5", retries = 1 }
    assert.are.equal("ok after 2", r.body)
    local waited = sys.monotonic() - started
    assert.is_true(waited >= 0.2 and waited < 1, "waited " .. waited)
  end)

  it("takes durations as text or seconds", function()
    local ok, err = pcall(http.request, { url = server.url .. "/slow", timeout = "300ms" })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    ok, err = pcall(http.request, { url = server.url .. "/hello", timeout = "5x" })
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.are.equal('http.request: timeout "5x" is not a duration (use seconds or e.g. "5m")', err.message)
    assert.are.equal(200, http.request { url = server.url .. "/hello", timeout = "1m", connect_timeout = 5 }.status)
  end)

  it("runs requests concurrently inside tasks", function()
    local started = sys.monotonic()
    local statuses = task.all {
      function() return http.request { url = server.url .. "/stream" }.status end,
      function() return http.request { url = server.url .. "/stream" }.status end,
      function() return http.request { url = server.url .. "/stream" }.status end,
    }
    assert.are.same({ 200, 200, 200 }, statuses)
    -- each stream takes >= 0.25 s; three in sequence would take >= 0.75 s
    assert.is_true(sys.monotonic() - started < 0.7)
  end)

  it("cancels a request when its task is cancelled", function()
    local t = task.spawn(function() return http.request { url = server.url .. "/slow" } end)
    task.sleep(0.05)
    t:cancel()
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.are.equal("cancelled", err.kind)
  end)

  it("checks its options", function()
    assert.has_error(function() http.request "http://x" end)
    assert.has_error(function() http.request {} end, "http.request needs url (a string)")
  end)
end)

describe("http.retry", function()
  local allows, delay = http.retry.allows, http.retry.delay

  it("sends again what the server cannot have acted on, whatever the method", function()
    for _, method in ipairs { "GET", "POST", "PATCH" } do
      assert.is_true(allows(method, { kind = "connect" }), method)
      assert.is_true(allows(method, { kind = "resolve" }), method)
      assert.is_true(allows(method, { status = 429 }), method)
    end
  end)

  it("sends again only idempotent methods after the server may have acted", function()
    for _, outcome in ipairs { { kind = "timeout" }, { kind = "connection" }, { status = 500 }, { status = 502 },
                               { status = 503 }, { status = 504 } } do
      local what = outcome.kind or tostring(outcome.status)
      for _, method in ipairs { "GET", "head", "PUT", "DELETE", "OPTIONS" } do
        assert.is_true(allows(method, outcome), method .. " after " .. what)
      end
      assert.is_false(allows("POST", outcome), "POST after " .. what)
      assert.is_false(allows("PATCH", outcome), "PATCH after " .. what)
    end
  end)

  it("never sends again what cannot get better", function()
    for _, outcome in ipairs { { status = 200 }, { status = 404 }, { status = 401 },
                               { kind = "tls" }, { kind = "cancelled" }, "a string error" } do
      assert.is_false(allows("GET", outcome), tostring(outcome.kind or outcome.status or outcome))
    end
  end)

  it("waits as Retry-After says, at most 30 s, else backs off exponentially", function()
    local function after(value) return { status = 429, headers = { ["retry-after"] = value } } end
    assert.are.equal(7, delay(1, after("7")))
    assert.are.equal(0, delay(1, after("0")))
    assert.are.equal(30, delay(1, after("3600")))
    assert.are.same({ 0.25, 0.5, 1, 2, 4, 4 }, { delay(1), delay(2), delay(3), delay(4), delay(5), delay(9) })
    for _, bogus in ipairs { "-5", "soon", "1.5", "", "Wed, 21 Oct 2015 07:28:00 GMT" } do
      assert.are.equal(0.5, delay(2, after(bogus)), bogus)
    end
  end)
end)

describe("http URLs", function()
  it("percent-encodes all but the unreserved characters, and decodes", function()
    assert.are.equal("a%20b%2Fc%3Fd%3De%26f~g.h_i-j%C3%A9", http.escape("a b/c?d=e&f~g.h_i-j\u{e9}"))
    assert.are.equal("a b/c\0d", http.unescape("a%20b%2Fc%00d"))
    assert.are.equal("100%", http.unescape("100%"))
  end)

  it("parses URLs with libcurl's parser", function()
    assert.are.same({ scheme = "https", user = "us@er", password = "p:w", host = "[::1]", port = 6443,
                      path = "/api", query = "x=1", fragment = "f" },
      http.parse_url("https://us%40er:p%3Aw@[::1]:6443/api?x=1#f"))
    assert.are.same({ scheme = "ssh", user = "git", host = "git.example", path = "/fleet.git" },
      http.parse_url("ssh://git@git.example/fleet.git"))
    assert.are.same({ scheme = "http", host = "prom", path = "/" }, http.parse_url("http://prom"))
    local u, why = http.parse_url("http://host:99999/")
    assert.is_nil(u)
    assert.is_string(why)
  end)

  it("names a URL it cannot parse without showing it", function()
    local ok, err = pcall(http.request, { url = "http://user:hunter22@[::1/x" })
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("hunter22", 1, true))
  end)
end)
