describe("tap", function()
  it("passes", function() end)
  it("fails", function()
    assert.are.equal(1, 2) -- @fail
  end)
  pending("later")
  it("errors", function()
    error("boom") -- @error
  end)
end)
