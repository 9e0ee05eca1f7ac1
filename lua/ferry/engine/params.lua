--- ferry.engine.params: declared parameters of a recipe, checked before it runs.
--
-- A declaration: { name = "to", type = "string"|"number"|"integer"|"boolean"|"list"|"duration",
--   required = true, default = ..., help = "...", choices = {...}, secret = true }
-- Values arrive as strings from `--set k=v`; they are converted to the
-- declared type, and every problem is reported at once, naming the fix.
local errors = require "ferry.errors"

local params = {}

local TYPES = { string = true, number = true, integer = true, boolean = true, list = true, duration = true }
local BOOLEANS = { ["true"] = true, yes = true, ["1"] = true, on = true,
                   ["false"] = false, no = false, ["0"] = false, off = false }

--- Checks a recipe's declarations; returns them as a list in order.
function params.declare(recipe_name, declared)
  local list = {}
  for i, p in ipairs(declared or {}) do
    if type(p) ~= "table" or type(p.name) ~= "string" or not p.name:match("^[%w_.%-]+$") then
      error(errors.new("recipe", string.format("recipe %s: params[%d] needs a name (letters, digits, _ . -)",
        recipe_name, i)), 0)
    end
    p.type = p.type or "string"
    if not TYPES[p.type] then
      error(errors.new("recipe", string.format("recipe %s: param %s has unknown type '%s'", recipe_name,
        p.name, tostring(p.type))), 0)
    end
    list[#list + 1] = p
  end
  return list
end

local function convert(p, value)
  if type(value) ~= "string" then return value end
  if p.type == "number" or p.type == "integer" then
    local n = tonumber(value)
    if not n or (p.type == "integer" and math.type(n) ~= "integer") then
      return nil, string.format("%s must be %s, got '%s'", p.name, p.type == "integer" and "an integer"
        or "a number", value)
    end
    return n
  elseif p.type == "boolean" then
    local b = BOOLEANS[value:lower()]
    if b == nil then return nil, string.format("%s must be true or false, got '%s'", p.name, value) end
    return b
  elseif p.type == "list" then
    local items = {}
    for item in value:gmatch("[^,]+") do items[#items + 1] = item:match("^%s*(.-)%s*$") end
    return items
  elseif p.type == "duration" then
    local seconds, err = require("ferry.duration").parse(value)
    if not seconds then return nil, p.name .. ": " .. err end
    return value
  end
  return value
end

--- Validates raw values (strings from the command line, or typed values
-- from a journal) against the declarations. Returns the typed table, or
-- raises one {kind="params"} error listing every problem.
function params.validate(recipe_name, declared, raw)
  local known, values, problems = {}, {}, {}
  for _, p in ipairs(declared) do
    known[p.name] = true
    local value = raw[p.name]
    if value == nil then value = p.default end
    if value == nil and p.required then
      problems[#problems + 1] = string.format("missing required parameter %s (--set %s=...)%s", p.name,
        p.name, p.help and (": " .. p.help) or "")
    elseif value ~= nil then
      local converted, err = convert(p, value)
      if err then
        problems[#problems + 1] = err
      elseif p.choices then
        local ok = false
        for _, c in ipairs(p.choices) do ok = ok or c == converted end
        if not ok then
          problems[#problems + 1] = string.format("%s must be one of %s, got '%s'", p.name,
            table.concat(p.choices, ", "), tostring(converted))
        end
        values[p.name] = converted
      else
        values[p.name] = converted
      end
    end
  end
  local unknown = {}
  for name in pairs(raw) do
    if not known[name] then unknown[#unknown + 1] = name end
  end
  table.sort(unknown)
  for _, name in ipairs(unknown) do
    problems[#problems + 1] = string.format("unknown parameter %s (see: ferry run %s --help)", name, recipe_name)
  end
  if #problems > 0 then
    error(errors.new("params", string.format("recipe %s: %s", recipe_name, table.concat(problems, "; ")),
      { problems = problems }), 0)
  end
  return values
end

--- Names of the parameters declared secret (never written to a journal).
function params.secret_names(declared)
  local names = {}
  for _, p in ipairs(declared) do
    if p.secret then names[#names + 1] = p.name end
  end
  return names
end

--- The help text of the parameters, for `ferry run NAME --help`.
function params.help(declared)
  if #declared == 0 then return "  (no parameters)" end
  local lines = {}
  for _, p in ipairs(declared) do
    local flags = {}
    if p.required then flags[#flags + 1] = "required" end
    if p.default ~= nil then flags[#flags + 1] = "default " .. tostring(p.default) end
    if p.choices then flags[#flags + 1] = "one of " .. table.concat(p.choices, "|") end
    lines[#lines + 1] = string.format("  --set %-22s %s%s", p.name .. "=<" .. p.type .. ">", p.help or "",
      #flags > 0 and (" [" .. table.concat(flags, ", ") .. "]") or "")
  end
  return table.concat(lines, "\n")
end

return params
