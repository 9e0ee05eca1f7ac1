-- Specs that use busted's own API.
local busted = require "busted"

describe("require 'busted'", function()
  it("gives the DSL", function()
    assert.is_function(busted.describe)
    assert.is_function(busted.it)
    assert.is_function(busted.pending)
    assert.is_function(busted.before_each)
    assert.is_function(busted.subscribe)
    assert.is_function(busted.publish)
    assert.is_table(busted.assert)
    assert.is_table(busted.spy)
    assert.is_table(busted.match)
    assert.are.equal("2.1.1", busted.version)
  end)

  it("refuses changes", function()
    busted.something = 1
  end)

  it("fails with busted.fail", function()
    busted.fail("failed on purpose")
  end)

  it("sees events through subscribe", function()
    local seen = {}
    local sub = busted.subscribe({ "test", "start" }, function(element)
      seen[#seen + 1] = element.name
      return nil, true
    end)
    finally(function() busted.unsubscribe(sub.id, { "test", "start" }) end)
    assert.are.same({}, seen)
  end)

  busted.describe("declared through busted.describe", function()
    busted.it("runs", function()
      assert.is_true(true)
    end)
  end)
end)

describe("randomize outside a block", function()
  it("is refused in a test", function()
    randomize()
  end)
end)
