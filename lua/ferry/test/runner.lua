-- `ferry test`: runs busted-style spec files.
--
--   os.exit(require("ferry.test.runner").main(args))
--
-- main(args, streams) parses the command line (and the .busted file),
-- finds and loads the spec files, runs them and returns the exit status:
-- 0 when everything passed, 1 when any test failed or errored or the
-- command line was wrong (busted 2.x on Lua 5.3+ exits with 1 whatever
-- the count). `streams` may replace stdout and stderr ({stdout =, stderr =},
-- objects with :write and :flush), which is how the runner's own specs run
-- it in-process. The steps follow busted.runner, in its order.

local cli = require "ferry.test.cli"
local config = require "ferry.test.config"
local core = require "ferry.test.core"
local dsl = require "ferry.test.dsl"
local filters = require "ferry.test.filters"
local discover = require "ferry.test.discover"
local execute = require "ferry.test.execute"
local state = require "ferry.test.state"
local compat = require "ferry.test.busted"
local trace = require "ferry.test.trace"
local sys = require "ferry.sys"
local exec = require "exec"
local task = require "task"

-- Loaded now rather than on first use: files are insulated (modules they
-- load are forgotten afterwards), and the framework must not be loaded
-- twice with two sets of metatables.
require "ferry.test.output.base"
require "ferry.test.output.terminal"
require "ferry.test.language"

local runner = {}

-- The output handler factory named by `name`: a handler shipped with ferry,
-- a .lua file, or any module; nil and the reason when none loads.
local function load_output(name)
  local ok, factory = pcall(function()
    if name:match("%.lua$") then
      return dofile(name)
    end
    return require("ferry.test.output." .. name)
  end)
  if not ok and not name:match("%.lua$") and tostring(factory):match("module '.-' not found") then
    ok, factory = pcall(require, name)
  end
  if not ok then
    return nil, tostring(factory)
  end
  return factory
end

local function usage_error(stderr, message)
  stderr:write("ferry test: error: " .. message .. "; re-run with --help for usage.\n")
  return 1
end

local function fatal(stderr, message)
  stderr:write("ferry test: error: " .. message .. "\n")
  return 1
end

-- busted's exit status counts every failure and error published, also
-- those no output handler shows (a missing output handler, say). Returns a
-- function giving the count so far.
local function count_problems(suite, keep_going)
  local problems = 0
  local function count()
    problems = problems + 1
    suite.skip_all = not keep_going
    return nil, true
  end
  suite:subscribe({ "error" }, count)
  suite:subscribe({ "failure" }, count)
  return function()
    return problems
  end
end

-- Makes the output handler named by options.output (or the default) and
-- subscribes it; one that does not load is reported and the default used.
-- Raises a {kind = "usage"} error when the handler refuses its -Xoutput.
local function attach_output(suite, options, stdout, stderr)
  local is_tty = stdout == io.stdout and sys.isatty(1)
  local default = is_tty and "utfTerminal" or "plainTerminal"
  local handler_options = {
    stream = stdout,
    color = is_tty,
    verbose = options.verbose,
    suppressPending = options["suppress-pending"],
    deferPrint = options["defer-print"],
    language = options.lang,
    enableSound = options["enable-sound"],
    defaultOutput = default,
    arguments = options.Xoutput,
  }
  local function make(name)
    local factory, err = load_output(name)
    if not factory then
      return nil, err
    end
    local ok, handler = pcall(factory, handler_options, suite)
    if not ok and type(handler) == "table" and handler.kind == "usage" then
      error(handler, 0)
    end
    if not ok or type(handler) ~= "table" or not handler.subscribe then
      return nil, ok and (name .. " is not an output handler") or tostring(handler)
    end
    return handler
  end

  local name = options.output or default
  local handler, err = make(name)
  if not handler then
    stderr:write("ferry test: error: Cannot load output library: " .. name .. "\n" .. err .. "\n")
    suite:publish({ "error", "output" }, { descriptor = "output", name = name }, nil, err, {})
    handler = assert(make(default))
  end
  if options["enable-sound"] then
    make("sound"):subscribe(handler_options)
  end
  handler:subscribe(handler_options)
end

-- --helper: a .lua file or a module, run with _G.arg set to the -Xhelper
-- options. Returns nil and the error when it fails.
local function run_helper(helper, arguments)
  local saved_arg = _G.arg
  local ok, err = pcall(function()
    _G.arg = arguments
    if helper:match("%.lua$") then
      dofile(helper)
    else
      require(helper)
    end
  end)
  _G.arg = saved_arg
  if not ok then
    return nil, tostring(err)
  end
  return true
end

-- Declares the spec files; problems finding them are errors of the run.
local function load_specs(suite, options, files, missing)
  for _, path in ipairs(missing) do
    suite:publish({ "error" }, {}, nil, "Cannot find file or directory: " .. path, {})
  end
  for _, path in ipairs(files) do
    if path:match("%.lua$") then
      dsl.load_file(suite, path)
    end
  end
  if #files == 0 then
    local patterns = options.pattern
    local pattern = patterns[1]
    if #patterns > 1 then
      pattern = "\n\t" .. table.concat(patterns, "\n\t")
    end
    suite:publish({ "error" }, {}, nil, "No test files found matching Lua pattern: " .. tostring(pattern), {})
  end
end

-- The full names listed in --exclude-names-file, as a set.
local function read_names(path)
  local names = {}
  local f = io.open(path)
  if not f then
    return names
  end
  for line in f:lines() do
    if line ~= "" then
      names[line] = true
    end
  end
  f:close()
  return names
end

-- --log-success: the full name of each passing test, one per line.
local function log_successes(suite, path)
  suite:subscribe({ "test", "end" }, function(element, _, status)
    if status == "success" then
      local f = io.open(path, "a")
      if f then
        f:write(suite:full_name(element), "\n")
        f:close()
      end
    end
    return nil, true
  end)
end

-- -C DIR: ferry cannot change its own directory without sys.chdir, so
-- the run is repeated by a child ferry started in DIR; its report is
-- passed on when it ends.
local function run_elsewhere(directory, args, stdout, stderr)
  local binary = sys.realpath("/proc/self/exe")
  local argv = { binary, "test" }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a
  end
  local env = { FERRY_TEST_IN_DIRECTORY = "1", FERRY_BIN = os.getenv("FERRY_BIN") or binary }
  local result = exec.run { argv = argv, cwd = directory, env = env }
  stdout:write(result.stdout)
  stdout:flush()
  stderr:write(result.stderr)
  return result.code
end

-- LuaCov, as busted's --coverage starts it.
local function start_coverage(config_file)
  local ok, luacov = pcall(require, "luacov.runner")
  if not ok then
    return nil, "LuaCov not found on the system, try running without --coverage option, or install LuaCov first"
  end
  luacov(config_file)
  table.insert(luacov.configuration.exclude, "ferry%.test%.")
  return true
end

local function run(args, stdout, stderr)
  local explicit, err = cli.parse(args or {})
  if not explicit then
    return usage_error(stderr, err)
  end
  if explicit.help then
    stdout:write(cli.help())
    return 0
  end
  local moved = os.getenv("FERRY_TEST_IN_DIRECTORY") == "1"
  if moved then
    explicit.directory = nil -- run_elsewhere started this run in it already
  end
  local options
  options, err = config.resolve(explicit)
  if not options then
    return fatal(stderr, err)
  end
  if options.version then
    stdout:write(compat.version .. "\n")
    return 0
  end

  local directory = options.directory
  if directory and directory ~= "./" and directory ~= "." and not moved then
    if (sys.stat(directory) or {}).type ~= "directory" then
      return fatal(stderr, "cannot change to directory " .. directory)
    end
    if sys.chdir then
      local ok, reason = sys.chdir(directory)
      if not ok then
        return fatal(stderr, tostring(reason))
      end
    else
      return run_elsewhere(directory, args, stdout, stderr)
    end
  end

  if options.coverage then
    local ok, reason = start_coverage(options["coverage-config-file"])
    if not ok then
      return fatal(stderr, reason)
    end
  end

  local suite = core.new()
  dsl.install(suite, { auto_insulate = options["auto-insulate"], lazy = options.lazy })

  if options.lpath and #options.lpath > 0 then
    package.path = (options.lpath .. ";" .. package.path):gsub(";;", ";")
  end
  if options.cpath and #options.cpath > 0 then
    package.cpath = (options.cpath .. ";" .. package.cpath):gsub(";;", ";")
  end

  for _, statement in ipairs(options.e) do
    local chunk, load_err = load(statement, "=(command line)")
    if not chunk then
      return fatal(stderr, load_err)
    end
    local ok, run_err = pcall(chunk)
    if not ok then
      return fatal(stderr, tostring(run_err))
    end
  end

  compat.push(suite)
  local problems = count_problems(suite, options["keep-going"])
  suite:subscribe({ "error", "helper" }, function(element, _, message)
    stderr:write("ferry test: error: Cannot load helper script: " .. tostring(element.name) .. "\n"
      .. tostring(message) .. "\n")
    return nil, true
  end)

  suite.sort = options["sort-tests"] or false
  suite.randomize = options["shuffle-tests"] or false
  suite.randomseed = execute.new_seed(options)

  local ok, usage = pcall(attach_output, suite, options, stdout, stderr)
  if not ok then
    compat.pop()
    if type(usage) == "table" and usage.kind == "usage" then
      return fatal(stderr, usage.message)
    end
    error(usage, 0)
  end

  if options.helper and options.helper ~= "" then
    local helped, helper_err = run_helper(options.helper, options.Xhelper)
    if not helped then
      compat.pop()
      stderr:write("ferry test: failed running the specified helper (" .. options.helper .. "), error: "
        .. helper_err .. "\n")
      return 1
    end
  end

  filters.apply(suite, {
    tags = options.tags,
    exclude_tags = options["exclude-tags"],
    filter = options.filter,
    filter_out = options["filter-out"],
    names = options.name,
    exclude_names = options["exclude-names-file"] and read_names(options["exclude-names-file"]) or nil,
    list = options.list,
    suppress_pending = options["suppress-pending"],
    no_keep_going = not options["keep-going"],
    write = function(text)
      stdout:write(text)
    end,
  })
  if options["log-success"] then
    log_successes(suite, options["log-success"])
  end

  local found, files, missing = pcall(discover.files, options.ROOT, {
    pattern = options.pattern,
    exclude_pattern = options["exclude-pattern"],
    recursive = options.recursive,
  })
  if not found then
    compat.pop()
    return usage_error(stderr, (tostring(files):gsub("^.-:%d+: ", "")))
  end
  load_specs(suite, options, files, missing)

  execute.run(suite, {
    runs = options["repeat"],
    seed = options.seed,
    shuffle_files = options["shuffle-files"],
    sort_files = options["sort-files"],
  })
  suite:publish({ "exit" })
  compat.pop()
  stdout:flush()
  return problems() > 0 and 1 or 0
end

-- A spec that leaves a task running would keep the process waiting for it
-- after the summary: the tasks the run spawned and left are cancelled (their
-- cleanup runs), and one line says how many there were.
local function cancel_leftovers(before, stderr)
  local cancelled = task.cancel_all(before, require("ferry.errors").new("cancelled",
    "cancelled: left running when the specs ended"))
  if cancelled > 0 then
    stderr:write(string.format("ferry test: warning: the specs left %d task%s running; cancelled\n",
      cancelled, cancelled == 1 and "" or "s"))
  end
end

function runner.main(args, streams)
  streams = streams or {}
  local stdout = streams.stdout or io.stdout
  local stderr = streams.stderr or io.stderr
  compat.preload()
  -- what a run changes for the process is undone at its end, so runs can
  -- follow one another (or nest) in one process: assertion settings,
  -- module paths, the working directory
  local snapshot = state.snapshot()
  local saved_path, saved_cpath = package.path, package.cpath
  local cwd = sys.chdir and sys.realpath(".")
  local depth = compat.depth()
  local before = task.running()
  local ok, status = pcall(run, args, stdout, stderr)
  cancel_leftovers(before, stderr)
  compat.truncate(depth)
  package.path, package.cpath = saved_path, saved_cpath
  if cwd then
    sys.chdir(cwd)
  end
  snapshot:revert()
  if not ok then
    error(status, 0)
  end
  return status
end

trace.mark_internal()

return runner
