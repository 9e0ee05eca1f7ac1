local log = require "log"
local json = require "json"

-- Captures what log writes, through a temp file (log writes to a file handle).
local function capture(options, fn)
  local f = io.tmpfile()
  local settings = { stream = f, tty = options.tty or false, format = options.format or "text",
                     level = options.level or "info" }
  log.configure(settings)
  local ok, err = pcall(fn)
  log.configure { stream = io.stderr, tty = false, format = "text", level = "info" }
  f:seek("set")
  local text = f:read("a")
  f:close()
  assert(ok, err)
  return text
end

describe("log", function()
  it("prints leveled text lines", function()
    local out = capture({}, function()
      log.info("applied %d objects to %s", 3, "prod")
      log.debug("hidden at info level")
      log.warn("careful")
    end)
    assert.are.equal("INFO applied 3 objects to prod\nWARN careful\n", out)
  end)

  it("prints debug lines at debug level", function()
    local out = capture({ level = "debug" }, function() log.debug("shown") end)
    assert.are.equal("DEBUG shown\n", out)
  end)

  it("prints one JSON object per line with --log-format json", function()
    local out = capture({ format = "json" }, function()
      log.error("quote \" and newline \n here")
      log.event("info", "step finished", { step = "bootstrap", seconds = 1.5 })
    end)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = json.decode(line) end
    assert.are.equal(2, #lines)
    assert.are.equal("error", lines[1].level)
    assert.are.equal("quote \" and newline \n here", lines[1].msg)
    assert.are.equal("bootstrap", lines[2].step)
    assert.are.equal(1.5, lines[2].seconds)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", lines[2].time)
  end)

  it("never prints a registered secret", function()
    log.secret("tok-ABCDEF-123")
    local out = capture({}, function()
      log.info("token=%s", "tok-ABCDEF-123")
      log.event("warn", "header", { authorization = "Bearer tok-ABCDEF-123" })
    end)
    assert.is_nil(out:find("tok-ABCDEF-123", 1, true))
    assert.matches("token=%*%*%*", out)
    assert.are.equal("Bearer ***", log.redact("Bearer tok-ABCDEF-123"))
  end)

  it("ignores secrets too short to hide safely", function()
    log.secret("ab")
    assert.are.equal("abc", log.redact("abc"))
  end)

  it("prints plain progress lines when not on a terminal", function()
    local out = capture({}, function()
      local p = log.progress("bootstrap flux")
      p:update("waiting for %s", "source-controller")
      p:update("waiting for %s", "source-controller") -- repeated: printed once
      p:done()
    end)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(3, #lines)
    assert.are.equal("INFO bootstrap flux: started", lines[1])
    assert.are.equal("INFO bootstrap flux: waiting for source-controller", lines[2])
    assert.matches("^INFO bootstrap flux: done %(%d+%.%ds%)$", lines[3])
  end)

  it("redraws the progress line in place on a terminal", function()
    local out = capture({ tty = true }, function()
      local p = log.progress("validate")
      p:update("ingress")
      p:fail("ingress has no address")
    end)
    assert.matches("\r\27%[K", out)
    assert.matches("validate — ingress", out)
    assert.matches("validate: failed — ingress has no address", out)
  end)

  it("survives a bad format string", function()
    local out = capture({}, function() log.info("%d things", "many") end)
    assert.matches("many", out)
  end)
end)
