--- ferry.engine.fleet: fleet settings from one YAML file, layered
-- defaults → region → cluster → tenant, so a value is written once at the
-- widest level it holds for and overridden where it differs.
--
--   defaults: {flux: {timeout: 10m}, thresholds: {error_rate: {max_delta: 1}}}
--   regions:  {eun: {prometheus: {service: monitoring/prometheus:9090}}}
--   clusters: {prod-eun-2: {region: eun, context: prod-eun-2-admin}}
--   tenants:  {shop: {repo: {url: https://git.example/shop.git, path: ./deploy}}}
local errors = require "ferry.errors"
local yaml = require "yaml"

local fleet = {}

local Fleet = {}
Fleet.__index = Fleet

local function is_map(v)
  return type(v) == "table" and (next(v) == nil or v[1] == nil)
end

--- Deep merge: maps merge key by key, anything else (lists included) is
-- replaced by the later layer.
local function merge(into, layer)
  for k, v in pairs(layer) do
    if is_map(v) and is_map(into[k]) then
      merge(into[k], v)
    elseif is_map(v) then
      into[k] = merge({}, v)
    else
      into[k] = v
    end
  end
  return into
end
fleet.merge = merge

local SECTIONS = { defaults = true, regions = true, clusters = true, tenants = true }

local function kind_of(v)
  if type(v) == "table" then return is_map(v) and "mapping" or "list" end
  return type(v) == "nil" and "null" or type(v)
end

local function shape_error(message)
  error(errors.new("fleet", "the fleet file: " .. message), 0)
end

-- Sections are mappings; regions, clusters and tenants map names to
-- mappings of settings. Checked once at load, so a wrong shape is named
-- here rather than failing inside a step that then rolls back.
local function check_shape(doc)
  if not is_map(doc) then
    shape_error("must be a mapping with the sections defaults, regions, clusters, tenants; it is a " .. kind_of(doc))
  end
  for name in pairs(SECTIONS) do
    local section = doc[name]
    if section ~= nil and not is_map(section) then
      shape_error(string.format("%s must be a mapping of %s, not a %s", name,
        name == "defaults" and "settings" or "names to settings", kind_of(section)))
    end
    if section ~= nil and name ~= "defaults" then
      for key, entry in pairs(section) do
        if not is_map(entry) then
          shape_error(string.format("%s.%s must be a mapping of settings, not a %s", name, tostring(key), kind_of(entry)))
        end
      end
    end
  end
end

--- Reads a fleet file (or YAML text with options.text = true).
function fleet.load(path, options)
  options = options or {}
  local text = path
  if not options.text then
    local err
    text, err = require("ferry.file").read(path)
    if not text then
      error(errors.new("fleet", "cannot read the fleet file " .. path .. ": " .. tostring(err)), 0)
    end
  end
  local ok, doc = pcall(yaml.decode, text, { source = options.text and "fleet" or path })
  if not ok then error(errors.new("fleet", "the fleet file is not valid YAML: " .. errors.format(doc)), 0) end
  if doc == nil or doc == yaml.null then doc = {} end
  check_shape(doc)
  for k in pairs(doc) do
    if not SECTIONS[k] then
      error(errors.new("fleet", string.format("unknown section '%s' in the fleet file (expected defaults, "
        .. "regions, clusters, tenants)", tostring(k))), 0)
    end
  end
  return setmetatable({
    defaults = doc.defaults or {}, regions = doc.regions or {},
    clusters = doc.clusters or {}, tenants = doc.tenants or {}, source = options.text and "fleet" or path,
  }, Fleet)
end

--- An empty fleet (no file given).
function fleet.empty()
  return setmetatable({ defaults = {}, regions = {}, clusters = {}, tenants = {} }, Fleet)
end

--- The settings of a cluster (and optionally a tenant on it):
-- defaults, then the cluster's region, then the cluster, then the tenant.
function Fleet:settings(cluster, tenant)
  local merged = merge({}, self.defaults)
  local cluster_entry = cluster and self.clusters[cluster] or {}
  local region = cluster_entry.region
  if region then
    if not self.regions[region] then
      error(errors.new("fleet", string.format("cluster %s is in region %s, which the fleet file does not define",
        cluster, region)), 0)
    end
    merge(merged, self.regions[region])
  end
  merge(merged, cluster_entry)
  if tenant then
    local t = self.tenants[tenant]
    if not t then
      error(errors.new("fleet", string.format("no tenant '%s' in the fleet file %s", tenant,
        tostring(self.source))), 0)
    end
    merge(merged, t)
    merged.tenant = tenant
  end
  merged.cluster = cluster
  return merged
end

--- The tenant names, sorted (optionally only those listed for a cluster
-- with `tenants: [a, b]` in its merged settings).
function Fleet:tenant_names(cluster)
  local wanted = cluster and self:settings(cluster).tenants
  local names = {}
  if type(wanted) == "table" and #wanted > 0 then
    for _, n in ipairs(wanted) do names[#names + 1] = n end
  else
    for n in pairs(self.tenants) do names[#names + 1] = n end
  end
  table.sort(names)
  return names
end

return fleet
