--- ferry.testing.patch: the three patch formats of the Kubernetes API --
-- JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
-- patch (merge patch where the lists of built-in kinds known by key, e.g.
-- containers by name, are merged item by item; `$patch: delete` and
-- `$patch: replace` directives).
--
-- Each returns the patched copy, or nil and a message.
local json = require "json"
local kinds = require "ferry.testing.kinds"
local values = require "ferry.testing.values"

local patch = {}

local null = json.null

function patch.merge(target, p)
  if not values.is_object(p) then
    return values.copy(p)
  end
  local result = values.is_object(target) and values.copy(target) or json.object()
  for k, v in pairs(p) do
    if v == null then
      result[k] = nil
    else
      result[k] = patch.merge(result[k], v)
    end
  end
  return result
end

-- JSON pointer ("/spec/containers/0/image") to a list of tokens.
local function pointer(path)
  if type(path) ~= "string" or (path ~= "" and path:sub(1, 1) ~= "/") then return nil end
  local tokens = {}
  for token in path:sub(2):gmatch("([^/]*)") do
    tokens[#tokens + 1] = token:gsub("~1", "/"):gsub("~0", "~")
  end
  if path == "" then tokens = {} end
  return tokens
end

local function index_of(container, token, adding)
  if values.is_array(container) or (type(container) == "table" and next(container) == nil
      and getmetatable(container) and getmetatable(container).__jsontype == "array") then
    if token == "-" and adding then return #container + 1, true end
    local n = tonumber(token)
    if not n or math.type(n) ~= "integer" or not token:match("^%d+$") then return nil end
    local i = n + 1
    if i < 1 or i > #container + (adding and 1 or 0) then return nil end
    return i, true
  end
  return token, false
end

local function parent_of(doc, tokens)
  local node = doc
  for i = 1, #tokens - 1 do
    if type(node) ~= "table" then return nil end
    local key = index_of(node, tokens[i], false)
    if key == nil then return nil end
    node = node[key]
  end
  if type(node) ~= "table" or node == null then return nil end
  return node
end

local function get(doc, tokens)
  if #tokens == 0 then return doc end
  local parent = parent_of(doc, tokens)
  if not parent then return nil end
  local key = index_of(parent, tokens[#tokens], false)
  if key == nil then return nil end
  return parent[key]
end

local function add(doc, tokens, value)
  if #tokens == 0 then return value end
  local parent = parent_of(doc, tokens)
  if not parent then return nil, "parent missing" end
  local key, is_array = index_of(parent, tokens[#tokens], true)
  if key == nil then return nil, "bad index" end
  if is_array then
    table.insert(parent, key, value)
  else
    parent[key] = value
  end
  return doc
end

local function remove(doc, tokens)
  local parent = parent_of(doc, tokens)
  if not parent then return nil, "missing" end
  local key, is_array = index_of(parent, tokens[#tokens], false)
  if key == nil or parent[key] == nil then return nil, "missing" end
  local old = parent[key]
  if is_array then table.remove(parent, key) else parent[key] = nil end
  return doc, old
end

function patch.json(target, operations)
  if not values.is_array(operations) then
    return nil, "a JSON patch is a list of operations"
  end
  local doc = values.copy(target)
  for _, op in ipairs(operations) do
    local tokens = pointer(op.path)
    if not tokens then return nil, "bad path " .. tostring(op.path) end
    local err, old
    if op.op == "add" then
      doc, err = add(doc, tokens, values.copy(op.value))
    elseif op.op == "remove" then
      doc, err = remove(doc, tokens)
    elseif op.op == "replace" then
      if get(doc, tokens) == nil then return nil, "replace of a missing path " .. op.path end
      doc, err = remove(doc, tokens)
      if doc then doc, err = add(doc, tokens, values.copy(op.value)) end
    elseif op.op == "move" or op.op == "copy" then
      local from = pointer(op.from)
      if not from then return nil, "bad from " .. tostring(op.from) end
      local value = get(doc, from)
      if value == nil then return nil, "missing from " .. op.from end
      if op.op == "move" then
        doc, old = remove(doc, from)
        value = old
      else
        value = values.copy(value)
      end
      if doc then doc, err = add(doc, tokens, value) end
    elseif op.op == "test" then
      if not values.equal(get(doc, tokens), op.value) then
        return nil, "test failed at " .. op.path
      end
    else
      return nil, "unknown operation " .. tostring(op.op)
    end
    if not doc then return nil, err end
  end
  return doc
end

-- Strategic merge patch.

local function item_index(list, key, value)
  for i, item in ipairs(list) do
    if type(item) == "table" and item[key] == value then return i end
  end
end

local function strategic(target, p, entry, path)
  if not values.is_object(p) then
    return values.copy(p)
  end
  if p["$patch"] == "replace" then
    local copy = values.copy(p)
    copy["$patch"] = nil
    return copy
  end
  if p["$patch"] == "delete" then
    return nil
  end
  local result = values.is_object(target) and values.copy(target) or json.object()
  for k, v in pairs(p) do
    if k:sub(1, 1) == "$" then
      -- other directives ($setElementOrder, $retainKeys) change nothing here
    elseif v == null then
      result[k] = nil
    else
      path[#path + 1] = k
      local key = kinds.strategic_list_key(entry, path)
      if key and values.is_array(v) then
        local list = values.is_array(result[k]) and values.copy(result[k]) or json.array()
        for _, item in ipairs(v) do
          if key == true then
            local found = false
            for _, existing in ipairs(list) do
              if existing == item then found = true end
            end
            if not found then list[#list + 1] = item end
          elseif values.is_object(item) and item[key] ~= nil then
            local at = item_index(list, key, item[key])
            if item["$patch"] == "delete" then
              if at then table.remove(list, at) end
            elseif at then
              list[at] = strategic(list[at], item, entry, path)
            else
              local copy = values.copy(item)
              copy["$patch"] = nil
              list[#list + 1] = copy
            end
          else
            list[#list + 1] = values.copy(item)
          end
        end
        result[k] = list
      else
        result[k] = strategic(result[k], v, entry, path)
      end
      path[#path] = nil
    end
  end
  return result
end

function patch.strategic(target, p, entry)
  return strategic(target, p, entry, {})
end

return patch
