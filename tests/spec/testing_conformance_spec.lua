-- busted compatibility: every case of tests/conformance/cases.lua is run by
-- Debian's busted (package lua-busted, installed when missing) and by
-- `ferry test`; exit status and normalized output must be the same.

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local compare = dofile(here .. "/../conformance/compare.lua")
local cases = dofile(compare.dir .. "/cases.lua")

describe("busted conformance", function()
  setup(function()
    local busted, err = compare.ensure_busted()
    assert(busted, err)
  end)

  for _, case in ipairs(cases) do
    for _, output in ipairs(case.outputs) do
      it(case.name .. " (" .. output .. ")", function()
        local differences, busted, ferry, args = compare.case(case, output)
        assert(#differences == 0, "busted and ferry differ on `test " .. table.concat(args, " ") .. "`"
          .. (case.dir and (" in " .. case.dir) or "") .. ":\n" .. table.concat(differences, "\n"))
        -- a case that runs nothing would agree trivially
        assert.is_true(#busted.stdout + #busted.stderr > 0, "busted printed nothing")
        assert.are.equal(busted.code, ferry.code)
      end)
    end
  end
end)
