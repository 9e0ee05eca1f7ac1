-- The command line of `ferry test`: busted 2.x's flags, defaults and
-- value rules.
--
-- Each flag is described once in `flags`; parsing, defaults and --help all
-- come from that table. Values are accepted as `--name=value`, `--name
-- value`, `-n value` and `-n=value`; flags marked `negatable` also take
-- `--no-name`. Options are keyed by their long name, as busted's are, so a
-- .busted file uses the same keys (see ferry.test.config).
--
-- cli.parse(args) returns two tables: the options given on the command
-- line (`explicit`) and the defaults of the others; config.resolve merges
-- them with the .busted file.

local trace = require "ferry.test.trace"

local cli = {}

-- kind: "flag" (boolean), "value" (last one wins), "number", "multi"
-- (repeatable), "list" (repeatable and comma-separated), "path" (joined
-- with ';'), "join" (joined with ','), "dir" (each relative to the last).
-- `sets`: a flag that sets others (--shuffle, --sort).
local flags = {
  { long = "output", short = "o", kind = "value", arg = "LIBRARY",
    help = "output library: utfTerminal (default on a terminal), plainTerminal (default otherwise), "
      .. "TAP, junit, json, gtest, or a module or .lua file of your own" },
  { long = "pattern", short = "p", kind = "multi", arg = "PATTERN", default = { "_spec" },
    help = "only run test files whose name matches the Lua pattern (default: _spec)" },
  { long = "exclude-pattern", kind = "multi", arg = "PATTERN", default = {},
    help = "do not run test files matching the Lua pattern, takes precedence over --pattern" },
  { long = "e", single = true, kind = "multi", arg = "STATEMENT", default = {},
    help = "execute the Lua statement STATEMENT before loading the specs" },
  { long = "directory", short = "C", kind = "dir", arg = "DIR", default = "./",
    help = "change to directory DIR before running tests (each one relative to the previous)" },
  { long = "config-file", short = "f", kind = "value", arg = "FILE",
    help = "load configuration options from FILE (default: .busted, if present)" },
  { long = "coverage-config-file", kind = "value", arg = "FILE",
    help = "load LuaCov configuration options from FILE" },
  { long = "tags", short = "t", kind = "list", arg = "TAGS", default = {},
    help = "only run tests with these #tags (comma-separated, repeatable)" },
  { long = "exclude-tags", kind = "list", arg = "TAGS", default = {},
    help = "do not run tests with these #tags, takes precedence over --tags" },
  { long = "filter", kind = "multi", arg = "PATTERN", default = {},
    help = "only run tests whose full name matches the Lua pattern" },
  { long = "filter-out", kind = "multi", arg = "PATTERN", default = {},
    help = "do not run tests whose full name matches the Lua pattern, takes precedence over --filter" },
  { long = "name", kind = "multi", arg = "NAME", default = {},
    help = "only run tests with exactly this full name (repeatable)" },
  { long = "exclude-names-file", kind = "value", arg = "FILE",
    help = "do not run the tests whose full names are listed in FILE, one per line" },
  { long = "log-success", kind = "value", arg = "FILE",
    help = "append the full name of each test that succeeds to FILE" },
  { long = "lpath", short = "m", kind = "path", arg = "PATH",
    default = "./src/?.lua;./src/?/?.lua;./src/?/init.lua",
    help = "prefix the Lua module search path (package.path) with PATH" },
  { long = "cpath", kind = "path", arg = "PATH", default = "./csrc/?.so;./csrc/?/?.so;",
    help = "prefix the Lua C module search path (package.cpath) with PATH" },
  { long = "run", short = "r", kind = "value", arg = "RUN",
    help = "the task of the .busted file to run (default: its 'default' task)" },
  { long = "repeat", kind = "number", arg = "COUNT", default = 1,
    help = "run the tests COUNT times" },
  { long = "seed", kind = "number", arg = "SEED", default = "/dev/urandom or os.time()",
    help = "random seed for --shuffle and randomize()" },
  { long = "lang", kind = "value", arg = "LANG", default = "en",
    help = "language of the messages (en)" },
  { long = "loaders", kind = "join", arg = "NAME", default = "lua,moonscript",
    help = "test file loaders (lua; others are ignored)" },
  { long = "helper", kind = "value", arg = "PATH",
    help = "a Lua file or module run before the tests" },
  { long = "lua", kind = "value", arg = "LUA",
    help = "accepted for compatibility; specs always run on ferry's Lua" },
  { long = "Xoutput", single = true, kind = "list", arg = "OPTION", default = {},
    help = "pass OPTION to the output handler (comma-separated, repeatable)" },
  { long = "Xhelper", single = true, kind = "list", arg = "OPTION", default = {},
    help = "pass OPTION to the helper (comma-separated, repeatable)" },
  { long = "coverage", short = "c", kind = "flag", negatable = true, default = false,
    help = "do code coverage analysis (needs LuaCov on the module path)" },
  { long = "verbose", short = "v", kind = "flag", negatable = true, default = false,
    help = "verbose output of errors (tracebacks)" },
  { long = "enable-sound", short = "s", kind = "flag", negatable = true, default = false,
    help = "say the outcome aloud (espeak) at the end" },
  { long = "list", short = "l", kind = "flag", default = false,
    help = "list the names of the tests instead of running them" },
  { long = "ignore-lua", kind = "flag", default = false,
    help = "ignore the --lua option" },
  { long = "lazy", kind = "flag", negatable = true, default = false,
    help = "make setup/teardown mean lazy_setup/lazy_teardown" },
  { long = "auto-insulate", kind = "flag", negatable = true, default = true,
    help = "insulate each file (--no-auto-insulate lets globals flow to later files)" },
  { long = "keep-going", short = "k", kind = "flag", negatable = true, default = true,
    help = "go on after a failure or error (--no-keep-going stops at the first)" },
  { long = "recursive", short = "R", kind = "flag", negatable = true, default = true,
    help = "look for spec files in subdirectories" },
  { long = "shuffle", kind = "flag", negatable = true, sets = { "shuffle-files", "shuffle-tests" },
    help = "randomize file and test order (--shuffle-files and --shuffle-tests)" },
  { long = "shuffle-files", kind = "flag", negatable = true,
    help = "randomize the order of the files, takes precedence over --sort-files" },
  { long = "shuffle-tests", kind = "flag", negatable = true,
    help = "randomize the order of the tests in each block, takes precedence over --sort-tests" },
  { long = "sort", kind = "flag", negatable = true, sets = { "sort-files", "sort-tests" },
    help = "sort files and tests by name (--sort-files and --sort-tests)" },
  { long = "sort-files", kind = "flag", negatable = true,
    help = "sort the files by name" },
  { long = "sort-tests", kind = "flag", negatable = true,
    help = "sort the tests of each block by name" },
  { long = "suppress-pending", kind = "flag", negatable = true, default = false,
    help = "leave pending tests out of the output" },
  { long = "defer-print", kind = "flag", negatable = true, default = false,
    help = "print nothing until the run is over" },
  { long = "version", kind = "flag", default = false,
    help = "print the busted version this runner follows, and exit" },
  { long = "help", short = "h", kind = "flag", default = false,
    help = "show this help and exit" },
}

local by_long, by_short, by_single = {}, {}, {}
for _, flag in ipairs(flags) do
  if flag.single then
    by_single[flag.long] = flag
  else
    by_long[flag.long] = flag
  end
  if flag.short then
    by_short[flag.short] = flag
  end
end

cli.flags = flags

local function copy(value)
  if type(value) ~= "table" then
    return value
  end
  local t = {}
  for i, v in ipairs(value) do
    t[i] = v
  end
  return t
end

-- The default of every option (busted's cliArgs before parsing).
function cli.defaults()
  local defaults = { ROOT = { "spec" } }
  for _, flag in ipairs(flags) do
    if flag.default ~= nil then
      defaults[flag.long] = copy(flag.default)
    end
  end
  return defaults
end

local function split(value, separator)
  local items = {}
  for item in (value .. separator):gmatch("(.-)" .. separator) do
    items[#items + 1] = item
  end
  return items
end

local function join_dir(base, value)
  if value:sub(1, 1) == "/" or not base or base == "" or base == "./" then
    return value
  end
  return (base:gsub("/*$", "")) .. "/" .. value
end

-- Stores one value in `explicit` as busted's cli module does.
local function store(explicit, flag, value, arg)
  local key = flag.long
  local kind = flag.kind
  if kind == "value" then
    explicit[key] = value
  elseif kind == "number" then
    local number = tonumber(value)
    if not number then
      return nil, "argument to " .. arg:gsub("=.*", "") .. " must be a number"
    end
    explicit[key] = number
  elseif kind == "multi" then
    explicit[key] = explicit[key] or {}
    table.insert(explicit[key], value)
  elseif kind == "list" then
    explicit[key] = explicit[key] or {}
    for _, item in ipairs(split(value, ",")) do
      table.insert(explicit[key], item)
    end
  elseif kind == "path" then
    explicit[key] = explicit[key] and (explicit[key] .. ";" .. value) or value
  elseif kind == "join" then
    explicit[key] = explicit[key] and (explicit[key] .. "," .. value) or value
  elseif kind == "dir" then
    explicit[key] = join_dir(explicit[key], value)
  end
  return true
end

-- Splits "--name=value" / "-n=value" / "-Xoutput"; returns the flag, the
-- inline value and whether a boolean flag was negated with --no-.
local function lookup(arg)
  local name, inline = arg:match("^%-%-([^=]+)=(.*)$")
  name = name or arg:match("^%-%-(.+)$")
  if name then
    local flag = by_long[name]
    if not flag and name:sub(1, 3) == "no-" then
      local negated = by_long[name:sub(4)]
      if negated and negated.negatable then
        return negated, inline, true
      end
    end
    return flag, inline, false
  end
  local single, single_inline = arg:match("^%-(%a%w+)=(.*)$")
  single = single or arg:match("^%-(%a%w+)$")
  if single and by_single[single] then
    return by_single[single], single_inline, false
  end
  local short, short_inline = arg:match("^%-(%a)=?(.*)$")
  if short then
    return by_short[short] or by_single[short], short_inline ~= "" and short_inline or nil, false
  end
  return nil
end

local function set_flag(explicit, flag, on)
  if flag.sets then
    for _, name in ipairs(flag.sets) do
      explicit[name] = on
    end
  else
    explicit[flag.long] = on
  end
end

-- Returns the options given (keyed by long name, paths in ROOT), or nil
-- and a one-line reason.
function cli.parse(args)
  local explicit = {}
  local i = 1
  local function positional(value)
    explicit.ROOT = explicit.ROOT or {}
    for _, item in ipairs(split(value, ",")) do
      table.insert(explicit.ROOT, item)
    end
  end
  while i <= #args do
    local arg = args[i]
    if arg == "--" then
      for j = i + 1, #args do
        positional(args[j])
      end
      break
    elseif arg:sub(1, 1) == "-" and arg ~= "-" then
      local flag, inline, negated = lookup(arg)
      if not flag then
        return nil, "unknown option '" .. arg .. "'"
      end
      if flag.kind == "flag" then
        if inline then
          return nil, "option '--" .. flag.long .. "' takes no value"
        end
        set_flag(explicit, flag, not negated)
      else
        local value = inline
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then
            return nil, "option '" .. arg .. "' needs a value"
          end
        end
        local ok, err = store(explicit, flag, value, arg)
        if not ok then
          return nil, err
        end
      end
    else
      positional(arg)
    end
    i = i + 1
  end
  return explicit
end

-- Puts merged options in the forms the runner uses, as busted does after
-- merging a .busted file: lists where lists are expected, tags split at
-- commas. Returns nil and a reason when the options contradict.
function cli.normalize(options)
  local function list(value)
    if value == nil then
      return {}
    end
    return type(value) == "table" and value or { value }
  end
  local function comma_list(value)
    local out = {}
    for _, item in ipairs(list(value)) do
      for _, part in ipairs(split(tostring(item), ",")) do
        out[#out + 1] = part
      end
    end
    return out
  end
  for _, key in ipairs({ "e", "pattern", "exclude-pattern", "filter", "filter-out", "name", "ROOT" }) do
    options[key] = list(options[key])
  end
  for _, key in ipairs({ "tags", "exclude-tags", "loaders", "Xoutput", "Xhelper" }) do
    options[key] = comma_list(options[key])
  end
  for _, excluded in ipairs(options["exclude-tags"]) do
    for _, included in ipairs(options.tags) do
      if excluded == included then
        return nil, "Cannot use --tags and --exclude-tags for the same tags"
      end
    end
  end
  options["repeat"] = tonumber(options["repeat"]) or 1
  return options
end

function cli.help()
  local lines = {
    "Usage: ferry test [OPTIONS] [--] [ROOT...]",
    "",
    "Runs busted-style spec files. ROOT are files or directories (default: spec);",
    "directories are searched for .lua files whose name matches --pattern.",
    "Options may also come from a .busted file (see docs/testing.md).",
    "",
    "Options:",
  }
  for _, flag in ipairs(flags) do
    local names
    if flag.single then
      names = "-" .. flag.long .. " " .. flag.arg
    else
      local long = flag.negatable and ("--[no-]" .. flag.long) or ("--" .. flag.long)
      names = (flag.short and ("-" .. flag.short .. ", ") or "    ") .. long
      if flag.arg then
        names = names .. "=" .. flag.arg
      end
    end
    lines[#lines + 1] = string.format("  %-34s %s", names, flag.help)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Exit status: 0 when every test passed, 1 otherwise (failures, errors, bad usage)."
  return table.concat(lines, "\n") .. "\n"
end

trace.mark_internal()

return cli
