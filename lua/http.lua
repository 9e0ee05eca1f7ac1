--- http: HTTP(S) requests on ferry's event loop (libcurl).
--
-- http.request{...} -> {status, headers, body}. Inside a task it yields while
-- the transfer runs; elsewhere it blocks. Transport failures raise a table
-- {kind = "connect"|"resolve"|"timeout"|"tls"|"connection"|"http", message, url}
-- whose URL has no credentials in it. HTTP error statuses (404, 500) are
-- responses, not errors: check response.status.
local core = require "ferry.http"
local duration = require "ferry.duration"
local task = require "task"

local http = {}

--- What a request gets unless it says otherwise: a whole plain request
-- ends after 5 minutes (a streamed one has no total timeout), any request
-- after 60 s with less than a byte a second moving (waiting for the answer
-- included; as long as its timeout when that is longer: a caller who gives
-- a server two minutes means it), and an answer larger than 64 MiB fails.
-- 0 lifts a limit.
http.defaults = { timeout = 300, stall_timeout = 60, max_body_bytes = 64 * 1024 * 1024 }

--- The one retry policy of ferry's HTTP clients (http.request with
-- retries, the k8s client, prom): what may be sent again, and when.
local retry = {}
http.retry = retry

-- Statuses that say "try later". 429 turns the request away before it
-- is acted on, so any method may repeat it; after the others the request
-- may have been acted on (a 504 is the gateway giving up waiting, not the
-- server refusing), so only a method that is safe to repeat is sent again.
local ANY_METHOD_STATUS = { [429] = true }
local IDEMPOTENT_STATUS = { [500] = true, [502] = true, [503] = true, [504] = true }
-- Transport failures: resolve and connect never reached the server; after
-- connection and timeout it may have acted on the request.
local ANY_METHOD_KIND = { connect = true, resolve = true }
local IDEMPOTENT_KIND = { connection = true, timeout = true }
local IDEMPOTENT = { GET = true, HEAD = true, OPTIONS = true, PUT = true, DELETE = true }
local MAX_RETRY_AFTER = 30

--- retry.allows(method, outcome) -> true when another attempt may be sent
-- after outcome: a response (its status decides) or an error raised by
-- http.request (its kind decides). POST and PATCH are sent again only
-- when the server cannot have acted on them.
function retry.allows(method, outcome)
  if type(outcome) ~= "table" then return false end
  local idempotent = IDEMPOTENT[(method or "GET"):upper()] or false
  if outcome.status and not outcome.kind then
    return ANY_METHOD_STATUS[outcome.status] or (idempotent and IDEMPOTENT_STATUS[outcome.status]) or false
  end
  return ANY_METHOD_KIND[outcome.kind] or (idempotent and IDEMPOTENT_KIND[outcome.kind]) or false
end

--- retry.delay(attempt [, response]) -> seconds to wait before the attempt
-- after `attempt`: the response's Retry-After in seconds (at most 30) when
-- it has one, else 0.25 s, 0.5 s, 1 s, ... up to 4 s. A Retry-After that is
-- not a whole number of seconds (negative, bogus, an HTTP date) gets the
-- default back-off, never zero.
function retry.delay(attempt, response)
  local header = response and response.headers and response.headers["retry-after"]
  local seconds = type(header) == "string" and header:match("^%s*(%d+)%s*$")
  if seconds then return math.min(tonumber(seconds), MAX_RETRY_AFTER) end
  return math.min(0.25 * 2 ^ (attempt - 1), 4)
end

local function check_options(options)
  if type(options) ~= "table" then
    error("http.request expects a table of options, e.g. http.request{url = \"https://...\"}", 3)
  end
  if type(options.url) ~= "string" or options.url == "" then
    error("http.request needs url (a string)", 3)
  end
  if options.on_chunk ~= nil and type(options.on_chunk) ~= "function" then
    error("http.request option on_chunk must be a function", 3)
  end
  if options.on_line ~= nil and type(options.on_line) ~= "function" then
    error("http.request option on_line must be a function", 3)
  end
end

-- Calls on_line for each complete line of data, keeping the partial rest.
local function line_splitter(on_line)
  local rest = ""
  return function(data, final)
    rest = rest .. data
    local start = 1
    while true do
      local newline = rest:find("\n", start, true)
      if not newline then break end
      on_line((rest:sub(start, newline - 1):gsub("\r$", "")))
      start = newline + 1
    end
    rest = rest:sub(start)
    if final and rest ~= "" then
      local last = rest
      rest = ""
      on_line(last)
    end
  end
end

local function deliver_to(options)
  if options.on_line then return line_splitter(options.on_line) end
  if options.on_chunk then
    return function(data) if data ~= "" then options.on_chunk(data) end end
  end
  return nil
end

local function perform(options)
  local deliver = deliver_to(options)
  local request <close> = core.start {
    url = options.url, method = options.method, headers = options.headers,
    body = options.body, timeout = options.timeout, connect_timeout = options.connect_timeout,
    stall_timeout = options.stall_timeout, max_body_bytes = options.max_body_bytes,
    ca_file = options.ca_file, ca_data = options.ca_data,
    cert_file = options.cert_file, cert_data = options.cert_data,
    key_file = options.key_file, key_data = options.key_data,
    insecure = options.insecure, proxy = options.proxy, connect_to = options.connect_to,
    follow_redirects = options.follow_redirects, stream = deliver ~= nil,
  }
  -- An error response (status >= 400) is not streamed: its body is kept
  -- for the caller, who needs it to explain the error.
  local error_body = {}
  local function pass_on(final)
    local data = request:take()
    if request:status() >= 400 then
      error_body[#error_body + 1] = data
    else
      deliver(data, final)
    end
  end
  while not request:finished() do
    task.await(request)
    if deliver then pass_on(false) end
  end
  local response = request:result()
  if deliver then
    pass_on(true)
    if #error_body > 0 then response.body = table.concat(error_body) end
  end
  return response
end

--- Performs a request. Options: url, method ("GET"), headers ({Name = value}),
-- body (string), timeout (a duration: whole transfer; "5m", none when
-- streamed), stall_timeout ("60s" of less than a byte a second, or the
-- timeout when longer),
-- max_body_bytes (64 MiB; of a streamed answer: held at once), connect_timeout
-- ("30s"), ca_file | ca_data, cert_file | cert_data, key_file | key_data,
-- insecure, proxy, connect_to ("name:port:host:port"), follow_redirects,
-- retries (0: extra attempts as http.retry allows), on_chunk(data) or
-- on_line(line) to stream the body instead of collecting it (the body of
-- an error response, status >= 400, is never streamed: it is in
-- response.body; a streamed request is never retried).
function http.request(options)
  check_options(options)
  local streamed = options.on_line or options.on_chunk
  local max_body = options.max_body_bytes == nil and http.defaults.max_body_bytes or options.max_body_bytes
  if math.type(max_body) ~= "integer" or max_body < 0 then
    error("http.request option max_body_bytes must be a whole number of bytes (0: no cap)", 2)
  end
  local timeout = duration.check(options.timeout, "http.request", "timeout")
  local request = setmetatable({
    timeout = timeout or (not streamed and http.defaults.timeout or nil),
    stall_timeout = duration.check(options.stall_timeout, "http.request", "stall_timeout",
                                   math.max(http.defaults.stall_timeout, timeout or 0)),
    max_body_bytes = max_body,
    connect_timeout = duration.check(options.connect_timeout, "http.request", "connect_timeout"),
  }, { __index = options })
  local retries = streamed and 0 or options.retries or 0
  local attempt = 0
  while true do
    attempt = attempt + 1
    local ok, result = pcall(perform, request)
    if attempt > retries or not retry.allows(options.method, result) then
      if ok then return result end
      error(result, 0)
    end
    task.sleep(retry.delay(attempt, ok and result or nil))
  end
end

--- http.escape(text) -> text percent-encoded for a URL: every byte but
-- A-Z a-z 0-9 - . _ ~ as %XX (libcurl's encoder).
http.escape = core.escape

--- http.unescape(text) -> text with every %XX decoded.
http.unescape = core.unescape

--- http.parse_url(url) -> {scheme, user, password, host, port, path, query,
-- fragment} or nil, why (libcurl's parser; see docs/modules/http.md).
http.parse_url = core.parse_url

--- http.redact_url(text) -> text (a URL or a path with a query) with the
-- values of query parameters that name a credential (token, access_token,
-- password, api_key, X-Amz-Signature, ...) as "***", as every error shows URLs.
http.redact_url = core.redact_url

--- Shorthand for GET: http.get(url [, options]).
function http.get(url, options)
  local o = {}
  for k, v in pairs(options or {}) do o[k] = v end
  o.url = url
  return http.request(o)
end

return http
