-- libferry.a, the library other programs link (docs/embedding.md), exports
-- only ferry's own names: the API of include/ferry.h and luaopen_ferry_*.
-- The library checked is the one beside the ferry under test (FERRY_BIN),
-- so each build tests/run-all runs is checked.
local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local sys = require "ferry.sys"

local function library_path()
  return (helpers.ferry_bin():match("^(.*)/[^/]*$") or ".") .. "/libferry.a"
end

--- The global symbols the archive defines, sorted.
local function exported_symbols(archive)
  local r = exec.run { argv = { "nm", "-g", "--defined-only", archive } }
  assert.are.equal(0, r.code, r.stderr)
  local names = {}
  for name in r.stdout:gmatch("%x*%s+%u%s+(%S+)\n") do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("libferry.a", function()
  local archive = library_path()

  it("exports only ferry_* and luaopen_ferry_* symbols", function()
    assert.is_truthy(sys.stat(archive), archive .. " is missing: build it with make")
    local foreign = {}
    for _, name in ipairs(exported_symbols(archive)) do
      if not (name:match("^ferry_") or name:match("^luaopen_ferry_")) then
        foreign[#foreign + 1] = name
      end
    end
    assert.are.same({}, foreign)
  end)

  it("exports the embedding API and the C modules", function()
    local exported = {}
    for _, name in ipairs(exported_symbols(archive)) do exported[name] = true end
    for _, name in ipairs { "ferry_open", "ferry_close", "ferry_state", "ferry_open_modules",
                            "ferry_add_lua_path", "ferry_catch_interrupts", "ferry_run_file",
                            "ferry_run_string", "ferry_run_main", "ferry_last_error",
                            "ferry_last_traceback", "luaopen_ferry_json", "luaopen_ferry_yaml" } do
      assert.is_true(exported[name] or false, name .. " is not exported")
    end
  end)
end)
