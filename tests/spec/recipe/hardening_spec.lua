-- The engine against bad state and hostile values: secrets that JSON or
-- Markdown would escape, journals and fleet files of the wrong shape.
local helpers = require "tests.spec.support.helpers"
local json = require "json"
local log = require "log"
local recipe = require "recipe"

local function secret_recipe(secret)
  return recipe {
    name = "secretive",
    params = { { name = "token", secret = true } },
    steps = { { name = "fail", run = function() error("the server refused token " .. secret, 0) end } },
  }
end

describe("secrets in journals and reports", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() }
  end)
  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  for _, secret in ipairs { 'pa"ss\\word-1', "pipe|secret-2", "back\\slash-3", "tab\tnew\nline-4" } do
    it("keeps " .. string.format("%q", secret) .. " out of the journal, report.json and report.md", function()
      local report = recipe.run(secret_recipe(secret), {
        params = { token = secret }, state_dir = dir, report_dir = dir, output = io.tmpfile(),
      })
      assert.are.equal("failed", report.status == "rolled_back" and "failed" or report.status)
      for _, path in ipairs { dir .. "/runs/" .. report.id .. ".json", report.json_path, report.markdown_path } do
        local text = helpers.read_file(path)
        assert.truthy(text:find("***", 1, true), path .. " shows where the secret was")
        for _, form in ipairs { secret, json.encode(secret):sub(2, -2), (secret:gsub("|", "\\|")) } do
          assert.is_nil(text:find(form, 1, true), path .. " holds the secret as " .. form)
        end
      end
    end)
  end
end)

describe("journals of the wrong shape", function()
  local journal = require "ferry.engine.journal"
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  local function write(name, value)
    local path = dir .. "/runs/" .. name .. ".json"
    helpers.write_file(path, type(value) == "string" and value or json.encode(value))
    return path
  end

  local GOOD = { id = "r-1", recipe = "x", status = "failed", started = "2026-01-01T00:00:00Z",
                 params = json.object {}, state = json.object {}, steps = { { name = "a", status = "done" } } }

  local function with(changes)
    local copy = {}
    for k, v in pairs(GOOD) do copy[k] = v end
    for k, v in pairs(changes) do copy[k] = v end
    return copy
  end

  it("names the journal and the field", function()
    os.execute("mkdir -p " .. dir .. "/runs")
    for field, bad in pairs { id = 5, recipe = true, status = {}, steps = "none", params = 3, state = "x",
                              started = 7 } do
      local path = write("bad-" .. field, with { [field] = bad })
      local ok, err = pcall(journal.load, path)
      assert.is_false(ok, field)
      assert.are.equal("journal", err.kind)
      assert.truthy(err.message:find(path, 1, true), err.message)
      assert.truthy(err.message:find(field, 1, true), field .. ": " .. err.message)
    end
    for _, id in ipairs { "../escape", "a/b", "..", "" } do
      local ok, err = pcall(journal.load, write("bad-id", with { id = id }))
      assert.is_false(ok, id)
      assert.matches("field id .* is not a run id", err.message)
    end
    local path = write("bad-step", with { steps = { { name = "a", status = "done" }, 5 } })
    local ok, err = pcall(journal.load, path)
    assert.is_false(ok)
    assert.matches("steps%[2%]", err.message)
    for _, text in ipairs { "[1, 2]", "5", '"x"' } do
      ok, err = pcall(journal.load, write("not-object", text))
      assert.is_false(ok)
      assert.matches("not a ferry run journal", err.message)
    end
  end)

  it("lists the good runs beside a broken one", function()
    os.execute("mkdir -p " .. dir .. "/runs")
    write("r-1", GOOD)
    write("bad", with { id = "bad", started = { 1 } })
    local runs = journal.list(dir)
    assert.are.equal(1, #runs)
    assert.are.equal("r-1", runs[1].id)
  end)
end)

describe("fleet files of the wrong shape", function()
  local function fails(text, pattern)
    local ok, err = pcall(recipe.fleet, text, { text = true })
    assert.is_false(ok, text)
    assert.are.equal("fleet", err.kind)
    assert.matches(pattern, err.message)
  end

  it("names the section and what it should be", function()
    fails("clusters: 5\n", "clusters must be a mapping of names to settings, not a number")
    fails("tenants: [a, b]\n", "tenants must be a mapping of names to settings, not a list")
    fails("defaults: x\n", "defaults must be a mapping of settings, not a string")
    fails("clusters: {prod: 3}\n", "clusters%.prod must be a mapping of settings, not a number")
    fails("regions: {eun: [1]}\n", "regions%.eun must be a mapping of settings, not a list")
  end)

  it("refuses a document that is not a mapping", function()
    fails("just text\n", "must be a mapping with the sections defaults, regions, clusters, tenants; it is a string")
    fails("- a\n- b\n", "it is a list")
  end)

  it("takes an empty document as an empty fleet", function()
    assert.are.same({}, recipe.fleet("", { text = true }):tenant_names("x"))
  end)
end)

describe("one process per run", function()
  local exec = require "exec"
  local sys = require "ferry.sys"
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  -- A recipe whose first step says it started and then waits for a file.
  local RECIPE = [[
local recipe = require "recipe"
local task = require "task"
return recipe {
  name = "waiting",
  steps = {
    { name = "wait", run = function()
        io.open(os.getenv("STARTED"), "w"):close()
        while not io.open(os.getenv("GO")) do task.sleep(0.05) end
      end },
    { name = "after", run = function() end },
  },
}
]]

  local function journal_id()
    for _, name in ipairs(sys.listdir(dir .. "/state/runs") or {}) do
      local id = name:match("^(waiting%-.+)%.json$")
      if id and not id:match("%.report$") then return id end
    end
  end

  local function ferry(args)
    return helpers.ferry(args, { env = { FERRY_STATE_DIR = dir .. "/state", STARTED = dir .. "/started",
                                         GO = dir .. "/go" } })
  end

  it("refuses a second process on a live run, and shows a killed one as interrupted", function()
    local file = dir .. "/waiting.lua"
    helpers.write_file(file, RECIPE)
    local first = exec.spawn { argv = { helpers.ferry_bin(), "run", file }, env = { FERRY_STATE_DIR = dir .. "/state",
      STARTED = dir .. "/started", GO = dir .. "/go" } }
    helpers.eventually(function() return io.open(dir .. "/started") end, 30, "the first run to start")
    local id = assert(journal_id())
    local runs = ferry { "runs" }
    assert.matches(id:gsub("%-", "%%-") .. "%s+waiting%s+running", runs.stdout)

    local second = ferry { "run", file, "--resume", id }
    assert.are_not.equal(0, second.code)
    assert.matches("run " .. id:gsub("%-", "%%-") .. " is being driven by process " .. first:pid(), second.stderr)

    first:kill("KILL")
    first:wait()
    runs = ferry { "runs" }
    assert.matches(id:gsub("%-", "%%-") .. "%s+waiting%s+interrupted", runs.stdout)

    helpers.write_file(dir .. "/go", "")
    local resumed = ferry { "run", file, "--resume", id }
    assert.are.equal(0, resumed.code, resumed.stderr)
    runs = ferry { "runs" }
    assert.matches(id:gsub("%-", "%%-") .. "%s+waiting%s+succeeded", runs.stdout)
  end)
end)
