-- `ferry test`: runs busted-style spec files.
--
--   os.exit(require("ferry.test.runner").main(args))
--
-- main(args, io) parses the command line, finds and loads the spec files,
-- runs them and returns the exit status: 0 when everything passed, 1 when
-- any test failed or errored or the command line was wrong (busted's exit
-- status). `io` may replace the streams ({stdout =, stderr =}, objects with
-- :write and :flush), which is how the runner's own specs run it.

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
    return usage_error(stderr, tostring(files):gsub("^.-:%d+: ", ""))
  end

  provide_busted_modules()
  local snapshot = state.snapshot()
  local suite = core.new()
  dsl.install(suite)

  -- busted's exit status counts every failure and error published, also
  -- those no output handler shows (a missing output handler, say).
  local failures, errors = 0, 0
  suite:subscribe({ "error" }, function()
    errors = errors + 1
    suite.skip_all = not options.keep_going
    return nil, true
  end)
  suite:subscribe({ "failure" }, function(element)
    if element.descriptor == "it" then
      failures = failures + 1
    else
      errors = errors + 1
    end
    suite.skip_all = not options.keep_going
    return nil, true
  end)

  local is_tty = stdout == io.stdout and sys.isatty(1)
  local output = options.output or (is_tty and "utfTerminal" or "plainTerminal")
  local factory, load_err = load_output(output)
  if not factory then
    stderr:write("ferry test: error: Cannot load output library: " .. output .. "\n" .. load_err .. "\n")
    suite:publish({ "error", "output" }, { descriptor = "output", name = output }, nil, load_err, {})
    factory = assert(load_output(is_tty and "utfTerminal" or "plainTerminal"))
  end
  local handler = factory({
    stream = stdout,
    color = is_tty,
    verbose = options.verbose,
    suppressPending = options.suppress_pending,
    arguments = {},
  }, suite)
  handler:subscribe({ suppressPending = options.suppress_pending })

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

  block.run_suite(suite)
  suite:publish({ "exit" })
  snapshot:revert()
  stdout:flush()

  if failures + errors > 0 then
    return 1
  end
  return 0
end

trace.mark_internal()

return runner
