local exec = require "exec"
local task = require "task"
local sys = require "ferry.sys"

describe("exec", function()
  it("runs a program with argv and captures stdout, stderr and the exit code", function()
    local r = exec.run { argv = { "sh", "-c", "echo out; echo err >&2; exit 3" } }
    assert.are.equal(3, r.code)
    assert.are.equal("out\n", r.stdout)
    assert.are.equal("err\n", r.stderr)
  end)

  it("passes arguments without a shell", function()
    local r = exec.run { argv = { "printf", "%s|", "a b", "$HOME", "*" } }
    assert.are.equal("a b|$HOME|*|", r.stdout)
  end)

  it("feeds stdin", function()
    local big = string.rep("0123456789", 100000) -- larger than a pipe buffer
    local r = exec.run { argv = { "wc", "-c" }, stdin = big }
    assert.are.equal(#big, tonumber(r.stdout))
  end)

  it("sets environment variables on top of the inherited ones", function()
    local r = exec.run { argv = { "sh", "-c", 'echo "$FERRY_X:${HOME:+home}"' }, env = { FERRY_X = "1" } }
    assert.are.equal("1:home\n", r.stdout)
    r = exec.run { argv = { "sh", "-c", 'echo "${HOME:-none}"' }, env = { HOME = false } }
    assert.are.equal("none\n", r.stdout)
  end)

  it("runs in cwd", function()
    local r = exec.run { argv = { "pwd" }, cwd = "/tmp" }
    assert.are.equal("/tmp\n", r.stdout)
  end)

  it("stops a program that runs past its timeout", function()
    local started = sys.monotonic()
    local ok, err = pcall(exec.run, { argv = { "sleep", "30" }, timeout = 0.3 })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    assert.matches("'sleep 30' did not finish within 0.3 seconds", err.message)
    assert.is_true(sys.monotonic() - started < 10)
  end)

  it("takes its timeout as a duration text", function()
    local started = sys.monotonic()
    local ok, err = pcall(exec.run, { argv = { "sleep", "30" }, timeout = "300ms" })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    assert.is_true(sys.monotonic() - started < 5)
    assert.are.equal(0, exec.run { argv = { "true" }, timeout = "5m" }.code)
    ok, err = pcall(exec.run, { argv = { "true" }, timeout = "5x" })
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.are.equal('exec.run: timeout "5x" is not a duration (use seconds or e.g. "5m")', err.message)
  end)

  it("names a program that is not on PATH", function()
    local ok, err = pcall(exec.run, { argv = { "ferry-no-such-program" } })
    assert.is_false(ok)
    assert.are.equal("exec", err.kind)
    assert.matches("ferry%-no%-such%-program': not found on PATH", err.message)
  end)

  it("refuses a missing argv", function()
    assert.has_error(function() exec.run {} end)
  end)

  it("reports a program killed by a signal", function()
    local r = exec.run { argv = { "sh", "-c", "kill -TERM $$" } }
    assert.are.equal(15, r.signal)
    assert.are.equal(143, r.code)
  end)

  it("runs programs concurrently inside tasks", function()
    local started = sys.monotonic()
    local results = task.all {
      function() return exec.run { argv = { "sleep", "0.4" } }.code end,
      function() return exec.run { argv = { "sleep", "0.4" } }.code end,
      function() return exec.run { argv = { "sleep", "0.4" } }.code end,
    }
    assert.are.same({ 0, 0, 0 }, results)
    assert.is_true(sys.monotonic() - started < 1.2)
  end)

  it("finds programs with which", function()
    assert.matches("/sh$", exec.which("sh"))
    assert.is_nil(exec.which("ferry-no-such-program"))
  end)

  it("spawns a background process that can be killed", function()
    local p = exec.spawn { argv = { "sleep", "30" } }
    assert.is_true(p:pid() > 0)
    assert.is_true(p:kill("TERM"))
    local r = p:wait()
    assert.are.equal(15, r.signal)
  end)
end)
