--- ferry.testing.fields: field ownership (metadata.managedFields) and
-- server-side apply, as the API server does them for the common cases.
--
-- A field set is a tree in the fieldsV1 format: keys "f:<name>" for map
-- fields, "k:<json>" for items of lists merged by key (containers by
-- name, ...), "v:<json>" for members of sets (finalizers), and "." for
-- the node itself; a leaf is an empty table. Other lists and atomic maps
-- (label selectors) are owned as a whole.
--
-- An apply merges the applied configuration into the live object, owned
-- by the field manager; a field another manager owns and whose value the
-- apply would change is a conflict (unless forced, which moves the
-- ownership); fields the manager applied before and applies no longer are
-- removed unless someone else owns them. Any other write (create, update,
-- patch) makes its manager own the fields it changed.
local json = require "json"
local kinds = require "ferry.testing.kinds"
local values = require "ferry.testing.values"

local fields = {}

local null = json.null

-- metadata set by the server, never owned
local SERVER_METADATA = {
  name = true, namespace = true, uid = true, resourceVersion = true, generation = true,
  creationTimestamp = true, deletionTimestamp = true, deletionGracePeriodSeconds = true,
  managedFields = true, selfLink = true,
}

local function key_of(item, keys)
  local defaults = kinds.key_defaults(keys)
  local key = json.object()
  for _, k in ipairs(keys) do
    local v = item[k]
    if v == nil then v = defaults[k] end
    if v ~= nil then key[k] = v end
  end
  return "k:" .. values.canonical(key)
end

--- The paths of a list's items by their fieldsV1 key.
local function list_items(list, keys, is_set)
  local items = {}
  for i, item in ipairs(list) do
    if is_set then
      items["v:" .. values.canonical(item)] = i
    elseif keys and type(item) == "table" then
      items[key_of(item, keys)] = i
    end
  end
  return items
end

-- Builds the field set of `value` at `path`; `with_dot` marks maps
-- (for the "." entries of Update operations) when it returns true.
local function build(entry, value, path, with_dot, top)
  local tree = {}
  if values.is_object(value) then
    for k, v in pairs(value) do
      local skip = top and (k == "apiVersion" or k == "kind" or k == "status" and entry and entry.status)
      if top == "metadata" and SERVER_METADATA[k] then skip = true end
      if not skip then
        path[#path + 1] = k
        local node
        local keys = values.is_array(v) and kinds.apply_list_keys(entry, path)
        local is_set = values.is_array(v) and kinds.is_set(entry, path)
        if values.is_object(v) and next(v) ~= nil and not kinds.is_atomic_map(entry, path) then
          node = build(entry, v, path, with_dot, k == "metadata" and top and "metadata" or nil)
          if with_dot and next(node) ~= nil and kinds.is_free_map(entry, path) and with_dot(path) then
            node["."] = {}
          end
          if top and k == "metadata" and next(node) == nil then skip = true end
        elseif keys or is_set then
          node = {}
          for _, item in ipairs(v) do
            if is_set then
              node["v:" .. values.canonical(item)] = {}
            elseif type(item) == "table" then
              local child = build(entry, item, path, with_dot)
              child["."] = {}
              node[key_of(item, keys)] = child
            end
          end
        else
          node = {}
        end
        if not skip then tree["f:" .. k] = node end
        path[#path] = nil
      end
    end
  end
  return tree
end

--- The field set of an object (status left out for kinds that have a
-- status subresource; `only_status` for writes to that subresource).
function fields.of(entry, obj, options)
  options = options or {}
  if options.only_status then
    local set = {}
    if obj.status ~= nil then
      set["f:status"] = values.is_object(obj.status) and build(entry, obj.status, { "status" }, options.with_dot) or {}
    end
    return set
  end
  return build(entry, obj, {}, options.with_dot, true)
end

-- Paths owned by a field set, each a list of path elements; "." stands
-- for its parent, so a list item owned through "." is that item's path.
local function owned(tree, prefix, out)
  out = out or {}
  prefix = prefix or {}
  for k, child in pairs(tree) do
    if k == "." then
      local elements = table.move(prefix, 1, #prefix, 1, {})
      elements.dot = true
      out[table.concat(prefix, "\0")] = elements
    else
      prefix[#prefix + 1] = k
      if next(child) == nil then
        out[table.concat(prefix, "\0")] = table.move(prefix, 1, #prefix, 1, {})
      else
        owned(child, prefix, out)
      end
      prefix[#prefix] = nil
    end
  end
  return out
end
fields.owned = owned

local function from_paths(paths)
  local tree = {}
  for _, elements in pairs(paths) do
    local node = tree
    for _, e in ipairs(elements) do
      node[e] = node[e] or {}
      node = node[e]
    end
    if elements.dot then node["."] = {} end
  end
  return tree
end
fields.from_paths = from_paths

-- The value at a path of elements; nil when absent.
local function value_at(obj, elements)
  local node = obj
  for _, e in ipairs(elements) do
    if type(node) ~= "table" or node == null then return nil end
    local kind, rest = e:sub(1, 1), e:sub(3)
    if kind == "f" then
      node = node[rest]
    elseif kind == "k" or kind == "v" then
      if not values.is_array(node) then return nil end
      local found
      for _, item in ipairs(node) do
        if kind == "v" then
          if values.canonical(item) == rest then found = item end
        elseif type(item) == "table" then
          local wanted = json.decode(rest)
          local match = true
          for wk, wv in pairs(wanted) do
            local have = item[wk]
            if have == nil and wk == "protocol" then have = "TCP" end
            if have ~= wv then match = false end
          end
          if match then found = item end
        end
      end
      node = found
    else
      return nil
    end
  end
  return node
end
fields.value_at = value_at

-- Whether a path's value differs between two objects: list items and
-- maps owned through "." only by presence, leaves by value.
local function differs(a, b, elements, dot)
  local va, vb = value_at(a, elements), value_at(b, elements)
  if dot then return (va == nil) ~= (vb == nil) end
  return not values.equal(va, vb)
end

-- Removes the value at a path; true when something was removed.
local function remove_at(obj, elements)
  local parent = value_at(obj, table.move(elements, 1, #elements - 1, 1, {}))
  if type(parent) ~= "table" then return false end
  local e = elements[#elements]
  local kind, rest = e:sub(1, 1), e:sub(3)
  if kind == "f" then
    if parent[rest] == nil then return false end
    parent[rest] = nil
    return true
  end
  for i, item in ipairs(parent) do
    local match
    if kind == "v" then
      match = values.canonical(item) == rest
    else
      local wanted = json.decode(rest)
      match = type(item) == "table"
      for wk, wv in pairs(wanted) do
        local have = item[wk]
        if have == nil and wk == "protocol" then have = "TCP" end
        if have ~= wv then match = false end
      end
    end
    if match then
      table.remove(parent, i)
      return true
    end
  end
  return false
end

-- Merges an applied configuration into the live object: maps field by
-- field, lists merged by key item by item, everything else replaced.
local function merge(entry, live, config, path)
  if not (values.is_object(config) and values.is_object(live)) or (#path > 0 and kinds.is_atomic_map(entry, path)) then
    return values.copy(config)
  end
  local result = values.copy(live)
  for k, v in pairs(config) do
    path[#path + 1] = k
    local keys = values.is_array(v) and kinds.apply_list_keys(entry, path)
    local is_set = values.is_array(v) and kinds.is_set(entry, path)
    if (keys or is_set) and values.is_array(result[k]) then
      local list = result[k]
      local index = list_items(list, keys, is_set)
      for _, item in ipairs(v) do
        local key = is_set and ("v:" .. values.canonical(item)) or (type(item) == "table" and key_of(item, keys))
        local at = key and index[key]
        if at then
          list[at] = is_set and item or merge(entry, list[at], item, path)
        else
          list[#list + 1] = values.copy(item)
          if key then index[key] = #list end
        end
      end
    else
      result[k] = merge(entry, result[k], v, path)
    end
    path[#path] = nil
  end
  return result
end

-- Maps left empty by removals, that nobody owns as a node, are removed
-- too (as the API server prunes them), up to the root.
local function prune(obj, removed_paths, owned_by_anyone)
  for _, elements in ipairs(removed_paths) do
    local parent = table.move(elements, 1, #elements - 1, 1, {})
    while #parent > 0 do
      local node = value_at(obj, parent)
      if not (values.is_object(node) and next(node) == nil) or owned_by_anyone[table.concat(parent, "\0")] then
        break
      end
      remove_at(obj, parent)
      parent[#parent] = nil
    end
  end
end

local function manager_label(m)
  if m.operation == "Update" then
    return string.format("%q using %s", m.manager, m.apiVersion)
  end
  return string.format("%q", m.manager)
end

-- A field path as conflict messages write it: .spec.containers[name="web"].image
local function path_text(elements)
  local parts = {}
  for _, e in ipairs(elements) do
    local kind, rest = e:sub(1, 1), e:sub(3)
    if kind == "f" then
      parts[#parts + 1] = "." .. rest
    elseif kind == "k" then
      local key = json.decode(rest)
      local names = {}
      for name in pairs(key) do names[#names + 1] = name end
      table.sort(names)
      local pairs_text = {}
      for _, name in ipairs(names) do
        local v = key[name]
        pairs_text[#pairs_text + 1] = name .. "=" .. (type(v) == "string" and string.format("%q", v) or tostring(v))
      end
      parts[#parts + 1] = "[" .. table.concat(pairs_text, ",") .. "]"
    elseif kind == "v" then
      parts[#parts + 1] = "[=" .. rest .. "]"
    end
  end
  return table.concat(parts)
end
fields.path_text = path_text

--- The conflict message and Status causes of an apply.
function fields.conflict_status(conflicts)
  local total = 0
  local groups = {}
  for _, c in ipairs(conflicts) do
    total = total + #c.paths
    local texts = {}
    for _, p in ipairs(c.paths) do texts[#texts + 1] = path_text(p) end
    table.sort(texts)
    groups[#groups + 1] = { label = manager_label(c.manager), texts = texts }
  end
  table.sort(groups, function(a, b) return a.label < b.label end)
  local message, causes = {}, {}
  if total == 1 then
    message[1] = string.format("Apply failed with 1 conflict: conflict with %s: %s", groups[1].label, groups[1].texts[1])
  else
    local lines = {}
    for _, g in ipairs(groups) do
      lines[#lines + 1] = "conflicts with " .. g.label .. ":"
      for _, t in ipairs(g.texts) do lines[#lines + 1] = "- " .. t end
    end
    message[1] = string.format("Apply failed with %d conflicts: %s", total, table.concat(lines, "\n"))
  end
  for _, g in ipairs(groups) do
    for _, t in ipairs(g.texts) do
      causes[#causes + 1] = { reason = "FieldManagerConflict", message = "conflict with " .. g.label, field = t }
    end
  end
  return message[1], causes
end

local function managers_of(obj)
  local list = {}
  for _, m in ipairs((obj.metadata or {}).managedFields or {}) do
    list[#list + 1] = {
      manager = m.manager, operation = m.operation, apiVersion = m.apiVersion, time = m.time,
      subresource = m.subresource, paths = owned(m.fieldsV1 or {}),
    }
  end
  return list
end

local function same_manager(m, name, operation, subresource)
  return m.manager == name and m.operation == operation and (m.subresource or "") == (subresource or "")
end

local function paths_equal(a, b)
  for k in pairs(a) do if not b[k] then return false end end
  for k in pairs(b) do if not a[k] then return false end end
  return true
end

local function write_managers(obj, managers, api_version)
  local list = json.array()
  for _, m in ipairs(managers) do
    if next(m.paths) ~= nil then
      list[#list + 1] = {
        manager = m.manager, operation = m.operation, apiVersion = m.apiVersion or api_version,
        time = m.time, fieldsType = "FieldsV1", fieldsV1 = from_paths(m.paths), subresource = m.subresource,
      }
    end
  end
  obj.metadata = obj.metadata or json.object()
  obj.metadata.managedFields = #list > 0 and list or nil
end

--- Records a write other than an apply (operation "Update") by `manager`
-- going from `old` (nil when created) to `new`: it owns what it changed.
function fields.update(entry, old, new, manager, options)
  options = options or {}
  local subresource = options.subresource
  local only_status = subresource == "status"
  local managers = old and managers_of(old) or {}
  local old_obj = old or {}
  local new_set = owned(fields.of(entry, new, {
    only_status = only_status,
    with_dot = function(path)
      return value_at(old_obj, (function()
        local els = {}
        for i, name in ipairs(path) do els[i] = "f:" .. name end
        return els
      end)()) == nil
    end,
  }))
  local changed = {}
  for key, elements in pairs(new_set) do
    if not old or differs(old, new, elements, elements.dot) then changed[key] = elements end
  end
  local removed = {}
  if old then
    local old_set = owned(fields.of(entry, old, { only_status = only_status }))
    for key, elements in pairs(old_set) do
      if not new_set[key] and value_at(new, elements) == nil then removed[key] = elements end
    end
  end
  local mine
  for _, m in ipairs(managers) do
    if same_manager(m, manager, "Update", subresource) then
      mine = m
    else
      for key in pairs(changed) do m.paths[key] = nil end
    end
    for key in pairs(removed) do m.paths[key] = nil end
  end
  if next(changed) ~= nil then
    if not mine then
      mine = { manager = manager, operation = "Update", apiVersion = entry.apiVersion, subresource = subresource,
               paths = {} }
      managers[#managers + 1] = mine
    end
    for key, elements in pairs(changed) do mine.paths[key] = elements end
    mine.time = values.now()
  end
  write_managers(new, managers, entry.apiVersion)
  return new
end

--- Applies `config` (the applied configuration) to `live` (nil to create)
-- for `manager`. Returns the new object, or nil, the conflict message and
-- causes. options.force takes over conflicting fields.
function fields.apply(entry, live, config, manager, options)
  options = options or {}
  local managers = live and managers_of(live) or {}
  local applied_set = owned(fields.of(entry, config))
  local base = live or json.object()
  local merged = merge(entry, base, config, {})
  -- what the apply changes, among the fields it applies
  local changed = {}
  for key, elements in pairs(applied_set) do
    if differs(base, merged, elements, elements.dot) then changed[key] = elements end
  end
  local conflicts = {}
  local mine
  for _, m in ipairs(managers) do
    if same_manager(m, manager, "Apply") then
      mine = m
    elseif not m.subresource then
      local paths = {}
      for key in pairs(changed) do
        if m.paths[key] then paths[#paths + 1] = m.paths[key] end
      end
      if #paths > 0 then conflicts[#conflicts + 1] = { manager = m, paths = paths } end
    end
  end
  if #conflicts > 0 and not options.force then
    local message, causes = fields.conflict_status(conflicts)
    return nil, message, causes
  end
  for _, c in ipairs(conflicts) do
    for _, p in ipairs(c.paths) do c.manager.paths[table.concat(p, "\0")] = nil end
  end
  -- fields this manager applied before and no longer does
  local owned_by_others = {}
  for _, m in ipairs(managers) do
    if m ~= mine then
      for key in pairs(m.paths) do owned_by_others[key] = true end
    end
  end
  local removed_paths = {}
  if mine then
    for key, elements in pairs(mine.paths) do
      if not applied_set[key] and not owned_by_others[key] and remove_at(merged, elements) then
        removed_paths[#removed_paths + 1] = elements
      end
    end
  end
  local owned_by_anyone = {}
  for key in pairs(owned_by_others) do owned_by_anyone[key] = true end
  for key in pairs(applied_set) do owned_by_anyone[key] = true end
  prune(merged, removed_paths, owned_by_anyone)

  local unchanged = live ~= nil and mine ~= nil and paths_equal(mine.paths, applied_set) and #conflicts == 0
  if not mine then
    mine = { manager = manager, operation = "Apply", apiVersion = entry.apiVersion, paths = {} }
    managers[#managers + 1] = mine
  end
  mine.paths = applied_set
  if not unchanged then mine.time = values.now() end
  merged.metadata = merged.metadata or json.object()
  merged.metadata.managedFields = nil
  if live then
    local a, b = values.copy(live), values.copy(merged)
    a.metadata.managedFields = nil
    if unchanged and values.equal(a, b) then
      return live, nil, nil, true
    end
  end
  write_managers(merged, managers, entry.apiVersion)
  return merged
end

return fields
