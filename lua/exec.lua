--- exec: run programs without a shell, on ferry's event loop.
--
-- exec.run{argv = {"git", "status"}} -> {code, stdout, stderr[, signal]}.
-- A non-zero exit is a result, not an error; failing to start the program
-- and running past `timeout` are errors ({kind = "exec"|"timeout", ...}).
local core = require "ferry.exec"
local duration = require "ferry.duration"
local errors = require "ferry.errors"
local task = require "task"

local exec = {}

local KILL_GRACE = 2 -- seconds between TERM and KILL on timeout

local function wait_finished(process)
  while not process:finished() do
    task.await(process)
  end
end

--- Runs a program. Options: argv (list, required), env ({NAME = value}, on
-- top of the inherited environment; false removes a variable), cwd, stdin
-- (string), timeout (seconds or e.g. "5m": the program gets TERM, then KILL
-- 2 s later).
function exec.run(options)
  if type(options) ~= "table" then
    error("exec.run expects a table: exec.run{argv = {\"git\", \"status\"}}", 2)
  end
  local timeout = duration.check(options.timeout, "exec.run", "timeout")
  local process <close> = core.start(options)
  if not timeout then
    wait_finished(process)
    return process:result()
  end
  local ok, err = pcall(task.timeout, timeout, wait_finished, process)
  if ok then return process:result() end
  if not errors.is(err, "timeout") then error(err, 0) end
  process:kill("TERM")
  pcall(task.timeout, KILL_GRACE, wait_finished, process) -- then __close kills
  errors.raise("timeout", string.format("'%s' did not finish within %g seconds (stopped)",
    table.concat(options.argv, " "), timeout), { argv = options.argv })
end

local Process = {}
Process.__index = Process

--- Starts a program and returns at once with a handle: process:wait() ->
-- the result of exec.run, process:kill([signal]), process:pid(),
-- process:close() (kills it if still running; also on `<close>` and GC).
function exec.spawn(options)
  if type(options) ~= "table" then
    error("exec.spawn expects a table: exec.spawn{argv = {\"server\"}}", 2)
  end
  return setmetatable({ op = core.start(options) }, Process)
end

function Process:wait()
  wait_finished(self.op)
  return self.op:result()
end

function Process:finished() return self.op:finished() end
function Process:kill(signal) return self.op:kill(signal) end
function Process:pid() return self.op:pid() end
function Process:close() self.op:cancel() end
Process.__close = Process.close

--- The full path of a program on PATH, or nil.
exec.which = core.which

return exec
