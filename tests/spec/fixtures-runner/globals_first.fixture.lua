-- Sets globals; globals_second.fixture.lua checks none of them is visible.

leaked_from_first = "file level"
_G.leaked_into_G = "through _G"

describe("first", function()
  described_global = "describe level"

  before_each(function()
    from_before_each = "hook level"
  end)

  it("sees globals of its blocks", function()
    assert.are.equal("file level", leaked_from_first)
    assert.are.equal("describe level", described_global)
    assert.are.equal("hook level", from_before_each)
    set_in_test = "test level"
  end)

  it("does not see globals of a sibling test", function()
    assert.is_nil(set_in_test)
  end)
end)

describe("sibling", function()
  it("does not see globals of a sibling describe", function()
    assert.is_nil(described_global)
    assert.are.equal("file level", leaked_from_first)
  end)
end)
