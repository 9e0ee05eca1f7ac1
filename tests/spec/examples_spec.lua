-- The examples under examples/ work as docs/getting-started.md and
-- docs/embedding.md say they do.
local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local sys = require "ferry.sys"

local function lines_of(text)
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

describe("examples/hello.lua", function()
  local hello = helpers.root .. "/examples/hello.lua"

  it("summarises the manifest, overlaps its tasks and runs a program", function()
    local started = sys.monotonic()
    local r = helpers.ferry { "run", hello }
    local elapsed = sys.monotonic() - started
    assert.are.equal(0, r.code, r.stderr)
    local lines = lines_of(r.stdout)
    assert.matches("^KIND%s+NAMESPACE%s+NAME$", lines[1])
    assert.matches("^Namespace%s+%-%s+tenant%-a$", lines[2])
    assert.matches("^Deployment%s+tenant%-a%s+web$", lines[3])
    assert.matches("^Service%s+tenant%-a%s+web$", lines[4])
    assert.are.equal("checks on hello-cluster: ingress ok, dns ok", lines[5])
    assert.matches("^2 checks of 0%.3 s took %d%.%d%d s: they overlapped$", lines[6])
    assert.matches("^this machine runs %S+ %S+$", lines[7])
    assert.are.equal(7, #lines)
    assert.matches("INFO hello from ferry, looking at hello%-cluster", r.stderr)
    assert.matches("INFO 3 objects, the Deployment wants 3 replicas", r.stderr)
    assert.is_true(elapsed < 2, "took " .. elapsed .. " s")
  end)

  it("takes the cluster name from --set name=...", function()
    local r = helpers.ferry { "run", hello, "--set", "name=prod-eun-1" }
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("checks on prod%-eun%-1: ingress ok, dns ok", r.stdout)
    assert.matches("looking at prod%-eun%-1", r.stderr)
  end)

  it("writes JSON log lines with --log-format json", function()
    local r = helpers.ferry { "--log-format", "json", "run", hello }
    assert.are.equal(0, r.code, r.stderr)
    local json = require "json"
    local first = json.decode(lines_of(r.stderr)[1])
    assert.are.equal("info", first.level)
    assert.are.equal("hello from ferry, looking at hello-cluster", first.msg)
  end)
end)

describe("examples/embed.c", function()
  local program = os.getenv("FERRY_EMBED_EXAMPLE")
    or (helpers.root .. "/build/release/examples/embed")

  it("runs Lua with a host function and reports a failure", function()
    assert.is_truthy(sys.stat(program),
      program .. " is missing: build it with make (target build/release/examples/embed)")
    local r = exec.run { argv = { program }, timeout = 30 }
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(
      'result: {"checked":["prod-eun-1 ok","prod-eun-2 ok","prod-euw-1 ok"]}\n'
        .. "status: 1\n"
        .. "error: not_found: no cluster named prod-eun-9\n",
      r.stdout)
    assert.are.equal("", r.stderr)
  end)
end)
