-- Outcomes of tests: success, failure, error, pending, as busted reports them.

describe("outcomes", function()
  it("passes", function()
    assert.is_true(true)
  end)

  it("fails an assertion", function()
    assert.are.equal(1, 2)
  end)

  it("fails a plain assert", function()
    assert(false, "plain assert")
  end)

  it("fails a plain assert without a message", function()
    assert(nil)
  end)

  it("errors with a string", function()
    local t = nil
    return t.field
  end)

  it("errors with error()", function()
    error("explicit error")
  end)

  it("errors with a level", function()
    local function inner() error("from the caller", 2) end
    inner()
  end)

  it("errors with a table", function()
    error({ code = 7, reason = "NotFound", nested = { list = { 1, 2 } } })
  end)

  it("errors with a table that has __tostring", function()
    error(setmetatable({ text = "readable" }, { __tostring = function(e) return "E: " .. e.text end }))
  end)

  it("errors with nil", function()
    error(nil)
  end)

  it("errors with a number", function()
    error(42)
  end)

  pending("is declared pending")

  pending("is declared pending with a body", function()
    error("never runs")
  end)

  it("is pending inside", function()
    pending("not finished")
    error("not reached")
  end)

  it("passes despite finally", function()
    finally(function() end)
  end)

  it("fails in finally", function()
    finally(function()
      assert.are.same({ 1 }, { 2 })
    end)
  end)

  it("errors and its finally still runs", function()
    finally(function() print("finally ran") end)
    error("body error")
  end)

  context("a context", function()
    spec("a spec", function() end)
    test("a test", function() end)
  end)

  describe "call syntax" (function()
    it "works too" (function() end)
  end)
end)

it("at file level", function() end)

describe("nested", function()
  describe("twice", function()
    describe("thrice", function()
      it("has a long full name", function()
        assert.falsy(nil)
      end)
    end)
  end)
end)
