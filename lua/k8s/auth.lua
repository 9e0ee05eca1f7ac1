--- k8s.auth: turns a kubeconfig context into what each HTTP request needs:
-- TLS material, a bearer token (static, from a file that rotates, or from an
-- exec credential plugin), proxy and server-name settings.
local base64 = require "base64"
local errors = require "ferry.errors"
local exec = require "exec"
local file = require "ferry.file"
local http = require "http"
local json = require "json"
local log = require "log"
local sys = require "ferry.sys"
local timeutil = require "k8s.time"

local auth = {}

local Auth = {}
Auth.__index = Auth

local TOKEN_FILE_RECHECK = 60 -- seconds, like client-go's cached token source
local EXEC_API_VERSIONS = {
  ["client.authentication.k8s.io/v1"] = true,
  ["client.authentication.k8s.io/v1beta1"] = true,
}

local function auth_error(context, message)
  return errors.new("auth", string.format("context '%s': %s", context, message), { context = context })
end

local function read_file(path, what, context)
  local text, err = file.read(path)
  if not text then
    error(auth_error(context, string.format("cannot read %s %s: %s (fix the path in the kubeconfig)",
      what, path, err)), 0)
  end
  return text
end

local function decode_data(value, field, context)
  local ok, decoded = pcall(base64.decode, value)
  if not ok then
    error(auth_error(context, field .. " is not valid base64: " .. errors.format(decoded)), 0)
  end
  return decoded
end

-- The PEM text of a file-or-data pair (certificate-authority / -data ...).
local function pem(entry, field, what, context)
  if entry[field .. "-data"] then
    return decode_data(entry[field .. "-data"], field .. "-data", context)
  end
  if entry[field] then return read_file(entry[field], what, context) end
  return nil
end

local function refuse_unsupported(user, context)
  if user.username or user.password then
    error(auth_error(context, "basic auth (username/password) is not supported: use a token, "
      .. "a client certificate or an exec credential plugin"), 0)
  end
  if user.as or user["as-groups"] or user["as-uid"] or user["as-user-extra"] then
    error(auth_error(context, "impersonation (as, as-groups, as-uid, as-user-extra) is not supported: "
      .. "remove it, or use a context whose user has the rights itself"), 0)
  end
  if user["auth-provider"] then
    local name = type(user["auth-provider"]) == "table" and user["auth-provider"].name or "?"
    error(auth_error(context, string.format("auth-provider '%s' plugins are not supported (they were "
      .. "are deprecated, and removed for gcp and azure); use an exec credential plugin such as kubelogin or "
      .. "gke-gcloud-auth-plugin", name)), 0)
  end
end

-- https://name:port of the server with the host replaced by tls-server-name,
-- plus curl's connect_to so the connection still goes to the real host.
local function server_name_override(server, name)
  local u = http.parse_url(server)
  if not u or (u.scheme ~= "https" and u.scheme ~= "http") then return server, nil end
  local port = u.port or (u.scheme == "https" and 443 or 80)
  local rest = (u.path == "/" and "" or u.path) .. (u.query and ("?" .. u.query) or "")
  local bare = u.host:gsub("^%[", ""):gsub("%]$", "")
  return string.format("%s://%s:%d%s", u.scheme, name, port, rest),
    string.format("%s:%d:%s:%d", name, port, bare, port)
end

--- Builds the auth of a resolved context ({name, cluster, user}).
function auth.new(resolved)
  local context = resolved.name
  local cluster, user = resolved.cluster, resolved.user or {}
  refuse_unsupported(user, context)
  local self = setmetatable({ context = context, exec_config = user.exec }, Auth)
  self.server = (cluster.server or ""):gsub("/+$", "")
  if cluster["tls-server-name"] then
    self.server, self.connect_to = server_name_override(self.server, cluster["tls-server-name"])
  end
  self.tls = {
    ca_data = pem(cluster, "certificate-authority", "CA certificate", context),
    insecure = cluster["insecure-skip-tls-verify"] == true or nil,
  }
  if self.tls.insecure and self.tls.ca_data then
    error(auth_error(context, "insecure-skip-tls-verify and a certificate authority exclude each other "
      .. "(kubectl refuses them too): remove one from the cluster entry"), 0)
  end
  if self.tls.insecure then
    log.warn("context '%s': TLS verification is off (insecure-skip-tls-verify): the server's "
      .. "identity is not checked", context)
  end
  self.proxy = cluster["proxy-url"]
  local cert = pem(user, "client-certificate", "client certificate", context)
  local key = pem(user, "client-key", "client key", context)
  if (cert == nil) ~= (key == nil) then
    error(auth_error(context, "a client certificate needs both client-certificate and client-key"), 0)
  end
  self.client_cert, self.client_key = cert, key
  if key then log.secret(key) end
  if user.token then self.token = log.secret(user.token) end
  self.token_file = user.tokenFile
  if self.exec_config then self:check_exec_config() end
  self.cluster_info = cluster
  return self
end

function Auth:check_exec_config()
  local e = self.exec_config
  if type(e.command) ~= "string" or e.command == "" then
    error(auth_error(self.context, "exec plugin has no command"), 0)
  end
  if not EXEC_API_VERSIONS[e.apiVersion or ""] then
    error(auth_error(self.context, string.format("exec plugin apiVersion '%s' is not supported: use "
      .. "client.authentication.k8s.io/v1 or v1beta1", tostring(e.apiVersion))), 0)
  end
  local mode = e.interactiveMode or "IfAvailable"
  if mode ~= "Never" and mode ~= "IfAvailable" and mode ~= "Always" then
    error(auth_error(self.context, "exec plugin interactiveMode must be Never, IfAvailable or Always"), 0)
  end
  if mode == "Always" and not sys.isatty(0) then
    error(auth_error(self.context, string.format("exec plugin '%s' needs an interactive terminal "
      .. "(interactiveMode: Always) and ferry is not running in one", e.command)), 0)
  end
end

local function token_from_file(self)
  local now = sys.monotonic()
  if self.file_token and now - self.file_token_read < TOKEN_FILE_RECHECK then
    return self.file_token
  end
  local token = read_file(self.token_file, "token file", self.context):gsub("%s+$", "")
  self.file_token, self.file_token_read = log.secret(token), now
  return token
end

-- The cluster's "client.authentication.k8s.io/exec" extension, passed to
-- the plugin as spec.cluster.config (kubeconfig stores extensions as a
-- list of {name, extension}).
local function exec_extension(cluster)
  for _, entry in ipairs(type(cluster.extensions) == "table" and cluster.extensions or {}) do
    if type(entry) == "table" and entry.name == "client.authentication.k8s.io/exec" then
      return entry.extension
    end
  end
  return nil
end

-- KUBERNETES_EXEC_INFO, as kubectl sets it for the plugin.
function Auth:exec_info()
  local e = self.exec_config
  local spec = json.object { interactive = false }
  if e.provideClusterInfo then
    local c = self.cluster_info
    spec.cluster = json.object {
      server = c.server,
      ["tls-server-name"] = c["tls-server-name"],
      ["insecure-skip-tls-verify"] = c["insecure-skip-tls-verify"],
      ["certificate-authority-data"] = self.tls.ca_data and base64.encode(self.tls.ca_data) or nil,
      ["proxy-url"] = c["proxy-url"],
      config = exec_extension(c),
    }
  end
  return json.encode { apiVersion = e.apiVersion, kind = "ExecCredential", spec = spec }
end

function Auth:run_exec_plugin()
  local e = self.exec_config
  local argv = { e.command }
  for _, a in ipairs(e.args or {}) do argv[#argv + 1] = tostring(a) end
  local env = { KUBERNETES_EXEC_INFO = self:exec_info() }
  for _, pair in ipairs(e.env or {}) do env[pair.name] = pair.value end
  local hint = e.installHint and ("\n" .. e.installHint) or ""
  local ok, result = pcall(exec.run, { argv = argv, env = env, timeout = 60 })
  if not ok then
    error(auth_error(self.context, string.format("cannot run exec plugin '%s': %s%s", e.command,
      errors.format(result), hint)), 0)
  end
  if result.code ~= 0 then
    error(auth_error(self.context, string.format("exec plugin '%s' failed (exit %d): %s%s", e.command,
      result.code, log.redact(result.stderr:gsub("%s+$", "")), hint)), 0)
  end
  local parsed_ok, credential = pcall(json.decode, result.stdout)
  if not parsed_ok or type(credential) ~= "table" or credential.kind ~= "ExecCredential" then
    error(auth_error(self.context, string.format("exec plugin '%s' did not print an ExecCredential",
      e.command)), 0)
  end
  if credential.apiVersion ~= e.apiVersion then
    error(auth_error(self.context, string.format("exec plugin '%s' answered %s, expected %s", e.command,
      tostring(credential.apiVersion), e.apiVersion)), 0)
  end
  local status = type(credential.status) == "table" and credential.status or {}
  local entry = {}
  if status.token then entry.token = log.secret(status.token) end
  if status.clientCertificateData then
    entry.cert, entry.key = status.clientCertificateData, log.secret(status.clientKeyData or "")
  end
  if not entry.token and not entry.cert then
    error(auth_error(self.context, string.format("exec plugin '%s' returned neither a token nor a "
      .. "client certificate", e.command)), 0)
  end
  if status.expirationTimestamp then
    entry.expires = timeutil.parse(status.expirationTimestamp)
  end
  self.exec_credential = entry
  return entry
end

function Auth:exec_credential_current()
  local c = self.exec_credential
  if c and (not c.expires or os.time() < c.expires) then return c end
  return self:run_exec_plugin()
end

--- Fills the TLS and Authorization parts of an http.request options table.
function Auth:prepare(request)
  request.ca_data = self.tls.ca_data
  request.insecure = self.tls.insecure
  request.proxy = self.proxy
  request.connect_to = self.connect_to
  request.cert_data, request.key_data = self.client_cert, self.client_key
  local token = self.token
  if self.token_file then token = token_from_file(self) end
  if self.exec_config then
    local c = self:exec_credential_current()
    token = c.token or token
    if c.cert then request.cert_data, request.key_data = c.cert, c.key end
  end
  if token then request.headers.Authorization = "Bearer " .. token end
end

--- After a 401: drops cached credentials. Returns true when a retry may help.
function Auth:unauthorized()
  if self.exec_config then
    self.exec_credential = nil
    return true
  end
  if self.token_file then
    self.file_token = nil
    return true
  end
  return false
end

return auth
