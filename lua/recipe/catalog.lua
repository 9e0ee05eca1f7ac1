--- recipe.catalog: the recipes ferry can find, for `ferry recipes`.
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

--- Writes a recipe's source to dest (a file, or a directory to put NAME.lua in).
function catalog.copy(name, dest)
  local text = catalog.source(name)
  local st = sys.stat(dest)
  if st and st.type == "directory" then dest = dest .. "/" .. name .. ".lua" end
  if sys.stat(dest) then
    error(errors.new("recipe", dest .. " exists already: choose another destination"), 0)
  end
  local ok, err = sys.write_atomic(dest, text)
  if not ok then error(errors.new("recipe", "cannot write " .. dest .. ": " .. tostring(err)), 0) end
  return dest
end

return catalog
