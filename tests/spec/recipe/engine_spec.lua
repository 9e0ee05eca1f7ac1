local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local json = require "json"
local recipe = require "recipe"
local sys = require "ferry.sys"
local task = require "task"

local FIXTURES = helpers.root .. "/tests/spec/recipe/fixtures"

-- A recipe whose steps record what happened in `events`.
local function recording(events, overrides)
  overrides = overrides or {}
  local function step(name, extra)
    local s = {
      name = name,
      run = function(ctx) events[#events + 1] = "run " .. name; ctx.state[name] = true end,
      undo = function() events[#events + 1] = "undo " .. name end,
    }
    for k, v in pairs(extra or {}) do s[k] = v end
    return s
  end
  return recipe {
    name = "recording",
    params = { { name = "cluster", required = true }, { name = "replicas", type = "integer", default = 2 },
               { name = "fast", type = "boolean" }, { name = "mode", choices = { "a", "b" } } },
    steps = { step("create", overrides.create), step("bootstrap", overrides.bootstrap),
              step("validate", overrides.validate) },
  }
end

local function quiet()
  return io.tmpfile()
end

local lines_of = helpers.lines

describe("recipe engine", function()
  local dir, saved_state_dir

  local log = require "log"

  before_each(function()
    dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() } -- the runs' progress lines
  end)

  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  local function run(r, options)
    options = options or {}
    options.state_dir = dir .. "/state"
    options.report_dir = options.report_dir or dir
    options.output = options.output or quiet()
    return recipe.run(r, options)
  end

  describe("parameters", function()
    it("converts values to the declared types and applies defaults", function()
      local seen
      local r = recipe { name = "p", params = { { name = "n", type = "integer", default = 3 },
                                                 { name = "on", type = "boolean" }, { name = "xs", type = "list" } },
                         steps = { { name = "look", run = function(ctx) seen = ctx.params end } } }
      local ok = pcall(run, r, { params = { on = "yes", xs = "a, b" } })
      assert.is_true(ok)
      assert.are.same({ n = 3, on = true, xs = { "a", "b" } }, seen)
    end)

    it("reports every problem at once, naming the fix", function()
      local ok, err = pcall(run, recording({}), { params = { replicas = "many", mode = "c", colour = "red" } })
      assert.is_false(ok)
      assert.are.equal("params", err.kind)
      assert.matches("missing required parameter cluster %(%-%-set cluster=%.%.%.%)", err.message)
      assert.matches("replicas must be an integer, got 'many'", err.message)
      assert.matches("mode must be one of a, b, got 'c'", err.message)
      assert.matches("unknown parameter colour", err.message)
      assert.are.equal(4, #err.problems)
    end)
  end)

  describe("running", function()
    it("runs the steps in order and reports success", function()
      local events = {}
      local report = run(recording(events), { params = { cluster = "c1" } })
      assert.are.same({ "run create", "run bootstrap", "run validate" }, events)
      assert.are.equal("succeeded", report.status)
      assert.are.equal("pass", report.verdict)
      local saved = json.decode(helpers.read_file(report.json_path))
      assert.are.equal("succeeded", saved.status)
      assert.are.equal(3, #saved.steps)
      assert.matches("recording — SUCCEEDED", helpers.read_file(report.markdown_path))
    end)

    it("skips a step whose check says it is done", function()
      local events = {}
      local r = recording(events, { bootstrap = { check = function() return true end } })
      local report = run(r, { params = { cluster = "c1" } })
      assert.are.same({ "run create", "run validate" }, events)
      assert.are.equal("skipped", report.steps[2].status)
    end)

    it("undoes the failed step's partial work, then the finished steps in reverse", function()
      local events = {}
      local r = recording(events, { validate = { run = function() error("validation failed", 0) end } })
      local report, err = run(r, { params = { cluster = "c1" } })
      assert.are.equal("validation failed", err)
      assert.are.equal("rolled_back", report.status)
      assert.are.same({ "run create", "run bootstrap", "undo validate", "undo bootstrap", "undo create" }, events)
      assert.are.equal("undone", report.steps[1].status)
      assert.are.equal("undone", report.steps[3].status)
      assert.are.equal("validation failed", report.steps[3].error)
    end)

    it("does not roll back when a no_rollback step fails", function()
      local events = {}
      local r = recording(events, { validate = { no_rollback = true, run = function() error("late", 0) end } })
      local report = run(r, { params = { cluster = "c1" } })
      assert.are.equal("failed", report.status)
      assert.are.same({ "run create", "run bootstrap" }, events)
    end)

    it("keeps a resumed run's earlier report rows and clears its old error", function()
      local calls = 0
      local r = recipe { name = "twice", steps = {
        { name = "measure", run = function(ctx) ctx.report:comparison("t", { { name = "m", verdict = "pass" } }) end },
        { name = "flaky", run = function()
          calls = calls + 1
          if calls == 1 then error({ kind = "interrupted", message = "stopped" }, 0) end
        end },
      } }
      local first = run(r)
      assert.are.equal("interrupted", first.status)
      local second = run(r, { resume = first.id })
      assert.are.equal("succeeded", second.status)
      assert.is_nil(second.error)
      assert.are.equal(1, #second.comparisons)
    end)

    it("keeps everything on failure when asked", function()
      local events = {}
      local r = recording(events, { bootstrap = { run = function() error("no flux", 0) end } })
      local report = run(r, { params = { cluster = "c1" }, keep_on_failure = true })
      assert.are.equal("failed", report.status)
      assert.are.same({ "run create" }, events)
    end)

    it("retries a step and times it out", function()
      local attempts = 0
      local r = recipe { name = "t", steps = {
        { name = "flaky", retries = 1, retry_delay = 0.01, run = function() attempts = attempts + 1; if attempts < 2 then error("once") end end },
        { name = "slow", timeout = "0.2s", run = function() task.sleep(5) end },
      } }
      local started = sys.monotonic()
      local report, err = run(r)
      assert.are.equal(2, attempts)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("rolled_back", report.status)
      assert.is_true(sys.monotonic() - started < 5)
    end)

    it("plans without running anything or writing a journal", function()
      local events = {}
      local r = recording(events, { create = { plan = function(ctx) return "would create " .. ctx.params.cluster end } })
      local out = io.tmpfile()
      recipe.run(r, { params = { cluster = "c9" }, dry_run = true, output = out, state_dir = dir .. "/state" })
      out:seek("set")
      local text = out:read("a")
      assert.are.same({}, events)
      assert.matches("would create c9", text)
      assert.matches("nothing is changed", text)
      assert.is_nil(sys.stat(dir .. "/state"))
    end)
  end)

  describe("extend", function()
    it("replaces, inserts and removes steps and chains hooks", function()
      local events = {}
      local base = recording(events)
      base.hooks.after_step = function(_, step) events[#events + 1] = "base hook " .. step.name end
      local derived = recipe.extend(base, {
        name = "derived",
        steps = {
          replace = { bootstrap = { run = function() events[#events + 1] = "custom bootstrap" end } },
          insert_after = { create = { name = "label", run = function() events[#events + 1] = "run label" end } },
          insert_before = { create = { name = "preflight", run = function() events[#events + 1] = "run preflight" end } },
          remove = { "validate" },
        },
        hooks = { after_step = function(_, step) events[#events + 1] = "region hook " .. step.name end },
      })
      assert.are.same({ "preflight", "create", "label", "bootstrap" }, derived:step_names())
      run(derived, { params = { cluster = "c1" } })
      assert.are.same({ "run preflight", "base hook preflight", "region hook preflight",
        "run create", "base hook create", "region hook create", "run label", "base hook label",
        "region hook label", "custom bootstrap", "base hook bootstrap", "region hook bootstrap" }, events)
    end)

    it("names the step an override refers to when it does not exist", function()
      local ok, err = pcall(recipe.extend, recording({}), { steps = { replace = { nope = { run = print } } } })
      assert.is_false(ok)
      assert.matches("names no step 'nope' %(steps: create, bootstrap, validate%)", err.message)
    end)
  end)

  describe("fleet", function()
    it("layers defaults, region, cluster and tenant", function()
      local fleet = require("ferry.engine.fleet").load([[
defaults: {flux: {version: v2.4.0, interval: 1m}, thresholds: {error_rate: 1.1}}
regions: {eun: {flux: {interval: 5m}, prometheus: monitoring/prometheus:9090}}
clusters: {prod-eun-2: {region: eun, context: prod-eun-2-admin, tenants: [shop]}}
tenants: {shop: {thresholds: {error_rate: 1.5}}, data: {}}
]], { text = true })
      local s = fleet:settings("prod-eun-2", "shop")
      assert.are.equal("v2.4.0", s.flux.version)
      assert.are.equal("5m", s.flux.interval)
      assert.are.equal("prod-eun-2-admin", s.context)
      assert.are.equal(1.5, s.thresholds.error_rate)
      assert.are.equal(1.1, fleet:settings("prod-eun-2").thresholds.error_rate)
      assert.are.same({ "shop" }, fleet:tenant_names("prod-eun-2"))
      assert.has_error(function() fleet:settings("prod-eun-2", "nobody") end)
    end)
  end)

  describe("journal and resume (subprocesses)", function()
    local function ferry_run(args, env)
      local all_env = { FERRY_STATE_DIR = dir .. "/state", FERRY_RECIPES = FIXTURES }
      for k, v in pairs(env or {}) do all_env[k] = v end
      return helpers.ferry(args, { env = all_env })
    end

    local function only_run_id()
      local names = sys.listdir(dir .. "/state/runs") or {}
      local ids = {}
      for _, n in ipairs(names) do
        local id = n:match("^(.*)%.json$")
        if id and not id:match("%.report$") then ids[#ids + 1] = id end
      end
      assert.are.equal(1, #ids, "one run journal")
      return ids[1]
    end

    it("resumes after a kill at every step boundary without repeating a step", function()
      for boundary = 1, 4 do
        helpers.remove_tree(dir)
        dir = helpers.tmpdir()
        local log_file = dir .. "/steps.log"
        local killed = ferry_run({ "run", "counting", "--set", "log=" .. log_file }, { KILL_AFTER = "s" .. boundary })
        assert.are.equal(137, killed.code)
        local resumed = ferry_run({ "run", "--resume", only_run_id() })
        assert.are.equal(0, resumed.code, resumed.stderr)
        assert.are.same({ "s1", "s2", "s3", "s4", "s5" }, lines_of(log_file))
        local journal = json.decode(helpers.read_file(dir .. "/state/runs/" .. only_run_id() .. ".json"))
        assert.are.equal("succeeded", journal.status)
        assert.are.equal(5, journal.state.s5)
      end
    end)

    it("never leaves a corrupt journal when killed at any moment", function()
      local log_file = dir .. "/steps.log"
      local env = { FERRY_STATE_DIR = dir .. "/state", FERRY_RECIPES = FIXTURES, STEPS = "40", SLOW = "0.05" }
      local p = exec.spawn { argv = { helpers.ferry_bin(), "run", "counting", "--set", "log=" .. log_file }, env = env }
      local journal_path
      for _ = 1, 12 do
        task.sleep(0.01 + math.random() * 0.03)
        journal_path = journal_path or (function()
          local names = sys.listdir(dir .. "/state/runs") or {}
          for _, n in ipairs(names) do
            if n:match("%.json$") and not n:match("report") and not n:match("%.tmp%.") then
              return dir .. "/state/runs/" .. n
            end
          end
        end)()
        if journal_path then
          local ok, decoded = pcall(json.decode, helpers.read_file(journal_path))
          assert.is_true(ok, "the journal decodes at every moment")
          assert.is_string(decoded.status)
        end
      end
      p:kill("KILL")
      p:wait()
      assert.is_string(journal_path, "the run wrote its journal")
      local ok = pcall(json.decode, helpers.read_file(journal_path))
      assert.is_true(ok, "the journal decodes after SIGKILL")
      local resumed = ferry_run({ "run", "--resume", only_run_id() }, { STEPS = "40" })
      assert.are.equal(0, resumed.code, resumed.stderr)
      local seen = {}
      for _, line in ipairs(lines_of(log_file)) do
        assert.is_nil(seen[line], line .. " ran twice")
        seen[line] = true
      end
    end)

    it("rolls back on failure, lists the run and refuses to resume it", function()
      local log_file = dir .. "/steps.log"
      local r = ferry_run({ "run", "counting", "--set", "log=" .. log_file }, { FAIL_AT = "s3" })
      assert.are.equal(1, r.code)
      assert.are.same({ "s1", "s2", "s3", "undo s3", "undo s2", "undo s1" }, lines_of(log_file))
      local runs = ferry_run { "runs" }
      assert.matches("counting%s+rolled_back", runs.stdout)
      local again = ferry_run { "run", "--resume", only_run_id() }
      assert.are.equal(1, again.code)
      assert.matches("rolled back: start a new run", again.stderr)
    end)

    it("prints a recipe's parameters with --help and checks them", function()
      local r = ferry_run { "run", "counting", "--help" }
      assert.are.equal(0, r.code)
      assert.matches("%-%-set log=<string>%s+file the steps append to %[required%]", r.stdout)
      r = ferry_run { "run", "counting" }
      assert.are.equal(2, r.code)
      assert.matches("missing required parameter log", r.stderr)
      assert.matches("Run 'ferry run counting %-%-help' for its parameters", r.stderr)
    end)

    it("plans with --dry-run and writes nothing", function()
      local r = ferry_run { "plan", "counting", "--set", "log=/nonexistent/x" }
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("Plan of counting %(5 steps; nothing is changed%)", r.stdout)
      assert.is_nil(sys.stat(dir .. "/state/runs"))
    end)

    it("lists, shows and copies recipes", function()
      local list = ferry_run { "recipes", "list" }
      assert.matches("counting%s+" .. FIXTURES:gsub("%p", "%%%0"), list.stdout)
      local copy = ferry_run { "recipes", "copy", "counting", dir .. "/mine.lua" }
      assert.are.equal(0, copy.code, copy.stderr)
      assert.are.equal(helpers.read_file(FIXTURES .. "/counting.lua"), helpers.read_file(dir .. "/mine.lua"))
      local again = ferry_run { "recipes", "copy", "counting", dir .. "/mine.lua" }
      assert.are.equal(2, again.code)
      assert.matches("exists already", again.stderr)
    end)
  end)
end)

describe("recipe engine, a run killed while rolling back", function()
  it("finishes the rollback on resume instead of running the steps again", function()
    local helpers = require "tests.spec.support.helpers"
    local json = require "json"
    local log = require "log"
    local dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() }
    local events = {}
    local function step(name)
      return { name = name, run = function() events[#events + 1] = "run " .. name end,
               undo = function() events[#events + 1] = "undo " .. name end }
    end
    local r = recipe { name = "half-undone", steps = { step("a"), step("b"), step("c") } }
    -- the journal as a SIGKILL during the undo of b leaves it
    local id = "half-undone-20261125-000000-0001"
    require("ferry.sys").mkdir(dir .. "/runs")
    helpers.write_file(dir .. "/runs/" .. id .. ".json", json.encode {
      id = id, recipe = "half-undone", status = "running", started = "2026-11-25T00:00:00Z",
      params = json.object {}, state = json.object {},
      steps = { { name = "a", status = "done" }, { name = "b", status = "undoing" },
                { name = "c", status = "undone" } },
    })
    local report = recipe.run(r, { resume = id, state_dir = dir, report_dir = dir, output = io.tmpfile() })
    log.configure { stream = io.stderr }
    assert.are.same({ "undo b", "undo a" }, events)
    assert.are.equal("rolled_back", report.status)
    helpers.remove_tree(dir)
  end)
end)
