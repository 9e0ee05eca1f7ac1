--- ferry.engine: runs a recipe's steps in order with a journal, progress
-- lines, timeouts and retries; on failure undoes the finished steps in
-- reverse (unless keep_on_failure); resumes an interrupted run where it
-- stopped; plans without changing anything.
local errors = require "ferry.errors"
local fleet_module = require "ferry.engine.fleet"
local journal_module = require "ferry.engine.journal"
local log = require "log"
local params_module = require "ferry.engine.params"
local report_module = require "ferry.engine.report"
local sys = require "ferry.sys"
local task = require "task"
local duration = require "ferry.duration"

local engine = {}

local MAX_RETRY_DELAY = 30

local function clients(ctx)
  local cache = {}
  return setmetatable({}, {
    __index = function(_, key)
      if cache[key] then return cache[key] end
      local cluster = key
      if key == "old" and ctx.params.from then cluster = ctx.params.from end
      if key == "new" and ctx.params.to then cluster = ctx.params.to end
      cache[key] = ctx.connect(cluster)
      return cache[key]
    end,
  })
end

local function new_context(r, options, values, journal)
  local ctx = {
    recipe = r, params = values, dry_run = options.dry_run or false,
    run_id = journal and journal.data.id, state = journal and journal.data.state or {},
    fleet = options.fleet, log = log, helpers = r.helpers,
    report = report_module.collector(journal and journal.data),
    journal = journal,
  }
  --- The merged fleet settings of a cluster (and tenant).
  function ctx.settings(cluster, tenant)
    return ctx.fleet:settings(cluster, tenant)
  end
  --- A k8s client of a cluster: its fleet `context` (or the name itself),
  -- `kubeconfig` and `namespace` settings. Replaced by fakes in tests.
  function ctx.connect(cluster)
    if options.connect then return options.connect(cluster, ctx) end
    local s = ctx.fleet:settings(cluster)
    -- a cluster this run created knows its own context (ctx.state.clusters)
    local made = ctx.state.clusters and ctx.state.clusters[cluster] or {}
    return require("k8s").connect { context = made.context or s.context or cluster,
                                    kubeconfig = made.kubeconfig or s.kubeconfig, namespace = s.namespace }
  end
  ctx.k8s = clients(ctx)
  --- Calls a hook of the recipe if it has one.
  function ctx.hook(name, ...)
    local fn = r.hooks[name]
    if fn then return fn(ctx, ...) end
  end
  --- What the current step waits for now (progress line).
  function ctx.status(fmt, ...)
    if ctx.progress then ctx.progress:update(fmt, ...) end
  end
  return ctx
end

local function run_step_once(ctx, step)
  if step.timeout then
    local seconds = duration.check(step.timeout, "step " .. step.name, "timeout")
    return task.timeout(seconds, step.run, ctx)
  end
  return step.run(ctx)
end

-- Runs a step with its retries. Returns ok, err.
local function run_step(ctx, step)
  local attempts = (step.retries or 0) + 1
  local err
  for attempt = 1, attempts do
    local ok, e = pcall(run_step_once, ctx, step)
    if ok then return true end
    err = e
    if errors.is(e, "interrupted") or errors.is(e, "cancelled") or attempt == attempts then break end
    local delay = duration.check(step.retry_delay, "step " .. step.name, "retry_delay", math.min(2 ^ attempt, MAX_RETRY_DELAY))
    log.warn("step %s failed (attempt %d of %d): %s; retrying in %gs", step.name, attempt, attempts,
      errors.format(e), delay)
    task.sleep(delay)
  end
  return false, err
end

-- Undoes, newest first, the finished steps and the failed one (its
-- partial work: undo functions must accept a half-done step).
local function undo_finished(ctx, r, journal)
  for i = #r.steps, 1, -1 do
    local step = r.steps[i]
    local entry = journal:step(step.name)
    if (entry.status == "done" or entry.status == "failed" or entry.status == "undoing") and step.undo then
      local progress = log.progress("undo " .. step.name)
      ctx.progress = progress
      journal:mark(step.name, "undoing")
      local ok, err = pcall(step.undo, ctx)
      if ok then
        journal:mark(step.name, "undone")
        progress:done()
      else
        journal:mark(step.name, "undo_failed", { undo_error = errors.format(err) })
        progress:fail("%s", errors.format(err))
      end
    end
  end
end

-- check, then run with retries: "skipped" | "done", or raises.
local function perform(ctx, step)
  if step.check and step.check(ctx) then return "skipped" end
  local ok, err = run_step(ctx, step)
  if not ok then error(err, 0) end
  return "done"
end

-- Runs the steps not finished yet. Returns nil on success, else the error and the failed step.
local function run_steps(ctx, r, journal)
  for _, step in ipairs(r.steps) do
    local entry = journal:step(step.name)
    if entry.status ~= "done" and entry.status ~= "skipped" then
      local progress = log.progress(step.name)
      ctx.progress = progress
      local started = sys.monotonic()
      journal:mark(step.name, "running", { started = journal_module.now(), attempts = (entry.attempts or 0) + 1 })
      local ok, result = pcall(function()
        ctx.hook("before_step", step)
        return perform(ctx, step)
      end)
      local seconds = sys.monotonic() - started
      if not ok then
        journal:mark(step.name, errors.is(result, "interrupted") and "interrupted" or "failed",
          { finished = journal_module.now(), seconds = seconds, error = errors.format(result) })
        progress:fail("%s", errors.format(result))
        return result, step
      end
      journal:mark(step.name, result, { finished = journal_module.now(), seconds = seconds,
                                        note = result == "skipped" and "already done (check)" or nil })
      if result == "skipped" then progress:done("already done") else progress:done() end
      local hooked, err = pcall(ctx.hook, "after_step", step)
      if not hooked then return err, step end
    end
  end
  return nil
end

local ROLLBACK_STATUSES = { undoing = true, undone = true, undo_failed = true }

local function rollback_started(journal)
  for _, s in ipairs(journal.data.steps) do
    if ROLLBACK_STATUSES[s.status] then return true end
  end
  return false
end

-- Values of parameters declared secret never reach logs, reports or journals.
local function register_secrets(r, values)
  for _, name in ipairs(params_module.secret_names(r.params)) do
    if type(values[name]) == "string" then log.secret(values[name]) end
  end
end

local function check_resumable(r, id, journal)
  if journal.data.recipe ~= r.name then
    error(errors.new("journal", string.format("run %s is of recipe %s, not %s", id, journal.data.recipe,
      r.name)), 0)
  end
  if journal.data.status == "succeeded" then
    error(errors.new("journal", "run " .. id .. " already succeeded: nothing to resume"), 0)
  end
  if journal.data.status == "rolled_back" then
    error(errors.new("journal", "run " .. id .. " failed and was rolled back: start a new run"), 0)
  end
end

-- The journal of the run to resume, and its lock: a second process on the
-- same run stops at the lock; the journal is read again once it is held.
local function resume_journal(r, id, state_dir)
  local journal = journal_module.load(id, state_dir)
  check_resumable(r, id, journal)
  local lock = journal_module.lock(journal:path(), id)
  local ok, err = pcall(function()
    journal = journal_module.load(id, state_dir)
    check_resumable(r, id, journal)
  end)
  if not ok then
    lock:release()
    error(err, 0)
  end
  return journal, lock
end

--- Prints the plan: each step and what it would change. Changes nothing.
function engine.plan(r, options)
  options = options or {}
  local values = params_module.validate(r.name, r.params, options.params or {})
  options.fleet = options.fleet or fleet_module.empty()
  local ctx = new_context(r, { dry_run = true, fleet = options.fleet, connect = options.connect }, values, nil)
  local out = options.output or io.stdout
  out:write(string.format("Plan of %s (%d steps; nothing is changed)\n", r.name, #r.steps))
  for i, step in ipairs(r.steps) do
    out:write(string.format("%2d. %s%s\n", i, step.name, step.description and (" — " .. step.description) or ""))
    if step.plan then
      local ok, lines = pcall(step.plan, ctx)
      if not ok then
        out:write("      (cannot plan: " .. errors.format(lines) .. ")\n")
      else
        if type(lines) == "string" then lines = { lines } end
        for _, line in ipairs(lines or {}) do out:write("      " .. log.redact(line) .. "\n") end
      end
    end
  end
  return true
end

--- Runs a recipe. options = {params = {name = "value"}, fleet = Fleet,
-- dry_run, keep_on_failure, resume = run id, connect = fn(cluster, ctx)
-- (clients; fakes in tests), state_dir (instead of $FERRY_STATE_DIR or
-- .ferry), report_dir, output = file for the report}.
-- Returns the report (a table); report.status is "succeeded", "failed",
-- "rolled_back" or "interrupted".
function engine.run(r, options)
  options = options or {}
  options.fleet = options.fleet or fleet_module.empty()
  if options.dry_run then return engine.plan(r, options) end
  local journal, values, lock
  if options.resume then
    journal, lock = resume_journal(r, options.resume, options.state_dir)
    local raw = {}
    for k, v in pairs(journal.data.params) do raw[k] = v end
    for k, v in pairs(options.params or {}) do raw[k] = v end
    values = params_module.validate(r.name, r.params, raw)
    register_secrets(r, values)
    journal.data.status = "running"
    journal.data.error, journal.data.failed_step = nil, nil
    journal:save()
    log.info("resuming run %s of %s", journal.data.id, r.name)
  else
    values = params_module.validate(r.name, r.params, options.params or {})
    register_secrets(r, values)
    journal = journal_module.create(r.name, values, r:step_names(), params_module.secret_names(r.params),
      options.state_dir)
    journal.data.source = r.source
    journal:save()
    lock = journal_module.lock(journal:path(), journal.data.id)
    log.info("run %s of %s (journal %s)", journal.data.id, r.name, journal:path())
  end
  local _ <close> = lock
  local ctx = new_context(r, options, values, journal)
  local started = sys.monotonic()
  if options.resume and rollback_started(journal) then
    -- killed while undoing: finish the rollback rather than run again
    log.warn("run %s was rolling back when it stopped: finishing the rollback", journal.data.id)
    undo_finished(ctx, r, journal)
    journal:finish("rolled_back", { seconds = sys.monotonic() - started })
    return report_module.write(journal, ctx.report, options), errors.new("recipe", "the run was rolled back")
  end
  local err, failed_step = run_steps(ctx, r, journal)
  local status = "succeeded"
  if err then
    if errors.is(err, "interrupted") then
      status = "interrupted"
    else
      pcall(ctx.hook, "on_failure", err, failed_step)
      if options.keep_on_failure or failed_step.no_rollback then
        -- no_rollback: a step after the point of no return (e.g. retiring
        -- the old cluster once traffic moved) fails without undoing the run
        status = "failed"
      else
        undo_finished(ctx, r, journal)
        status = "rolled_back"
      end
    end
  end
  journal:finish(status, { error = err and errors.format(err) or nil, failed_step = failed_step and failed_step.name,
                           seconds = sys.monotonic() - started })
  local report = report_module.write(journal, ctx.report, options)
  if status == "interrupted" then
    log.warn("interrupted: resume with `ferry run %s --resume %s`", r.name, journal.data.id)
  elseif status ~= "succeeded" then
    log.error("run %s %s: step %s failed: %s", journal.data.id, status == "rolled_back"
      and "failed and was rolled back" or "failed (kept for inspection)", failed_step.name, errors.format(err))
  end
  return report, err
end

return engine
