local duration = require "ferry.duration"

describe("ferry.duration", function()
  it("reads seconds and texts with units", function()
    assert.are.equal(7, duration.parse(7))
    assert.are.equal(0.25, duration.parse(0.25))
    assert.are.equal(300, duration.parse("5m"))
    assert.are.equal(5400, duration.parse("1h30m"))
    assert.are.equal(0.25, duration.parse("250ms"))
    assert.are.equal(90.5, duration.parse("1m30s500ms"))
  end)

  it("refuses anything else", function()
    for _, bad in ipairs { "5 minutes", "5", "5x", "", "m5", -1, 0 / 0, true, {} } do
      local seconds, why = duration.parse(bad)
      assert.is_nil(seconds, tostring(bad))
      assert.is_string(why)
    end
  end)

  it("names the call and the option of a bad one", function()
    local ok, err = pcall(duration.check, "5x", "exec.run", "timeout")
    assert.is_false(ok)
    assert.are.equal("invalid", err.kind)
    assert.are.equal("timeout", err.option)
    assert.are.equal('exec.run: timeout "5x" is not a duration (use seconds or e.g. "5m")', err.message)
    ok, err = pcall(duration.check, -3, nil, "validation.settle")
    assert.are.equal('validation.settle -3 is not a duration (use seconds or e.g. "5m")', err.message)
  end)

  it("gives the default, or nil, for a missing one", function()
    assert.are.equal(1800, duration.check(nil, "flagger.wait", "timeout", "30m"))
    assert.is_nil(duration.check(nil, "c:watch", "timeout"))
    assert.are.equal(60, duration.check("1m", "x", "timeout", "30m"))
  end)

  it("shows a duration as it was given", function()
    assert.are.equal("5m", duration.show("5m"))
    assert.are.equal("90s", duration.show(90))
    assert.are.equal("0.5s", duration.show(0.5))
  end)
end)
