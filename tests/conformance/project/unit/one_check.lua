describe("unit task", function()
  it("runs tagged #only", function() end)
  it("is left out", function() end)
end)
