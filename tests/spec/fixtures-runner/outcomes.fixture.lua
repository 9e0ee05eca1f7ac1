-- One test of each outcome, for the runner's own specs (runner_spec.lua).
-- Comments "-- @name" mark lines whose numbers the specs look up.

describe("outcomes", function()
  it("passes", function()
    assert.are.equal(1, 1)
  end)

  it("fails an assertion", function()
    assert.are.equal(1, 2) -- @fail
  end)

  it("fails a plain assert", function()
    assert(false, "plain assert") -- @plain
  end)

  it("errors", function()
    local t = nil
    return t.field -- @error
  end)

  it("errors with a table", function()
    error({ code = 7 }) -- @table
  end)

  it("is pending inside", function()
    pending("not finished") -- @pending
    error("never reached")
  end)

  pending("is declared pending")

  it("fails in finally", function()
    finally(function()
      assert.is_true(false) -- @finally
    end)
  end)
end)
