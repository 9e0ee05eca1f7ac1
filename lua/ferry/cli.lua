--- The ferry command line: subcommands, global flags, exit codes.
-- Exit codes (docs/cli.md): 0 success, 1 failure (error, failed tests),
-- 2 usage (unknown flag, missing file), 130 interrupted by Ctrl-C.
local errors = require "ferry.errors"
local log = require "log"
local task = require "task"

local cli = {}

local EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

local commands = {}

local function usage_error(message, command)
  io.stderr:write("ferry: ", message, "\n")
  io.stderr:write("Run 'ferry help", command and (" " .. command) or "", "' for usage.\n")
  return EXIT_USAGE
end

-- Runs fn under a traceback handler; prints one line per error, the
-- traceback only with --verbose or FERRY_TRACE=1.
local function report_errors(options, fn, ...)
  local traceback
  local ok, err = xpcall(fn, function(e)
    traceback = debug.traceback(errors.format(e), 2)
    return e
  end, ...)
  if ok then return err or EXIT_OK end
  if errors.is(err, "interrupted") then
    log.error("interrupted")
    return EXIT_INTERRUPTED
  end
  if options.verbose or os.getenv("FERRY_TRACE") == "1" then
    log.event("error", errors.format(err), { traceback = traceback })
  else
    log.error("%s", errors.format(err))
  end
  return EXIT_FAILURE
end

--- Parses global flags in front of the subcommand. Returns options, rest.
local function parse_global(args)
  local options = { log_format = nil, verbose = false }
  local i = 1
  while i <= #args do
    local a = args[i]
    local value = a:match("^%-%-log%-format=(.*)$")
    if a == "--log-format" then
      i = i + 1
      value = args[i]
      if not value then return nil, "--log-format needs a value: text or json" end
    end
    if value then
      if value ~= "text" and value ~= "json" then
        return nil, "unknown log format '" .. value .. "': use text or json"
      end
      options.log_format = value
    elseif a == "-v" or a == "--verbose" then
      options.verbose = true
    elseif a == "-h" or a == "--help" then
      options.help = true
    elseif a == "--version" then
      options.version = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "'"
    else
      break
    end
    i = i + 1
  end
  return options, { table.unpack(args, i) }
end

--- Splits "--set key=value" pairs and the rest.
local function parse_sets(args, command)
  local params, rest = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local pair = a:match("^%-%-set=(.*)$")
    if a == "--set" then
      i = i + 1
      pair = args[i]
      if not pair then return nil, "--set needs key=value" end
    end
    if a == "--" then
      for j = i + 1, #args do rest[#rest + 1] = args[j] end
      break
    elseif pair then
      local key, value = pair:match("^([%w_.%-]+)=(.*)$")
      if not key then
        return nil, "--set expects key=value, got '" .. pair .. "'"
      end
      params[key] = value
    elseif a == "-h" or a == "--help" then
      rest.help = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "' for '" .. command .. "'"
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return params, rest
end

local function script_dir(path)
  return path:match("^(.*)/[^/]*$") or "."
end

commands.run = {
  summary = "run a Lua script or recipe file",
  usage = [[
Usage: ferry run FILE [--set key=value]... [-- args...]

Runs FILE as a Lua chunk inside a task, with every ferry module available
through require. Files next to FILE can be required too. Each --set adds
key=value to the `params` table the chunk receives as its first argument
(`local params = ...`); the remaining arguments are in the global `arg`.

Examples:
  ferry run examples/hello.lua
  ferry run examples/hello.lua --set name=prod-eun-1]],
  run = function(args, options)
    local params, rest = parse_sets(args, "run")
    if not params then return usage_error(rest, "run") end
    if rest.help then
      print(commands.run.usage)
      return EXIT_OK
    end
    local path = rest[1]
    if not path then return usage_error("run needs a FILE", "run") end
    local chunk, err = loadfile(path)
    if not chunk then
      if err:match("cannot open") then
        return usage_error("cannot open '" .. path .. "': no such file (check the path)", "run")
      end
      io.stderr:write("ferry: ", err, "\n")
      return EXIT_FAILURE
    end
    local dir = script_dir(path)
    package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
    arg = { [0] = path, table.unpack(rest, 2) }
    return report_errors(options, function()
      chunk(params, table.unpack(rest, 2))
      task.wait_all() -- the tasks it spawned, and their failures
      return EXIT_OK
    end)
  end,
}

local function format_value(value)
  if type(value) == "table" then
    local json = require "json"
    local ok, text = pcall(json.encode, value, { pretty = true, sort_keys = true })
    if ok then return text end
  end
  return tostring(value)
end

commands.eval = {
  summary = "evaluate Lua code and print its results",
  usage = [[
Usage: ferry eval CODE

Evaluates CODE (an expression, or statements) with every ferry module
available through require, and prints the values it returns (tables as JSON).

Examples:
  ferry eval 'return 1 + 1'
  ferry eval 'return require("yaml").decode("a: [1, 2]")']],
  run = function(args, options)
    if args[1] == "-h" or args[1] == "--help" then
      print(commands.eval.usage)
      return EXIT_OK
    end
    if #args ~= 1 then return usage_error("eval needs exactly one CODE argument", "eval") end
    local code = args[1]
    local chunk, err = load("return " .. code, "=eval")
    if not chunk then chunk, err = load(code, "=eval") end
    if not chunk then
      io.stderr:write("ferry: ", err, "\n")
      return EXIT_FAILURE
    end
    return report_errors(options, function()
      local results = table.pack(chunk())
      for i = 1, results.n do print(format_value(results[i])) end
      task.wait_all()
      return EXIT_OK
    end)
  end,
}

commands.version = {
  summary = "print the versions of ferry and its libraries",
  usage = "Usage: ferry version\n\nPrints ferry's version and those of Lua, libcurl, libgit2, libyaml, cJSON.",
  run = function(args)
    if #args > 0 then return usage_error("version takes no arguments", "version") end
    local v = require("ferry.sys").versions()
    print("ferry " .. v.ferry)
    for _, name in ipairs { "lua", "libcurl", "libgit2", "libyaml", "cjson" } do
      print(string.format("%-8s %s", name, v[name]))
    end
    return EXIT_OK
  end,
}

commands.test = {
  summary = "run busted-style specs (*_spec.lua)",
  usage = [[
Usage: ferry test [PATH...] [options]

Runs the busted-style spec files under each PATH (default: spec/).
See 'ferry test --help' for the options, docs/testing.md for the guide.]],
  run = function(args)
    return require("ferry.test.runner").main(args)
  end,
}

commands.help = {
  summary = "show help for ferry or one command",
  usage = "Usage: ferry help [COMMAND]",
  run = function(args)
    local name = args[1]
    if not name then
      print(cli.usage())
      return EXIT_OK
    end
    local command = commands[name]
    if not command then return usage_error("unknown command '" .. name .. "'") end
    if name == "test" then return command.run({ "--help" }) end
    print(command.usage)
    return EXIT_OK
  end,
}

function cli.usage()
  local lines = {
    "ferry — blue/green Kubernetes cluster upgrades, written as Lua recipes",
    "",
    "Usage: ferry [--log-format text|json] [-v] [--lua-path DIR] COMMAND [ARGS]",
    "",
    "Commands:",
  }
  local names = {}
  for name in pairs(commands) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    lines[#lines + 1] = string.format("  %-10s %s", name, commands[name].summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Global options:"
  lines[#lines + 1] = "  --log-format FMT  text (default) or json log lines on stderr"
  lines[#lines + 1] = "  -v, --verbose     debug logging and tracebacks on errors"
  lines[#lines + 1] = "  --lua-path DIR    load Lua modules from DIR before the built-in library"
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted."
  lines[#lines + 1] = "Run 'ferry help COMMAND' for a command's options."
  return table.concat(lines, "\n")
end

function cli.main(args)
  local options, rest = parse_global(args)
  if not options then return usage_error(rest) end
  log.configure { format = options.log_format, level = options.verbose and "debug" or nil }
  if options.version then return commands.version.run({}) end
  local name = rest[1]
  if not name or options.help then
    print(cli.usage())
    return name and EXIT_OK or (options.help and EXIT_OK or EXIT_USAGE)
  end
  local command = commands[name]
  if not command then
    return usage_error("unknown command '" .. name .. "'")
  end
  return command.run({ table.unpack(rest, 2) }, options)
end

return cli
