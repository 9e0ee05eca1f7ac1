--- flux: Flux v2 through the k8s client — install the controllers,
-- bootstrap a cluster and its tenants, request and follow reconciliations.
--
--   local flux = require "flux"
--   flux.install(c, { manifests = "clusters/prod/flux-system/gotk-components.yaml" })
--   flux.bootstrap(c, { url = "https://git.example.com/fleet.git", branch = "main",
--                       path = "./clusters/prod-eun-2", secret = { username = "git", token = token } })
--   flux.reconcile(c, "ks/flux-system")
--   flux.wait(c)  -- every Kustomization and HelmRelease, in dependsOn order
--
-- Objects are written with the GA API versions (source/kustomize v1, helm
-- v2) when the cluster serves them, else with the newest version it
-- serves; every served version is read. See docs/modules/flux.md.
local base64 = require "base64"
local errors = require "ferry.errors"
local log = require "log"
local status = require "k8s.status"
local sys = require "ferry.sys"
local task = require "task"
local duration = require "ferry.duration"
local file = require "ferry.file"
local yaml = require "yaml"

local flux = {}

local DEFAULT_NAMESPACE = "flux-system"
local FIELD_MANAGER = "ferry-flux"
local REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
local FORCE_AT = "reconcile.fluxcd.io/forceAt"
local RESET_AT = "reconcile.fluxcd.io/resetAt"

--- The Flux kinds: group, versions newest first (GA first), the
-- controller that reconciles them, and short names.
flux.KINDS = {
  GitRepository = { group = "source.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                    controller = "source-controller", aliases = { "gitrepo", "gitrepository", "source", "git" } },
  OCIRepository = { group = "source.toolkit.fluxcd.io", versions = { "v1", "v1beta2" },
                    controller = "source-controller", aliases = { "ocirepository", "oci" } },
  HelmRepository = { group = "source.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                     controller = "source-controller", aliases = { "helmrepository", "helmrepo" } },
  HelmChart = { group = "source.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                controller = "source-controller", aliases = { "helmchart", "hc" } },
  Bucket = { group = "source.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
             controller = "source-controller", aliases = { "bucket" } },
  Kustomization = { group = "kustomize.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                    controller = "kustomize-controller", aliases = { "ks", "kustomization" } },
  HelmRelease = { group = "helm.toolkit.fluxcd.io", versions = { "v2", "v2beta2", "v2beta1" },
                  controller = "helm-controller", aliases = { "hr", "helmrelease" } },
  Receiver = { group = "notification.toolkit.fluxcd.io", versions = { "v1", "v1beta3", "v1beta2", "v1beta1" },
               controller = "notification-controller", aliases = { "receiver" } },
  Alert = { group = "notification.toolkit.fluxcd.io", versions = { "v1beta3", "v1beta2", "v1beta1" },
            controller = "notification-controller", aliases = { "alert" } },
  Provider = { group = "notification.toolkit.fluxcd.io", versions = { "v1beta3", "v1beta2", "v1beta1" },
               controller = "notification-controller", aliases = { "provider", "alert-provider" } },
  ImageRepository = { group = "image.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                      controller = "image-reflector-controller", aliases = { "imagerepository", "imagerepo" } },
  ImagePolicy = { group = "image.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                  controller = "image-reflector-controller", aliases = { "imagepolicy" } },
  ImageUpdateAutomation = { group = "image.toolkit.fluxcd.io", versions = { "v1", "v1beta2", "v1beta1" },
                            controller = "image-automation-controller", aliases = { "imageupdateautomation", "iua" } },
}

-- The GA version of each group, used when objects are generated without a cluster.
local GA = {
  ["source.toolkit.fluxcd.io"] = "v1", ["kustomize.toolkit.fluxcd.io"] = "v1",
  ["helm.toolkit.fluxcd.io"] = "v2",
}

local ALIAS = {}
for kind, info in pairs(flux.KINDS) do
  ALIAS[kind:lower()] = kind
  for _, a in ipairs(info.aliases) do ALIAS[a] = kind end
end

local function invalid(message, fields)
  return errors.new("invalid", message, fields)
end

local function flux_error(message, fields)
  return errors.new("flux", message, fields)
end

local function describe(ref)
  return string.format("%s %s/%s", ref.kind, tostring(ref.namespace), tostring(ref.name))
end
flux.describe = describe

-- References ---------------------------------------------------------------

--- flux.ref(x [, default_kind]) -> {kind, name, namespace[, apiVersion]}:
-- x is an object, a table {kind, name, namespace} (kind may be an alias:
-- "ks", "hr", "gitrepo"...), or a string "kind/namespace/name" or
-- "kind/name" (namespace flux-system).
function flux.ref(x, default_kind)
  local kind, name, namespace, api_version
  if type(x) == "string" then
    local parts = {}
    for p in x:gmatch("[^/]+") do parts[#parts + 1] = p end
    if #parts == 3 then
      kind, namespace, name = parts[1], parts[2], parts[3]
    elseif #parts == 2 then
      kind, name = parts[1], parts[2]
    elseif #parts == 1 and default_kind then
      kind, name = default_kind, parts[1]
    else
      error(invalid("a Flux reference looks like 'kustomization/namespace/name' or 'ks/name', got '" .. x .. "'"), 0)
    end
  elseif type(x) == "table" then
    local metadata = type(x.metadata) == "table" and x.metadata or {}
    kind = x.kind or default_kind
    name = x.name or metadata.name
    namespace = x.namespace or metadata.namespace
    api_version = x.apiVersion
  else
    error(invalid("a Flux reference must be a string like 'ks/flux-system' or a table {kind, name, namespace}"), 0)
  end
  local canonical = type(kind) == "string" and ALIAS[kind:lower()]
  if not canonical then
    local known = {}
    for k in pairs(flux.KINDS) do known[#known + 1] = k end
    table.sort(known)
    error(invalid(string.format("'%s' is not a Flux kind (Flux kinds: %s)", tostring(kind),
      table.concat(known, ", "))), 0)
  end
  if type(name) ~= "string" or name == "" then
    error(invalid("a Flux reference needs a name: " .. canonical .. "/<namespace>/<name>"), 0)
  end
  return { kind = canonical, name = name, namespace = namespace or DEFAULT_NAMESPACE, apiVersion = api_version }
end

local function served_versions(c, group, kind)
  local found = {}
  for _, e in ipairs(c:kinds()) do
    if e.group == group and e.kind == kind then found[e.version] = e end
  end
  return found
end

--- flux.api_version(c, kind) -> the apiVersion ferry uses for a Flux kind
-- on this cluster: the GA one when served, else the newest served one.
function flux.api_version(c, kind)
  local info = flux.KINDS[kind]
  if not info then error(invalid("'" .. tostring(kind) .. "' is not a Flux kind"), 0) end
  local found = served_versions(c, info.group, kind)
  if next(found) == nil then
    -- installed a moment ago? read discovery again once
    require("k8s.discovery").invalidate(c)
    found = served_versions(c, info.group, kind)
  end
  for _, v in ipairs(info.versions) do
    if found[v] then return info.group .. "/" .. v end
  end
  local any = next(found)
  if any then return info.group .. "/" .. any end
  error(errors.new("unknown_kind", string.format("cluster %s does not serve Flux's %s (%s): install Flux first "
    .. "(flux.install)", c.name, kind, info.group), { object_kind = kind, context = c.name }), 0)
end

local function resolved(c, ref)
  local r = flux.ref(ref)
  if not r.apiVersion then r.apiVersion = flux.api_version(c, r.kind) end
  return r
end

-- Values -------------------------------------------------------------------

-- Go's time.ParseDuration accepts these; Flux rejects anything else. A
-- number of seconds becomes the Go text ("90s", "1500ms").
local function go_duration(value, what)
  if type(value) == "number" then
    local seconds = duration.check(value, nil, what)
    if seconds % 1 == 0 then return string.format("%ds", seconds) end
    return string.format("%dms", math.floor(seconds * 1000 + 0.5))
  end
  if type(value) ~= "string" or value == "" then
    error(invalid(string.format("%s must be a duration like '1m0s' or '10m', got %s", what, tostring(value))), 0)
  end
  local rest = value
  while rest ~= "" do
    local number, unit, tail = rest:match("^(%d+%.?%d*)(%a+)(.*)$")
    if not number or not ({ ns = true, us = true, ms = true, s = true, m = true, h = true })[unit] then
      error(invalid(string.format("%s '%s' is not a valid duration: every number needs a unit (h, m, s), "
        .. "e.g. '2m0s' or '10m'", what, value)), 0)
    end
    rest = tail
  end
  return value
end
flux.duration = go_duration

--- A Kustomization path as Flux writes it: "./clusters/prod" ("./" for the root).
function flux.path(path)
  if path == nil then return "./" end
  if type(path) ~= "string" then error(invalid("path must be a string like './clusters/prod'"), 0) end
  if path:find("%.%.") then error(invalid("path '" .. path .. "' must stay inside the repository (no '..')"), 0) end
  local clean = path:gsub("^%./", ""):gsub("^/+", ""):gsub("/+$", "")
  if clean == "" or clean == "." then return "./" end
  return "./" .. clean
end

local function read_file(path, what)
  local text, err = file.read(path)
  if not text then error(invalid(string.format("%s: cannot read %s: %s", what, path, tostring(err))), 0) end
  return text
end

-- Text that looks like PEM or known_hosts lines is taken as is, else it is a file name.
local function text_or_file(value, what)
  if type(value) ~= "string" or value == "" then return nil end
  if value:find("\n") or value:find("-----BEGIN", 1, true) or value:find(" ", 1, true) then return value end
  return read_file(value, what)
end

-- The labels Flux's CLI puts on what it creates for a tenant, plus the caller's.
local function tenant_labels(tenant, extra)
  local labels = { ["toolkit.fluxcd.io/tenant"] = tenant }
  for k, v in pairs(extra or {}) do labels[k] = tostring(v) end
  return labels
end

--- The Secret Flux's source-controller reads for Git: HTTPS
-- {username, token|password} or SSH {identity, known_hosts}; nil when the
-- secret is only a name (an existing Secret). Values are registered with
-- log.secret, so they never reach the logs.
function flux.git_secret(name, namespace, secret, url)
  if secret == nil or type(secret) == "string" then return nil end
  if type(secret) ~= "table" then
    error(invalid("secret must be a Secret name, {username, token} or {identity, known_hosts}"), 0)
  end
  local data = {}
  local ssh_url = type(url) == "string" and (url:match("^ssh://") or url:match("^[%w._-]+@[^:/]+:"))
  if secret.identity or secret.identity_file then
    if not ssh_url then
      error(invalid(string.format("Secret %s/%s: an SSH key needs an ssh:// URL, got %s (use {username, token} "
        .. "for https)", namespace, name, tostring(url))), 0)
    end
    local identity = text_or_file(secret.identity or secret.identity_file, "identity")
    local known_hosts = text_or_file(secret.known_hosts or secret.known_hosts_file, "known_hosts")
    if not known_hosts then
      error(invalid(string.format("Secret %s/%s: SSH needs known_hosts (the host keys of the Git server, e.g. "
        .. "from `ssh-keyscan host`): Flux refuses to connect without them", namespace, name)), 0)
    end
    data.identity = log.secret(identity)
    if secret.identity_pub then data["identity.pub"] = text_or_file(secret.identity_pub, "identity_pub") end
    data.known_hosts = known_hosts
    if secret.password then data.password = log.secret(secret.password) end
  else
    local token = secret.token or secret.password
    if type(secret.username) ~= "string" or type(token) ~= "string" or token == "" then
      error(invalid(string.format("Secret %s/%s: HTTPS needs {username = ..., token = ...}", namespace, name)), 0)
    end
    if ssh_url then
      error(invalid(string.format("Secret %s/%s: {username, token} is for https URLs; %s needs {identity, known_hosts}",
        namespace, name, url)), 0)
    end
    data.username = secret.username
    data.password = log.secret(token)
    if secret.ca_file or secret.ca then data["ca.crt"] = text_or_file(secret.ca or secret.ca_file, "ca") end
  end
  local encoded = {}
  for k, v in pairs(data) do
    encoded[k] = base64.encode(v)
    if k == "password" or k == "identity" then log.secret(encoded[k]) end
  end
  return { apiVersion = "v1", kind = "Secret", metadata = { name = name, namespace = namespace },
           type = "Opaque", data = encoded }
end

-- spec.ref of a GitRepository: ref = {...} as is, else tag, semver or branch ("main").
local function git_ref(options)
  if type(options.ref) == "table" then
    local ref = {}
    for k, v in pairs(options.ref) do ref[k] = v end
    return ref
  end
  if options.tag then return { tag = options.tag } end
  if options.semver then return { semver = options.semver } end
  return { branch = options.branch or "main" }
end

local function check_url(url, what)
  if type(url) ~= "string" or not (url:match("^https?://") or url:match("^ssh://")) then
    error(invalid(string.format("%s needs url = \"https://...\" or \"ssh://...\", got %s", what, tostring(url))), 0)
  end
end

local function version_of(versions, group)
  return group .. "/" .. ((versions or {})[group] or GA[group])
end

--- flux.objects: the objects of bootstrap and tenant without a cluster
-- (pure functions; versions = {[group] = "v1"} overrides the GA versions).
flux.objects = {}

--- flux.objects.bootstrap{url, branch, path, secret, interval,
-- kustomization_interval, namespace, name, versions} -> the objects
-- `flux bootstrap` leaves in a cluster besides the components:
-- Namespace, Secret (unless secret is a name or absent), GitRepository, Kustomization.
function flux.objects.bootstrap(options)
  if type(options) ~= "table" then error(invalid("flux bootstrap takes a table of options"), 0) end
  check_url(options.url, "flux.bootstrap")
  if options.path == nil then
    error(invalid("flux.bootstrap needs path = the cluster's folder in the repository, "
      .. "e.g. './clusters/prod-eun-2'"), 0)
  end
  local namespace = options.namespace or DEFAULT_NAMESPACE
  local name = options.name or DEFAULT_NAMESPACE
  local secret_name = type(options.secret) == "string" and options.secret or name
  local objects = {
    { apiVersion = "v1", kind = "Namespace", metadata = { name = namespace } },
  }
  local secret = flux.git_secret(secret_name, namespace, options.secret, options.url)
  if secret then objects[#objects + 1] = secret end
  local source_spec = {
    interval = go_duration(options.interval or "1m0s", "interval"),
    ref = git_ref(options),
    url = options.url,
  }
  if options.secret ~= nil then source_spec.secretRef = { name = secret_name } end
  objects[#objects + 1] = {
    apiVersion = version_of(options.versions, "source.toolkit.fluxcd.io"), kind = "GitRepository",
    metadata = { name = name, namespace = namespace }, spec = source_spec,
  }
  objects[#objects + 1] = {
    apiVersion = version_of(options.versions, "kustomize.toolkit.fluxcd.io"), kind = "Kustomization",
    metadata = { name = name, namespace = namespace },
    spec = {
      interval = go_duration(options.kustomization_interval or "10m0s", "kustomization_interval"),
      path = flux.path(options.path),
      prune = options.prune ~= false,
      sourceRef = { kind = "GitRepository", name = name },
    },
  }
  return objects
end

-- The postBuild.substitute map of a tenant: names as Flux accepts them,
-- values as strings (a number or boolean becomes its text).
local function substitutions(vars, tenant)
  if vars == nil then return nil end
  if type(vars) ~= "table" then
    error(invalid("flux.tenant " .. tenant .. ": substitute must be a table {var = value}"), 0)
  end
  local out, any = {}, false
  for k, v in pairs(vars) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      error(invalid(string.format("flux.tenant %s: substitute name %s is not a variable name "
        .. "(letters, digits, '_')", tenant, tostring(k))), 0)
    end
    if type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      error(invalid(string.format("flux.tenant %s: substitute.%s must be a string, got %s", tenant, k, type(v))), 0)
    end
    out[k], any = tostring(v), true
  end
  return any and out or nil
end

--- flux.objects.tenant{name, namespace, labels, role, repo = {url, branch,
-- path, secret, interval}, interval, prune, target_namespace, substitute,
-- versions} ->
-- Namespace, ServiceAccount, RoleBinding, Secret (when repo.secret holds
-- credentials), GitRepository, Kustomization — what `flux create tenant`,
-- `flux create source git` and `flux create kustomization` write.
-- substitute = {var = value} sets the Kustomization's
-- postBuild.substitute: Flux replaces ${var} in the tenant's manifests.
function flux.objects.tenant(options)
  if type(options) ~= "table" then error(invalid("flux.tenant takes a table of options"), 0) end
  local name = options.name
  if type(name) ~= "string" or not name:match("^[a-z0-9][-a-z0-9]*$") or name:match("%-$") or #name > 63 then
    error(invalid("flux.tenant needs name = a DNS label (lower case letters, digits, '-'), got " .. tostring(name)), 0)
  end
  local namespace = options.namespace or name
  local repo = options.repo
  if type(repo) ~= "table" then
    error(invalid("flux.tenant " .. name .. " needs repo = {url = ..., branch = ..., path = ...}"), 0)
  end
  check_url(repo.url, "flux.tenant " .. name .. " repo")
  local role = options.role or "admin"
  if type(role) ~= "string" or role == "" then
    error(invalid("flux.tenant " .. name .. ": role must be a ClusterRole name such as 'admin' or 'edit'"), 0)
  end
  local labels = tenant_labels(name, options.labels)
  local function copy(t)
    local out = {}
    for k, v in pairs(t) do out[k] = v end
    return out
  end
  local objects = {
    { apiVersion = "v1", kind = "Namespace", metadata = { name = namespace, labels = copy(labels) } },
    { apiVersion = "v1", kind = "ServiceAccount",
      metadata = { name = name, namespace = namespace, labels = copy(labels) } },
    { apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",
      metadata = { name = name .. "-reconciler", namespace = namespace, labels = copy(labels) },
      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = role },
      subjects = {
        { apiGroup = "rbac.authorization.k8s.io", kind = "User", name = "gotk:" .. namespace .. ":reconciler" },
        { kind = "ServiceAccount", name = name, namespace = namespace },
      } },
  }
  local secret_name = type(repo.secret) == "string" and repo.secret or name
  local secret = flux.git_secret(secret_name, namespace, repo.secret, repo.url)
  if secret then objects[#objects + 1] = secret end
  local source_spec = { interval = go_duration(repo.interval or "1m0s", "repo.interval"), ref = git_ref(repo),
                        url = repo.url }
  if repo.secret ~= nil then source_spec.secretRef = { name = secret_name } end
  objects[#objects + 1] = {
    apiVersion = version_of(options.versions, "source.toolkit.fluxcd.io"), kind = "GitRepository",
    metadata = { name = name, namespace = namespace }, spec = source_spec,
  }
  local ks_spec = {
    interval = go_duration(options.interval or "5m0s", "interval"),
    path = flux.path(repo.path),
    prune = options.prune ~= false,
    serviceAccountName = name,
    sourceRef = { kind = "GitRepository", name = name },
  }
  if options.target_namespace then ks_spec.targetNamespace = options.target_namespace end
  local substitute = substitutions(options.substitute, name)
  if substitute then ks_spec.postBuild = { substitute = substitute } end
  objects[#objects + 1] = {
    apiVersion = version_of(options.versions, "kustomize.toolkit.fluxcd.io"), kind = "Kustomization",
    metadata = { name = name, namespace = namespace }, spec = ks_spec,
  }
  return objects
end

--- flux.sync_manifests(options) -> the YAML text of gotk-sync.yaml (the
-- GitRepository and Kustomization of flux.objects.bootstrap).
function flux.sync_manifests(options)
  local docs = {}
  for _, obj in ipairs(flux.objects.bootstrap(options)) do
    if obj.kind == "GitRepository" or obj.kind == "Kustomization" then docs[#docs + 1] = obj end
  end
  return "# This manifest was generated by ferry (flux.sync_manifests).\n---\n" .. yaml.encode_all(docs)
end

-- The versions this cluster takes for the groups of generated objects.
local function cluster_versions(c)
  local versions = {}
  for _, kind in ipairs { "GitRepository", "Kustomization" } do
    local group, version = flux.api_version(c, kind):match("^(.-)/(.+)$")
    versions[group] = version
  end
  return versions
end

local function apply_objects(c, objects, options)
  return c:apply(objects, { field_manager = options.field_manager or FIELD_MANAGER, dry_run = options.dry_run })
end

-- Install ------------------------------------------------------------------

local function manifests_text(manifests)
  if type(manifests) ~= "string" or manifests == "" then
    error(invalid("flux.install needs manifests = a path to gotk-components.yaml (or its text)"), 0)
  end
  if manifests:find("\n", 1, true) then return manifests, "flux components" end
  return read_file(manifests, "flux.install manifests"), manifests
end

--- flux.install(c, {manifests = path_or_text, wait = true, timeout = "5m"})
-- -> {version, objects, crds, controllers = {{name, ready, reason}}}:
-- applies the components (CRDs first) and waits until the controllers'
-- Deployments are ready; raises {kind = "flux"} naming those that are not.
function flux.install(c, options)
  options = options or {}
  local text, source = manifests_text(options.manifests)
  local version = text:match("#%s*Flux Version:%s*(%S+)")
  local progress = log.progress("flux install on " .. c.name .. (version and (" (" .. version .. ")") or ""))
  local ok, applied = pcall(c.apply, c, text, { source = source, field_manager = options.field_manager or FIELD_MANAGER,
                                                 wait_crds = options.wait_crds or "2m" })
  if not ok then
    progress:fail("%s", errors.format(applied))
    error(applied, 0)
  end
  local crds, deployments = 0, {}
  for _, obj in ipairs(applied) do
    if obj.kind == "Namespace" and obj.metadata and obj.metadata.deletionTimestamp then
      local message = string.format("namespace %s on %s is being deleted: what was applied into it goes with it; "
        .. "wait until it is gone (c:wait(ns, {deleted = true})) and install again", obj.metadata.name, c.name)
      progress:fail("%s", message)
      error(flux_error(message), 0)
    end
    if obj.kind == "CustomResourceDefinition" then crds = crds + 1 end
    if obj.kind == "Deployment" then deployments[#deployments + 1] = obj end
  end
  local result = { version = version, objects = #applied, crds = crds, controllers = {} }
  if options.wait == false then
    progress:done("%d objects applied (%d CRDs), not waiting for controllers", #applied, crds)
    return result
  end
  progress:update("%d objects applied (%d CRDs); waiting for %d controllers", #applied, crds, #deployments)
  local timeout = duration.check(options.timeout, "flux.install", "timeout", "5m")
  local ready_count = 0
  local fns = {}
  for i, d in ipairs(deployments) do
    fns[i] = function()
      local wait_ok, err = pcall(c.wait, c, d, { timeout = timeout })
      if not wait_ok and (errors.is(err, "cancelled") or errors.is(err, "interrupted")) then error(err, 0) end
      local entry = { name = d.metadata.name, namespace = d.metadata.namespace, ready = wait_ok }
      if wait_ok then
        ready_count = ready_count + 1
        entry.reason = "ready"
        progress:update("%d of %d controllers ready", ready_count, #deployments)
      else
        entry.reason = type(err) == "table" and err.reason or errors.format(err)
        entry.error = err
      end
      return entry
    end
  end
  result.controllers = task.all(fns)
  local not_ready = {}
  for _, entry in ipairs(result.controllers) do
    if not entry.ready then not_ready[#not_ready + 1] = entry.name .. " (" .. tostring(entry.reason) .. ")" end
  end
  if #not_ready > 0 then
    local message = string.format("Flux controllers not ready on %s after %s: %s — check their pods "
      .. "(c:events, c:logs) and the image registry", c.name, duration.show(options.timeout or "5m"),
      table.concat(not_ready, ", "))
    progress:fail("%s", message)
    error(flux_error(message, { not_ready = result.controllers }), 0)
  end
  progress:done("%d controllers ready", #deployments)
  return result
end

-- Bootstrap and tenants ------------------------------------------------------

-- The credentials of the git module from a bootstrap secret.
local function git_auth(secret)
  if type(secret) ~= "table" then return nil end
  if secret.identity or secret.identity_file then
    return { username = secret.username, identity = text_or_file(secret.identity or secret.identity_file, "identity"),
             known_hosts = text_or_file(secret.known_hosts or secret.known_hosts_file, "known_hosts"),
             passphrase = secret.passphrase }
  end
  return { username = secret.username, token = secret.token or secret.password }
end

--- Writes <path>/flux-system/{gotk-sync.yaml, kustomization.yaml[,
-- gotk-components.yaml]} to the repository, commits and pushes them, as
-- `flux bootstrap` does. Returns {commit (nil when nothing changed),
-- folder, files}.
local function commit_to_git(options)
  local has_git, git = pcall(require, "git")
  if not has_git then
    error(errors.new("unsupported", "flux.bootstrap: commit = true is not supported yet: this ferry has no git "
      .. "module. Leave commit unset and push flux.sync_manifests(options) to " .. tostring(options.path)
      .. "/flux-system/gotk-sync.yaml yourself"), 0)
  end
  local dir = os.tmpname()
  os.remove(dir)
  local function cleanup()
    if dir:match("^/tmp/lua_[%w_]+$") then require("exec").run { argv = { "rm", "-rf", dir } } end
  end
  local ok, result = pcall(function()
    local repo <close> = git.clone(options.url, dir, { branch = options.branch or "main",
                                                       auth = git_auth(options.secret) })
    local folder = flux.path(options.path):gsub("^%./?", "")
    folder = (folder == "" and "" or (folder .. "/")) .. "flux-system/"
    local files = {}
    if options.manifests then
      repo:write(folder .. "gotk-components.yaml", (manifests_text(options.manifests)))
      files[#files + 1] = "gotk-components.yaml"
    elseif pcall(repo.read, repo, folder .. "gotk-components.yaml") then
      files[#files + 1] = "gotk-components.yaml" -- already there: keep it in the kustomization
    end
    repo:write(folder .. "gotk-sync.yaml", flux.sync_manifests(options))
    files[#files + 1] = "gotk-sync.yaml"
    repo:write(folder .. "kustomization.yaml", yaml.encode {
      apiVersion = "kustomize.config.k8s.io/v1beta1", kind = "Kustomization", resources = files })
    local commit = repo:commit(options.message or ("Add Flux sync manifests for " .. folder:gsub("/$", "")),
      { author = options.author })
    local pushed
    if commit then pushed = repo:push() end
    return { commit = commit, folder = folder, files = files, pushed = pushed }
  end)
  cleanup()
  if not ok then error(result, 0) end
  return result
end

--- flux.bootstrap(c, {url, branch = "main", path, secret = {username, token}
-- | {identity, known_hosts} | name, interval = "1m0s", kustomization_interval
-- = "10m0s", namespace, name, wait = false, timeout, commit = false,
-- manifests, message, author, dry_run}) -> {objects, source, kustomization[,
-- git]}. commit = true first pushes the sync manifests (and manifests, the
-- components, when given) to <path>/flux-system/ in the repository (not
-- with dry_run); git = {commit, folder, files, pushed}.
function flux.bootstrap(c, options)
  options = options or {}
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.versions = opts.versions or cluster_versions(c)
  local objects = flux.objects.bootstrap(opts)
  -- Git first, as `flux bootstrap` does: the Kustomization must find its path
  local pushed
  if opts.commit and not opts.dry_run then pushed = commit_to_git(opts) end
  local applied = apply_objects(c, objects, opts)
  local source = { kind = "GitRepository", name = opts.name or DEFAULT_NAMESPACE,
                   namespace = opts.namespace or DEFAULT_NAMESPACE }
  local ks = { kind = "Kustomization", name = source.name, namespace = source.namespace }
  local result = { objects = applied, source = source, kustomization = ks, git = pushed }
  if opts.wait then flux.wait(c, { source, ks }, { timeout = opts.timeout }) end
  return result
end

--- flux.tenant(c, options) -> {objects, namespace, source, kustomization}:
-- applies flux.objects.tenant(options) with the cluster's API versions.
function flux.tenant(c, options)
  options = options or {}
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.versions = opts.versions or cluster_versions(c)
  local objects = flux.objects.tenant(opts)
  local applied = apply_objects(c, objects, opts)
  local namespace = opts.namespace or opts.name
  local result = {
    objects = applied, namespace = namespace,
    source = { kind = "GitRepository", name = opts.name, namespace = namespace },
    kustomization = { kind = "Kustomization", name = opts.name, namespace = namespace },
  }
  if opts.wait then flux.wait(c, { result.source, result.kustomization }, { timeout = opts.timeout }) end
  return result
end

-- Readiness ------------------------------------------------------------------

local function condition(obj, type_name)
  return status.condition(obj, type_name)
end

--- flux.ready(c, ref_or_object) -> ok, reason, message, final: the Ready,
-- Stalled and Reconciling conditions read the way `flux get` and kstatus
-- read them. final is true when waiting cannot help (Stalled, or Ready
-- False with nothing in progress).
function flux.ready(c, ref)
  local obj = ref
  if not (type(ref) == "table" and ref.metadata and ref.status ~= nil) then
    obj = c:find(resolved(c, ref))
    if obj == nil then
      local r = flux.ref(ref)
      return false, "NotFound", describe(r) .. " does not exist on " .. c.name, false
    end
  end
  return flux.state(obj)
end

--- flux.state(object) -> ok, reason, message, final (flux.ready without fetching).
function flux.state(obj)
  local metadata, s = obj.metadata or {}, obj.status
  if metadata.deletionTimestamp then return false, "Terminating", "being deleted", false end
  local generation = math.tointeger(tonumber(metadata.generation))
  if type(s) ~= "table" or type(s.conditions) ~= "table" or #s.conditions == 0 then
    local controller = (flux.KINDS[obj.kind] or {}).controller or "its controller"
    return false, "NotReconciled", "no status yet: has " .. controller .. " seen it? (is it running?)", false
  end
  local observed = math.tointeger(tonumber(s.observedGeneration))
  if generation and observed and observed < generation then
    return false, "Progressing", string.format("the controller has not seen generation %d yet (observed %d)",
      generation, observed), false
  end
  local stalled = condition(obj, "Stalled")
  if stalled and stalled.status == "True" then
    return false, stalled.reason or "Stalled", stalled.message or "stalled", true
  end
  local ready = condition(obj, "Ready")
  local reconciling = condition(obj, "Reconciling")
  if ready and generation and ready.observedGeneration and ready.observedGeneration < generation then
    return false, "Progressing", "Ready is from an older generation", false
  end
  if reconciling and reconciling.status == "True" then
    return false, reconciling.reason or "Progressing", reconciling.message or "reconciling", false
  end
  if not ready then return false, "NotReconciled", "no Ready condition yet", false end
  if ready.status == "True" then return true, ready.reason or "Succeeded", ready.message or "", false end
  if ready.status == "False" then return false, ready.reason or "Failed", ready.message or "", true end
  return false, ready.reason or "Unknown", ready.message or "Ready is Unknown", false
end

--- flux.suspended(object) -> true when spec.suspend is set.
local function suspended(obj)
  return type(obj.spec) == "table" and obj.spec.suspend == true
end

-- Reconcile ------------------------------------------------------------------

-- Wall-clock time in nanoseconds: os.time() at load plus the monotonic
-- clock since then (integers: no rounding), so tokens are ordered and never repeat.
local WALL_BASE, MONO_BASE = os.time(), sys.monotonic()
local last_token_nanos = 0
local function request_token()
  local nanos = WALL_BASE * 1000000000 + math.floor((sys.monotonic() - MONO_BASE) * 1e9)
  if nanos <= last_token_nanos then nanos = last_token_nanos + 1 end
  last_token_nanos = nanos
  return os.date("!%Y-%m-%dT%H:%M:%S", nanos // 1000000000) .. string.format(".%09dZ", nanos % 1000000000)
end
flux.request_token = request_token

local function wait_handshake(c, r, token, options)
  local field_force = options.force and "lastHandledForceAt"
  local field_reset = options.reset and "lastHandledResetAt"
  local what = describe(r) .. " on " .. c.name
  local handled = false
  local function test(obj)
    local s = type(obj.status) == "table" and obj.status or {}
    if s.lastHandledReconcileAt ~= token then
      return false, string.format("waiting for the controller to handle the request (lastHandledReconcileAt %s, "
        .. "requested %s)", tostring(s.lastHandledReconcileAt or "unset"), token)
    end
    if field_force and s[field_force] ~= token then return false, "waiting for the forced upgrade to be handled" end
    if field_reset and s[field_reset] ~= token then return false, "waiting for the reset to be handled" end
    handled = true
    local ok, reason, message, final = flux.state(obj)
    return ok, reason .. (message ~= "" and (": " .. message) or ""), final
  end
  local seconds = duration.check(options.timeout, "flux.reconcile", "timeout", "5m")
  local ok, result = pcall(c.wait, c, r, { test = test, timeout = seconds })
  if ok then return result end
  if errors.is(result, "failed") then
    error(flux_error(string.format("%s: reconciliation failed: %s", what, tostring(result.reason)),
      { reason = result.reason, ref = r }), 0)
  end
  if errors.is(result, "timeout") then
    local hint = handled and "" or string.format(" — the controller never handled the request: is %s running "
      .. "(flux.status, flux.install)?", (flux.KINDS[r.kind] or {}).controller or "its controller")
    error(errors.new("timeout", string.format("%s: not ready after %s: %s%s", what,
      duration.show(options.timeout or "5m"), tostring(result.reason), hint), { reason = result.reason, ref = r, handled = handled }), 0)
  end
  error(result, 0)
end

--- flux.reconcile(c, ref, {wait = true, timeout = "5m", with_source,
-- force, reset}) -> the object: sets reconcile.fluxcd.io/requestedAt (and
-- forceAt / resetAt for a HelmRelease), then waits until the controller
-- answers with status.lastHandledReconcileAt and Ready is decided.
function flux.reconcile(c, ref, options)
  options = options or {}
  local r = resolved(c, ref)
  local obj = c:find(r)
  if not obj then
    error(errors.new("flux", describe(r) .. " does not exist on " .. c.name
      .. " (flux.status lists what does)", { reason = "NotFound", ref = r }), 0)
  end
  if suspended(obj) then
    error(flux_error(describe(r) .. " on " .. c.name .. " is suspended: flux.resume(c, ref) first", { ref = r }), 0)
  end
  if (options.force or options.reset) and r.kind ~= "HelmRelease" then
    error(invalid("force and reset are for HelmReleases; " .. describe(r) .. " is a " .. r.kind), 0)
  end
  if options.with_source then
    local source = r.kind == "Kustomization" and obj.spec and obj.spec.sourceRef
    if source then
      flux.reconcile(c, { kind = source.kind, name = source.name, namespace = source.namespace or r.namespace },
        { wait = options.wait, timeout = options.timeout })
    end
  end
  local token = request_token()
  local annotations = { [REQUESTED_AT] = token }
  if options.force then annotations[FORCE_AT] = token end
  if options.reset then annotations[RESET_AT] = token end
  local patched = c:patch(r, { metadata = { annotations = annotations } }, { type = "merge" })
  log.debug("flux: requested reconciliation of %s on %s at %s", describe(r), c.name, token)
  if options.wait == false then return patched, token end
  return wait_handshake(c, r, token, options), token
end

local function set_suspend(c, ref, value)
  local r = resolved(c, ref)
  return c:patch(r, { spec = { suspend = value } }, { type = "merge" }), r
end

--- flux.suspend(c, ref) -> the object, with spec.suspend = true.
function flux.suspend(c, ref)
  return (set_suspend(c, ref, true))
end

--- flux.resume(c, ref, {wait = false, timeout}) -> the object: clears
-- spec.suspend and requests a reconciliation (waited for with wait = true).
function flux.resume(c, ref, options)
  options = options or {}
  local _, r = set_suspend(c, ref, false)
  return flux.reconcile(c, r, { wait = options.wait == true, timeout = options.timeout })
end

-- Status and tree --------------------------------------------------------------

local function revision_of(obj)
  local s = type(obj.status) == "table" and obj.status or {}
  return s.lastAppliedRevision or (type(s.artifact) == "table" and s.artifact.revision)
    or (type(s.history) == "table" and type(s.history[1]) == "table" and s.history[1].chartVersion) or nil
end

--- flux.status(c, {namespace, kinds}) -> every Flux object the cluster
-- holds: {kind, apiVersion, namespace, name, ready, reason, message,
-- suspended, revision, object}, sorted by kind, namespace and name.
function flux.status(c, options)
  options = options or {}
  local wanted = options.kinds
  local kinds = {}
  for _, e in ipairs(c:kinds()) do
    local info = flux.KINDS[e.kind]
    if info and e.group == info.group and e.preferred and (not wanted or wanted[e.kind]) then
      kinds[#kinds + 1] = e
    end
  end
  table.sort(kinds, function(a, b) return a.kind < b.kind end)
  local lists = task.all((function()
    local fns = {}
    for i, e in ipairs(kinds) do
      fns[i] = function()
        return c:list { apiVersion = e.apiVersion, kind = e.kind, namespace = options.namespace,
                        all_namespaces = options.namespace == nil }
      end
    end
    return fns
  end)())
  local out = {}
  for i, e in ipairs(kinds) do
    local items = {}
    for _, obj in ipairs(lists[i]) do items[#items + 1] = obj end
    table.sort(items, function(a, b)
      if a.metadata.namespace ~= b.metadata.namespace then return a.metadata.namespace < b.metadata.namespace end
      return a.metadata.name < b.metadata.name
    end)
    for _, obj in ipairs(items) do
      local ok, reason, message = flux.state(obj)
      out[#out + 1] = { kind = e.kind, apiVersion = e.apiVersion, namespace = obj.metadata.namespace,
                        name = obj.metadata.name, ready = ok, reason = reason, message = message,
                        suspended = suspended(obj), revision = revision_of(obj), object = obj }
    end
  end
  return out
end

--- flux.format(status_list) -> a text table like `flux get all`.
function flux.format(list)
  local rows = { { "KIND", "NAMESPACE/NAME", "READY", "SUSPENDED", "REVISION", "MESSAGE" } }
  for _, s in ipairs(list) do
    rows[#rows + 1] = { s.kind, s.namespace .. "/" .. s.name, s.ready and "True" or "False",
                        s.suspended and "True" or "False", tostring(s.revision or "-"),
                        s.reason .. (s.message ~= "" and (": " .. s.message) or "") }
  end
  return table.concat(require("ferry.text").columns(rows), "\n")
end

--- flux.parse_inventory_id("ns_name_group_Kind") -> {namespace, name, group, kind}
-- (namespace "" for cluster-scoped objects, group "" for the core group).
function flux.parse_inventory_id(id)
  local namespace, name, group, kind = tostring(id):match("^([^_]*)_([^_]+)_([^_]*)_([^_]+)$")
  if not namespace then return nil, "not a Flux inventory id (namespace_name_group_Kind): " .. tostring(id) end
  return { namespace = namespace ~= "" and namespace or nil, name = name, group = group, kind = kind }
end

local function inventory_entries(obj)
  local inventory = type(obj.status) == "table" and obj.status.inventory
  local entries = type(inventory) == "table" and inventory.entries
  return type(entries) == "table" and entries or {}
end

--- flux.tree(c, kustomization, {recursive = true}) -> {kind, apiVersion,
-- namespace, name, children = {...}}: what a Kustomization applied, from
-- its status.inventory; Kustomizations and HelmReleases among them are
-- expanded too (as `flux tree` does).
function flux.tree(c, ref, options)
  options = options or {}
  local seen = {}
  local function expand(obj, node, depth)
    node.children = {}
    for _, entry in ipairs(inventory_entries(obj)) do
      local id, why = flux.parse_inventory_id(entry.id)
      if not id then error(flux_error(describe(node) .. ": " .. why), 0) end
      local child = { kind = id.kind, namespace = id.namespace, name = id.name,
                      apiVersion = id.group ~= "" and (id.group .. "/" .. tostring(entry.v)) or tostring(entry.v) }
      node.children[#node.children + 1] = child
      local info = flux.KINDS[id.kind]
      local key = table.concat({ id.kind, id.namespace or "", id.name }, "/")
      if options.recursive ~= false and info and info.group == id.group
          and (id.kind == "Kustomization" or id.kind == "HelmRelease") and not seen[key] and depth < 20 then
        seen[key] = true
        local found = c:find(child)
        if found then expand(found, child, depth + 1) else child.missing = true end
      end
    end
    table.sort(node.children, function(a, b)
      return table.concat({ a.kind, a.namespace or "", a.name }, "/")
        < table.concat({ b.kind, b.namespace or "", b.name }, "/")
    end)
  end
  local r = resolved(c, flux.ref(ref, "Kustomization"))
  local obj = c:get(r)
  local root = { kind = r.kind, apiVersion = obj.apiVersion, namespace = r.namespace, name = r.name }
  seen[table.concat({ r.kind, r.namespace, r.name }, "/")] = true
  expand(obj, root, 0)
  return root
end

-- Wait ---------------------------------------------------------------------------

local function key_of(r) return r.kind .. "/" .. r.namespace .. "/" .. r.name end

local function depends_on(obj)
  local spec = type(obj.spec) == "table" and obj.spec or {}
  return type(spec.dependsOn) == "table" and spec.dependsOn or {}
end

--- flux.order(objects) -> the objects in dependsOn order (dependencies
-- first), each with its dependency keys; raises on a cycle.
function flux.order(objects)
  local by_key, order = {}, {}
  for _, obj in ipairs(objects) do by_key[key_of(flux.ref(obj))] = obj end
  local state = {}
  local function deps_of(obj)
    local r = flux.ref(obj)
    local list = {}
    for _, d in ipairs(depends_on(obj)) do
      list[#list + 1] = key_of({ kind = r.kind, namespace = d.namespace or r.namespace, name = d.name })
    end
    return list
  end
  local function visit(key, path)
    if state[key] == "done" then return end
    if state[key] == "visiting" then
      error(flux_error("dependsOn cycle: " .. table.concat(path, " -> ") .. " -> " .. key), 0)
    end
    state[key] = "visiting"
    path[#path + 1] = key
    local obj = by_key[key]
    for _, d in ipairs(deps_of(obj)) do
      if by_key[d] then visit(d, path) end
    end
    path[#path] = nil
    state[key] = "done"
    order[#order + 1] = { key = key, object = obj, depends = deps_of(obj) }
  end
  local keys = {}
  for k in pairs(by_key) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do visit(k, {}) end
  return order
end

--- flux.wait(c, refs, {timeout = "5m", progress = true}) -> {{kind,
-- namespace, name, reason, message}}: waits until every object is Ready,
-- each after the objects in its dependsOn (added when not listed). With no
-- refs, every Kustomization and HelmRelease of the cluster.
function flux.wait(c, refs, options)
  options = options or {}
  local seconds = duration.check(options.timeout, "flux.wait", "timeout", "5m")
  local objects, by_key = {}, {}
  local function add(obj)
    local key = key_of(flux.ref(obj))
    if by_key[key] then return end
    by_key[key] = obj
    objects[#objects + 1] = obj
  end
  if refs == nil then
    for _, kind in ipairs { "Kustomization", "HelmRelease" } do
      local ok, api_version = pcall(flux.api_version, c, kind)
      if ok then
        for _, obj in ipairs(c:list { apiVersion = api_version, kind = kind, all_namespaces = true }) do add(obj) end
      end
    end
  else
    if type(refs) == "string" or refs.kind or refs.metadata then refs = { refs } end
    for _, ref in ipairs(refs) do
      local r = resolved(c, ref)
      local obj = c:find(r)
      if not obj then
        error(errors.new("flux", describe(r) .. " does not exist on " .. c.name, { reason = "NotFound", ref = r }), 0)
      end
      add(obj)
    end
  end
  -- dependencies outside the list are waited for too
  local i = 1
  while i <= #objects do
    local obj = objects[i]
    local r = flux.ref(obj)
    for _, d in ipairs(depends_on(obj)) do
      local dep = { kind = r.kind, namespace = d.namespace or r.namespace, name = d.name, apiVersion = obj.apiVersion }
      if not by_key[key_of(dep)] then
        local found = c:find(dep)
        if not found then
          error(flux_error(string.format("%s depends on %s, which does not exist on %s", describe(r),
            describe(dep), c.name)), 0)
        end
        add(found)
      end
    end
    i = i + 1
  end
  local order = flux.order(objects)
  -- levels: an object waits in the level after all of its dependencies
  local level_of, levels = {}, {}
  for _, entry in ipairs(order) do
    local level = 1
    for _, d in ipairs(entry.depends) do
      if level_of[d] then level = math.max(level, level_of[d] + 1) end
    end
    level_of[entry.key] = level
    levels[level] = levels[level] or {}
    table.insert(levels[level], entry)
  end
  local progress = options.progress ~= false
    and log.progress(string.format("flux: waiting for %d objects on %s", #order, c.name))
  local last, results = {}, {}
  local ready_count = 0
  local function wait_one(entry)
    local r = flux.ref(entry.object)
    r.apiVersion = entry.object.apiVersion
    if progress then progress:update("%d of %d ready; waiting for %s", ready_count, #order, describe(r)) end
    local obj = c:wait(r, { timeout = seconds + 1, test = function(o)
      local ok, reason, message, final = flux.state(o)
      if suspended(o) and not ok then
        last[entry.key] = "suspended"
        return false, "suspended: resume it (flux.resume) or leave it out", true
      end
      last[entry.key] = reason .. (message ~= "" and (": " .. message) or "")
      return ok, last[entry.key], final
    end })
    ready_count = ready_count + 1
    local _, reason, message = flux.state(obj)
    results[entry.key] = { kind = r.kind, namespace = r.namespace, name = r.name, reason = reason, message = message }
  end
  local ok, err = pcall(task.timeout, seconds, function()
    for _, level in ipairs(levels) do
      local fns = {}
      for i, entry in ipairs(level) do fns[i] = function() wait_one(entry) end end
      task.all(fns)
    end
  end)
  if not ok then
    local pending = {}
    for _, entry in ipairs(order) do
      if not results[entry.key] then
        pending[#pending + 1] = entry.key .. " (" .. (last[entry.key] or "waiting for its dependencies") .. ")"
      end
    end
    local message
    if errors.is(err, "failed") then
      message = string.format("flux objects on %s failed: %s", c.name, tostring(err.message))
    elseif errors.is(err, "timeout") then
      message = string.format("flux objects on %s not ready after %s: %s", c.name,
        duration.show(options.timeout or "5m"), table.concat(pending, "; "))
    else
      if progress then progress:fail("%s", errors.format(err)) end
      error(err, 0)
    end
    if progress then progress:fail("%s", message) end
    error(errors.new(errors.is(err, "timeout") and "timeout" or "flux", message, { pending = pending, cause = err }), 0)
  end
  if progress then progress:done("%d objects ready", #order) end
  local out = {}
  for _, entry in ipairs(order) do out[#out + 1] = results[entry.key] end
  return out
end

return flux
