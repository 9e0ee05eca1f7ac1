-- kill -9 at seeded random points of a recipe run and of its undo, then
-- resume: no finished step runs again and none is skipped. Every step and
-- undo appends what it does to a record file (append-only), so what ran is
-- read from the records, not inferred. A process is killed only at an
-- observable point: the step (or undo) chosen for the kill writes a marker
-- and waits there; the spec waits for the marker, then sends SIGKILL. While
-- a process waits so, a second one on the same run must refuse to drive it.
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local journal = require "ferry.engine.journal"
local sys = require "ferry.sys"

local SEED = 20261204 -- the trials are the same on every run
local TRIALS = 30

-- Steps a, b, c, d; with FAIL=1 the last one, e, fails, so the run rolls
-- back: e, d, c, b and a are undone, newest first. HALT names the point
-- (run:NAME or undo:NAME) at which the process writes MARK (the run id)
-- and waits to be killed.
local RECIPE = [[
local recipe = require "recipe"
local task = require "task"

local function record(line)
  local f = assert(io.open(os.getenv("RECORDS"), "a"))
  f:write(line, "\n")
  f:close()
end

local function point(ctx, tag)
  record(tag)
  if os.getenv("HALT") == tag then
    local f = assert(io.open(os.getenv("MARK") .. ".tmp", "w"))
    f:write(ctx.run_id)
    f:close()
    os.rename(os.getenv("MARK") .. ".tmp", os.getenv("MARK"))
    task.sleep(3600) -- killed here
  end
end

local function step(name)
  return {
    name = name,
    run = function(ctx)
      point(ctx, "run:" .. name)
      if name == "e" and os.getenv("FAIL") == "1" then
        record("failed:" .. name)
        error("step e fails on purpose", 0)
      end
      record("done:" .. name)
    end,
    undo = function(ctx)
      point(ctx, "undo:" .. name)
      record("undone:" .. name)
    end,
  }
end

return recipe { name = "killed", steps = { step "a", step "b", step "c", step "d", step "e" } }
]]

local STEPS = { "a", "b", "c", "d", "e" }

-- The points where a process can be killed, in the order a run meets them,
-- with the record that ends each one.
local function points(fail)
  local list = {}
  for _, name in ipairs(STEPS) do
    local ends = (fail and name == "e") and ("failed:" .. name) or ("done:" .. name)
    list[#list + 1] = { tag = "run:" .. name, ends = ends }
  end
  if fail then
    for i = #STEPS, 1, -1 do
      list[#list + 1] = { tag = "undo:" .. STEPS[i], ends = "undone:" .. STEPS[i] }
    end
  end
  return list
end

-- A small generator of its own: the sequence depends on SEED alone, not on
-- what else in the process draws from math.random. (A linear congruential
-- generator's low bits repeat with short periods: its high bits are used.)
local function generator(seed)
  local state = seed
  return function(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return (state // 65536) % n + 1
  end
end

-- What the records must be: each point's record once per process that
-- reached it (the killed ones and the one that went on), then its end.
local function expected_records(list, kills)
  local lines = {}
  for i, p in ipairs(list) do
    for _ = 1, 1 + (kills[i] or 0) do lines[#lines + 1] = p.tag end
    lines[#lines + 1] = p.ends
  end
  return lines
end

local lines_of = helpers.lines

describe("kill -9 during a run and its undo (seed " .. SEED .. ", " .. TRIALS .. " trials)", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir()
    helpers.write_file(dir .. "/killed.lua", RECIPE)
  end)
  after_each(function() helpers.remove_tree(dir) end)

  it("resumes without running a finished step again or skipping one; a second process refuses", function()
    local random = generator(SEED)
    local refusals, rollbacks, undo_kills = 0, 0, 0
    for trial = 1, TRIALS do
      local fail = random(2) == 2
      local list = points(fail)
      if fail then rollbacks = rollbacks + 1 end
      -- 1 to 3 kills at points in run order (the same point may be hit twice)
      local at = {}
      for k = 1, random(3) do at[k] = random(#list) end
      table.sort(at)
      local where = string.format("trial %d (%s, kills at %s)", trial, fail and "rolls back" or "succeeds",
        table.concat((function()
          local tags = {}
          for k, i in ipairs(at) do tags[k] = list[i].tag end
          return tags
        end)(), ", "))

      local trial_dir = string.format("%s/trial-%d", dir, trial)
      journal.ensure_dir(trial_dir)
      local env = { FERRY_STATE_DIR = trial_dir .. "/state", RECORDS = trial_dir .. "/records",
                    FAIL = fail and "1" or "0" }
      local function args(id)
        local a = { "run", dir .. "/killed.lua" }
        if id then
          a[#a + 1] = "--resume"
          a[#a + 1] = id
        end
        return a
      end

      local id
      local kills = {}
      for k, i in ipairs(at) do
        local mark = string.format("%s/mark-%d", trial_dir, k)
        local run_env = { HALT = list[i].tag, MARK = mark }
        for name, value in pairs(env) do run_env[name] = value end
        local process = exec.spawn { argv = { helpers.ferry_bin(), table.unpack(args(id)) }, env = run_env }
        helpers.eventually(function() return sys.stat(mark) or process:finished() end, 30,
          where .. ": the marker at " .. list[i].tag)
        if not sys.stat(mark) then
          error(where .. ": the run ended before " .. list[i].tag .. ": " .. process:wait().stderr, 0)
        end
        id = id or helpers.read_file(mark)

        if random(3) == 1 then
          -- the run is alive and holds its lock: a second process must not drive it
          local before = lines_of(env.RECORDS)
          local second = helpers.ferry({ "run", dir .. "/killed.lua", "--resume", id }, { env = env })
          assert.are_not.equal(0, second.code, where .. ": the second process ran")
          assert.matches("is being driven by process " .. process:pid(), second.stderr)
          assert.are.same(before, lines_of(env.RECORDS), where .. ": the second process ran steps")
          refusals = refusals + 1
        end

        assert(process:kill("KILL"))
        process:wait()
        kills[i] = (kills[i] or 0) + 1
        if list[i].tag:match("^undo:") then undo_kills = undo_kills + 1 end
      end

      local last = helpers.ferry(args(id), { env = env })
      assert.are.equal(fail and 1 or 0, last.code, where .. ": " .. last.stderr)
      assert.are.same(expected_records(list, kills), lines_of(env.RECORDS), where)
      local data = journal.load(id, env.FERRY_STATE_DIR).data
      assert.are.equal(fail and "rolled_back" or "succeeded", data.status, where)
      for _, s in ipairs(data.steps) do
        assert.are.equal(fail and "undone" or "done", s.status, where .. ": step " .. s.name)
      end
    end
    -- what this seed covers: both kinds of run, kills in undo, second processes
    assert.is_true(rollbacks > 0 and rollbacks < TRIALS, "every trial is of one kind: change the seed")
    assert.is_true(undo_kills > 0, "no kill during an undo: change the seed")
    assert.is_true(refusals > 0, "no trial tried a second process: change the seed")
  end)
end)
