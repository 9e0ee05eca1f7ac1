-- Runs a conformance case with busted and with `ferry test` and compares
-- what they print and how they exit.
--
-- A case (see cases.lua) is a command line run in tests/conformance (or in
-- a directory below it), once per output handler it lists; "outcomes" is
-- outcomes.lua, a handler written against busted's own API that prints one
-- line per test outcome. Output that legitimately differs from run to run
-- (durations, timestamps, addresses, busted's hash-ordered XML attributes)
-- is normalized first; anything else that differs is reported.

local exec = require "exec"
local sys = require "ferry.sys"

local compare = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
compare.dir = sys.realpath(here)

-- The ferry binary under test (tests/run-all sets FERRY_BIN).
function compare.ferry_bin()
  return os.getenv("FERRY_BIN") or sys.realpath(compare.dir .. "/../../ferry")
end

-- The reference is Debian's busted run by Lua 5.4, the Lua ferry embeds:
-- /usr/bin/busted runs on whatever the `lua` alternative names (Lua 5.2
-- when lua-busted brought its own interpreter), and on another Lua the
-- shuffle order for a seed, error wording and float formatting differ.
local LUA = "lua5.4"

-- Installs Debian's busted (package lua-busted) and Lua 5.4's interpreter
-- (package lua5.4) when one is missing. Returns the path of the busted
-- command, or nil and why not.
function compare.ensure_busted()
  local path = exec.which("busted")
  if path and exec.which(LUA) then
    return path
  end
  local sudo = {}
  if exec.run({ argv = { "id", "-u" } }).stdout:match("^0") == nil then
    sudo = { "sudo", "-n" }
  end
  local function apt(...)
    local argv = {}
    for _, a in ipairs(sudo) do argv[#argv + 1] = a end
    for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
    return exec.run { argv = argv, env = { DEBIAN_FRONTEND = "noninteractive" }, timeout = 600 }
  end
  local r = apt("apt-get", "install", "-y", "-q", "lua-busted", LUA)
  if r.code ~= 0 then
    apt("apt-get", "update", "-q")
    r = apt("apt-get", "install", "-y", "-q", "lua-busted", LUA)
  end
  path = exec.which("busted")
  if not path or not exec.which(LUA) then
    return nil, "could not install lua-busted and " .. LUA .. ": " .. (r.stderr ~= "" and r.stderr or r.stdout)
  end
  return path
end

local function argv_of(tool, args)
  local argv = tool == "busted" and { LUA, exec.which("busted") } or { compare.ferry_bin(), "test" }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a
  end
  return argv
end

-- Runs one tool ("busted" or "ferry") with args in dir.
function compare.run(tool, args, dir)
  return exec.run {
    argv = argv_of(tool, args),
    cwd = dir,
    -- the same locale and no colour for both
    env = { LC_ALL = "C.UTF-8", TERM = "dumb" },
    timeout = 120,
  }
end

-- junit: busted writes attributes in hash order; sort them.
local function sort_attributes(text)
  return (text:gsub("<(%w+)(%s[^<>]*)>", function(tag, rest)
    local close = rest:match("/$") and "/" or ""
    local list = {}
    for attr in rest:gmatch("[%w_]+='[^']*'") do
      list[#list + 1] = attr
    end
    table.sort(list)
    return "<" .. tag .. " " .. table.concat(list, " ") .. close .. ">"
  end))
end

-- json: one document per run; keys sorted, timings dropped.
local VOLATILE = { duration = true, starttime = true, endtime = true, starttick = true, endtick = true }

local function canonical_json(text)
  local json = require "json"
  local function clean(value)
    if type(value) ~= "table" then
      return value
    end
    local mt = getmetatable(value)
    for k, v in pairs(value) do
      if VOLATILE[k] then
        value[k] = nil
      else
        value[k] = clean(v)
      end
    end
    return setmetatable(value, mt)
  end
  local docs = {}
  for line in text:gmatch("[^\n]+") do
    local ok, doc = pcall(json.decode, line)
    docs[#docs + 1] = ok and json.encode(clean(doc), { pretty = true, sort_keys = true }) or line
  end
  return table.concat(docs, "\n") .. "\n"
end

-- Text with what differs between any two runs replaced.
function compare.normalize(text, output)
  if output == "json" then
    text = canonical_json(text)
  end
  text = text:gsub("0x%x+", "0xADDR")
  -- A misused assertion (too few arguments, a bad argument) is reported by
  -- busted at a line inside luassert, by ferry at the spec's line: a
  -- documented difference (docs/testing.md).
  for _, message in ipairs({ "the '[%w_]+' function requires", "bad argument #%d+ to '[%w_]+'", "stub%.new%(%)",
                             "Attempt to modify busted" }) do
    text = text:gsub("[%w_%./%-]+%.lua:%d+: (" .. message .. ")", "POSITION: %1")
  end
  text = text:gsub("%d+%.%d+(\27?%[?0?m?) seconds", "T%1 seconds")
  if output == "junit" then
    text = sort_attributes(text)
    text = text:gsub("time='[%d.]+'", "time='T'")
    text = text:gsub("timestamp='[^']*'", "timestamp='TS'")
  elseif output == "gtest" then
    text = text:gsub("%(%d+%.%d+ ms", "(T ms")
  end
  return text
end

-- The first lines where two texts differ, with a little context, or nil.
function compare.diff(expected, actual)
  local a, b = {}, {}
  for line in (expected .. "\n"):gmatch("(.-)\n") do a[#a + 1] = line end
  for line in (actual .. "\n"):gmatch("(.-)\n") do b[#b + 1] = line end
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then
      local lines = {}
      for j = math.max(1, i - 3), math.min(math.max(#a, #b), i + 3) do
        local mark = (a[j] ~= b[j]) and "!" or " "
        lines[#lines + 1] = string.format("%s %4d busted | %s", mark, j, a[j] or "<none>")
        if a[j] ~= b[j] then
          lines[#lines + 1] = string.format("%s %4d ferry  | %s", mark, j, b[j] or "<none>")
        end
      end
      return table.concat(lines, "\n")
    end
  end
  return nil
end

-- Runs a case with one output handler through both tools; returns a list
-- of differences (empty when they agree) and both results.
function compare.case(case, output)
  local dir = case.dir and (compare.dir .. "/" .. case.dir) or compare.dir
  local args = {}
  if output and output ~= "none" then
    local name = output
    if output == "outcomes" then
      name = (case.dir and "../" or "") .. "outcomes.lua"
    end
    args[#args + 1] = "-o"
    args[#args + 1] = name
  end
  for _, a in ipairs(case.args) do
    args[#args + 1] = a
  end
  local busted = compare.run("busted", args, dir)
  local ferry = compare.run("ferry", args, dir)
  local differences = {}
  if busted.code ~= ferry.code then
    differences[#differences + 1] = string.format("exit status: busted %d, ferry %d", busted.code, ferry.code)
  end
  local busted_out = compare.normalize(busted.stdout, output)
  local ferry_out = compare.normalize(ferry.stdout, output)
  if case.busted_crashes and case.busted_crashes[output] then
    -- busted's own handler raises a Lua error part-way (a documented bug
    -- of busted): ferry must print the same up to there, and go on
    local crash = case.busted_crashes[output]
    local at = busted_out:find("[^\n]*" .. crash:gsub("%p", "%%%0"))
    if at then
      -- the handler's error was caught and printed as a report line
      busted_out = busted_out:sub(1, at - 1)
    elseif not busted.stderr:find(crash, 1, true) then
      differences[#differences + 1] = "busted no longer crashes here; remove busted_crashes from the case:\n"
        .. busted.stderr
    end
    if ferry_out:sub(1, #busted_out) ~= busted_out then
      differences[#differences + 1] = "standard output differs before busted's crash:\n"
        .. (compare.diff(busted_out, ferry_out:sub(1, #busted_out)) or "")
    end
    return differences, busted, ferry, args
  end
  local out_diff = compare.diff(busted_out, ferry_out)
  if out_diff then
    differences[#differences + 1] = "standard output differs:\n" .. out_diff
  end
  if case.stderr then
    local err_diff = compare.diff(compare.normalize(busted.stderr, output), compare.normalize(ferry.stderr, output))
    if err_diff then
      differences[#differences + 1] = "standard error differs:\n" .. err_diff
    end
  end
  return differences, busted, ferry, args
end

return compare
