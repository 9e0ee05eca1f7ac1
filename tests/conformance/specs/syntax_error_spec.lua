describe("broken", function()
  it("x", function() end
end)
