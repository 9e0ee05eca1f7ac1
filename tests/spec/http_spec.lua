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
