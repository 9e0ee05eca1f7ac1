-- Specs of the busted features of `ferry test` that the conformance suite
-- (testing_conformance_spec.lua) cannot compare with busted: those busted
-- 2.1 lacks or gets wrong, and the ones that need files of their own.
-- Each test writes its spec files into a temporary directory and runs the
-- runner in-process.

local runner = require "ferry.test.runner"
local json = require "json"

local function capture()
  local parts = {}
  return {
    write = function(self, ...)
      for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
      return self
    end,
    flush = function() end,
    text = function() return table.concat(parts) end,
  }
end

local function run(...)
  local out, err = capture(), capture()
  local code = runner.main({ ... }, { stdout = out, stderr = err })
  return code, out.text(), err.text()
end

local function summary(output)
  return (output:gsub("%d+%.%d+ seconds", "T seconds")):match("[^\n]*successe?s? / [^\n]* seconds")
end

local root

local function write(name, text)
  local path = root .. "/" .. name
  local dir = path:match("^(.*)/[^/]*$")
  assert.is_true(os.execute("mkdir -p '" .. dir .. "'"))
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

before_each(function()
  root = os.tmpname()
  os.remove(root)
  assert.is_true(os.execute("mkdir -p '" .. root .. "'"))
end)

after_each(function()
  os.execute("rm -rf '" .. root .. "'")
end)

describe("ferry test", function()
  describe("insulate and expose", function()
    it("keep globals and modules in or out of the blocks after", function()
      local path = write("iso_spec.lua", [[
        insulate("inside", function()
          _G.insulated = true
          package.loaded["iso.module"] = { loaded = true }
          it("sees it", function() assert.is_true(insulated) end)
        end)
        describe("after insulate", function()
          it("does not", function()
            assert.is_nil(_G.insulated)
            assert.is_nil(package.loaded["iso.module"])
          end)
        end)
        expose("exposed", function()
          _G.exposed = "kept"
          package.loaded["exposed.module"] = { kept = true }
        end)
        describe("after expose", function()
          it("does", function()
            assert.are.equal("kept", exposed)
            assert.is_true(package.loaded["exposed.module"].kept)
          end)
        end)
      ]])
      local code, out = run("-o", "plainTerminal", path)
      assert.are.equal(0, code, out)
      assert.are.equal("3 successes / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
      -- what an expose block exposes outlives its file, as in busted
      assert.are.equal("kept", _G.exposed)
      assert.is_nil(_G.insulated)
      _G.exposed, package.loaded["exposed.module"] = nil, nil
    end)
  end)

  describe("order", function()
    local spec = [[
      describe("block", function()
        for i = 1, 12 do it("test " .. i, function() end) end
      end)
    ]]

    local function order(...)
      local path = write("order_spec.lua", spec)
      local _, out = run("--list", path, ...)
      local names = {}
      for n in out:gmatch("block test (%d+)") do names[#names + 1] = tonumber(n) end
      return names
    end

    local function ran(...)
      local path = write("order_spec.lua", spec)
      local _, out = run("-o", "TAP", path, ...)
      local names = {}
      for n in out:gmatch("ok %d+ %- block test (%d+)") do names[#names + 1] = tonumber(n) end
      return names
    end

    it("is the order of declaration by default", function()
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, ran())
    end)

    it("is shuffled the same way for the same --seed", function()
      local a, b = ran("--shuffle", "--seed=99"), ran("--shuffle", "--seed=99")
      assert.are.same(a, b)
      assert.are_not.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, a)
      assert.are_not.same(a, ran("--shuffle", "--seed=100"))
      table.sort(a)
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, a)
    end)

    it("is sorted by name with --sort", function()
      assert.are.same({ 1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9 }, ran("--sort"))
    end)

    it("is the declaration order for --list", function()
      assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, order())
    end)

    it("runs the suite again with --repeat", function()
      local path = write("repeat_spec.lua", [[
        describe("repeated", function() it("runs", function() end) end)
      ]])
      local code, out = run("-o", "TAP", "--repeat=3", path)
      assert.are.equal(0, code)
      local _, runs = out:gsub("ok 1 %- repeated runs\n1%.%.1\n", "")
      assert.are.equal(3, runs, out)
    end)
  end)

  describe("outputs", function()
    local spec = [[
      describe("out", function()
        it("passes", function() end)
        it("fails <&'\"", function() assert.are.equal(1, 2) end)
        pending("waits")
      end)
    ]]

    it("writes JUnit XML to the file named by -Xoutput", function()
      local path = write("junit_spec.lua", spec)
      local xml_path = root .. "/report.xml"
      local code, out = run("-o", "junit", "-Xoutput", xml_path, path)
      assert.are.equal(1, code)
      assert.are.equal("", out)
      local xml = read(xml_path)
      assert.matches("^\n<testsuites tests='3' errors='0' failures='1' skip='1' time='[%d.]+'>", xml)
      assert.is_truthy(xml:find("<testcase classname='" .. path .. ":3' name='out fails &lt;&amp;&apos;&quot;' "
        .. "time='[%d.]+'>\n\t\t\t<failure>" .. path:gsub("%p", "%%%0") .. ":3: Expected objects to be equal."), xml)
      assert.is_truthy(xml:find("<skipped/>", 1, true), xml)
    end)

    it("writes valid JSON even for declared pending tests (busted's encoder fails there)", function()
      local path = write("json_spec.lua", spec)
      local code, out = run("-o", "json", path)
      assert.are.equal(1, code)
      local report = json.decode(out)
      assert.are.equal(1, #report.successes)
      assert.are.equal(1, #report.failures)
      assert.are.equal(1, #report.pendings)
      assert.are.equal("out waits", report.pendings[1].name)
      assert.are.equal("out fails <&'\"", report.failures[1].name)
      assert.is_number(report.duration)
    end)

    it("prints gtest's layout", function()
      local path = write("gtest_spec.lua", spec)
      local _, out = run("-o", "gtest", path)
      assert.matches("^%[==========%] Running tests from scanned files%.\n", out)
      assert.is_truthy(out:find("[  FAILED  ] " .. path .. " @ 3: out fails <&'\"", 1, true), out)
      assert.is_truthy(out:find("\n 1 SKIPPED TEST\n 1 FAILED TEST\n", 1, true), out)
    end)

    it("loads an output handler written for busted", function()
      local path = write("plain_spec.lua", spec)
      local handler = write("handler.lua", [[
        return function(options)
          local busted = require "busted"
          local handler = require "busted.outputHandlers.base"()
          busted.subscribe({ "suite", "end" }, function()
            io.stdout:write("") -- handlers of busted write with io.write
            options.seen = handler.successesCount .. "/" .. handler.failuresCount .. "/" .. handler.pendingsCount
            _G.handler_seen = options.seen
            return nil, true
          end)
          return handler
        end
      ]])
      local code = run("-o", handler, path)
      assert.are.equal(1, code)
      assert.are.equal("1/1/1", _G.handler_seen)
      _G.handler_seen = nil
    end)

    it("passes -Xoutput --color to utfTerminal", function()
      local path = write("color_spec.lua", spec)
      local _, out = run("-o", "utfTerminal", "-Xoutput", "--color", path)
      assert.is_truthy(out:find("\27[32m\u{25CF}\27[0m", 1, true), out)
    end)

    it("refuses an -Xoutput option the handler does not know", function()
      local code, _, err = run("-o", "utfTerminal", "-Xoutput", "--sparkle", write("x_spec.lua", spec))
      assert.are.equal(1, code)
      assert.matches("unknown option '%-%-sparkle'", err)
    end)
  end)

  describe("configuration", function()
    it("reads tasks from .busted in the -C directory", function()
      write("proj/.busted", [[
        return {
          _all = { lpath = "lib/?.lua" },
          default = { ROOT = { "checks" }, pattern = "_check" },
          quick = { ROOT = { "checks" }, pattern = "_check", tags = "quick" },
        }
      ]])
      write("proj/lib/answer.lua", "return 42\n")
      write("proj/checks/a_check.lua", [[
        describe("a", function()
          it("finds lib through lpath", function() assert.are.equal(42, require("answer")) end)
          it("is quick #quick", function() end)
        end)
      ]])
      local code, out = run("-o", "plainTerminal", "-C", root .. "/proj")
      assert.are.equal(0, code, out)
      assert.are.equal("2 successes / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
      code, out = run("-o", "plainTerminal", "-C", root .. "/proj", "--run", "quick")
      assert.are.equal(0, code, out)
      assert.are.equal("1 success / 0 failures / 0 errors / 0 pending : T seconds", summary(out))
    end)

    it("reads -f FILE and says when it is missing", function()
      local config = write("config.lua", "return { default = { output = 'TAP' } }\n")
      local path = write("one_spec.lua", 'it("one", function() end)\n')
      local code, out = run("-f", config, path)
      assert.are.equal(0, code)
      assert.are.equal("ok 1 - one\n1..1\n", out)
      local missing_code, _, err = run("-f", root .. "/nope.lua", path)
      assert.are.equal(1, missing_code)
      assert.matches("specified config file '.-nope%.lua' not found", err)
    end)

    it("runs a helper with -Xhelper options and -e statements first", function()
      local helper = write("helper.lua", "helper_args = arg[1] .. '+' .. arg[2]\n")
      local path = write("h_spec.lua", [[
        it("sees both", function()
          assert.are.equal("x+y", helper_args)
          assert.are.equal(7, from_e)
        end)
      ]])
      local code, out = run("-o", "plainTerminal", "--helper", helper, "-Xhelper", "x,y", "-e", "from_e = 7", path)
      assert.are.equal(0, code, out)
      _G.helper_args, _G.from_e = nil, nil
    end)

    it("stops when the helper fails", function()
      local helper = write("bad_helper.lua", "error('helper broke')\n")
      local code, out, err = run("--helper", helper, write("h_spec.lua", 'it("x", function() end)\n'))
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.matches("failed running the specified helper %(.-bad_helper%.lua%), error: .-helper broke", err)
    end)

    it("says LuaCov is missing for --coverage", function()
      if pcall(require, "luacov.runner") then pending("LuaCov is installed here") end
      local code, _, err = run("--coverage", write("c_spec.lua", 'it("x", function() end)\n'))
      assert.are.equal(1, code)
      assert.matches("LuaCov not found", err)
    end)
  end)

  describe("names (busted 2.2's --name, --exclude-names-file, --log-success)", function()
    local spec = [[
      describe("names", function()
        it("first", function() end)
        it("second", function() end)
        it("third", function() error("no") end)
      end)
    ]]

    it("runs only the tests named", function()
      local _, out = run("-o", "TAP", "--name", "names second", write("n_spec.lua", spec))
      assert.are.equal("ok 1 - names second\n1..1\n", out)
    end)

    it("logs successes and leaves out the logged names on the next run", function()
      local path = write("n_spec.lua", spec)
      local log = root .. "/successes.txt"
      run("-o", "TAP", "--log-success", log, path)
      assert.are.equal("names first\nnames second\n", read(log))
      local _, out = run("-o", "TAP", "--exclude-names-file", log, path)
      assert.matches("^not ok 1 %- names third\n", out)
      assert.matches("\n1%.%.1\n$", out)
    end)
  end)

  describe("require 'busted'", function()
    it("is the running suite, also for a helper", function()
      local helper = write("sub.lua", [[
        local busted = require "busted"
        busted.subscribe({ "test", "end" }, function(element, _, status)
          table.insert(_G.statuses, status:sub(1, 1))
          return nil, true
        end)
      ]])
      local path = write("b_spec.lua", [[
        local busted = require "busted"
        busted.describe("via busted", function()
          busted.it("passes", function() end)
          busted.it("fails", function() busted.fail("told to") end)
        end)
      ]])
      -- a table that exists before the run: files are insulated, so a
      -- global the helper created would be gone after them
      _G.statuses = {}
      local code, out = run("-o", "plainTerminal", "--helper", helper, path)
      assert.are.equal(1, code)
      assert.are.equal("sf", table.concat(_G.statuses))
      assert.is_truthy(out:find("b_spec.lua:4: told to", 1, true), out)
      _G.statuses = nil
    end)

    it("refuses changes to itself", function()
      local path = write("m_spec.lua", [[
        it("modifies", function() require("busted").describe = nil end)
      ]])
      local _, out = run("-o", "plainTerminal", path)
      assert.is_truthy(out:find("Attempt to modify busted", 1, true), out)
    end)
  end)

  describe("spies", function()
    it("are reverted with the snapshot they were made in", function()
      local target = { value = function() return "real" end }
      local snapshot = assert:snapshot()
      stub(target, "value").returns("stubbed")
      assert.are.equal("stubbed", target.value())
      snapshot:revert()
      assert.are.equal("real", target.value())
    end)

    it("read their calls back", function()
      local s = spy.new(function(x) return x * 2 end)
      s(2)
      s(3)
      assert.spy(s).was.called(2)
      assert.spy(s).was.called_with(3)
      assert.are.same({ 4, n = 1 }, s.returnvals[1].vals)
      local ok, err = pcall(function() assert.spy(s).was.called_with(5) end)
      assert.is_false(ok)
      assert.matches("Function was never called with matching arguments%.\nCalled with %(last call if any%):\n"
        .. "%(values list%) %(%(number%) 3%)\nExpected:\n%(values list%) %(%(number%) 5%)", tostring(err))
    end)
  end)

  describe("command line", function()
    it("prints the busted version it follows", function()
      local code, out = run("--version")
      assert.are.equal(0, code)
      assert.are.equal("2.1.1\n", out)
    end)

    it("documents every option in --help", function()
      local _, out = run("--help")
      for _, option in ipairs({ "shuffle", "--seed", "--repeat", "--lpath", "--helper", "--run", "-Xoutput",
                                "--config-file", "--directory", "auto-insulate", "lazy", "defer-print" }) do
        assert.is_truthy(out:find(option, 1, true), option)
      end
    end)

    it("takes a number for --repeat", function()
      local code, _, err = run("--repeat=lots", write("r_spec.lua", 'it("x", function() end)\n'))
      assert.are.equal(1, code)
      assert.matches("argument to %-%-repeat must be a number", err)
    end)

    it("does not search subdirectories with --no-recursive", function()
      write("top_spec.lua", 'it("top", function() end)\n')
      write("sub/deep_spec.lua", 'it("deep", function() end)\n')
      local _, out = run("--list", "--no-recursive", root)
      assert.are.equal("top\n", out)
      assert.is_nil(out:find("deep", 1, true))
    end)

    it("restores the module path after --lpath", function()
      local before = package.path
      run("--lpath", root .. "/?.lua", write("p_spec.lua", 'it("x", function() end)\n'))
      assert.are.equal(before, package.path)
    end)
  end)
end)
