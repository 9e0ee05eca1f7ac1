-- Tags (#word in names) and names for --tags, --exclude-tags, --filter, --filter-out.

describe("unit #fast", function()
  it("adds", function() end)
  it("waits #slow", function() end)
  pending("later #fast")
end)

describe("integration", function()
  it("talks #slow", function() end)
  it("parses #fast", function() end)
  it("formats", function() end)
  describe("nested #deep", function()
    it("inner one", function() end)
    it("inner two #fast", function() end)
  end)
end)
