--- k8s.status: is an object ready? The kstatus rules kubectl and Flux use:
-- the controller has seen the latest spec (observedGeneration), and the
-- kind's own notion of done (rollout complete, Job complete, Namespace
-- Active, CRD Established, PVC Bound), else a Ready condition.
local status = {}

local function condition(obj, type_name)
  local s = obj.status
  if type(s) ~= "table" or type(s.conditions) ~= "table" then return nil end
  for _, c in ipairs(s.conditions) do
    if c.type == type_name then return c end
  end
  return nil
end
status.condition = condition

local function int(v, default)
  return math.tointeger(tonumber(v)) or default
end

local function replicas_wanted(obj)
  local spec = obj.spec or {}
  return int(spec.replicas, 1)
end

local function deployment(obj)
  local s = obj.status or {}
  local progressing = condition(obj, "Progressing")
  if progressing and progressing.reason == "ProgressDeadlineExceeded" then
    return false, "rollout failed: " .. tostring(progressing.message), true
  end
  local want = replicas_wanted(obj)
  local updated, total = int(s.updatedReplicas, 0), int(s.replicas, 0)
  local available = int(s.availableReplicas, 0)
  if updated < want then return false, string.format("%d of %d replicas updated", updated, want) end
  if total > updated then return false, string.format("%d old replicas pending termination", total - updated) end
  if available < want then return false, string.format("%d of %d replicas available", available, want) end
  return true, string.format("%d of %d replicas available", available, want)
end

local function statefulset(obj)
  local s, spec = obj.status or {}, obj.spec or {}
  local want = replicas_wanted(obj)
  local ready, updated = int(s.readyReplicas, 0), int(s.updatedReplicas, 0)
  local rolling = not spec.updateStrategy or spec.updateStrategy.type ~= "OnDelete"
  if ready < want then return false, string.format("%d of %d replicas ready", ready, want) end
  if rolling and updated < want then return false, string.format("%d of %d replicas updated", updated, want) end
  if rolling and s.updateRevision and s.currentRevision ~= s.updateRevision then
    return false, "rollout to revision " .. tostring(s.updateRevision) .. " in progress"
  end
  return true, string.format("%d of %d replicas ready", ready, want)
end

local function daemonset(obj)
  local s = obj.status or {}
  local want = int(s.desiredNumberScheduled, 0)
  local updated, available = int(s.updatedNumberScheduled, 0), int(s.numberAvailable, 0)
  if updated < want then return false, string.format("%d of %d pods updated", updated, want) end
  if available < want then return false, string.format("%d of %d pods available", available, want) end
  return true, string.format("%d of %d pods available", available, want)
end

local function replicaset(obj)
  local s = obj.status or {}
  local want = replicas_wanted(obj)
  local available = int(s.availableReplicas, 0)
  if available < want then return false, string.format("%d of %d replicas available", available, want) end
  return true, string.format("%d of %d replicas available", available, want)
end

local function job(obj)
  local complete, failed = condition(obj, "Complete"), condition(obj, "Failed")
  if failed and failed.status == "True" then return false, "failed: " .. tostring(failed.message), true end
  if complete and complete.status == "True" then return true, "complete" end
  local s = obj.status or {}
  return false, string.format("%d active, %d succeeded", int(s.active, 0), int(s.succeeded, 0))
end

local function pod(obj)
  local s = obj.status or {}
  if s.phase == "Succeeded" then return true, "succeeded" end
  if s.phase == "Failed" then return false, "failed: " .. tostring(s.reason or s.message), true end
  local ready = condition(obj, "Ready")
  if ready and ready.status == "True" then return true, "running and ready" end
  return false, "phase " .. tostring(s.phase or "Pending") .. ", not ready"
end

local function phase_is(expected)
  return function(obj)
    local phase = obj.status and obj.status.phase
    if phase == expected then return true, phase end
    return false, "phase " .. tostring(phase or "unknown") .. ", waiting for " .. expected
  end
end

local function crd(obj)
  local established = condition(obj, "Established")
  if established and established.status == "True" then return true, "established" end
  local names = condition(obj, "NamesAccepted")
  if names and names.status == "False" then return false, "names not accepted: " .. tostring(names.message), true end
  return false, "not established yet"
end

local function service(obj)
  local spec = obj.spec or {}
  if spec.type ~= "LoadBalancer" then return true, "service " .. tostring(spec.type or "ClusterIP") end
  local ingress = obj.status and obj.status.loadBalancer and obj.status.loadBalancer.ingress
  if type(ingress) == "table" and #ingress > 0 then return true, "load balancer ready" end
  return false, "waiting for a load balancer address"
end

local RULES = {
  Deployment = deployment, StatefulSet = statefulset, DaemonSet = daemonset,
  ReplicaSet = replicaset, Job = job, Pod = pod, Namespace = phase_is("Active"),
  PersistentVolumeClaim = phase_is("Bound"), CustomResourceDefinition = crd, Service = service,
}

-- Generic objects: Stalled or Ready conditions (Flux, Flagger, most operators).
local function generic(obj)
  local stalled = condition(obj, "Stalled")
  if stalled and stalled.status == "True" then
    return false, "stalled: " .. tostring(stalled.message), true
  end
  local ready = condition(obj, "Ready")
  if ready then
    if ready.status == "True" then return true, tostring(ready.message or "ready") end
    return false, string.format("Ready=%s: %s", tostring(ready.status), tostring(ready.message or ready.reason))
  end
  local reconciling = condition(obj, "Reconciling")
  if reconciling and reconciling.status == "True" then
    return false, "reconciling: " .. tostring(reconciling.message)
  end
  return true, "no readiness conditions (current)"
end

--- ready(obj) -> ok, reason[, failed]: failed is true when waiting longer
-- cannot help (rollout deadline exceeded, Job failed, Stalled).
function status.ready(obj)
  if type(obj) ~= "table" then return false, "object does not exist" end
  local metadata, s = obj.metadata or {}, obj.status
  if metadata.deletionTimestamp then return false, "being deleted" end
  local generation = int(metadata.generation)
  local observed = type(s) == "table" and int(s.observedGeneration) or nil
  if generation and observed and observed < generation then
    return false, string.format("controller has not seen generation %d yet (observed %d)", generation, observed)
  end
  local rule = RULES[obj.kind] or generic
  return rule(obj)
end

--- A condition check: ok, reason.
function status.has_condition(obj, type_name, wanted)
  wanted = wanted or "True"
  local c = type(obj) == "table" and condition(obj, type_name)
  if c and c.status == wanted then return true, type_name .. "=" .. wanted end
  if not c then return false, "no " .. type_name .. " condition yet" end
  return false, string.format("%s=%s: %s", type_name, tostring(c.status), tostring(c.message or c.reason))
end

return status
