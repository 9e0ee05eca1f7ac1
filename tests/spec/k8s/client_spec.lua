local helpers = require "tests.spec.support.helpers"
local client = require "k8s.client"
local sys = require "ferry.sys"

-- The transport against a plain HTTP server: its retries follow http.retry.
describe("k8s client retries", function()
  local server, c

  setup(function()
    server = helpers.start_http_server()
    c = client.new({ server = server.url, prepare = function() end, unauthorized = function() end },
      { name = "test", qps = 0 })
  end)

  teardown(function()
    helpers.stop_http_server(server)
  end)

  it("takes a negative Retry-After as the default back-off, not as no wait", function()
    local started = sys.monotonic()
    assert.are.equal("ok after 2", c:request { path = "/busy/k?after=-5" })
    assert.is_true(sys.monotonic() - started >= 0.2)
  end)

  it("never sends a POST again after a 504", function()
    local ok, err = pcall(c.request, c, { method = "POST", path = "/gateway/k", body = "{}" })
    assert.is_false(ok)
    assert.are.equal(504, err.status)
    -- the POST was one attempt: the GET's are the second and the third
    assert.are.equal("ok after 3", c:request { path = "/gateway/k" })
  end)
end)

describe("k8s auth's tls-server-name", function()
  local auth = require "k8s.auth"
  local function server_of(server)
    local a = auth.new { name = "ctx", cluster = { server = server, ["tls-server-name"] = "api.internal" }, user = {} }
    return a.server, a.connect_to
  end

  it("sends to the name and connects to the server's host and port", function()
    assert.are.same({ "https://api.internal:6443", "api.internal:6443:10.0.0.1:6443" },
      { server_of("https://10.0.0.1:6443") })
    assert.are.same({ "https://api.internal:443/k8s/clusters/c-1", "api.internal:443:10.0.0.1:443" },
      { server_of("https://10.0.0.1/k8s/clusters/c-1/") })
    assert.are.same({ "https://api.internal:6443", "api.internal:6443:::1:6443" },
      { server_of("https://[::1]:6443") })
  end)
end)
