-- What a run leaves in its state directory and how the command line names a
-- run: temp files of killed saves, unknown --resume ids, and what the report
-- says retire-cluster did.
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local journal = require "ferry.engine.journal"
local log = require "log"
local recipe = require "recipe"
local sys = require "ferry.sys"

local function exists(path)
  return sys.stat(path) ~= nil
end

-- A pid no process has: one of a child that has exited.
local function dead_pid()
  local child = exec.spawn { argv = { "true" } }
  local pid = child:pid()
  child:wait()
  return pid
end

describe("temp files of journal saves killed half-way", function()
  local dir, runs
  before_each(function()
    dir = helpers.tmpdir()
    runs = dir .. "/state/runs"
    journal.ensure_dir(runs)
    log.configure { stream = io.tmpfile() }
  end)
  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  -- Leaves a stale temp file (its process gone) and one of a live process.
  local function leave_temps()
    local stale = string.format("%s/r-1.json.tmp.%d", runs, dead_pid())
    local live = string.format("%s/r-2.json.tmp.%d", runs, sys.getpid())
    helpers.write_file(stale, "{")
    helpers.write_file(live, "{")
    return stale, live
  end

  it("are removed when the runs are listed, unless their process is alive", function()
    local stale, live = leave_temps()
    local r = helpers.ferry({ "runs" }, { env = { FERRY_STATE_DIR = dir .. "/state" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_false(exists(stale), "the stale temp file is removed")
    assert.is_true(exists(live), "the temp file of a live process is kept")
  end)

  it("are removed when a run starts", function()
    local stale, live = leave_temps()
    local report = recipe.run(recipe { name = "noop", steps = { { name = "a", run = function() end } } },
      { state_dir = dir .. "/state", output = io.tmpfile() })
    assert.are.equal("succeeded", report.status)
    assert.is_false(exists(stale), "the stale temp file is removed")
    assert.is_true(exists(live), "the temp file of a live process is kept")
  end)
end)

describe("an unknown --resume id", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  it("exits 2 with the same message alone, with a recipe file and with a recipe name", function()
    helpers.write_file(dir .. "/r.lua",
      'return require("recipe") { name = "r", steps = { { name = "a", run = function() end } } }\n')
    local env = { env = { FERRY_STATE_DIR = dir .. "/state" } }
    local alone = helpers.ferry({ "run", "--resume", "nope-1" }, env)
    local file = helpers.ferry({ "run", dir .. "/r.lua", "--resume", "nope-1" }, env)
    local name = helpers.ferry({ "run", "retire-cluster", "--resume", "nope-1" }, env)
    assert.are.equal(2, alone.code, alone.stderr)
    assert.matches("no run 'nope%-1'", alone.stderr)
    assert.are.equal(2, file.code, file.stderr)
    assert.are.equal(alone.stderr, file.stderr)
    assert.are.equal(2, name.code, name.stderr)
    assert.are.equal(alone.stderr, name.stderr)
  end)
end)

describe("retire-cluster with retire=delete", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() }
  end)
  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  local function old_cluster_section(params, fleet)
    local report = recipe.run(recipe.load("retire-cluster"), {
      params = params, fleet = fleet and require("ferry.engine.fleet").load(fleet, { text = true }),
      state_dir = dir .. "/state", report_dir = dir, output = io.tmpfile(),
    })
    assert.are.equal("succeeded", report.status, report.error)
    for _, s in ipairs(report.sections) do
      if s.title == "Old cluster" then return s.text end
    end
  end

  it("reports that provider existing left the cluster as it is", function()
    local text = old_cluster_section { cluster = "old", retire = "delete", old_provider = "existing" }
    assert.are.equal("old was not created by ferry (provider existing): left as it is.", text)
  end)

  it("reports that provider command deleted it", function()
    local text = old_cluster_section({ cluster = "old", retire = "delete" },
      "clusters:\n  old: {provider: command, delete_command: [\"true\"]}\n")
    assert.are.equal("old was deleted (delete_command of provider command).", text)
  end)
end)
