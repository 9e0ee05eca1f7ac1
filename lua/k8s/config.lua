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

-- A YAML sequence, or a mapping: what the decoder marked it, else by its keys.
local function table_kind(v)
  if type(v) ~= "table" then return nil end
  local mt = getmetatable(v)
  if mt and mt.__jsontype then return mt.__jsontype == "array" and "list" or "mapping" end
  return (next(v) == nil or v[1] ~= nil) and "list" or "mapping"
end

local function kind_of(v)
  return table_kind(v) or (v == yaml.null and "null") or type(v)
end

-- The kind each field of an entry must have when it is set, as kubectl's
-- strict decoding wants it: a wrong one is refused at load, naming the
-- file, the entry and the field, not met later as a raw Lua error.
local FIELD_KINDS = {
  cluster = {
    server = "string", ["certificate-authority"] = "string", ["certificate-authority-data"] = "string",
    ["tls-server-name"] = "string", ["proxy-url"] = "string", ["insecure-skip-tls-verify"] = "boolean",
    ["disable-compression"] = "boolean", extensions = "list",
  },
  user = {
    token = "string", tokenFile = "string", ["client-certificate"] = "string",
    ["client-certificate-data"] = "string", ["client-key"] = "string", ["client-key-data"] = "string",
    username = "string", password = "string", exec = "mapping", ["auth-provider"] = "mapping",
    as = "string", ["as-uid"] = "string", ["as-groups"] = "list", ["as-user-extra"] = "mapping",
  },
  context = { cluster = "string", user = "string", namespace = "string" },
  exec = {
    command = "string", apiVersion = "string", args = "list", env = "list", installHint = "string",
    provideClusterInfo = "boolean", interactiveMode = "string",
  },
}

-- at = {path, entry}: the file, and the entry as "users[2] 'alice'".
local function shape_error(at, field, want, value)
  if value == nil then
    return config_error(string.format("%s: %s: %s is missing (it should be a %s)", at.path, at.entry,
      field, want), { path = at.path, field = field })
  end
  local shown = (type(value) == "table" or value == yaml.null) and "" or (" (" .. tostring(value) .. ")")
  return config_error(string.format("%s: %s: %s should be a %s, not a %s%s", at.path, at.entry, field,
    want, kind_of(value), shown), { path = at.path, field = field })
end

local function check_fields(entry, kinds, where, prefix)
  for field, want in pairs(kinds) do
    local v = entry[field]
    if v ~= nil and kind_of(v) ~= want then
      error(shape_error(where, prefix .. field, want, v), 0)
    end
  end
end

-- An exec plugin's args are words (numbers taken as text) and its env a
-- list of {name, value}.
local function check_exec(exec, where)
  check_fields(exec, FIELD_KINDS.exec, where, "exec.")
  for i, arg in ipairs(exec.args or {}) do
    if type(arg) ~= "string" and type(arg) ~= "number" then
      error(shape_error(where, string.format("exec.args[%d]", i), "string", arg), 0)
    end
  end
  for i, pair in ipairs(exec.env or {}) do
    local field = string.format("exec.env[%d]", i)
    if table_kind(pair) ~= "mapping" then error(shape_error(where, field, "mapping", pair), 0) end
    if pair.name == nil then error(shape_error(where, field .. ".name", "string", nil), 0) end
    check_fields(pair, { name = "string", value = "string" }, where, field .. ".")
  end
end

local function check_entry(entry, kind, where)
  check_fields(entry, FIELD_KINDS[kind], where, "")
  if kind == "user" and type(entry.exec) == "table" then check_exec(entry.exec, where) end
end

-- A copy of a mapping without its null fields: `token: ~` is no token.
local function without_nulls(mapping)
  local copy = {}
  for k, v in pairs(mapping) do
    if v ~= yaml.null then copy[k] = v end
  end
  return copy
end

-- Adds the named entries of one file; the first file to define a name wins.
local function merge_named(into, list, kind, base, path)
  if list == nil or list == yaml.null then return end
  if table_kind(list) ~= "list" then
    error(config_error(string.format("%s: '%ss' must be a list, not a %s", path, kind, kind_of(list)),
      { path = path }), 0)
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or type(item.name) ~= "string" then
      error(config_error(string.format("%s: %ss[%d] has no name", path, kind, i), { path = path }), 0)
    end
    local where = { path = path, entry = string.format("%ss[%d] '%s'", kind, i, item.name) }
    local entry = item[kind]
    if entry == nil or entry == yaml.null then entry = {} end
    if table_kind(entry) ~= "mapping" then
      error(shape_error(where, kind, "mapping", entry), 0)
    end
    entry = without_nulls(entry)
    if type(entry.exec) == "table" then entry.exec = without_nulls(entry.exec) end
    check_entry(entry, kind, where)
    if into[item.name] == nil then
      local copy = entry
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
-- current_context, paths, missing (the paths skipped)}.
function config.load(options)
  options = options or {}
  local merged = { clusters = {}, users = {}, contexts = {}, paths = {}, missing = {} }
  for _, path in ipairs(config.paths(options.kubeconfig)) do
    local doc, err = decode_file(path)
    if not doc then
      merged.missing[#merged.missing + 1] = path
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

-- Why no kubeconfig was found, naming the paths looked at and the fix.
local function no_kubeconfig(missing)
  local env = os.getenv("KUBECONFIG")
  if env and env ~= "" then
    return string.format("no kubeconfig found: KUBECONFIG names %s, %s: fix KUBECONFIG (a "
      .. "colon-separated list of files), create the file, or pass kubeconfig=", table.concat(missing, ":"),
      #missing == 1 and "which does not exist" or "none of which exists")
  end
  if #missing == 0 then
    return "no kubeconfig found: HOME is not set: set KUBECONFIG, or pass kubeconfig="
  end
  return string.format("no kubeconfig found: %s does not exist: set KUBECONFIG, create %s, "
    .. "or pass kubeconfig=", missing[1], missing[1])
end

--- Resolves a context into {name, cluster, user, namespace, cluster_name,
-- user_name}; raises a kubeconfig error naming what is missing.
function config.resolve(cfg, context_name)
  local where = #cfg.paths > 0 and table.concat(cfg.paths, ":") or "no kubeconfig file"
  if #cfg.paths == 0 then error(config_error(no_kubeconfig(cfg.missing or {})), 0) end
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
