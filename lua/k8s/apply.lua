--- k8s.apply: server-side apply of objects, lists or multi-document YAML,
-- in the order a cluster can accept them: CRDs first (waiting until they are
-- Established), then Namespaces, then other cluster-scoped objects, then
-- namespaced ones.
local discovery = require "k8s.discovery"
local duration = require "ferry.duration"
local errors = require "ferry.errors"
local json = require "json"
local resources = require "k8s.resources"
local task = require "task"
local yaml = require "yaml"

local apply = {}

local CONCURRENCY = 8

-- Flattens the input into a list of objects.
local function objects_of(input, source)
  if type(input) == "string" then
    local docs = yaml.decode_all(input, { source = source or "manifest" })
    local list = {}
    for _, doc in ipairs(docs) do
      if type(doc) == "table" then list[#list + 1] = doc end
    end
    input = list
  end
  if type(input) ~= "table" then
    error(errors.new("invalid", "apply takes an object, a list of objects or YAML text"), 0)
  end
  if input.kind then input = { input } end
  local flat = {}
  for i, obj in ipairs(input) do
    if type(obj) ~= "table" then
      error(errors.new("invalid", string.format("apply: item %d is not an object", i)), 0)
    end
    if type(obj.kind) == "string" and obj.kind:match("List$") and type(obj.items) == "table" then
      for _, item in ipairs(obj.items) do flat[#flat + 1] = item end
    else
      flat[#flat + 1] = obj
    end
  end
  for i, obj in ipairs(flat) do
    if not obj.apiVersion or not obj.kind or not (obj.metadata and obj.metadata.name) then
      error(errors.new("invalid", string.format("apply: object %d (%s) needs apiVersion, kind and metadata.name",
        i, tostring(obj.kind))), 0)
    end
  end
  return flat
end
apply.objects_of = objects_of

local function tier_of(c, obj)
  if obj.kind == "CustomResourceDefinition" then return 1 end
  if obj.kind == "Namespace" then return 2 end
  local ok, mapping = pcall(discovery.resolve, c, obj.apiVersion, obj.kind)
  -- kinds of CRDs applied in this same call are unknown until tier 1 ran
  if ok and not mapping.namespaced then return 3 end
  return 4
end

local function apply_one(c, obj, options)
  local r = resources.ref_of(obj)
  local mapping, namespace = resources.locate(c, r)
  local body = obj
  if mapping.namespaced and not (obj.metadata and obj.metadata.namespace) then
    body = {}
    for k, v in pairs(obj) do body[k] = v end
    body.metadata = {}
    for k, v in pairs(obj.metadata) do body.metadata[k] = v end
    body.metadata.namespace = namespace
  end
  return c:request {
    method = "PATCH", content_type = "application/apply-patch+yaml",
    path = resources.path(c, mapping, namespace, r.name),
    body = json.encode(body),
    query = { fieldManager = options.field_manager or "ferry",
              force = options.force ~= false and "true" or nil,
              dryRun = options.dry_run and "All" or nil },
  }
end

local function apply_tier(c, objs, options)
  local failures = {}
  local results = resources.each_concurrently(objs, CONCURRENCY, function(obj)
    local ok, result = pcall(apply_one, c, obj, options)
    if ok then return result end
    failures[#failures + 1] = { object = resources.describe(obj), error = result }
    return false
  end)
  if #failures > 0 then
    table.sort(failures, function(a, b) return a.object < b.object end)
    local first = failures[1]
    error(errors.new("apply", string.format("applying %s on %s failed: %s%s", first.object, c.name,
      errors.format(first.error),
      #failures > 1 and string.format(" (and %d more failures)", #failures - 1) or ""),
      { failures = failures, cause = first.error }), 0)
  end
  return results
end

-- An Established CRD reaches the discovery documents a moment later: wait
-- until every version it serves is there, so its objects can be applied.
local function wait_until_discovered(c, crds, timeout)
  local deadline = require("ferry.sys").monotonic() + duration.check(timeout, "c:apply", "wait_crds")
  for _, crd in ipairs(crds) do
    local spec = crd.spec or {}
    local group, kind = spec.group, spec.names and spec.names.kind
    for _, v in ipairs(spec.versions or {}) do
      if group and kind and v.served ~= false then
        local api_version = group .. "/" .. v.name
        while true do
          discovery.invalidate(c)
          local ok = pcall(discovery.resolve, c, api_version, kind)
          if ok then break end
          if require("ferry.sys").monotonic() > deadline then
            error(errors.new("timeout", string.format("%s %s was established but is not served by %s after %s",
              api_version, kind, c.name, duration.show(timeout))), 0)
          end
          task.sleep(0.2)
        end
      end
    end
  end
end

--- c:apply(objects_or_yaml, {field_manager="ferry", force=true, dry_run=false,
-- wait_crds="1m", source=name}) -> the applied objects, in input order.
function apply.apply(c, input, options)
  options = options or {}
  local objs = objects_of(input, options.source)
  local tiers = { {}, {}, {}, {} }
  local position = {}
  for i, obj in ipairs(objs) do
    local t = tier_of(c, obj)
    tiers[t][#tiers[t] + 1] = obj
    position[obj] = i
  end
  local applied = json.array()
  local function keep(list, results)
    for i, obj in ipairs(list) do applied[position[obj]] = results[i] end
  end
  keep(tiers[1], apply_tier(c, tiers[1], options))
  if #tiers[1] > 0 and not options.dry_run then
    for _, crd in ipairs(tiers[1]) do
      c:wait(crd, { condition = "Established", timeout = options.wait_crds or "1m" })
    end
    wait_until_discovered(c, tiers[1], options.wait_crds or "1m")
    -- objects of the new kinds: their scope is known now
    local late = tiers[4]
    tiers[4] = {}
    for _, obj in ipairs(late) do
      local t = tier_of(c, obj)
      tiers[t][#tiers[t] + 1] = obj
    end
  end
  for t = 2, 4 do keep(tiers[t], apply_tier(c, tiers[t], options)) end
  return applied
end

return apply
