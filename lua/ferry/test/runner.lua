-- `ferry test`: runs busted-style spec files.
--
--   os.exit(require("ferry.test.runner").main(args))
--
-- main(args, streams) parses the command line, finds and loads the spec
-- files, runs them and returns the exit status: 0 when everything passed,
-- 1 when any test failed or errored or the command line was wrong (busted
-- 2.x exits with 1 whatever the count). `streams` may replace stdout and
-- stderr ({stdout =, stderr =}, objects with :write and :flush), which is
-- how the runner's own specs run it in-process.

local cli = require "ferry.test.cli"
local core = require "ferry.test.core"
local dsl = require "ferry.test.dsl"
local block = require "ferry.test.block"
local filters = require "ferry.test.filters"
local discover = require "ferry.test.discover"
local state = require "ferry.test.state"
local trace = require "ferry.test.trace"
local sys = require "ferry.sys"

-- Loaded now rather than on first use: files are insulated (modules they
-- load are forgotten afterwards), and the framework must not be loaded
-- twice with two sets of metatables.
require "ferry.test.output.base"
require "ferry.test.output.terminal"

local runner = {}

-- Specs written for busted require luassert and say by name.
local function provide_busted_modules()
  package.preload["luassert"] = package.preload["luassert"] or function()
    return require "ferry.test.assert"
  end
  package.preload["say"] = package.preload["say"] or function()
    return require "ferry.test.say"
  end
end

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

-- busted's exit status counts every failure and error published, also
-- those no output handler shows (a missing output handler, say). Returns a
-- function giving the count so far.
local function count_problems(suite, options)
  local problems = 0
  local function count()
    problems = problems + 1
    suite.skip_all = not options.keep_going
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
local function attach_output(suite, options, stdout, stderr)
  local is_tty = stdout == io.stdout and sys.isatty(1)
  local default = is_tty and "utfTerminal" or "plainTerminal"
  local handler_options = {
    stream = stdout,
    color = is_tty,
    verbose = options.verbose,
    suppressPending = options.suppress_pending,
    arguments = {},
  }
  local function make(name)
    local factory, err = load_output(name)
    if not factory then
      return nil, err
    end
    local ok, handler = pcall(factory, handler_options, suite)
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
  handler:subscribe({ suppressPending = options.suppress_pending })
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
    local pattern = options.pattern[1]
    if #options.pattern > 1 then
      pattern = "\n\t" .. table.concat(options.pattern, "\n\t")
    end
    suite:publish({ "error" }, {}, nil, "No test files found matching Lua pattern: " .. pattern, {})
  end
end

function runner.main(args, streams)
  streams = streams or {}
  local stdout = streams.stdout or io.stdout
  local stderr = streams.stderr or io.stderr

  local options, err = cli.parse(args or {})
  if not options then
    return usage_error(stderr, err)
  end
  if options.help then
    stdout:write(cli.help())
    return 0
  end
  local ok, files, missing = pcall(discover.files, options.paths, options)
  if not ok then
    return usage_error(stderr, (tostring(files):gsub("^.-:%d+: ", "")))
  end

  provide_busted_modules()
  -- assertion settings changed during the run (by specs or the output
  -- handler) are undone at its end
  local snapshot = state.snapshot()
  local suite = core.new()
  dsl.install(suite)
  local problems = count_problems(suite, options)
  attach_output(suite, options, stdout, stderr)
  filters.apply(suite, {
    tags = options.tags,
    exclude_tags = options.exclude_tags,
    filter = options.filter,
    filter_out = options.filter_out,
    list = options.list,
    no_keep_going = not options.keep_going,
    write = function(text)
      stdout:write(text)
    end,
  })
  load_specs(suite, options, files, missing)
  block.run_suite(suite)
  suite:publish({ "exit" })
  snapshot:revert()
  stdout:flush()
  return problems() > 0 and 1 or 0
end

trace.mark_internal()

return runner
