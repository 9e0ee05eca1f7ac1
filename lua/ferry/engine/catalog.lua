--- ferry.engine.catalog: the recipes ferry can find, for `ferry recipes`.
local errors = require "ferry.errors"
local file = require "ferry.file"
local recipe = require "recipe"
local sys = require "ferry.sys"

local catalog = {}

-- The names of the stock recipes compiled into ferry.
local function builtin_names()
  local names = {}
  for _, module in ipairs(sys.embedded_modules()) do
    local name = module:match("^recipes%.([%w%-_]+)$")
    if name then names[#names + 1] = name end
  end
  return names
end

local function describe(name)
  local ok, r = pcall(recipe.load, name)
  if ok then return r.description end
  return "(cannot load: " .. errors.format(r) .. ")"
end

--- {name, origin = "dir path" | "built-in", description}, sorted by name;
-- a recipe in a directory hides the built-in one of the same name.
function catalog.list()
  local seen, entries = {}, {}
  for _, dir in ipairs(recipe.search_dirs()) do
    for _, file in ipairs(sys.listdir(dir) or {}) do
      local name = file:match("^(.+)%.lua$")
      if name and not seen[name] then
        seen[name] = true
        entries[#entries + 1] = { name = name, origin = dir, description = describe(name) }
      end
    end
  end
  for _, name in ipairs(builtin_names()) do
    if not seen[name] then
      seen[name] = true
      entries[#entries + 1] = { name = name, origin = "built-in", description = describe(name) }
    end
  end
  table.sort(entries, function(a, b) return a.name < b.name end)
  return entries
end

--- The source text of a recipe.
function catalog.source(name)
  for _, dir in ipairs(recipe.search_dirs()) do
    local text = file.read(dir .. "/" .. name .. ".lua")
    if text then return text end
  end
  local text = sys.embedded_source("recipes." .. name)
  if text then return text end
  error(errors.new("recipe", "no recipe named '" .. name .. "' (`ferry recipes list` shows them)"), 0)
end

--- The names of the recipes `name` uses (recipe.use), directly or through
-- others, in the order first met.
function catalog.uses(name)
  local order, seen = {}, { [name] = true }
  local queue = { name }
  while #queue > 0 do
    local current = table.remove(queue, 1)
    for _, used in ipairs(recipe.load(current).uses) do
      if not seen[used] then
        seen[used] = true
        order[#order + 1] = used
        queue[#queue + 1] = used
      end
    end
  end
  return order
end

local function copy_error(message)
  return errors.new("recipe", message)
end

--- Writes a recipe's source to dest: into a directory (made when missing)
-- as NAME.lua together with every recipe it uses, so the copy holds the
-- whole procedure and its recipe.use calls find these copies; or, when
-- dest names a .lua file, that recipe alone. Never overwrites: when any
-- file exists, nothing is written. Returns the paths written, and the
-- recipes used but not copied (the .lua case).
function catalog.copy(name, dest)
  local st = sys.stat(dest)
  local to_dir = (st and st.type == "directory") or not dest:match("%.lua$")
  local names = { name }
  local left = catalog.uses(name)
  if to_dir then
    for _, used in ipairs(left) do names[#names + 1] = used end
    left = {}
  end
  local files = {}
  for i, n in ipairs(names) do
    local path = to_dir and (dest:gsub("/+$", "") .. "/" .. n .. ".lua") or dest
    if sys.stat(path) then
      error(copy_error(path .. " exists already: choose another destination (nothing was written)"), 0)
    end
    files[i] = { path = path, text = catalog.source(n) }
  end
  if to_dir and not st then
    local ok, err = sys.mkdir(dest)
    if not ok then error(copy_error("cannot create the directory " .. dest .. ": " .. tostring(err)), 0) end
  end
  local written = {}
  for _, f in ipairs(files) do
    local ok, err = sys.write_atomic(f.path, f.text)
    if not ok then
      error(copy_error("cannot write " .. f.path .. ": " .. tostring(err) .. (#written > 0
        and (" (written before: " .. table.concat(written, ", ") .. ")") or "")), 0)
    end
    written[#written + 1] = f.path
  end
  return written, left
end

return catalog
