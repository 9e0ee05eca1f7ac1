-- Runs after insulate_a_spec.lua (files run in sorted order).

describe("the next file", function()
  it("does not see the other file's globals", function()
    assert.is_nil(file_global)
    assert.is_nil(_G.through_G)
    assert.is_nil(_G.from_insulate)
  end)

  it("sees what an expose block exposed", function()
    assert.are.equal("kept for later files", _G.from_expose)
    assert.are.equal("also kept", exposed_plain_global)
  end)

  it("has the preloaded module only through expose", function()
    assert.is_nil(package.preload["conformance.counter_other"])
  end)
end)
