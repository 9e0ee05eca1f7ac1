-- The command line of `ferry test`, with busted's flags and defaults.
--
-- Each flag is described once in `flags`; parsing, defaults and --help
-- all come from that table. Values are accepted as `--name=value`,
-- `--name value`, `-n value` and `-n=value`. Boolean flags take `--no-`.

local trace = require "ferry.test.trace"

local cli = {}

-- kind: "flag" (boolean), "value" (last one wins), "multi" (repeatable),
-- "list" (repeatable and comma-separated).
local flags = {
  { long = "output", short = "o", kind = "value", key = "output", arg = "NAME",
    help = "utfTerminal (default on a terminal), plainTerminal (default otherwise), TAP, or a module/.lua file" },
  { long = "pattern", short = "p", kind = "multi", key = "pattern", arg = "PATTERN",
    help = "only run test files whose name matches the Lua pattern (default: _spec)" },
  { long = "exclude-pattern", kind = "multi", key = "exclude_pattern", arg = "PATTERN",
    help = "do not run test files whose name matches the Lua pattern" },
  { long = "filter", kind = "multi", key = "filter", arg = "PATTERN",
    help = "only run tests whose full name matches the Lua pattern" },
  { long = "filter-out", kind = "multi", key = "filter_out", arg = "PATTERN",
    help = "do not run tests whose full name matches the Lua pattern" },
  { long = "tags", short = "t", kind = "list", key = "tags", arg = "TAGS",
    help = "only run tests with these #tags (comma-separated)" },
  { long = "exclude-tags", kind = "list", key = "exclude_tags", arg = "TAGS",
    help = "do not run tests with these #tags; wins over --tags" },
  { long = "list", short = "l", kind = "flag", key = "list",
    help = "list the names of the tests instead of running them" },
  { long = "keep-going", short = "k", kind = "flag", key = "keep_going", default = true,
    help = "go on after a failure or error (--no-keep-going stops at the first)" },
  { long = "suppress-pending", kind = "flag", key = "suppress_pending",
    help = "leave pending tests out of the output" },
  { long = "verbose", short = "v", kind = "flag", key = "verbose",
    help = "show tracebacks of failures and errors" },
  { long = "help", short = "h", kind = "flag", key = "help",
    help = "show this help and exit" },
}

local by_long, by_short = {}, {}
for _, flag in ipairs(flags) do
  by_long[flag.long] = flag
  if flag.short then
    by_short[flag.short] = flag
  end
end

local function defaults()
  local options = { paths = {} }
  for _, flag in ipairs(flags) do
    if flag.kind == "flag" then
      options[flag.key] = flag.default or false
    elseif flag.kind == "multi" or flag.kind == "list" then
      options[flag.key] = {}
    end
  end
  return options
end

local function store(options, flag, value)
  if flag.kind == "value" then
    options[flag.key] = value
  elseif flag.kind == "multi" then
    table.insert(options[flag.key], value)
  else
    for item in value:gmatch("[^,]+") do
      table.insert(options[flag.key], item)
    end
  end
end

-- Splits "--name=value" / "-n=value"; returns the flag, the inline value,
-- and whether a boolean flag was negated with --no-.
local function lookup(arg)
  local name, inline = arg:match("^%-%-([^=]+)=(.*)$")
  name = name or arg:match("^%-%-(.+)$")
  if name then
    local flag = by_long[name]
    if not flag and name:sub(1, 3) == "no-" and by_long[name:sub(4)]
       and by_long[name:sub(4)].kind == "flag" then
      return by_long[name:sub(4)], inline, true
    end
    return flag, inline, false
  end
  local short, short_inline = arg:match("^%-(%a)=?(.*)$")
  if short then
    return by_short[short], short_inline ~= "" and short_inline or nil, false
  end
  return nil
end

-- Returns the options table, or nil and a one-line reason.
function cli.parse(args)
  local options = defaults()
  local i = 1
  while i <= #args do
    local arg = args[i]
    if arg == "--" then
      for j = i + 1, #args do
        table.insert(options.paths, args[j])
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
        options[flag.key] = not negated
      else
        local value = inline
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then
            return nil, "option '" .. arg .. "' needs a value"
          end
        end
        store(options, flag, value)
      end
    else
      table.insert(options.paths, arg)
    end
    i = i + 1
  end

  for _, excluded in ipairs(options.exclude_tags) do
    for _, included in ipairs(options.tags) do
      if excluded == included then
        return nil, "cannot use --tags and --exclude-tags for the same tags"
      end
    end
  end
  if #options.pattern == 0 then
    options.pattern = { "_spec" }
  end
  if #options.paths == 0 then
    options.paths = { "spec" }
  end
  return options
end

function cli.help()
  local lines = {
    "Usage: ferry test [OPTIONS] [PATHS...]",
    "",
    "Runs busted-style spec files. PATHS are files or directories (default: spec);",
    "directories are searched recursively for .lua files whose name matches --pattern.",
    "",
    "Options:",
  }
  for _, flag in ipairs(flags) do
    local names = (flag.short and ("-" .. flag.short .. ", ") or "    ") .. "--" .. flag.long
    if flag.kind == "flag" and flag.default then
      names = (flag.short and ("-" .. flag.short .. ", ") or "    ") .. "--[no-]" .. flag.long
    end
    if flag.arg then
      names = names .. "=" .. flag.arg
    end
    lines[#lines + 1] = string.format("  %-30s %s", names, flag.help)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Exit status: 0 when every test passed, 1 otherwise (failures, errors, bad usage)."
  return table.concat(lines, "\n") .. "\n"
end

trace.mark_internal()

return cli
