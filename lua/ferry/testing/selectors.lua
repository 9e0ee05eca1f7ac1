--- ferry.testing.selectors: label and field selectors as the API server
-- reads them, with its error messages for the ones it refuses.
--
--   labels: "app=web", "app==web", "tier!=db", "env in (prod,stage)",
--           "env notin (dev)", "canary", "!canary", comma-separated (AND)
--   fields: "metadata.name=x", "metadata.namespace!=y", and the few fields
--           each kind supports (involvedObject.* for Events, status.phase
--           for Pods, ...)
local selectors = {}

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Splits on commas outside parentheses.
local function split_requirements(text)
  local parts, depth, start = {}, 0, 1
  for i = 1, #text do
    local c = text:sub(i, i)
    if c == "(" then
      depth = depth + 1
    elseif c == ")" then
      depth = depth - 1
    elseif c == "," and depth == 0 then
      parts[#parts + 1] = text:sub(start, i - 1)
      start = i + 1
    end
  end
  parts[#parts + 1] = text:sub(start)
  return parts
end

--- Parses a label selector; returns a list of requirements or nil and
-- the API server's message.
function selectors.parse_labels(text)
  local requirements = {}
  if text == nil or trim(text) == "" then return requirements end
  for _, part in ipairs(split_requirements(text)) do
    part = trim(part)
    local key, values
    key = part:match("^!%s*([%w%._/%-]+)$")
    if key then
      requirements[#requirements + 1] = { key = key, op = "!exists" }
    else
      local k, op, rest = part:match("^([%w%._/%-]+)%s+(notin)%s*(.*)$")
      if not k then k, op, rest = part:match("^([%w%._/%-]+)%s+(in)%s*(.*)$") end
      if k then
        local inner = rest:match("^%((.*)%)$")
        if not inner then
          local found = rest:match("^(%S+)") or ""
          return nil, string.format("unable to parse requirement: found '%s' expected: '('", found)
        end
        values = {}
        for v in (inner .. ","):gmatch("([^,]*),") do
          values[#values + 1] = trim(v)
        end
        requirements[#requirements + 1] = { key = k, op = op, values = values }
      else
        local ek, eop, ev = part:match("^([%w%._/%-]+)%s*(!=)%s*(.-)$")
        if not ek then ek, eop, ev = part:match("^([%w%._/%-]+)%s*(==)%s*(.-)$") end
        if not ek then ek, eop, ev = part:match("^([%w%._/%-]+)%s*(=)%s*(.-)$") end
        if ek then
          if not ev:match("^[%w%._%-]*$") then
            return nil, string.format("unable to parse requirement: invalid label value: %q", ev)
          end
          requirements[#requirements + 1] = { key = ek, op = eop == "!=" and "!=" or "=", values = { ev } }
        elseif part:match("^[%w%._/%-]+$") then
          requirements[#requirements + 1] = { key = part, op = "exists" }
        else
          return nil, string.format("unable to parse requirement: found '%s', expected: identifier", part)
        end
      end
    end
  end
  return requirements
end

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

--- Whether a labels table satisfies parsed requirements.
function selectors.match_labels(requirements, labels)
  labels = type(labels) == "table" and labels or {}
  for _, r in ipairs(requirements) do
    local value = labels[r.key]
    if r.op == "exists" then
      if value == nil then return false end
    elseif r.op == "!exists" then
      if value ~= nil then return false end
    elseif r.op == "=" or r.op == "in" then
      if value == nil or not contains(r.values, value) then return false end
    elseif r.op == "!=" or r.op == "notin" then
      if value ~= nil and contains(r.values, value) then return false end
    end
  end
  return true
end

-- The fields each kind can be selected on, besides metadata.name and
-- metadata.namespace.
local FIELDS = {
  Event = { "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type" },
  Pod = { "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
          "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName" },
  Secret = { "type" },
  Namespace = { "status.phase" },
  Node = { "spec.unschedulable" },
  Job = { "status.successful" },
  ReplicaSet = { "status.replicas" },
}

local function field_value(obj, field)
  local value = obj
  for part in field:gmatch("[^%.]+") do
    if type(value) ~= "table" then return nil end
    value = value[part]
  end
  if field == "source" and type(obj.source) == "table" then
    value = obj.source.component
  end
  if value == nil then return "" end
  return tostring(value)
end

--- Parses a field selector for a kind; returns requirements or nil and
-- the API server's message.
function selectors.parse_fields(text, kind)
  local requirements = {}
  if text == nil or trim(text) == "" then return requirements end
  local allowed = { ["metadata.name"] = true, ["metadata.namespace"] = true }
  for _, f in ipairs(FIELDS[kind] or {}) do allowed[f] = true end
  for _, part in ipairs(split_requirements(text)) do
    part = trim(part)
    local field, op, value = part:match("^([%w%._]+)%s*(!=)%s*(.*)$")
    if not field then field, op, value = part:match("^([%w%._]+)%s*(==)%s*(.*)$") end
    if not field then field, op, value = part:match("^([%w%._]+)%s*(=)%s*(.*)$") end
    if not field then
      return nil, string.format("invalid selector: '%s'; can't understand '%s'", text, part)
    end
    if not allowed[field] then
      local names = { '"metadata.name"', '"metadata.namespace"' }
      for _, f in ipairs(FIELDS[kind] or {}) do names[#names + 1] = '"' .. f .. '"' end
      return nil, string.format('"%s" is not a known field selector: only %s', field, table.concat(names, ", "))
    end
    requirements[#requirements + 1] = { field = field, op = op == "!=" and "!=" or "=", value = value }
  end
  return requirements
end

function selectors.match_fields(requirements, obj)
  for _, r in ipairs(requirements) do
    local value = field_value(obj, r.field)
    if r.op == "=" and value ~= r.value then return false end
    if r.op == "!=" and value == r.value then return false end
  end
  return true
end

return selectors
