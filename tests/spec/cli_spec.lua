local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local task = require "task"

describe("the ferry command", function()
  local dir

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  it("prints the versions of ferry and its libraries", function()
    local r = helpers.ferry { "version" }
    assert.are.equal(0, r.code)
    for _, name in ipairs { "ferry", "lua", "libcurl", "libgit2", "libyaml" } do
      assert.matches(name, r.stdout)
    end
    assert.is_not.matches("cjson", r.stdout) -- not linked: the json codec is ferry's own
  end)

  it("evaluates an expression", function()
    local r = helpers.ferry { "eval", "return 6 * 7" }
    assert.are.equal(0, r.code)
    assert.are.equal("42\n", r.stdout)
  end)

  it("runs a file with --set parameters and arguments", function()
    helpers.write_file(dir .. "/lib.lua", "return { greet = function(n) return 'hi ' .. n end }")
    helpers.write_file(dir .. "/main.lua",
      "local params = ...\nprint(require('lib').greet(params.name), arg[1])")
    local r = helpers.ferry { "run", dir .. "/main.lua", "--set", "name=eun", "extra" }
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("hi eun\textra\n", r.stdout)
  end)

  it("passes everything after -- to the script as it is", function()
    helpers.write_file(dir .. "/args.lua", "print(table.concat(arg, ' '))")
    local r = helpers.ferry { "run", dir .. "/args.lua", "--", "--dry-run", "-x" }
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("--dry-run -x\n", r.stdout)
  end)

  it("exits 2 with one clear line for an unknown flag", function()
    local r = helpers.ferry { "--bogus" }
    assert.are.equal(2, r.code)
    assert.matches("unknown option '%-%-bogus'", r.stderr)
    r = helpers.ferry { "run", "--bogus", "x.lua" }
    assert.are.equal(2, r.code)
  end)

  it("exits 2 for a missing file, naming it", function()
    local r = helpers.ferry { "run", dir .. "/nope.lua" }
    assert.are.equal(2, r.code)
    assert.matches("nope.lua", r.stderr)
    assert.is_nil(r.stderr:find("traceback"))
  end)

  it("exits 2 for an unknown command", function()
    local r = helpers.ferry { "frobnicate" }
    assert.are.equal(2, r.code)
    assert.matches("unknown command 'frobnicate'", r.stderr)
  end)

  it("exits 1 with the error message when a script fails", function()
    helpers.write_file(dir .. "/fail.lua", "error({kind = 'api', message = 'it broke'})")
    local r = helpers.ferry { "run", dir .. "/fail.lua" }
    assert.are.equal(1, r.code)
    assert.matches("it broke", r.stderr)
  end)

  it("shows with -v the frames of the failing script, not the scheduler's", function()
    helpers.write_file(dir .. "/deep.lua", table.concat({
      "local task = require 'task'",
      "local function check()",
      "  task.sleep(0.001)",
      "  error({ kind = 'api', message = 'it broke deep down' })",
      "end",
      "task.spawn(function() check() end):wait()",
    }, "\n"))
    local r = helpers.ferry { "-v", "run", dir .. "/deep.lua" }
    assert.are.equal(1, r.code)
    assert.matches("api: it broke deep down", r.stderr, 1, true)
    assert.matches("stack traceback:", r.stderr, 1, true)
    assert.matches("deep.lua:4: in upvalue 'check'", r.stderr, 1, true)
    assert.matches("deep.lua:6:", r.stderr, 1, true)
    assert.is_nil(r.stderr:find("task.lua", 1, true))
    assert.is_nil(r.stderr:find("cli.lua", 1, true))
    assert.is_nil(r.stderr:find("'xpcall'", 1, true))
  end)

  it("shows help for a command", function()
    local r = helpers.ferry { "help", "run" }
    assert.are.equal(0, r.code)
    assert.matches("Usage: ferry run NAME|FILE", r.stdout, 1, true)
    r = helpers.ferry { "--help" }
    assert.matches("Commands:", r.stdout)
  end)

  it("loads modules from --lua-path before the built-in library", function()
    helpers.write_file(dir .. "/http.lua", "return { overridden = true }")
    local r = helpers.ferry { "--lua-path", dir, "eval", "return require('http').overridden" }
    assert.are.equal("true\n", r.stdout)
    r = helpers.ferry({ "eval", "return require('http').overridden" }, { env = { FERRY_LUA_PATH = dir } })
    assert.are.equal("true\n", r.stdout)
  end)

  it("redacts registered secrets from error messages", function()
    helpers.write_file(dir .. "/secret.lua",
      "local log = require 'log'\nlog.secret('s3cr3t-token')\nlog.info('token is %s', 's3cr3t-token')\n"
      .. "error('failed with s3cr3t-token')")
    local r = helpers.ferry { "run", dir .. "/secret.lua" }
    assert.are.equal(1, r.code)
    assert.is_nil(r.stderr:find("s3cr3t", 1, true))
    assert.matches("token is %*%*%*", r.stderr)
  end)

  it("cancels running tasks on Ctrl-C, runs their cleanup and exits 130", function()
    helpers.write_file(dir .. "/long.lua", [[
local task = require "task"
local t = task.spawn(function()
  local guard <close> = setmetatable({}, { __close = function()
    io.open(arg[1], "w"):close()
  end })
  task.sleep(60)
end)
print("started"); io.stdout:flush()
t:wait()
]])
    local marker = dir .. "/cleaned"
    local p = exec.spawn { argv = { helpers.ferry_bin(), "run", dir .. "/long.lua", marker } }
    task.sleep(0.5)
    p:kill("INT")
    local r = p:wait()
    assert.are.equal(130, r.code)
    assert.matches("interrupted", r.stderr)
    assert.is_truthy(io.open(marker))
  end)

  it("stops a busy loop on Ctrl-C", function()
    helpers.write_file(dir .. "/busy.lua", "print('busy'); io.stdout:flush(); while true do end")
    local p = exec.spawn { argv = { helpers.ferry_bin(), "run", dir .. "/busy.lua" } }
    task.sleep(0.5)
    p:kill("INT")
    local r = p:wait()
    assert.are.equal(130, r.code)
  end)
end)
