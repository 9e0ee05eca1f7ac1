--- k8s.config: kubeconfig files, merged the way kubectl merges them, and
-- the in-cluster service-account configuration.
local errors = require "ferry.errors"
local file = require "ferry.file"
local sys = require "ferry.sys"
local yaml = require "yaml"

local config = {}

local SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

local function config_error(message, fields)
  return errors.new("kubeconfig", message, fields)
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function absolute(path, base)
  if not path or path == "" or path:sub(1, 1) == "/" then return path end
  if path:sub(1, 2) == "~/" then return (os.getenv("HOME") or "") .. path:sub(2) end
  return base .. "/" .. path:gsub("^%./", "")
end

-- Fields holding file paths are relative to the kubeconfig that holds them.
local PATH_FIELDS = {
  cluster = { "certificate-authority" },
  user = { "client-certificate", "client-key", "tokenFile" },
}

local function resolve_paths(entry, kind, base)
  for _, field in ipairs(PATH_FIELDS[kind]) do
    if type(entry[field]) == "string" then entry[field] = absolute(entry[field], base) end
  end
  -- an exec command with a slash is a path relative to the file, as kubectl does
  if kind == "user" and type(entry.exec) == "table" and type(entry.exec.command) == "string"
      and entry.exec.command:find("/", 1, true) then
    entry.exec.command = absolute(entry.exec.command, base)
  end
end

local function decode_file(path)
  local text, err = file.read(path)
  if not text then return nil, err end
  local ok, doc = pcall(yaml.decode, text, { source = path })
  if not ok then
    error(config_error(string.format("%s is not valid YAML: %s", path, errors.format(doc)),
      { path = path }), 0)
  end
  if doc == nil or doc == yaml.null then return {} end
  if type(doc) ~= "table" then
    error(config_error(path .. " is not a kubeconfig (expected a mapping with clusters, users, contexts)",
      { path = path }), 0)
  end
  return doc
end

-- Adds the named entries of one file; the first file to define a name wins.
local function merge_named(into, list, kind, base, path)
  if list == nil or list == yaml.null then return end
  if type(list) ~= "table" then
    error(config_error(string.format("%s: '%ss' must be a list", path, kind), { path = path }), 0)
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or type(item.name) ~= "string" then
      error(config_error(string.format("%s: %ss[%d] has no name", path, kind, i), { path = path }), 0)
    end
    if into[item.name] == nil then
      local entry = item[kind]
      if type(entry) ~= "table" then entry = {} end
      local copy = {}
      for k, v in pairs(entry) do copy[k] = v end
      if kind ~= "context" then resolve_paths(copy, kind, base) end
      copy.source = path
      into[item.name] = copy
    end
  end
end

--- The kubeconfig paths in effect: the explicit one, else $KUBECONFIG (a
-- colon-separated list), else ~/.kube/config.
function config.paths(explicit)
  if explicit then return { explicit } end
  local env = os.getenv("KUBECONFIG")
  local paths = {}
  if env and env ~= "" then
    for p in env:gmatch("[^:]+") do paths[#paths + 1] = p end
    return paths
  end
  local home = os.getenv("HOME")
  if home then paths[1] = home .. "/.kube/config" end
  return paths
end

--- Loads and merges kubeconfig files. options.kubeconfig names one file
-- (which must exist); otherwise missing files of $KUBECONFIG are skipped
-- as kubectl skips them. Returns {clusters, users, contexts,
-- current_context, paths}.
function config.load(options)
  options = options or {}
  local merged = { clusters = {}, users = {}, contexts = {}, paths = {} }
  for _, path in ipairs(config.paths(options.kubeconfig)) do
    local doc, err = decode_file(path)
    if not doc then
      if options.kubeconfig then
        error(config_error(string.format("cannot read kubeconfig %s: %s (check the path, or unset it "
          .. "to use $KUBECONFIG or ~/.kube/config)", path, err), { path = path }), 0)
      end
    else
      merged.paths[#merged.paths + 1] = path
      local base = dirname(path)
      merge_named(merged.clusters, doc.clusters, "cluster", base, path)
      merge_named(merged.users, doc.users, "user", base, path)
      merge_named(merged.contexts, doc.contexts, "context", base, path)
      local current = doc["current-context"]
      if merged.current_context == nil and type(current) == "string" and current ~= "" then
        merged.current_context = current
      end
    end
  end
  return merged
end

--- The names of the contexts, sorted.
function config.context_names(cfg)
  local names = {}
  for name in pairs(cfg.contexts) do names[#names + 1] = name end
  table.sort(names)
  return names
end

--- Resolves a context into {name, cluster, user, namespace, cluster_name,
-- user_name}; raises a kubeconfig error naming what is missing.
function config.resolve(cfg, context_name)
  local where = #cfg.paths > 0 and table.concat(cfg.paths, ":") or "no kubeconfig file"
  if #cfg.paths == 0 then
    error(config_error("no kubeconfig found: set KUBECONFIG, create ~/.kube/config, or pass kubeconfig="), 0)
  end
  local name = context_name or cfg.current_context
  if not name then
    error(config_error(string.format("%s has no current-context: pass context= (one of: %s)", where,
      table.concat(config.context_names(cfg), ", "))), 0)
  end
  local context = cfg.contexts[name]
  if not context then
    error(config_error(string.format("no context '%s' in %s (contexts: %s)", name, where,
      table.concat(config.context_names(cfg), ", ")), { context = name }), 0)
  end
  local cluster = cfg.clusters[context.cluster or ""]
  if not cluster then
    error(config_error(string.format("context '%s' refers to cluster '%s', which is not in %s", name,
      tostring(context.cluster), where), { context = name }), 0)
  end
  if type(cluster.server) ~= "string" or cluster.server == "" then
    error(config_error(string.format("cluster '%s' in %s has no server URL", context.cluster,
      cluster.source)), 0)
  end
  local user = {}
  if context.user and context.user ~= "" then
    user = cfg.users[context.user]
    if not user then
      error(config_error(string.format("context '%s' refers to user '%s', which is not in %s", name,
        context.user, where), { context = name }), 0)
    end
  end
  return {
    name = name, cluster = cluster, user = user,
    cluster_name = context.cluster, user_name = context.user,
    namespace = context.namespace,
  }
end

--- The in-cluster configuration from the service-account files, or nil, why.
function config.in_cluster(dir)
  dir = dir or SERVICE_ACCOUNT_DIR
  local host, port = os.getenv("KUBERNETES_SERVICE_HOST"), os.getenv("KUBERNETES_SERVICE_PORT")
  if not host or host == "" then
    return nil, "KUBERNETES_SERVICE_HOST is not set (not running in a pod?)"
  end
  if not sys.stat(dir .. "/token") then
    return nil, "no service-account token at " .. dir .. "/token"
  end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  local namespace = file.read(dir .. "/namespace")
  return {
    name = "in-cluster",
    cluster = { server = "https://" .. host .. ":" .. ((port and port ~= "") and port or "443"),
                ["certificate-authority"] = dir .. "/ca.crt" },
    user = { tokenFile = dir .. "/token" },
    namespace = namespace and namespace:gsub("%s+$", "") or "default",
  }
end

return config
