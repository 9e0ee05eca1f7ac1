--- recipe.journal: the state of a run on disk, so an interrupted run resumes
-- without repeating finished steps. One JSON file per run under
-- $FERRY_STATE_DIR/runs (default .ferry/runs), written atomically (temp
-- file, fsync, rename): a kill at any moment leaves the old or the new
-- version, never half of one. Registered secrets are redacted before
-- writing, so they never reach the disk.
local errors = require "ferry.errors"
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
  local text = log.redact(json.encode(self.data, { pretty = true, sort_keys = true }))
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

--- Loads the journal of a run by id (or by path).
function journal.load(id, state_dir)
  local path = id:find("/", 1, true) and id or (journal.dir(state_dir) .. "/" .. id .. ".json")
  local text = require("ferry.file").read(path)
  if not text then
    error(errors.new("journal", string.format("no run '%s' (looked for %s); `ferry runs` lists the runs",
      id, path)), 0)
  end
  local ok, data = pcall(json.decode, text)
  if not ok or type(data) ~= "table" or not data.id then
    error(errors.new("journal", string.format("the journal %s is not a ferry run journal: %s", path,
      ok and "missing id" or errors.format(data))), 0)
  end
  return setmetatable({ data = data, dir = path:match("^(.*)/[^/]*$") or "." }, Journal)
end

--- Every run journal, newest first: {id, recipe, status, started, finished}.
function journal.list()
  local names = sys.listdir(journal.dir()) or {}
  local runs = {}
  for _, name in ipairs(names) do
    if name:match("%.json$") and not name:match("%.report%.json$") and not name:match("%.tmp%.") then
      local ok, j = pcall(journal.load, journal.dir() .. "/" .. name)
      if ok then runs[#runs + 1] = j.data end
    end
  end
  table.sort(runs, function(a, b) return (a.started or "") > (b.started or "") end)
  return runs
end

return journal
