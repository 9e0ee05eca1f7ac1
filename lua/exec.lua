--- exec: run programs without a shell, on ferry's event loop.
--
-- exec.run{argv = {"git", "status"}} -> {code, stdout, stderr[, signal]}.
-- A non-zero exit is a result, not an error; failing to start the program
-- and running past `timeout` are errors ({kind = "exec"|"timeout", ...}).
local core = require "ferry.exec"
local task = require "task"

local exec = {}

local KILL_GRACE = 2 -- seconds between TERM and KILL on timeout

local function wait_finished(process)
  while not process:finished() do
    task.await(process)
  end
end

local function is_timeout(err)
  return type(err) == "table" and err.kind == "timeout"
end

--- Runs a program. Options: argv (list, required), env ({NAME = value}, on
-- top of the inherited environment; false removes a variable), cwd, stdin
-- (string), timeout (seconds: the program gets TERM, then KILL 2 s later).
function exec.run(options)
  if type(options) ~= "table" then
    error("exec.run expects a table: exec.run{argv = {\"git\", \"status\"}}", 2)
  end
  local process <close> = core.start(options)
  if not options.timeout then
    wait_finished(process)
    return process:result()
  end
  local ok, err = pcall(task.timeout, options.timeout, wait_finished, process)
  if ok then return process:result() end
  if not is_timeout(err) then error(err, 0) end
  process:kill("TERM")
  pcall(task.timeout, KILL_GRACE, wait_finished, process) -- then __close kills
  local timeout = task.new_error("timeout", string.format(
    "'%s' did not finish within %g seconds (stopped)", table.concat(options.argv, " "),
    options.timeout))
  timeout.argv = options.argv
  error(timeout, 2)
end

--- The full path of a program on PATH, or nil.
exec.which = core.which

return exec
