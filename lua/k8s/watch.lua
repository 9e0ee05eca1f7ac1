--- k8s.watch: a watch as an iterator of {type, object} events that
-- survives what real watches meet: dropped connections (resumes from the
-- last resourceVersion seen, bookmarks included) and 410 Gone (relists and
-- reports the current objects as ADDED, then watches on).
local errors = require "ferry.errors"
local json = require "json"
local resources = require "k8s.resources"
local sys = require "ferry.sys"
local task = require "task"
local duration = require "ferry.duration"

local watch = {}

local SERVER_TIMEOUT = 300   -- seconds per watch request, renewed transparently
local RECONNECT_DELAY = 0.2  -- after a dropped connection
local MAX_RECONNECTS = 20    -- in a row without an event in between
-- A watch idles legitimately (no change, no bookmark yet), so no stall
-- limit applies; but the server ends each request after timeoutSeconds,
-- so one still open this long after is stuck: it ends as a timeout and the
-- watch reconnects from the last resourceVersion.
local STUCK_AFTER = 30      -- seconds past timeoutSeconds

local function gone_error()
  return errors.new("gone", "resourceVersion too old (410 Gone)")
end

local function is_gone(err)
  return errors.is(err, "gone") or (errors.is(err, "api") and err.status == 410)
end

-- Lists the objects to (re)start from: emits them as ADDED when asked and
-- returns the list's resourceVersion.
local function relist(c, options, emit)
  local items = resources.list(c, {
    apiVersion = options.apiVersion, kind = options.kind, namespace = options.namespace,
    all_namespaces = options.all_namespaces, labelSelector = options.labelSelector,
    fieldSelector = options.fieldSelector,
  })
  if emit then
    for _, item in ipairs(items) do emit { type = "ADDED", object = item } end
  end
  return items.resourceVersion
end

local function stream_once(c, path, options, state, emit)
  local remaining = state.deadline and math.max(1, math.ceil(state.deadline - sys.monotonic()))
  local server_timeout = math.min(remaining or SERVER_TIMEOUT, SERVER_TIMEOUT)
  c:request {
    path = path, timeout = server_timeout + STUCK_AFTER,
    query = {
      watch = "true", allowWatchBookmarks = "true", resourceVersion = state.resource_version,
      timeoutSeconds = server_timeout,
      labelSelector = options.labelSelector, fieldSelector = options.fieldSelector,
    },
    on_line = function(line)
      if line == "" then return end
      local event = json.decode(line)
      local object = event.object or {}
      if event.type == "ERROR" then
        if object.code == 410 then error(gone_error(), 0) end
        error(errors.new("api", tostring(object.message), { status = object.code, reason = object.reason,
          context = c.name }), 0)
      end
      local rv = object.metadata and object.metadata.resourceVersion
      if rv then state.resource_version = rv end
      state.failures = 0
      if event.type ~= "BOOKMARK" then emit(event) end
    end,
  }
end

-- The producer: runs watch requests one after another until the deadline.
local function produce(c, path, options, state, channel)
  local emit = function(event) channel:put(event) end
  if not state.resource_version then
    state.resource_version = relist(c, options, options.send_initial and emit)
  end
  while not state.deadline or sys.monotonic() < state.deadline do
    local ok, err = pcall(stream_once, c, path, options, state, emit)
    if ok then
      -- the server ended the request (timeoutSeconds): go on from where it was
    elseif is_gone(err) then
      state.resource_version = relist(c, options, emit)
    elseif type(err) == "table" and err.transport and state.failures < MAX_RECONNECTS then
      state.failures = state.failures + 1
      task.sleep(RECONNECT_DELAY * state.failures)
    else
      error(err, 0)
    end
  end
end

--- c:watch{apiVersion, kind, namespace, name, labelSelector, fieldSelector,
-- resource_version, timeout, send_initial} -> iterator of {type, object}.
-- Use it in a for loop; breaking out of the loop stops the watch.
function watch.watch(c, options)
  options = options or {}
  local mapping = require("k8s.discovery").resolve(c, options.apiVersion, options.kind)
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.apiVersion, opts.kind = mapping.apiVersion, mapping.kind
  if mapping.namespaced and not opts.all_namespaces then opts.namespace = opts.namespace or c.namespace end
  if opts.name then
    local selector = "metadata.name=" .. opts.name
    opts.fieldSelector = opts.fieldSelector and (opts.fieldSelector .. "," .. selector) or selector
  end
  local path = resources.path(c, mapping, opts.namespace)
  local timeout = duration.check(opts.timeout, "c:watch", "timeout")
  local state = {
    resource_version = opts.resource_version, failures = 0,
    deadline = timeout and (sys.monotonic() + timeout),
  }
  local channel = task.channel()
  local producer = task.spawn(function()
    local ok, err = pcall(produce, c, path, opts, state, channel)
    channel:close(not ok and err or nil)
  end)
  local closer = setmetatable({}, { __close = function() producer:cancel() end })
  local function next_event() return channel:get() end
  return next_event, nil, nil, closer
end

return watch
