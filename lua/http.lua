--- http: HTTP(S) requests on ferry's event loop (libcurl).
--
-- http.request{...} -> {status, headers, body}. Inside a task it yields while
-- the transfer runs; elsewhere it blocks. Transport failures raise a table
-- {kind = "connect"|"resolve"|"timeout"|"tls"|"connection"|"http", message, url}
-- whose URL has no credentials in it. HTTP error statuses (404, 500) are
-- responses, not errors: check response.status.
local core = require "ferry.http"
local task = require "task"

local http = {}

local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local RETRY_KIND = { connect = true, connection = true, timeout = true }
local IDEMPOTENT = { GET = true, HEAD = true, OPTIONS = true, PUT = true, DELETE = true }

-- A failure worth another attempt: the request never reached the server
-- (connect), or it did but repeating it is harmless (idempotent method).
-- A streamed body is never retried: its chunks were already delivered.
local function retriable_failure(options, err)
  if type(err) ~= "table" or options.on_line or options.on_chunk then return false end
  if err.kind == "connect" then return true end
  return RETRY_KIND[err.kind] and IDEMPOTENT[(options.method or "GET"):upper()] or false
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
-- body (string), timeout (seconds, whole transfer), connect_timeout (30),
-- ca_file | ca_data, cert_file | cert_data, key_file | key_data, insecure,
-- (the body of an error response, status >= 400, is never streamed: it is
-- in response.body) proxy, connect_to ("name:port:host:port"), follow_redirects, retries (0: extra attempts on connection failures
-- and 429/502/503/504, with backoff), on_chunk(data) or on_line(line) to
-- stream the body instead of collecting it.
function http.request(options)
  check_options(options)
  local retries = options.retries or 0
  local attempt = 0
  while true do
    attempt = attempt + 1
    local ok, result = pcall(perform, options)
    local last = attempt > retries
    if ok and (last or not RETRY_STATUS[result.status] or options.on_line or options.on_chunk) then
      return result
    end
    if not ok and (last or not retriable_failure(options, result)) then
      error(result, 0)
    end
    task.sleep(math.min(0.2 * 2 ^ (attempt - 1), 5))
  end
end

--- Shorthand for GET: http.get(url [, options]).
function http.get(url, options)
  local o = {}
  for k, v in pairs(options or {}) do o[k] = v end
  o.url = url
  return http.request(o)
end

return http
