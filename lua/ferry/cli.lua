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
-- traceback only with --verbose or FERRY_TRACE=1. When fn fails, the tasks
-- it spawned that still run are cancelled (their cleanup runs), so the
-- command ends instead of waiting for them.
local function report_errors(options, fn, ...)
  local traceback
  local before = task.running()
  local ok, err = xpcall(fn, function(e)
    traceback = errors.traceback(e, 2)
    return e
  end, ...)
  if ok then return err or EXIT_OK end
  task.cancel_all(before, errors.new("cancelled", "cancelled: the command failed"))
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

-- Options of `run` and `plan` that take a value, and flags.
local RUN_VALUES = { fleet = "fleet", resume = "resume", ["report-dir"] = "report_dir" }
local RUN_FLAGS = { ["dry-run"] = "dry_run", ["keep-on-failure"] = "keep_on_failure" }

--- Parses `run`/`plan` arguments: --set key=value, --fleet FILE, --resume ID,
-- --report-dir DIR, --dry-run, --keep-on-failure, -h; returns options
-- {params, args (positional), ...} or nil, message.
local function parse_run_args(args, command)
  local o = { params = {}, args = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if a == "--" then
      for j = i + 1, #args do o.args[#o.args + 1] = args[j] end
      break
    elseif a == "-h" or a == "--help" then
      o.help = true
    elseif name == "set" then
      local pair = inline
      if not pair then
        i = i + 1
        pair = args[i]
      end
      local key, value = (pair or ""):match("^([%w_.%-]+)=(.*)$")
      if not key then return nil, "--set expects key=value, got '" .. tostring(pair) .. "'" end
      o.params[key] = value
    elseif name and RUN_VALUES[name] then
      local value = inline
      if not value then
        i = i + 1
        value = args[i]
      end
      if not value then return nil, "--" .. name .. " needs a value" end
      o[RUN_VALUES[name]] = value
    elseif name and RUN_FLAGS[name] and not inline then
      o[RUN_FLAGS[name]] = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "' for '" .. command .. "'"
    else
      o.args[#o.args + 1] = a
    end
    i = i + 1
  end
  return o
end

local function script_dir(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local file_exists = require("ferry.file").exists

local EXIT_OF_STATUS = { succeeded = EXIT_OK, failed = EXIT_FAILURE, rolled_back = EXIT_FAILURE,
                         interrupted = EXIT_INTERRUPTED }

local function recipe_help(r)
  local params = require "ferry.engine.params"
  return string.format("%s — %s\n\nUsage: ferry run %s [--set name=value]... [--fleet FILE] [--dry-run]\n"
    .. "         [--keep-on-failure] [--resume RUN_ID] [--report-dir DIR]\n\nParameters:\n%s\n\nSteps: %s",
    r.name, r.description, r.name, params.help(r.params), table.concat(r:step_names(), ", "))
end

-- The journal of the run --resume names, or nil and the usage error's status:
-- an unknown run is a usage error whichever way the recipe is named.
local function resumed_journal(id)
  local ok, j = pcall(require("ferry.engine.journal").load, id)
  if not ok then return nil, usage_error(errors.format(j), "run") end
  return j
end

-- Runs (or plans) a loaded recipe with the parsed options.
local function run_recipe(r, o, options)
  if o.help then
    print(recipe_help(r))
    return EXIT_OK
  end
  if o.resume then
    local j, status = resumed_journal(o.resume)
    if not j then return status end
  else
    -- a wrong parameter is a usage error: say so before anything runs
    local ok, err = pcall(require("ferry.engine.params").validate, r.name, r.params, o.params)
    if not ok then
      io.stderr:write("ferry: ", log.redact(errors.format(err)), "\n")
      io.stderr:write("Run 'ferry run ", r.name, " --help' for its parameters.\n")
      return EXIT_USAGE
    end
  end
  return report_errors(options, function()
    local fleet = o.fleet and require("ferry.engine.fleet").load(o.fleet) or nil
    if o.dry_run then
      require("ferry.engine").plan(r, { params = o.params, fleet = fleet })
      return EXIT_OK
    end
    local report = require("recipe").run(r, { params = o.params, fleet = fleet,
      keep_on_failure = o.keep_on_failure, resume = o.resume, report_dir = o.report_dir })
    return EXIT_OF_STATUS[report.status] or EXIT_FAILURE
  end)
end

-- A file: a plain script, or a recipe when it returns one.
local function run_file(path, o, options)
  local chunk, err = loadfile(path)
  if not chunk then
    io.stderr:write("ferry: ", err, "\n")
    return EXIT_FAILURE
  end
  local dir = script_dir(path)
  package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
  arg = { [0] = path, table.unpack(o.args, 2) }
  local returned
  local status = report_errors(options, function()
    returned = chunk(o.params, table.unpack(o.args, 2))
    task.wait_all() -- the tasks it spawned, and their failures
    return EXIT_OK
  end)
  if status == EXIT_OK and getmetatable(returned) == require("recipe").Recipe then
    returned.source = path
    return run_recipe(returned, o, options)
  end
  return status
end

commands.run = {
  summary = "run a recipe (by name) or a Lua script/recipe file",
  usage = [[
Usage: ferry run NAME|FILE [--set key=value]... [--fleet FILE] [--dry-run]
                 [--keep-on-failure] [--resume RUN_ID] [--report-dir DIR] [-- args...]
       ferry run --resume RUN_ID

NAME is a recipe found in $FERRY_RECIPES, ./recipes or ferry's built-in
recipes (`ferry recipes list`); FILE is a Lua file. A file that returns a
recipe runs as one; any other file runs as a script that receives the
--set values as `params` (`local params = ...`) and the arguments after
FILE (or after --) in `arg`.

Recipe runs write a journal (.ferry/runs/ID.json, or $FERRY_STATE_DIR/runs)
so an interrupted run resumes without repeating finished steps, and end with
a report (Markdown and JSON beside the journal). On a failure the finished
steps are undone in reverse order unless --keep-on-failure.

  --set key=value       a recipe parameter (see `ferry run NAME --help`)
  --fleet FILE          fleet settings (defaults, regions, clusters, tenants)
  --dry-run             print the plan and what each step would change; change nothing
  --keep-on-failure     on failure, keep what the finished steps made
  --resume RUN_ID       continue an interrupted run (`ferry runs` lists them)
  --report-dir DIR      where to write the report (default: beside the journal)

Examples:
  ferry run examples/hello.lua --set name=prod-eun-1
  ferry run upgrade-cluster --set from=prod-eun-1 --set to=prod-eun-2 --fleet fleet.yaml
  ferry run --resume upgrade-cluster-20261125-171200-3f2a]],
  run = function(args, options)
    local o, err = parse_run_args(args, "run")
    if not o then return usage_error(err, "run") end
    local target = o.args[1]
    if not target and o.resume then
      local j, status = resumed_journal(o.resume)
      if not j then return status end
      -- the file it ran from, when it came from one that is still there
      target = (j.data.source and file_exists(j.data.source)) and j.data.source or j.data.recipe
      o.args[1] = target
    end
    if not target then
      if o.help then
        print(commands.run.usage)
        return EXIT_OK
      end
      return usage_error("run needs a recipe NAME or a FILE", "run")
    end
    if file_exists(target) then return run_file(target, o, options) end
    if target:match("%.lua$") or target:find("/", 1, true) then
      return usage_error("cannot open '" .. target .. "': no such file (check the path)", "run")
    end
    local ok, r = pcall(require("recipe").load, target)
    if not ok then return usage_error(errors.format(r), "run") end
    return run_recipe(r, o, options)
  end,
}

commands.plan = {
  summary = "show what a recipe would do, changing nothing",
  usage = [[
Usage: ferry plan NAME|FILE [--set key=value]... [--fleet FILE]

Same as `ferry run NAME --dry-run`: checks the parameters and prints each
step with what it would change (steps that can tell use server-side dry runs).]],
  run = function(args, options)
    args = { table.unpack(args) }
    args[#args + 1] = "--dry-run"
    return commands.run.run(args, options)
  end,
}

commands.runs = {
  summary = "list recipe runs and their status",
  usage = "Usage: ferry runs [--all]\n\nLists the runs recorded in .ferry/runs ($FERRY_STATE_DIR/runs), newest first.\n"
    .. "STATUS is running while a process drives the run, interrupted when its process\n"
    .. "stopped before the end (resume it with ferry run NAME --resume RUN), else how it ended.",
  run = function(args)
    if args[1] == "-h" or args[1] == "--help" then
      print(commands.runs.usage)
      return EXIT_OK
    end
    local journal = require "ferry.engine.journal"
    local runs = journal.list()
    if #runs == 0 then
      print("no runs yet in " .. journal.dir())
      return EXIT_OK
    end
    local limit = args[1] == "--all" and #runs or math.min(#runs, 20)
    print(string.format("%-48s %-18s %-12s %s", "RUN", "RECIPE", "STATUS", "STARTED"))
    for i = 1, limit do
      local r = runs[i]
      -- "running" only while a process holds the run's lock
      print(string.format("%-48s %-18s %-12s %s", r.id, r.recipe, journal.live_status(r, journal.dir()), r.started))
    end
    return EXIT_OK
  end,
}

commands.recipes = {
  summary = "list, show or copy recipes",
  usage = [[
Usage: ferry recipes list
       ferry recipes show NAME
       ferry recipes copy NAME DEST

list shows the recipes ferry finds ($FERRY_RECIPES, ./recipes, built-in);
show prints one's source; copy writes it as a starting point to edit: into
the directory DEST (made when missing) with every recipe it uses, so the
copy holds the whole procedure, or to the file DEST.lua alone. It never
overwrites a file.]],
  run = function(args)
    local catalog = require "ferry.engine.catalog"
    local sub = args[1]
    if sub == "list" then
      for _, entry in ipairs(catalog.list()) do
        print(string.format("%-22s %-10s %s", entry.name, entry.origin, entry.description))
      end
      return EXIT_OK
    elseif sub == "show" and args[2] then
      local ok, text = pcall(catalog.source, args[2])
      if not ok then return usage_error(errors.format(text), "recipes") end
      io.stdout:write(text)
      return EXIT_OK
    elseif sub == "copy" and args[2] and args[3] then
      local ok, written, left = pcall(catalog.copy, args[2], args[3])
      if not ok then return usage_error(errors.format(written), "recipes") end
      for _, path in ipairs(written) do print("wrote " .. path) end
      if #left > 0 then
        print("it uses " .. table.concat(left, ", ") .. ", found by name as before "
          .. "(copy to a directory to get them too)")
      end
      return EXIT_OK
    elseif sub == "-h" or sub == "--help" then
      print(commands.recipes.usage)
      return EXIT_OK
    end
    return usage_error("recipes needs list, show NAME or copy NAME DEST", "recipes")
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
  usage = "Usage: ferry version\n\nPrints ferry's version and those of Lua, libcurl, libgit2, libyaml.",
  run = function(args)
    if #args > 0 then return usage_error("version takes no arguments", "version") end
    local v = require("ferry.sys").versions()
    print("ferry " .. v.ferry)
    for _, name in ipairs { "lua", "libcurl", "libgit2", "libyaml" } do
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

commands.repl = setmetatable({
  summary = "a Lua prompt with clients of your clusters (troubleshooting)",
  run = function(args) return require("repl").main(args) end,
}, { __index = function(_, key) -- the usage lives with the REPL, loaded on demand
  if key == "usage" then return require("repl").usage end
end })

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
