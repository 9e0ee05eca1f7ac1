describe("declared before the error", function()
  it("never runs", function() end)
end)
error("file level boom")
