describe("broken", function()
  it("never compiles", function()
end)
