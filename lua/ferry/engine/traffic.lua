--- ferry.engine.traffic: moving traffic from the old cluster to the new one.
-- A driver is {current = fn(ctx, plan) -> previous (optional),
-- switch = fn(ctx, plan), restore = fn(ctx, previous, plan)}
-- where plan = {from, to, steps = {weights}, check = fn(ctx, weight),
-- now = fn() -> seconds since the epoch (the clock of the marks)}.
--   none      nothing to move (or done by hand): logs what to do
--   command   the team's own commands, once per weight step: {from} {to} {weight}
--   haproxy   HAProxy's runtime API (set weight) step by step, a check between steps
local errors = require "ferry.errors"
local command = require "ferry.engine.command"
local exec = require "exec"
local log = require "log"
local task = require "task"

local traffic = {}

local function run(argv, vars, setting)
  return command.run(argv, { vars = vars, setting = "traffic." .. setting, kind = "traffic", timeout = 300 }).stdout
end

-- Walks the weight steps, checking between them (the check returns when
-- the weight may move on, holding it meanwhile); on a failed check the
-- caller restores. Each weight set is marked on the report's charts.
local function walk(ctx, plan, set_weight)
  for _, weight in ipairs(plan.steps) do
    ctx.status("sending %d%% of traffic to %s", weight, plan.to)
    set_weight(weight)
    if ctx.report then
      ctx.report:mark(plan.now and plan.now() or os.time(), string.format("%d%% to %s", weight, plan.to))
    end
    if plan.check then plan.check(ctx, weight) end
    if plan.pause and weight < 100 then task.sleep(plan.pause) end
  end
end

traffic.none = {
  switch = function(_, plan)
    log.warn("traffic driver none: move the traffic from %s to %s yourself (load balancer, DNS)", plan.from, plan.to)
  end,
  restore = function(_, _) log.warn("traffic driver none: nothing to restore") end,
}

traffic.command = {
  current = function(_, plan) return { from = plan.from, to = plan.to } end,
  switch = function(ctx, plan)
    local s = plan.settings
    walk(ctx, plan, function(weight)
      run(s.switch_command, { from = plan.from, to = plan.to, weight = weight }, "switch_command")
    end)
  end,
  restore = function(_, previous, plan)
    run(plan.settings.rollback_command, { from = previous.from, to = previous.to, weight = 0 }, "rollback_command")
  end,
}

-- The runtime API answers an error in words ("No such server.", "Unknown
-- command", "Require 'backend/server'.", "Invalid ..."); success is empty
-- or data.
local REFUSALS = { "no such", "unknown", "require", "invalid", "not found", "cannot", "error" }
local function refused(answer)
  if answer == "" or answer:match("^%d") then return false end
  local lower = answer:lower()
  for _, word in ipairs(REFUSALS) do
    if lower:find(word, 1, true) then return true end
  end
  return false
end

-- The runtime API over TCP or a Unix socket, through socat.
local function haproxy_command(settings, line)
  local address = settings.runtime_api
  if not address then
    error(errors.new("traffic", "traffic driver haproxy needs traffic.runtime_api (e.g. 127.0.0.1:9999 or /run/haproxy.sock)"), 0)
  end
  local target = address:find("/", 1, true) and ("UNIX-CONNECT:" .. address) or ("TCP:" .. address)
  local r = exec.run { argv = { "socat", "-", target }, stdin = line .. "\n", timeout = 30 }
  if r.code ~= 0 then
    error(errors.new("traffic", "HAProxy runtime API at " .. address .. " failed: " .. r.stderr), 0)
  end
  local answer = r.stdout:gsub("%s+$", "")
  if refused(answer) then error(errors.new("traffic", "HAProxy refused '" .. line .. "': " .. answer), 0) end
  return answer
end
traffic.haproxy_command = haproxy_command

local function haproxy_servers(plan)
  local s = plan.settings
  local backend, old_server, new_server = s.backend, s.servers and s.servers[plan.from], s.servers and s.servers[plan.to]
  if not backend or not old_server or not new_server then
    error(errors.new("traffic", "traffic driver haproxy needs traffic.backend and traffic.servers = {<cluster> = server}"), 0)
  end
  return backend, old_server, new_server
end

traffic.haproxy = {
  current = function(_, plan)
    local s = plan.settings
    local backend, old_server, new_server = haproxy_servers(plan)
    return {
      old = haproxy_command(s, string.format("get weight %s/%s", backend, old_server)):match("^(%d+)"),
      new = haproxy_command(s, string.format("get weight %s/%s", backend, new_server)):match("^(%d+)"),
    }
  end,
  switch = function(ctx, plan)
    local s = plan.settings
    local backend, old_server, new_server = haproxy_servers(plan)
    walk(ctx, plan, function(weight)
      haproxy_command(s, string.format("set weight %s/%s %d", backend, new_server, weight))
      haproxy_command(s, string.format("set weight %s/%s %d", backend, old_server, 100 - weight))
    end)
  end,
  restore = function(_, previous, plan)
    local s = plan.settings
    haproxy_command(s, string.format("set weight %s/%s %s", s.backend, s.servers[plan.from], previous.old or 100))
    haproxy_command(s, string.format("set weight %s/%s %s", s.backend, s.servers[plan.to], previous.new or 0))
  end,
}

function traffic.get(name)
  local d = traffic[name or "none"]
  if type(d) ~= "table" or not d.switch then
    error(errors.new("traffic", string.format("unknown traffic driver '%s': use none, command or haproxy", tostring(name))), 0)
  end
  return d
end

return traffic
