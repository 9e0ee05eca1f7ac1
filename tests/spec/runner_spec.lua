-- Specs of `ferry test` itself. The runner is run in-process on the small
-- spec files in fixtures-runner/ (named *.fixture.lua so that a normal run
-- does not pick them up), with its output captured.

local runner = require "ferry.test.runner"
local failure = require "ferry.test.failure"
local sys = require "ferry.sys"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local fixtures = here .. "fixtures-runner/"

local function fixture(name)
  return fixtures .. name .. ".fixture.lua"
end

-- A stream that keeps what is written to it.
local function capture()
  local parts = {}
  return {
    write = function(self, ...)
      for i = 1, select("#", ...) do
        parts[#parts + 1] = tostring((select(i, ...)))
      end
      return self
    end,
    flush = function() end,
    text = function()
      return table.concat(parts)
    end,
  }
end

-- Runs `ferry test ARGS...`; returns exit status, stdout and stderr.
local function run(...)
  local out, err = capture(), capture()
  local code = runner.main({ ... }, { stdout = out, stderr = err })
  return code, out.text(), err.text()
end

-- The run time varies; everything else in a report must not.
local function normalize(text)
  return (text:gsub("%d+%.%d+ seconds", "T seconds"))
end

local function summary(output)
  return normalize(output):match("[^\n]*successe?s? / [^\n]* seconds")
end

-- How Lua names a file in messages (long paths are shortened).
local function short_src(path)
  return load("return debug.getinfo(1, 'S').short_src", "@" .. path)()
end

-- The line of a fixture holding `marker` (fixtures mark lines with "-- @name").
local function line_of(path, marker)
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if line:find(marker, 1, true) then
      return n
    end
  end
  error("no line with " .. marker .. " in " .. path)
end

-- Runs a fixture with a fresh log the fixture appends to; returns the log
-- and what run() returns.
local function run_logged(...)
  local log = {}
  package.loaded["fixture.log"] = log
  local results = table.pack(run(...))
  package.loaded["fixture.log"] = nil
  return log, table.unpack(results, 1, results.n)
end

describe("ferry test", function()
  describe("outcomes", function()
    it("counts successes, failures, errors and pending like busted", function()
      local code, out = run("-o", "plainTerminal", fixture("outcomes"))
      assert.are.equal(1, code)
      assert.are.equal("1 success / 2 failures / 3 errors / 2 pending : T seconds", summary(out))
      assert.are.equal("+--**..*", out:match("^[^\n]*"))
    end)

    it("marks tests with busted's utfTerminal glyphs", function()
      local _, out = run("-o", "utfTerminal", fixture("outcomes"))
      assert.are.equal("●◼◼✱✱◌◌✱", out:match("^[^\n]*"))
      assert.is_nil(out:find("\27[", 1, true), "no colour when the output is not a terminal")
    end)

    it("exits with 0 when every test passes", function()
      local code, out = run("-o", "plainTerminal", "--filter", "passes", fixture("outcomes"))
      assert.are.equal(0, code)
      assert.are.equal("1 success / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
    end)

    it("reports a failed assertion as a failure, with the spec's line", function()
      local path = fixture("outcomes")
      local _, out = run("-o", "plainTerminal", path)
      local expected = table.concat({
        "Failure -> " .. short_src(path) .. " @ " .. (line_of(path, "-- @fail") - 1),
        "outcomes fails an assertion",
        short_src(path) .. ":" .. line_of(path, "-- @fail") .. ": Expected objects to be equal.",
        "Passed in:",
        "(number) 2",
        "Expected:",
        "(number) 1",
      }, "\n")
      assert.is_truthy(out:find(expected, 1, true), out)
    end)

    it("treats a plain assert() as a failure too", function()
      local path = fixture("outcomes")
      local _, out = run("-o", "plainTerminal", path)
      assert.is_truthy(out:find("Failure %-> [^\n]*\noutcomes fails a plain assert\n[^\n]*:"
        .. line_of(path, "-- @plain") .. ": plain assert\n"), out)
    end)

    it("reports other errors as errors, tables pretty-printed", function()
      local path = fixture("outcomes")
      local _, out = run("-o", "plainTerminal", path)
      assert.is_truthy(out:find("Error %-> [^\n]*\noutcomes errors\n[^\n]*:" .. line_of(path, "-- @error")
        .. ": attempt to index a nil value %(local 't'%)"), out)
      assert.is_truthy(out:find("\noutcomes errors with a table\n[^\n]*:" .. line_of(path, "-- @table")
        .. ": {\n  code = 7\n}\n"), out)
    end)

    it("reports pending tests with their message", function()
      local path = fixture("outcomes")
      local _, out = run("-o", "plainTerminal", path)
      assert.is_truthy(out:find("Pending %-> [^\n]*\noutcomes is pending inside\n[^\n]*:"
        .. line_of(path, "-- @pending") .. ": not finished\n"), out)
      assert.is_truthy(out:find("Pending %-> [^\n]* @ %d+\noutcomes is declared pending\n"), out)
    end)

    it("counts a failing finally() as an error of the test", function()
      local path = fixture("outcomes")
      local _, out = run("-o", "plainTerminal", path)
      assert.is_truthy(out:find("Error %-> [^\n]*\noutcomes fails in finally\n[^\n]*:"
        .. line_of(path, "-- @finally") .. ": Expected objects to be the same."), out)
    end)

    it("shows tracebacks only with --verbose", function()
      local _, quiet = run("-o", "plainTerminal", fixture("outcomes"))
      local _, verbose = run("-o", "plainTerminal", "--verbose", fixture("outcomes"))
      assert.is_nil(quiet:find("stack traceback:", 1, true))
      assert.is_truthy(verbose:find("\nstack traceback:\n\t[^\n]*outcomes%.fixture%.lua:%d+: in function"), verbose)
    end)

    it("stops at the first failure with --no-keep-going", function()
      local code, out = run("-o", "plainTerminal", "--no-keep-going", fixture("outcomes"))
      assert.are.equal(1, code)
      assert.are.equal("1 success / 1 failure / 0 errors / 0 pending : T seconds", summary(out))
    end)
  end)

  describe("hooks", function()
    it("run in busted's order around nested tests", function()
      local log, code = run_logged("-o", "plainTerminal", fixture("hooks"))
      assert.are.equal(0, code)
      assert.are.same({
        "setup outer",
        "lazy_setup outer",
        "before_each outer",
        "it first",
        "after_each outer",
        "setup inner",
        "before_each outer",
        "before_each inner",
        "it second",
        "finally second",
        "after_each inner",
        "after_each outer",
        "teardown inner",
        "lazy_teardown outer",
        "teardown outer",
      }, log)
    end)

    it("report errors outside tests as errors of the hook or block", function()
      local log, code, out = run_logged("-o", "plainTerminal", fixture("hook_errors"))
      assert.are.equal(1, code)
      -- two before_each errors (one per test), setup, after_each, the
      -- assertion in a hook, and the describe body
      assert.are.equal("2 successes / 0 failures / 6 errors / 0 pending : T seconds", summary(out))
      assert.are.same({
        "after_each after failed before_each",
        "after_each after failed before_each",
        "teardown after failed setup",
        "test d ran",
        "test g ran",
      }, log)
      local path = fixture("hook_errors")
      local _, count = out:gsub("Error %-> [^\n]* @ " .. (line_of(path, "-- @before_each") - 1)
        .. "\nbefore_each fails before_each\n[^\n]*:" .. line_of(path, "-- @before_each") .. ": before_each boom\n", "")
      assert.are.equal(2, count)
      assert.is_truthy(out:find("\nsetup fails setup\n[^\n]*: setup boom\n"), out)
      assert.is_truthy(out:find("\nafter_each fails after_each\n[^\n]*: after_each boom\n"), out)
      assert.is_truthy(out:find("\nhook assertion before_each\n[^\n]*: Expected objects to be the same.\n"), out)
      assert.is_truthy(out:find("\nbody fails\n[^\n]*: describe boom\n"), out)
    end)

    it("mark an error in a describe body but not one in a hook", function()
      local _, _, out = run_logged("-o", "plainTerminal", fixture("hook_errors"))
      -- d and g pass; the describe body error is the only mark of its own
      assert.are.equal("+*+", out:match("^[^\n]*"))
    end)
  end)

  describe("files", function()
    it("give each file its own globals, scoped to blocks", function()
      local code, out = run("-o", "plainTerminal", fixture("globals_first"), fixture("globals_second"))
      assert.are.equal(0, code, out)
      assert.are.equal("4 successes / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
    end)

    it("report a file that does not compile", function()
      local path = fixture("syntax_error")
      local code, out = run("-o", "plainTerminal", path)
      assert.are.equal(1, code)
      assert.are.equal("0 successes / 0 failures / 1 error / 0 pending : T seconds", summary(out))
      assert.is_truthy(out:find("Error %-> " .. short_src(path):gsub("%p", "%%%0") .. ":%d+: [^\n]*expected"), out)
    end)

    it("report an error raised while a file is loaded", function()
      local code, out = run("-o", "plainTerminal", fixture("file_error"))
      assert.are.equal(1, code)
      assert.are.equal("*", out:match("^[^\n]*"))
      assert.is_truthy(out:find("file_error%.fixture%.lua:1: file level boom\n"), out)
    end)

    it("report a missing path by name", function()
      local code, out = run("-o", "plainTerminal", "no/such/dir_spec.lua")
      assert.are.equal(1, code)
      assert.is_truthy(out:find("Error -> Cannot find file or directory: no/such/dir_spec.lua\n", 1, true), out)
    end)

    it("default to the spec directory", function()
      if sys.stat("spec") then
        pending("this directory has a spec/ of its own")
      end
      local code, out = run("-o", "plainTerminal")
      assert.are.equal(1, code)
      assert.is_truthy(out:find("Cannot find file or directory: spec\n", 1, true), out)
    end)
  end)

  describe("discovery", function()
    local root

    before_each(function()
      root = os.tmpname()
      os.remove(root)
      assert.is_true(os.execute("mkdir -p '" .. root .. "/sub' '" .. root .. "/.hidden'"))
      local function write(name, text)
        local f = assert(io.open(root .. "/" .. name, "w"))
        f:write(text)
        f:close()
      end
      local spec = 'describe("d", function() it("runs", function() end) end)\n'
      write("b_spec.lua", spec)
      write("a_spec.lua", spec)
      write("sub/c_spec.lua", spec)
      write(".hidden/d_spec.lua", spec)
      write("helper.lua", spec)
      write("e_spec.txt", spec)
      write("other.check.lua", spec)
    end)

    after_each(function()
      os.execute("rm -rf '" .. root .. "'")
    end)

    local function listed(...)
      local _, out = run("--list", ...)
      local names = {}
      for path in out:gmatch("([^\n]-):%d+: d runs\n") do
        names[#names + 1] = path:sub(#root + 2)
      end
      return names
    end

    it("finds *_spec files recursively, sorted, skipping hidden ones", function()
      assert.are.same({ "a_spec.lua", "b_spec.lua", "sub/c_spec.lua" }, listed(root))
    end)

    it("uses --pattern instead of _spec", function()
      assert.are.same({ "other.check.lua" }, listed("--pattern", "%.check%.lua$", root))
    end)

    it("leaves out --exclude-pattern", function()
      assert.are.same({ "a_spec.lua", "sub/c_spec.lua" }, listed("--exclude-pattern", "^b_", root))
    end)

    it("reports when no file matches", function()
      local code, out = run("-o", "plainTerminal", "-p", "nothing_matches", root)
      assert.are.equal(1, code)
      assert.is_truthy(out:find("No test files found matching Lua pattern: nothing_matches", 1, true), out)
    end)
  end)

  describe("selection", function()
    local function names(...)
      local _, out = run("--list", fixture("tags"), ...)
      local list = {}
      for name in out:gmatch(":%d+: ([^\n]*)\n") do
        list[#list + 1] = name
      end
      return list
    end

    it("lists every test with --list, running none", function()
      assert.are.same({ "unit #fast adds", "unit #fast waits #slow", "integration talks #slow",
                        "integration parses #fast", "integration formats" }, names())
    end)

    it("keeps tests tagged (or in a block tagged) with --tags", function()
      assert.are.same({ "unit #fast adds", "unit #fast waits #slow", "integration parses #fast" },
        names("--tags", "fast"))
      local slow_or_fast = { "unit #fast adds", "unit #fast waits #slow", "integration talks #slow",
                             "integration parses #fast" }
      assert.are.same(slow_or_fast, names("-t", "slow,fast"))
      assert.are.same(slow_or_fast, names("-t", "slow", "-t", "fast"))
    end)

    it("drops tests and blocks with --exclude-tags", function()
      assert.are.same({ "integration talks #slow", "integration formats" }, names("--exclude-tags", "fast"))
      assert.are.same({ "integration formats" }, names("--exclude-tags", "fast,slow"))
    end)

    it("keeps tests whose full name matches --filter", function()
      assert.are.same({ "integration parses #fast", "integration formats" }, names("--filter", "^integration [pf]"))
    end)

    it("drops tests whose full name matches --filter-out", function()
      assert.are.same({ "unit #fast adds", "unit #fast waits #slow" }, names("--filter-out", "integration"))
    end)

    it("refuses the same tag in --tags and --exclude-tags", function()
      local code, out, err = run("--tags", "fast", "--exclude-tags", "fast", fixture("tags"))
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.is_truthy(err:find("--tags and --exclude-tags", 1, true), err)
    end)
  end)

  describe("TAP output", function()
    it("is busted's, line for line", function()
      local path = fixture("tap")
      local src = short_src(path)
      local code, out = run("-o", "TAP", path)
      assert.are.equal(1, code)
      assert.are.equal(table.concat({
        "ok 1 - tap passes",
        "not ok 2 - tap fails",
        "# " .. src .. " @ " .. (line_of(path, "-- @fail") - 1),
        "# Failure message: " .. src .. ":" .. line_of(path, "-- @fail") .. ": Expected objects to be equal.",
        "# Passed in:",
        "# (number) 2",
        "# Expected:",
        "# (number) 1",
        "ok 3 - # SKIP tap later",
        "not ok 4 - tap errors",
        "# " .. src .. " @ " .. (line_of(path, "-- @error") - 1),
        "# Failure message: " .. src .. ":" .. line_of(path, "-- @error") .. ": boom",
        "1..4",
        "",
      }, "\n"), out)
    end)

    it("numbers errors outside tests as tests of their own", function()
      local _, out = run("-o", "TAP", fixture("hook_errors"))
      assert.are.equal("not ok 1 - before_each fails before_each", out:match("^[^\n]*"))
      assert.is_truthy(out:find("\n1..8\n$"), out)
    end)
  end)

  describe("command line", function()
    it("prints usage with --help and exits with 0", function()
      local code, out = run("--help")
      assert.are.equal(0, code)
      assert.is_truthy(out:find("^Usage: ferry test"), out)
      assert.is_truthy(out:find("--exclude-tags", 1, true), out)
    end)

    it("rejects an unknown option with one line and status 1", function()
      local code, out, err = run("--frobnicate", fixture("tap"))
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.are.equal("ferry test: error: unknown option '--frobnicate'; re-run with --help for usage.\n", err)
    end)

    it("rejects an option without its value", function()
      local code, _, err = run(fixture("tap"), "--output")
      assert.are.equal(1, code)
      assert.is_truthy(err:find("needs a value", 1, true), err)
    end)

    it("falls back to the default output when the named one does not load", function()
      local code, out, err = run("-o", "no_such_output", "--filter", "passes", fixture("tap"))
      assert.are.equal(1, code)
      assert.is_truthy(err:find("Cannot load output library: no_such_output", 1, true), err)
      assert.are.equal("1 success / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
    end)
  end)
end)

-- The failure message of an assertion, without the "file:line: " prefix.
local function message_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "the assertion should have failed")
  assert.are.equal("failure", failure.kind(err))
  return (tostring(err):gsub("^[^\n]-:%d+: ", "", 1))
end

describe("assertions", function()
  it("compare with == in equal and deeply in same", function()
    local t = {}
    assert.are.equal(t, t)
    assert.are.same({ 1, { a = "x" } }, { 1, { a = "x" } })
    assert.are_not.equal({}, {})
    assert.is_not.same({ 1 }, { 2 })
    assert.not_same({ a = 1 }, { a = 1, b = 2 })
  end)

  it("fail with luassert's message and the spec's position", function()
    local ok, err = pcall(assert.are.equal, 1, 2)
    assert.is_false(ok)
    local line = debug.getinfo(1, "l").currentline - 2
    assert.are.equal(short_src(debug.getinfo(1, "S").source:sub(2)) .. ":" .. line
      .. ": Expected objects to be equal.\nPassed in:\n(number) 2\nExpected:\n(number) 1", tostring(err))
  end)

  it("dump tables in key order and mark the path where they differ", function()
    -- on a terminal the mark is coloured; settings made here end with the test
    local snapshot = assert:snapshot()
    finally(function() snapshot:revert() end)
    assert:set_parameter("TableErrorHighlightColor", "none")
    local expected, actual = { a = 1, list = { 1, 2 }, [1] = "x" }, { a = 1, list = { 1, 3 }, [1] = "x" }
    assert.are.equal(
      "Expected objects to be the same.\nPassed in:\n(" .. tostring(actual) .. ") {\n"
        .. "  [1] = 'x'\n  [a] = 1\n *[list] = {\n    [1] = 1\n   *[2] = 3 } }\n"
        .. "Expected:\n(" .. tostring(expected) .. ") {\n"
        .. "  [1] = 'x'\n  [a] = 1\n *[list] = {\n    [1] = 1\n   *[2] = 2 } }",
      message_of(assert.are.same, expected, actual))

    assert:set_parameter("TableErrorHighlightColor", "red")
    assert.is_truthy(message_of(assert.are.same, { 1 }, { 2 }):find("\n \27[31m*\27[0m[1] = 2 }", 1, true))
  end)

  it("word negated failures as luassert does", function()
    assert.are.equal("Expected objects to not be equal.\nPassed in:\n(number) 1\nDid not expect:\n(number) 1",
      message_of(assert.are_not.equal, 1, 1))
    assert.are.equal("Expected to not be truthy, but value was:\n(string) 'x'",
      message_of(assert.is_not.truthy, "x"))
  end)

  it("put a custom message before the standard one", function()
    assert.are.equal("why it matters\nExpected objects to be the same.\nPassed in:\n(boolean) false\nExpected:\n(boolean) true",
      message_of(assert.is_true, false, "why it matters"))
    assert.are.equal("plain", message_of(assert, nil, "plain"))
  end)

  it("check truthiness, nil and types", function()
    assert.is_true(true)
    assert.is_false(false)
    assert.truthy(0)
    assert.falsy(nil)
    assert.is.falsy(false)
    assert.is_nil(nil)
    assert.is_not_nil(false)
    assert.is_number(1)
    assert.is_string("s")
    assert.is_table({})
    assert.is_function(print)
    assert.is_boolean(false)
    assert.are.equal("Expected objects to be the same.\nPassed in:\n(string) '1'\nExpected:\ntype number",
      message_of(assert.is_number, "1"))
    assert.are.equal("Expected to be falsy, but value was:\n(number) 0", message_of(assert.falsy, 0))
  end)

  it("match errors by value without the position prefix", function()
    assert.has_error(function() error("boom") end, "boom")
    assert.has_error(function() error({ code = 1 }) end, { code = 1 })
    assert.has_error(function() error("anything") end)
    assert.has_no.errors(function() end)
    assert.error_matches(function() error("code 42 here") end, "code %d+")
    assert.are.equal("Expected a different error.\nCaught:\n(string) 'boom'\nExpected:\n(string) 'bang'",
      message_of(assert.has_error, function() error("boom") end, "bang"))
    assert.are.equal("Expected a different error.\nCaught:\n(no error)\nExpected:\n(error)",
      message_of(assert.has_error, function() end))
    assert.are.equal("Expected no error, but caught:\n(string) 'boom'",
      message_of(assert.has_no.errors, function() error("boom") end))
  end)

  it("match strings and return the captures", function()
    local version = assert.matches("^v(%d+)", "v12")
    assert.are.equal("12", version)
    assert.are.equal("Expected strings to match.\nPassed in:\n(string) 'abc'\nExpected:\n(string) '^b'",
      message_of(assert.matches, "^b", "abc"))
  end)

  it("refuse unknown words in a chain", function()
    local ok, err = pcall(function() assert.is.frobnicated(1) end)
    assert.is_false(ok)
    assert.are.equal("error", failure.kind(err))
    assert.is_truthy(tostring(err):find("luassert: unknown modifier/assertion: 'is_frobnicated'", 1, true), tostring(err))
  end)

  it("take new assertions through assert:register", function()
    local say = require "say"
    say:set("assertion.even.positive", "Expected %s to be even")
    say:set("assertion.even.negative", "Expected %s to be odd")
    assert:register("assertion", "even", function(_, arguments)
      return arguments[1] % 2 == 0
    end, "assertion.even.positive", "assertion.even.negative")
    assert.is.even(2)
    assert.is_not.even(3)
    assert.are.equal("Expected (number) 3 to be even", message_of(assert.is_even, 3))
    assert.are.equal("Expected (number) 4 to be odd", message_of(assert.is_not.even, 4))
    assert:unregister("assertion", "even")
  end)
end)
