--- k8s.client: the transport of a Kubernetes client — one request with
-- authentication, client-side rate limiting, retries and API errors as
-- tables carrying the server's Status.
local errors = require "ferry.errors"
local http = require "http"
local json = require "json"
local log = require "log"
local sys = require "ferry.sys"
local task = require "task"

local client = {}

local Client = {}
Client.__index = Client
client.Client = Client

-- kubectl's defaults (client-go's library defaults of 5/10 are too slow for
-- applying a few hundred objects).
local DEFAULT_QPS, DEFAULT_BURST = 50, 100
local MAX_RETRIES = 3
-- A plain request ends after a minute, any request (streams aside) after
-- 30 s with less than a byte a second moving; see docs/modules/k8s.md.
local DEFAULT_TIMEOUT, DEFAULT_STALL_TIMEOUT = 60, 30
local SHOWN_BYTES = 120 -- of an answer that is not JSON, in its error

local function api_error(self, method, path, response)
  local status = nil
  if response.body ~= "" then
    local ok, decoded = pcall(json.decode, response.body)
    if ok and type(decoded) == "table" and decoded.kind == "Status" then status = decoded end
  end
  local message = status and status.message
    or (response.body ~= "" and response.body:sub(1, 300)) or ("HTTP " .. response.status)
  return errors.new("api", string.format("%s (%s %s on %s)", message, method, path, self.name), {
    reason = status and status.reason or (response.status == 404 and "NotFound" or "Unknown"),
    status = response.status,
    details = status and status.details,
    api_message = message,
    method = method, path = path, context = self.name,
    retry_after = tonumber(response.headers["retry-after"]),
    body = not status and response.body or nil, -- e.g. a proxied service's own error
  })
end
client.api_error = api_error

local TRANSPORT_KINDS = { connect = true, resolve = true, timeout = true, tls = true,
                          connection = true, http = true, memory = true, too_large = true }

-- The first bytes of an answer, redacted before they are cut (a secret cut
-- in two would not match) and with control bytes written as escapes.
local function first_bytes(body)
  local shown = log.redact(body:sub(1, 4096)):sub(1, SHOWN_BYTES)
  shown = shown:gsub("[%c\\]", function(c) return string.format("\\%03d", c:byte()) end)
  return '"' .. shown .. '"' .. (#body > SHOWN_BYTES and " ..." or "")
end

-- A 2xx answer that is not the JSON an API server sends (a login or proxy
-- page, a truncated body): never a result.
local function not_json_error(self, method, path, response)
  local content_type = response.headers["content-type"] or "no Content-Type"
  return errors.new("api", string.format("the answer (HTTP %d, %s, %d bytes) is not JSON: %s (%s %s on %s)",
    response.status, content_type, #response.body, first_bytes(response.body), method, path, self.name), {
    reason = "NotJSON", status = response.status, method = method, path = path, context = self.name,
  })
end

-- The decoded answer of a plain request; text (a /healthz "ok") only when
-- the server says it sent text that is neither JSON nor HTML.
local function decoded(self, method, path, response)
  local ok, value = pcall(json.decode, response.body)
  if ok then return value end
  local content_type = (response.headers["content-type"] or ""):lower()
  if content_type ~= "" and not content_type:find("json", 1, true) and not content_type:find("html", 1, true) then
    return response.body
  end
  return error(not_json_error(self, method, path, response), 0)
end

--- Wraps a failure of the http module with the context's name; anything
-- else (an error raised by a streaming callback, a cancellation) passes.
local function transport_error(self, method, path, err)
  if type(err) ~= "table" or not TRANSPORT_KINDS[err.kind] or not err.url then
    return err
  end
  return errors.new(err.kind, string.format("%s (%s %s on %s)", err.message, method, path, self.name),
    { url = err.url, method = method, path = path, context = self.name, transport = true })
end

-- Token bucket: burst tokens, refilled at qps per second.
local function rate_limit(self)
  if not self.qps or self.qps <= 0 then return end
  local now = sys.monotonic()
  self.tokens = math.min(self.burst, self.tokens + (now - self.refilled) * self.qps)
  self.refilled = now
  if self.tokens >= 1 then
    self.tokens = self.tokens - 1
    return
  end
  local wait = (1 - self.tokens) / self.qps
  self.tokens = self.tokens - 1 -- reserved: concurrent callers queue behind
  task.sleep(wait)
end

local function query_string(query)
  if not query then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    if v ~= nil and v ~= false then
      parts[#parts + 1] = k .. "=" .. http.escape(tostring(v))
    end
  end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end
client.query_string = query_string

--- Creates the transport from an auth (k8s.auth) and options
-- {name, namespace, qps, burst, timeout, stall_timeout, max_body_bytes}
-- (seconds and bytes; 0 lifts a limit).
function client.new(auth_state, options)
  local self = setmetatable({
    auth = auth_state,
    server = auth_state.server,
    name = options.name or "cluster",
    namespace = options.namespace or "default",
    qps = options.qps or DEFAULT_QPS,
    burst = options.burst or DEFAULT_BURST,
    timeout = options.timeout or DEFAULT_TIMEOUT,
    stall_timeout = options.stall_timeout or DEFAULT_STALL_TIMEOUT,
    max_body_bytes = options.max_body_bytes,
    retries = options.retries or MAX_RETRIES,
  }, Client)
  self.tokens, self.refilled = self.burst, sys.monotonic()
  return self
end

-- The http.request options of an API request (credentials included).
local function prepare(self, req, path)
  local headers = { Accept = req.accept or "application/json", ["User-Agent"] = "ferry" }
  local body = req.body
  if type(body) == "table" then body = json.encode(body) end
  if body then headers["Content-Type"] = req.content_type or "application/json" end
  local streaming = req.on_line or req.on_chunk
  local request = {
    method = req.method, url = self.server .. path, headers = headers, body = body,
    -- a client's limits bound plain requests; streams (a watch, followed
    -- logs) idle legitimately and carry their own
    timeout = req.timeout or (not streaming and self.timeout) or nil,
    stall_timeout = req.stall_timeout or (streaming and 0 or self.stall_timeout),
    max_body_bytes = self.max_body_bytes,
    on_line = req.on_line, on_chunk = req.on_chunk,
  }
  self.auth:prepare(request)
  return request
end

--- Sends one API request. req = {method, path, query, body (string or
-- table, sent as JSON), content_type, accept, timeout, on_line, raw}.
-- Returns the decoded JSON body (or the raw response with raw=true, or
-- the text when the server says it sent text that is neither JSON nor HTML);
-- raises {kind="api", code, reason, message, details, status} for an API
-- error or a 2xx answer that is not JSON (reason "NotJSON") and
-- {kind="connect"|"timeout"|"too_large"|...} for a transport failure.
function Client:request(req)
  local method = (req.method or "GET"):upper()
  req.method = method
  local path = req.path .. query_string(req.query)
  local shown = http.redact_url(path) -- in errors: no credentials of the query
  local attempt, reauthenticated = 0, false
  while true do
    attempt = attempt + 1
    local request = prepare(self, req, path) -- auth errors (exec plugin) raise as they are
    rate_limit(self)
    local ok, response = pcall(http.request, request)
    -- a streamed request is never sent again: its data was delivered
    local again = attempt <= self.retries and not req.on_line and not req.on_chunk
      and http.retry.allows(method, response)
    if not ok then
      local err = transport_error(self, method, shown, response)
      if not (again and type(err) == "table" and err.transport) then error(err, 0) end
      task.sleep(http.retry.delay(attempt))
    elseif response.status == 401 and not reauthenticated and self.auth:unauthorized() then
      reauthenticated = true -- fresh credentials once (exec plugin, rotated token)
    elseif again then
      task.sleep(http.retry.delay(attempt, response))
    elseif response.status >= 400 then
      error(api_error(self, method, shown, response), 0)
    elseif req.raw then
      return response
    elseif response.body == "" then
      return nil
    else
      return decoded(self, method, shown, response)
    end
  end
end

--- c:raw(method, path, body) -> decoded JSON (or text) of any API path.
function Client:raw(method, path, body)
  return self:request { method = method, path = path, body = body }
end

--- c:version() -> the server's /version ({major, minor, gitVersion, ...}).
function Client:version()
  return self:request { path = "/version" }
end

return client
