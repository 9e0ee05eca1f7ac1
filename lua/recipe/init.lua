--- recipe: what users run. A recipe file returns
--
--   recipe {
--     name = "upgrade-cluster", description = "...",
--     params = { {name = "from", required = true, help = "..."}, ... },
--     steps = { {name = "create", run = function(ctx) end, check = ..., undo = ..., plan = ...,
--                timeout = "10m", retries = 2}, ... },
--     hooks = { before_step = fn(ctx, step), after_step = fn(ctx, step), on_failure = fn(ctx, err) },
--   }
--
-- recipe.extend(base, overrides) derives a recipe that replaces, inserts or
-- removes steps and adds hooks, so a region or tenant changes one step
-- without copying the file. See docs/recipes/writing.md.
local errors = require "ferry.errors"
local file = require "ferry.file"
local params = require "recipe.params"

local recipe = {}

local Recipe = {}
Recipe.__index = Recipe
recipe.Recipe = Recipe

local function recipe_error(message)
  return errors.new("recipe", message)
end

local function check_step(name, step, i)
  if type(step) ~= "table" or type(step.name) ~= "string" or step.name == "" then
    error(recipe_error(string.format("recipe %s: steps[%d] needs a name", name, i)), 0)
  end
  if type(step.run) ~= "function" then
    error(recipe_error(string.format("recipe %s: step %s needs a run(ctx) function", name, step.name)), 0)
  end
  for _, f in ipairs { "check", "undo", "plan" } do
    if step[f] ~= nil and type(step[f]) ~= "function" then
      error(recipe_error(string.format("recipe %s: step %s: %s must be a function", name, step.name, f)), 0)
    end
  end
end

--- Builds and checks a recipe from its definition.
function recipe.new(def)
  if type(def) ~= "table" or type(def.name) ~= "string" then
    error(recipe_error("a recipe needs a name: recipe { name = \"...\", steps = {...} }"), 2)
  end
  local self = setmetatable({
    name = def.name, description = def.description or "",
    params = params.declare(def.name, def.params), steps = {}, hooks = def.hooks or {},
    helpers = def.helpers or {},
  }, Recipe)
  local seen = {}
  for i, step in ipairs(def.steps or {}) do
    check_step(def.name, step, i)
    if seen[step.name] then
      error(recipe_error(string.format("recipe %s: two steps are named %s", def.name, step.name)), 0)
    end
    seen[step.name] = true
    self.steps[i] = step
  end
  if #self.steps == 0 then
    error(recipe_error(string.format("recipe %s has no steps", def.name)), 0)
  end
  return self
end

setmetatable(recipe, { __call = function(_, def) return recipe.new(def) end })

function Recipe:step_index(name)
  for i, s in ipairs(self.steps) do
    if s.name == name then return i end
  end
  return nil
end

function Recipe:step_names()
  local names = {}
  for i, s in ipairs(self.steps) do names[i] = s.name end
  return names
end

local function copy_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

local function as_list(v)
  if type(v) == "table" and v.name then return { v } end
  return v
end

--- Derives a recipe from base (a recipe or a stock recipe's name):
-- overrides = { name, description, params = {extra declarations},
--   steps = { replace = {name = step}, insert_after = {name = step|steps},
--             insert_before = {name = step|steps}, remove = {names} },
--   hooks = { hook_name = fn } }  (a hook added here runs after the base's)
function recipe.extend(base, overrides)
  if type(base) == "string" then base = recipe.load(base) end
  overrides = overrides or {}
  local steps = copy_list(base.steps)
  local changes = overrides.steps or {}
  local function index_of(name, what)
    for i, s in ipairs(steps) do
      if s.name == name then return i end
    end
    error(recipe_error(string.format("recipe.extend(%s): %s names no step '%s' (steps: %s)", base.name,
      what, name, table.concat(base:step_names(), ", "))), 0)
  end
  for name, step in pairs(changes.replace or {}) do
    local i = index_of(name, "replace")
    local replacement = {}
    for k, v in pairs(step) do replacement[k] = v end
    replacement.name = replacement.name or name
    steps[i] = replacement
  end
  for _, name in ipairs(changes.remove or {}) do table.remove(steps, index_of(name, "remove")) end
  for name, added in pairs(changes.insert_after or {}) do
    local i = index_of(name, "insert_after")
    for j, s in ipairs(as_list(added)) do table.insert(steps, i + j, s) end
  end
  for name, added in pairs(changes.insert_before or {}) do
    local i = index_of(name, "insert_before")
    for j, s in ipairs(as_list(added)) do table.insert(steps, i + j - 1, s) end
  end
  local hooks = {}
  for k, v in pairs(base.hooks) do hooks[k] = v end
  for k, fn in pairs(overrides.hooks or {}) do
    local previous = hooks[k]
    hooks[k] = previous and function(...) previous(...) return fn(...) end or fn
  end
  local declared = copy_list(base.params)
  for _, p in ipairs(overrides.params or {}) do declared[#declared + 1] = p end
  local helpers = {}
  for k, v in pairs(base.helpers) do helpers[k] = v end
  for k, v in pairs(overrides.helpers or {}) do helpers[k] = v end
  return recipe.new {
    name = overrides.name or base.name, description = overrides.description or base.description,
    params = declared, steps = steps, hooks = hooks, helpers = helpers,
  }
end

--- Where recipes are found: FERRY_RECIPES (colon-separated dirs), then
-- ./recipes, then the stock recipes built into ferry.
function recipe.search_dirs()
  local dirs = {}
  for dir in (os.getenv("FERRY_RECIPES") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = dir end
  dirs[#dirs + 1] = "recipes"
  return dirs
end

local function load_file(path)
  local chunk, err = loadfile(path)
  if not chunk then error(recipe_error(err), 0) end
  local dir = path:match("^(.*)/[^/]*$") or "."
  if not package.path:find(dir .. "/?.lua", 1, true) then
    package.path = dir .. "/?.lua;" .. package.path
  end
  local result = chunk()
  if getmetatable(result) ~= Recipe then
    error(recipe_error(path .. " does not return a recipe (end it with `return recipe { ... }`)"), 0)
  end
  result.source = path
  return result
end

--- Finds a recipe by name (or path) and loads it.
function recipe.load(name)
  if name:match("%.lua$") or name:find("/", 1, true) then
    if not file.exists(name) then error(recipe_error("no recipe file " .. name), 0) end
    return load_file(name)
  end
  for _, dir in ipairs(recipe.search_dirs()) do
    local path = dir .. "/" .. name .. ".lua"
    if file.exists(path) then
      return load_file(path)
    end
  end
  local ok, stock = pcall(require, "recipes." .. name)
  if ok and getmetatable(stock) == Recipe then
    stock.source = "built-in recipes/" .. name .. ".lua"
    return stock
  end
  if not ok and not tostring(stock):find("module 'recipes." .. name .. "' not found", 1, true) then
    error(stock, 0)
  end
  error(recipe_error(string.format("no recipe named '%s' (searched %s and the built-in recipes; "
    .. "`ferry recipes list` shows them)", name, table.concat(recipe.search_dirs(), ", "))), 0)
end

--- Runs a recipe against fakes, for specs: recipe.test(name_or_recipe,
-- {clusters = {name = testing.fake_cluster{...}}, prom = testing.fake_prom{...}
-- | {name = fake}, params, fleet = Fleet | yaml_text, keep_on_failure})
-- -> report, err. The journal and report go to a temp directory; the
-- report's Markdown is not printed.
function recipe.test(target, options)
  options = options or {}
  local testing = require "ferry.testing"
  local r = type(target) == "string" and recipe.load(target) or target
  local fleet = options.fleet
  if type(fleet) == "string" then fleet = require("recipe.fleet").load(fleet, { text = true }) end
  local dir = os.tmpname()
  os.remove(dir)
  local restore = testing.use { clusters = options.clusters or {}, prom = options.prom }
  local ok, report, err = pcall(recipe.run, r, {
    params = options.params, fleet = fleet, keep_on_failure = options.keep_on_failure,
    connect = testing.connector(options.clusters or {}), state_dir = dir, report_dir = dir,
    output = io.tmpfile(),
  })
  restore()
  require("exec").run { argv = { "rm", "-rf", dir } }
  if not ok then error(report, 0) end
  return report, err
end

--- Runs a recipe; see recipe.engine for the options.
function recipe.run(r, options)
  return require("recipe.engine").run(r, options)
end

return recipe
