--- k8s.wait: wait until an object is ready, has a condition, or is gone —
-- on a watch, so it yields inside tasks and reacts at once; on timeout the
-- error says why the object was not there yet.
local errors = require "ferry.errors"
local resources = require "k8s.resources"
local status = require "k8s.status"
local task = require "task"
local duration = require "ferry.duration"
local watch = require "k8s.watch"

local wait = {}

-- The test of the options: returns ok, reason, failed for an object (nil = absent).
local function predicate(options)
  if options.deleted then
    return function(obj)
      if obj == nil then return true, "deleted" end
      return false, "still exists" .. (obj.metadata and obj.metadata.deletionTimestamp and " (terminating)" or "")
    end
  end
  local test
  if type(options.test) == "function" then
    test = options.test
  elseif options.condition then
    test = function(obj) return status.has_condition(obj, options.condition, options.status) end
  else
    test = status.ready
  end
  return function(obj)
    if obj == nil then return false, "does not exist yet" end
    return test(obj)
  end
end

local function describe_goal(options)
  if options.deleted then return "deleted" end
  if options.test then return "matching its test" end
  if options.condition then return options.condition .. "=" .. (options.status or "True") end
  return "ready"
end

--- c:wait(ref, {ready=true | condition="Available" [, status="True"] |
-- deleted=true | test=function(obj) -> ok, reason, timeout="5m"}) -> object
-- (nil when waiting for deletion). Raises {kind="timeout"} with the last
-- reason, or {kind="failed"} when the object cannot get there (e.g. a
-- rollout that exceeded its deadline).
function wait.wait(c, ref, options)
  options = options or {}
  local r = resources.ref_of(ref)
  if not r.name then error(errors.new("invalid", "wait needs a named object"), 0) end
  local seconds = duration.check(options.timeout, "c:wait", "timeout", "5m")
  local check = predicate(options)
  local last_reason = "not checked yet"
  local _, namespace = resources.locate(c, r)
  local what = resources.describe { kind = r.kind, name = r.name, namespace = namespace } .. " on " .. c.name
  local shown_timeout = duration.show(options.timeout or "5m")

  local function watch_until()
    local obj = resources.find(c, r)
    local ok, reason, failed = check(obj)
    last_reason = reason
    if ok then return obj end
    if failed then error(errors.new("failed", what .. ": " .. reason, { reason = reason }), 0) end
    local mapping, namespace = resources.locate(c, r)
    for event in watch.watch(c, { apiVersion = mapping.apiVersion, kind = mapping.kind, namespace = namespace,
                                  name = r.name, resource_version = obj and obj.metadata.resourceVersion,
                                  send_initial = obj == nil }) do
      obj = event.type ~= "DELETED" and event.object or nil
      ok, reason, failed = check(obj)
      last_reason = reason
      if ok then return obj end
      if failed then error(errors.new("failed", what .. ": " .. reason, { reason = reason }), 0) end
    end
    error(errors.new("watch", what .. ": the watch ended unexpectedly"), 0)
  end

  local ok, result = pcall(task.timeout, seconds, watch_until)
  if ok then return result end
  if errors.is(result, "timeout") then
    error(errors.new("timeout", string.format("%s not %s after %s: %s", what, describe_goal(options),
      shown_timeout, last_reason), { reason = last_reason }), 0)
  end
  error(result, 0)
end

return wait
