-- Globals and modules across blocks and files: insulate and expose.
-- insulate_b_spec.lua runs after this file and checks what is left.

package.preload["conformance.counter"] = function()
  return { count = 0 }
end

describe("insulate", function()
  insulate("an insulated block", function()
    _G.from_insulate = "gone after the block"
    local counter = require "conformance.counter"
    counter.count = counter.count + 1
    it("sees its own global", function()
      assert.are.equal("gone after the block", _G.from_insulate)
      assert.are.equal(1, require("conformance.counter").count)
    end)
  end)

  it("does not see the insulated global", function()
    assert.is_nil(_G.from_insulate)
  end)

  it("gets a fresh module", function()
    assert.are.equal(0, require("conformance.counter").count)
  end)
end)

expose("an exposed block", function()
  _G.from_expose = "kept for later files"
  exposed_plain_global = "also kept"
  it("sees its global", function()
    assert.are.equal("kept for later files", _G.from_expose)
  end)
end)

describe("after expose", function()
  it("sees the exposed globals", function()
    assert.are.equal("kept for later files", from_expose)
    assert.are.equal("also kept", exposed_plain_global)
  end)
end)

describe("globals in blocks", function()
  block_global = "block level"
  before_each(function() hook_global = "from before_each" end)
  it("sees block and hook globals", function()
    assert.are.equal("block level", block_global)
    assert.are.equal("from before_each", hook_global)
    test_global = "test level"
  end)
  it("does not see a sibling test's global", function()
    assert.is_nil(test_global)
  end)
end)

describe("a sibling block", function()
  it("does not see the other block's globals", function()
    assert.is_nil(block_global)
    assert.is_nil(hook_global)
  end)
end)

file_global = "this file only"
_G.through_G = "this file only too"
