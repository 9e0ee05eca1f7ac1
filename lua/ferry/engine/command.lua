--- ferry.engine.command: the commands a team configures in its fleet file
-- (argv lists with {placeholders}), run without a shell.
local errors = require "ferry.errors"
local exec = require "exec"

local command = {}

--- argv with each {name} replaced by vars[name] (unknown ones kept as they are).
function command.expand(argv, vars)
  local out = {}
  for i, a in ipairs(argv) do
    out[i] = tostring(a):gsub("{(%w+)}", function(k)
      return vars[k] ~= nil and tostring(vars[k]) or "{" .. k .. "}"
    end)
  end
  return out
end

--- Runs a configured command; raises {kind = kind} naming the setting when
-- it is missing and the command with its output when it fails. options:
-- {vars, setting = "traffic.switch_command", kind = "traffic", timeout, env}.
function command.run(argv, options)
  if type(argv) ~= "table" or #argv == 0 then
    error(errors.new(options.kind, string.format("%s is not set: give a command as a list, e.g. "
      .. "{\"eksctl\", \"create\", \"cluster\", \"--name\", \"{cluster}\"}, in the fleet file", options.setting)), 0)
  end
  local expanded = command.expand(argv, options.vars or {})
  local result = exec.run { argv = expanded, timeout = options.timeout or 3600, env = options.env }
  if result.code ~= 0 then
    local output = (result.stderr ~= "" and result.stderr or result.stdout):gsub("%s+$", "")
    error(errors.new(options.kind, string.format("%s failed (exit %d): %s", table.concat(expanded, " "),
      result.code, output:sub(-800))), 0)
  end
  return result
end

return command
