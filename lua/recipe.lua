--- recipe: what users run. A recipe file returns
--
--   recipe {
--     name = "upgrade-cluster", description = "...",
--     params = { {name = "from", required = true, help = "..."}, ... },
--     steps = { {name = "create", run = function(ctx) end, check = ..., undo = ..., plan = ...,
--                timeout = "10m", retries = 2}, ... },
--     hooks = { before_step = fn(ctx, step), after_step = fn(ctx, step), on_failure = fn(ctx, err) },
--     exports = { ... },  -- what other recipes take from this one (recipe.use)
--   }
--
-- recipe.extend(base, overrides) derives a recipe that replaces, inserts or
-- removes steps and adds hooks, so a region or tenant changes one step
-- without copying the file; recipe.use(name) gives another recipe's
-- exports (its step constructors), so recipes compose. The helpers below
-- (recipe.fail, recipe.cluster, recipe.tenants, ...) are what the stock
-- steps are written with. See docs/recipes/writing.md.
local errors = require "ferry.errors"
local file = require "ferry.file"
local params = require "ferry.engine.params"

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
    helpers = def.helpers or {}, exports = def.exports or {}, uses = def.uses or {},
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
  local uses = copy_list(base.uses)
  for _, name in ipairs(overrides.uses or {}) do uses[#uses + 1] = name end
  return recipe.new {
    name = overrides.name or base.name, description = overrides.description or base.description,
    params = declared, steps = steps, hooks = hooks, helpers = helpers, exports = base.exports,
    uses = uses,
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

-- The recipes being loaded, innermost last: {name, dir, uses}. A recipe
-- file that calls recipe.use finds its siblings first (so a copied set of
-- recipes uses its own copies), and records what it uses (for `ferry
-- recipes copy`).
local loading = {}


-- Runs a recipe's chunk with its frame on the loading stack.
local function load_chunk(name, dir, source, chunk)
  for _, frame in ipairs(loading) do
    if frame.name == name then
      local chain = {}
      for _, f in ipairs(loading) do chain[#chain + 1] = f.name end
      chain[#chain + 1] = name
      error(recipe_error("recipes use each other in a circle: " .. table.concat(chain, " -> ")), 0)
    end
  end
  local frame = { name = name, dir = dir, uses = {} }
  loading[#loading + 1] = frame
  local ok, result = pcall(chunk)
  table.remove(loading)
  if not ok then error(result, 0) end
  if getmetatable(result) ~= Recipe then
    error(recipe_error(source .. " does not return a recipe (end it with `return recipe { ... }`)"), 0)
  end
  for _, used in ipairs(frame.uses) do
    local known = false
    for _, u in ipairs(result.uses) do known = known or u == used end
    if not known then result.uses[#result.uses + 1] = used end
  end
  result.source = source
  return result
end

local function load_file(path)
  local chunk, err = loadfile(path)
  if not chunk then error(recipe_error(err), 0) end
  local dir = path:match("^(.*)/[^/]*$") or "."
  if not package.path:find(dir .. "/?.lua", 1, true) then
    package.path = dir .. "/?.lua;" .. package.path
  end
  local name = path:match("([^/]+)%.lua$") or path
  return load_chunk(name, dir, path, chunk)
end

-- A built-in recipe (compiled in, or from the development override path),
-- loaded once as a module is; nil when there is none of that name.
local function load_builtin(name)
  local module = "recipes." .. name
  if getmetatable(package.loaded[module]) == Recipe then return package.loaded[module] end
  for _, searcher in ipairs(package.searchers) do
    local loader, extra = searcher(module)
    if type(loader) == "function" then
      local r = load_chunk(name, nil, "built-in recipes/" .. name .. ".lua",
        function() return loader(module, extra) end)
      package.loaded[module] = r
      return r
    end
  end
  return nil
end

-- The directory of the file a function was defined in, level levels up;
-- nil for a built-in or a string chunk.
local own_source = debug.getinfo(1, "S").source

local function caller_dir(level)
  local source = debug.getinfo(level + 1, "S").source
  if source == own_source then return nil end -- recipe.test and the like
  local path = source:match("^@(.+)$")
  if not path or not file.exists(path) then return nil end
  return path:match("^(.*)/[^/]*$") or "."
end

local function find(name, first_dir)
  local dirs = { first_dir }
  for _, dir in ipairs(recipe.search_dirs()) do dirs[#dirs + 1] = dir end
  for _, dir in ipairs(dirs) do
    local path = dir .. "/" .. name .. ".lua"
    if file.exists(path) then return load_file(path) end
  end
  local builtin = load_builtin(name)
  if builtin then return builtin end
  error(recipe_error(string.format("no recipe named '%s' (searched %s and the built-in recipes; "
    .. "`ferry recipes list` shows them)", name, table.concat(recipe.search_dirs(), ", "))), 0)
end

-- The directory a recipe being loaded looks in first: its own.
local function sibling_dir(level)
  local parent = loading[#loading]
  if parent then return parent.dir end
  -- a recipe file run as a script (`ferry run FILE`); not a tail call,
  -- which would take this frame off the stack
  local dir = caller_dir(level + 1)
  return dir
end

--- Finds a recipe by name (or path) and loads it: the directory of the
-- recipe calling it first (when one does), then recipe.search_dirs(),
-- then the built-in recipes.
function recipe.load(name)
  if type(name) ~= "string" or name == "" then
    error("recipe.load: expected a recipe name or file, got " .. tostring(name), 2)
  end
  if name:match("%.lua$") or name:find("/", 1, true) then
    if not file.exists(name) then error(recipe_error("no recipe file " .. name), 0) end
    return load_file(name)
  end
  return find(name, sibling_dir(2))
end

--- The exports of another recipe (its step constructors and helpers),
-- found as recipe.load finds it: a copy next to the calling recipe first.
-- Recipes compose through it: `local validate = recipe.use
-- "validate-cluster"`, then `validate.validate_cluster("to")` is that
-- recipe's step.
function recipe.use(name)
  if type(name) ~= "string" or name == "" then
    error("recipe.use: expected the name of a recipe, got " .. tostring(name), 2)
  end
  local r = find(name, sibling_dir(2))
  local parent = loading[#loading]
  if parent then parent.uses[#parent.uses + 1] = name end
  return r.exports
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
  if type(fleet) == "string" then fleet = recipe.fleet(fleet, { text = true }) end
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

--- Runs a recipe; see ferry.engine for the options.
function recipe.run(r, options)
  return require("ferry.engine").run(r, options)
end


-- Helpers for steps ---------------------------------------------------------------
-- What the stock steps are written with, for steps of your own.

--- Raises a recipe error: the step fails with message (fields go into
-- the error table, e.g. {problems = {...}}).
function recipe.fail(message, fields)
  error(errors.new("recipe", message, fields), 0)
end

--- The cluster named by the parameter `param` ("from", "to", "cluster");
-- fails the step when the parameter has no value.
function recipe.cluster(ctx, param)
  local name = ctx.params[param]
  if not name then recipe.fail("this step needs the parameter " .. param) end
  return name
end

--- The tenants a step works on: the parameter `tenants` (a list) or
-- `tenant`, else the fleet's tenants of the cluster (Fleet:tenant_names).
function recipe.tenants(ctx, cluster)
  if ctx.params.tenants and #ctx.params.tenants > 0 then return ctx.params.tenants end
  if ctx.params.tenant then return { ctx.params.tenant } end
  return ctx.fleet:tenant_names(cluster)
end

--- A tenant's namespace: its own `namespace` in the fleet's tenants
-- section (not the merged settings, where `namespace` is also a client
-- default), else the tenant's name.
function recipe.tenant_namespace(ctx, tenant)
  local entry = ctx.fleet.tenants[tenant]
  return entry and entry.namespace or tenant
end

--- The Prometheus client of a cluster from its fleet setting prometheus =
-- {url, headers} or {service = "ns/name:port"} (through the cluster's API
-- server).
function recipe.prometheus(ctx, cluster)
  local prom = require "prom"
  local p = ctx.settings(cluster).prometheus
  if not p then recipe.fail("cluster " .. cluster .. " has no prometheus setting in the fleet file") end
  if p.service then return prom.connect { cluster = ctx.k8s[cluster], service = p.service } end
  return prom.connect { url = p.url, headers = p.headers }
end

--- A cluster provider by name (existing, command, k3d, ferry-env): a
-- table of create(ctx, name, settings) -> {context, kubeconfig, created}
-- and delete(ctx, name, settings). See docs/recipes/fleet.md.
function recipe.provider(name)
  return require("ferry.engine.providers").get(name)
end

--- A traffic driver by name (none, command, haproxy): a table of
-- switch(ctx, plan), restore(ctx, previous, plan) and optionally
-- current(ctx, plan). See docs/recipes/fleet.md.
function recipe.traffic_driver(name)
  return require("ferry.engine.traffic").get(name)
end

--- Loads a fleet file (or YAML text with {text = true}); see
-- docs/recipes/fleet.md.
function recipe.fleet(source, options)
  return require("ferry.engine.fleet").load(source, options)
end

return recipe
