--- ferry.engine.journal: the state of a run on disk, so an interrupted run resumes
-- without repeating finished steps. One JSON file per run under
-- $FERRY_STATE_DIR/runs (default .ferry/runs), written atomically (temp
-- file, fsync, rename): a kill at any moment leaves the old or the new
-- version, never half of one. Registered secrets are redacted before
-- writing, so they never reach the disk.
local errors = require "ferry.errors"
local file = require "ferry.file"
local json = require "json"
local log = require "log"
local sys = require "ferry.sys"

local journal = {}

local Journal = {}
Journal.__index = Journal

function journal.dir(state_dir)
  local base = state_dir or os.getenv("FERRY_STATE_DIR")
  if not base or base == "" then base = ".ferry" end
  return base .. "/runs"
end

--- Creates a directory and its parents; raises {kind="journal"} naming the one it cannot make.
local function ensure_dir(path)
  local partial = ""
  for part in path:gmatch("[^/]+") do
    partial = (partial == "" and path:sub(1, 1) ~= "/") and part or (partial .. "/" .. part)
    local ok, err = sys.mkdir(partial)
    if not ok then
      error(errors.new("journal", "cannot create " .. partial .. ": " .. tostring(err)), 0)
    end
  end
end

local function new_id(recipe_name)
  local stamp = os.date("!%Y%m%d-%H%M%S")
  local random = string.format("%04x", math.random(0, 0xffff))
  return string.format("%s-%s-%s", recipe_name:gsub("[^%w%-]", "-"), stamp, random)
end

local function iso_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end
journal.now = iso_now

journal.ensure_dir = ensure_dir

--- Starts the journal of a new run.
function journal.create(recipe_name, params, step_names, secret_params, state_dir)
  local data = {
    id = new_id(recipe_name), recipe = recipe_name, status = "running",
    started = iso_now(), params = json.object {}, state = json.object {}, steps = json.array {},
  }
  local secret = {}
  for _, name in ipairs(secret_params or {}) do secret[name] = true end
  for k, v in pairs(params) do
    if not secret[k] then data.params[k] = v end
  end
  for _, name in ipairs(step_names) do
    data.steps[#data.steps + 1] = { name = name, status = "pending" }
  end
  local self = setmetatable({ data = data, dir = journal.dir(state_dir) }, Journal)
  ensure_dir(self.dir)
  self:save()
  return self
end

function Journal:path()
  return self.dir .. "/" .. self.data.id .. ".json"
end

--- Writes the journal atomically.
function Journal:save()
  self.data.updated = iso_now()
  local text = log.redact(json.encode(log.redact_value(self.data), { pretty = true, sort_keys = true }))
  local ok, err = sys.write_atomic(self:path(), text .. "\n")
  if not ok then
    error(errors.new("journal", "cannot write the run journal " .. self:path() .. ": " .. tostring(err)), 0)
  end
end

function Journal:step(name)
  for _, s in ipairs(self.data.steps) do
    if s.name == name then return s end
  end
  local s = { name = name, status = "pending" }
  self.data.steps[#self.data.steps + 1] = s
  return s
end

--- Records a step's new status (and details) and saves.
function Journal:mark(name, status, details)
  local s = self:step(name)
  s.status = status
  for k, v in pairs(details or {}) do s[k] = v end
  self:save()
end

function Journal:finish(status, details)
  self.data.status = status
  self.data.error, self.data.failed_step = nil, nil
  self.data.finished = iso_now()
  for k, v in pairs(details or {}) do self.data[k] = v end
  self:save()
end

-- What a journal must hold, field by field: a journal of valid JSON but of
-- another shape (edited by hand, written by another program) is refused
-- here, naming the field, rather than failing later inside a step.
local FIELDS = { id = "string", recipe = "string", status = "string", started = "string",
                 params = "table", state = "table", steps = "table" }
local OPTIONAL = { finished = "string", updated = "string", source = "string", error = "string",
                   failed_step = "string", seconds = "number", report = "table" }

local function shape_problem(data)
  if type(data) ~= "table" or data[1] ~= nil then return "it is not a JSON object" end
  for _, list in ipairs { FIELDS, OPTIONAL } do
    for field, kind in pairs(list) do
      local v = data[field]
      if (v ~= nil or list == FIELDS) and type(v) ~= kind then
        return string.format("field %s should be a %s, not %s", field, kind == "table" and "JSON object or array"
          or kind, v == nil and "missing" or type(v))
      end
    end
  end
  -- the id names the run's files (its lock among them): never a path
  if not data.id:match("^[%w][%w%-_.]*$") or data.id:find("..", 1, true) then
    return string.format("field id %q is not a run id (letters, digits, '-', '_', '.')", data.id)
  end
  for i, step in ipairs(data.steps) do
    if type(step) ~= "table" or type(step.name) ~= "string" or type(step.status) ~= "string" then
      return string.format("steps[%d] should be an object with a name and a status", i)
    end
  end
  return nil
end

-- A kill during a save leaves its temp file (<name>.tmp.<pid>, see
-- sys.write_atomic) behind; one whose process is gone will never be renamed,
-- so it is removed when a run starts and when the runs are listed. A live
-- process's temp file may be about to become its journal: it stays.
local function remove_stale_temps(dir)
  for _, name in ipairs(sys.listdir(dir) or {}) do
    local pid = name:match("%.tmp%.(%d+)$")
    if pid and not sys.stat("/proc/" .. pid) then os.remove(dir .. "/" .. name) end
  end
end

-- Locks ---------------------------------------------------------------------------
-- A run is driven by one process at a time: <id>.lock beside the journal,
-- flock-ed while the run goes on (the kernel drops it when the process
-- dies, so a killed run's lock is never taken for a live one) and holding
-- who drives it.

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local name = f and f:read("l")
  if f then f:close() end
  return name or "unknown host"
end

function journal.lock_path(journal_path)
  return (journal_path:gsub("%.json$", "")) .. ".lock"
end

local function holder_of(path)
  local text = file.read(path)
  if not text then return nil end
  local ok, holder = pcall(json.decode, text)
  return ok and type(holder) == "table" and holder or nil
end

--- Takes the lock of the run whose journal is at journal_path; raises a
-- journal error naming the process that holds it. Returns the lock (a
-- to-be-closed value: release it with lock:release()).
function journal.lock(journal_path, run_id)
  local path = journal.lock_path(journal_path)
  local me = json.encode { host = hostname(), pid = sys.getpid(), since = iso_now() }
  local lock, err, why = sys.lock(path, me)
  if lock then
    remove_stale_temps(journal_path:match("^(.*)/[^/]*$") or ".")
    return lock
  end
  if why == "held" then
    local h = holder_of(path) or {}
    error(errors.new("journal", string.format("run %s is being driven by process %s on %s since %s: "
      .. "wait until it ends, or stop that process (Ctrl-C lets it stop cleanly) and resume",
      run_id, tostring(h.pid or "?"), tostring(h.host or "?"), tostring(h.since or "?"))), 0)
  end
  error(errors.new("journal", "cannot lock run " .. run_id .. ": " .. tostring(err)), 0)
end

--- "running" when a live process drives the run, "interrupted" when its
-- journal says running but no process holds its lock; else the journal's
-- status.
function journal.live_status(data, dir)
  if data.status ~= "running" then return data.status end
  local lock, _, why = sys.lock(journal.lock_path(dir .. "/" .. data.id .. ".json"))
  if lock then
    lock:release()
    return "interrupted"
  end
  return why == "held" and "running" or "interrupted"
end

--- The journal file of a run id (or the path itself).
function journal.path_of(id, state_dir)
  return id:find("/", 1, true) and id or (journal.dir(state_dir) .. "/" .. id .. ".json")
end

--- Loads the journal of a run by id (or by path).
function journal.load(id, state_dir)
  local path = journal.path_of(id, state_dir)
  local text = file.read(path)
  if not text then
    error(errors.new("journal", string.format("no run '%s' (looked for %s); `ferry runs` lists the runs",
      id, path)), 0)
  end
  local ok, data = pcall(json.decode, text)
  local problem
  if ok then problem = shape_problem(data) else problem = errors.format(data) end
  if problem then
    error(errors.new("journal", string.format("the journal %s is not a ferry run journal: %s", path, problem)), 0)
  end
  return setmetatable({ data = data, dir = path:match("^(.*)/[^/]*$") or "." }, Journal)
end

--- Every run journal (of state_dir, default $FERRY_STATE_DIR or .ferry),
-- newest first: {id, recipe, status, started, finished}. A file that is
-- not a journal is left out.
function journal.list(state_dir)
  local dir = journal.dir(state_dir)
  remove_stale_temps(dir)
  local names = sys.listdir(dir) or {}
  local runs = {}
  for _, name in ipairs(names) do
    if name:match("%.json$") and not name:match("%.report%.json$") and not name:match("%.tmp%.") then
      local ok, j = pcall(journal.load, dir .. "/" .. name)
      if ok then runs[#runs + 1] = j.data end
    end
  end
  table.sort(runs, function(a, b) return a.started > b.started end)
  return runs
end

return journal
