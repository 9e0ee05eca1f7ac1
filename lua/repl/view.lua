--- repl.view: Kubernetes objects as people read them — a one-line summary
-- of an object, lists as `kubectl get`-like tables with columns per kind,
-- and the conditions and events of `:describe`. Pure functions of the
-- objects (and of `now`), so they are tested without a cluster.
local status = require "k8s.status"
local timeutil = require "k8s.time"

local view = {}

local MAX_ROWS = 200        -- a longer list ends with "... N more"
local MESSAGE_MIN = 20      -- a long last column is cut to the width, not below this

local function tbl(v)
  return type(v) == "table" and v or {}
end

local function metadata(o) return tbl(o.metadata) end
local function status_of(o) return tbl(o.status) end
local function spec_of(o) return tbl(o.spec) end

local function int(v, default)
  return math.tointeger(tonumber(v)) or default
end

local function age(timestamp, now)
  if type(timestamp) ~= "string" then return "<unknown>" end
  return timeutil.age(timestamp, now)
end

local function condition(o, type_name)
  return status.condition(o, type_name)
end

--- "group" of an apiVersion ("" for the core group).
local function group_of(o)
  local api_version = type(o.apiVersion) == "string" and o.apiVersion or ""
  return api_version:match("^(.*)/[^/]*$") or ""
end

--- True for a Kubernetes object: apiVersion, kind and metadata.name.
function view.is_object(v)
  return type(v) == "table" and type(v.kind) == "string" and type(v.apiVersion) == "string"
    and type(v.metadata) == "table" and type(v.metadata.name) == "string"
end

--- True for a non-empty array of Kubernetes objects (what c:list returns).
function view.is_object_list(v)
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__tostring then return false end
  local n = #v
  if n == 0 then return false end
  for i = 1, n do
    if not view.is_object(v[i]) then return false end
  end
  local keys = 0
  for _ in next, v do keys = keys + 1 end
  return keys == n -- nothing but the array part
end

--- True for the (possibly empty) result of c:list, which carries its
-- resourceVersion in its metatable.
function view.is_list_result(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and type(mt.__index) == "table" and mt.__index.resourceVersion ~= nil
end

-- ---- columns per kind -------------------------------------------------------

local AGE = { "AGE", function(o, now) return age(metadata(o).creationTimestamp, now) end }

local function field(header, get)
  return { header, function(o, now) local v = get(o, now) if v == nil then return "<none>" end return tostring(v) end }
end

local function pod_ready(o)
  local total = #tbl(spec_of(o).containers)
  local ready = 0
  for _, cs in ipairs(tbl(status_of(o).containerStatuses)) do
    if cs.ready == true then ready = ready + 1 end
  end
  return string.format("%d/%d", ready, total)
end

local function pod_status(o)
  if metadata(o).deletionTimestamp then return "Terminating" end
  local s = status_of(o)
  if type(s.reason) == "string" then return s.reason end -- Evicted, ...
  for _, list in ipairs { tbl(s.initContainerStatuses), tbl(s.containerStatuses) } do
    for _, cs in ipairs(list) do
      local state = tbl(cs.state)
      local waiting, terminated = tbl(state.waiting), tbl(state.terminated)
      if type(waiting.reason) == "string" and waiting.reason ~= "" then return waiting.reason end
      if type(terminated.reason) == "string" and terminated.reason ~= "Completed" then
        return terminated.reason
      end
    end
  end
  return s.phase or "Unknown"
end

local function pod_restarts(o)
  local restarts = 0
  for _, cs in ipairs(tbl(status_of(o).containerStatuses)) do
    restarts = restarts + int(cs.restartCount, 0)
  end
  return tostring(restarts)
end

local function replicas(o) return int(spec_of(o).replicas, 1) end
local function count(o, name) return tostring(int(status_of(o)[name], 0)) end

local function ready_condition(o)
  local c = condition(o, "Ready")
  return c and tostring(c.status) or "Unknown"
end

local function ready_message(o)
  local c = condition(o, "Ready")
  local text = c and (c.message or c.reason) or ""
  return (tostring(text):gsub("%s+", " "))
end

local function node_status(o)
  local c = condition(o, "Ready")
  local text = (c and c.status == "True") and "Ready" or "NotReady"
  if spec_of(o).unschedulable then text = text .. ",SchedulingDisabled" end
  return text
end

local function service_ports(o)
  local parts = {}
  for _, p in ipairs(tbl(spec_of(o).ports)) do
    local text = tostring(p.port)
    if p.nodePort then text = text .. ":" .. tostring(p.nodePort) end
    parts[#parts + 1] = text .. "/" .. tostring(p.protocol or "TCP")
  end
  return #parts > 0 and table.concat(parts, ",") or "<none>"
end

local function data_count(o)
  local n = 0
  for _ in pairs(tbl(o.data)) do n = n + 1 end
  for _ in pairs(tbl(o.binaryData)) do n = n + 1 end
  return tostring(n)
end

local function event_object(o)
  local involved = tbl(o.involvedObject)
  return string.format("%s/%s", tostring(involved.kind), tostring(involved.name))
end

local function event_last_seen(o, now)
  return age(o.lastTimestamp or o.eventTime or metadata(o).creationTimestamp, now)
end

local COLUMNS = {
  Pod = { { "READY", pod_ready }, { "STATUS", pod_status }, { "RESTARTS", pod_restarts }, AGE },
  Deployment = {
    { "READY", function(o) return string.format("%d/%d", int(status_of(o).readyReplicas, 0), replicas(o)) end },
    { "UP-TO-DATE", function(o) return count(o, "updatedReplicas") end },
    { "AVAILABLE", function(o) return count(o, "availableReplicas") end },
    AGE,
  },
  StatefulSet = {
    { "READY", function(o) return string.format("%d/%d", int(status_of(o).readyReplicas, 0), replicas(o)) end },
    AGE,
  },
  DaemonSet = {
    { "DESIRED", function(o) return count(o, "desiredNumberScheduled") end },
    { "CURRENT", function(o) return count(o, "currentNumberScheduled") end },
    { "READY", function(o) return count(o, "numberReady") end },
    { "UP-TO-DATE", function(o) return count(o, "updatedNumberScheduled") end },
    { "AVAILABLE", function(o) return count(o, "numberAvailable") end },
    AGE,
  },
  ReplicaSet = {
    { "DESIRED", function(o) return tostring(replicas(o)) end },
    { "CURRENT", function(o) return count(o, "replicas") end },
    { "READY", function(o) return count(o, "readyReplicas") end },
    AGE,
  },
  Job = {
    { "COMPLETIONS", function(o)
      return string.format("%d/%d", int(status_of(o).succeeded, 0), int(spec_of(o).completions, 1))
    end },
    AGE,
  },
  Service = {
    field("TYPE", function(o) return spec_of(o).type or "ClusterIP" end),
    field("CLUSTER-IP", function(o) return spec_of(o).clusterIP end),
    { "PORT(S)", service_ports },
    AGE,
  },
  Namespace = { field("STATUS", function(o) return status_of(o).phase end), AGE },
  Node = {
    { "STATUS", node_status },
    field("VERSION", function(o) return tbl(status_of(o).nodeInfo).kubeletVersion end),
    AGE,
  },
  ConfigMap = { { "DATA", data_count }, AGE },
  Secret = { field("TYPE", function(o) return o.type end), { "DATA", data_count }, AGE },
  Event = {
    { "LAST SEEN", event_last_seen },
    field("TYPE", function(o) return o.type end),
    field("REASON", function(o) return o.reason end),
    { "OBJECT", event_object },
    { "MESSAGE", function(o) return (tostring(o.message or ""):gsub("%s+", " ")) end, long = true },
  },
}

-- Flux objects (*.toolkit.fluxcd.io): the Ready condition and its message.
local FLUX = { { "READY", ready_condition }, { "MESSAGE", ready_message, long = true }, AGE }

-- Flagger Canaries: the phase of the analysis and the traffic weight.
local CANARY = {
  field("STATUS", function(o) return status_of(o).phase end),
  { "WEIGHT", function(o) return count(o, "canaryWeight") end },
  { "FAILED", function(o) return count(o, "failedChecks") end },
  { "LAST TRANSITION", function(o, now) return age(status_of(o).lastTransitionTime, now) end },
  AGE,
}

-- Anything else: its Ready condition when it has one.
local GENERIC_READY = FLUX
local GENERIC = { AGE }

--- The columns (after NAME) for objects like o: a list of
-- {HEADER, fn(o, now) -> text, long = true for a free-text column}.
function view.columns(o)
  local group = group_of(o)
  if group:match("%.toolkit%.fluxcd%.io$") then return FLUX end
  if o.kind == "Canary" and group == "flagger.app" then return CANARY end
  local known = COLUMNS[o.kind]
  if known then return known end
  if condition(o, "Ready") then return GENERIC_READY end
  return GENERIC
end

local function namespaced_name(o)
  local m = metadata(o)
  if type(m.namespace) == "string" and m.namespace ~= "" then return m.namespace .. "/" .. m.name end
  return m.name
end

local NO_READINESS = "no readiness conditions (current)"

--- One line for an object: kind, namespace/name, its columns as
-- key=value, and its readiness from k8s.status.ready.
function view.summary(o, now)
  local parts = { tostring(o.kind) .. " " .. tostring(namespaced_name(o)) }
  local values = {}
  for _, column in ipairs(view.columns(o)) do
    if not column.long then
      local ok, value = pcall(column[2], o, now)
      local key = column[1]:lower():gsub("[^%w]+", "-"):gsub("%-$", "")
      values[#values + 1] = key .. "=" .. (ok and tostring(value):gsub("%s", "_") or "?")
    end
  end
  parts[#parts + 1] = table.concat(values, " ")
  if type(o.status) == "table" then
    local ok, ready, reason, failed = pcall(status.ready, o)
    if ok and reason ~= NO_READINESS then
      local word = ready and "ready" or (failed and "failed" or "not ready")
      parts[#parts + 1] = "[" .. word .. ": " .. tostring(reason):gsub("%s+", " ") .. "]"
    end
  end
  return table.concat(parts, "  ")
end

local function display_width(text)
  return utf8.len(text) or #text
end

local function cut(text, width)
  if display_width(text) <= width then return text end
  if width <= 3 then return text:sub(1, width) end
  local stop = utf8.offset(text, width - 2) or (width - 2)
  return text:sub(1, stop - 1) .. "..."
end

local function pad(text, width)
  return text .. string.rep(" ", width - display_width(text))
end

--- Lays out rows (lists of strings, the first one the headers) in columns
-- three spaces apart; when width is given, the column `flexible` (default:
-- the last) is cut so the lines fit it.
function view.layout(rows, width, flexible)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, display_width(cell))
    end
  end
  local columns = #widths
  flexible = flexible or columns
  if width and columns > 0 then
    local used = 0
    for i = 1, columns do
      if i ~= flexible then used = used + widths[i] + 3 end
    end
    widths[flexible] = math.min(widths[flexible], math.max(MESSAGE_MIN, width - used))
  end
  local lines = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      cell = cut(cell, widths[i])
      cells[i] = i < #row and pad(cell, widths[i]) or cell
    end
    lines[#lines + 1] = (table.concat(cells, "   "):gsub("%s+$", ""))
  end
  return table.concat(lines, "\n")
end

local function one_table(items, now, width)
  local columns = view.columns(items[1])
  local namespaces, first_namespace = false, nil
  for _, o in ipairs(items) do
    local ns = metadata(o).namespace
    if first_namespace == nil then first_namespace = ns or false
    elseif (ns or false) ~= first_namespace then namespaces = true end
  end
  local headers = {}
  if namespaces then headers[#headers + 1] = "NAMESPACE" end
  headers[#headers + 1] = "NAME"
  local flexible
  for _, column in ipairs(columns) do
    headers[#headers + 1] = column[1]
    if column.long then flexible = #headers end
  end
  local rows = { headers }
  for i, o in ipairs(items) do
    if i > MAX_ROWS then break end
    local row = {}
    if namespaces then row[#row + 1] = tostring(metadata(o).namespace or "") end
    row[#row + 1] = tostring(metadata(o).name)
    for _, column in ipairs(columns) do
      local ok, value = pcall(column[2], o, now)
      row[#row + 1] = ok and tostring(value) or "?"
    end
    rows[#rows + 1] = row
  end
  local text = view.layout(rows, width, flexible)
  if #items > MAX_ROWS then
    text = text .. string.format("\n... %d more (index the list, or :yaml it)", #items - MAX_ROWS)
  end
  return text
end

--- A list of objects as `kubectl get` prints it; mixed kinds make one
-- table per kind, in the order they first appear.
function view.table(items, now, width)
  local order, groups = {}, {}
  for _, o in ipairs(items) do
    local key = tostring(o.apiVersion) .. "|" .. tostring(o.kind)
    if not groups[key] then
      groups[key] = {}
      order[#order + 1] = key
    end
    table.insert(groups[key], o)
  end
  if #order == 1 then return one_table(items, now, width) end
  local parts = {}
  for _, key in ipairs(order) do
    local group = groups[key]
    parts[#parts + 1] = group[1].kind .. ":\n" .. one_table(group, now, width)
  end
  return table.concat(parts, "\n\n")
end

--- The conditions of an object as a table (TYPE STATUS REASON AGE MESSAGE),
-- or nil when it has none.
function view.conditions(o, now, width)
  local conditions = tbl(status_of(o).conditions)
  if #conditions == 0 then return nil end
  local rows = { { "TYPE", "STATUS", "REASON", "AGE", "MESSAGE" } }
  for _, c in ipairs(conditions) do
    rows[#rows + 1] = {
      tostring(c.type), tostring(c.status), tostring(c.reason or ""),
      c.lastTransitionTime and age(c.lastTransitionTime, now) or "",
      (tostring(c.message or ""):gsub("%s+", " ")),
    }
  end
  return view.layout(rows, width)
end

--- Events (oldest first) as a table of the last `limit` of them.
function view.events(events, now, width, limit)
  limit = limit or 10
  if #events == 0 then return nil end
  local rows = { { "LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE" } }
  for i = math.max(1, #events - limit + 1), #events do
    local e = events[i]
    rows[#rows + 1] = {
      event_last_seen(e, now), tostring(e.type or ""), tostring(e.reason or ""),
      tostring(e.count or 1), (tostring(e.message or ""):gsub("%s+", " ")),
    }
  end
  return view.layout(rows, width)
end

return view
