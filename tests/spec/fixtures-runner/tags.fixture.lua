-- Names with #tags, for --tags, --exclude-tags, --filter and --filter-out.

describe("unit #fast", function()
  it("adds", function() end)
  it("waits #slow", function() end)
end)

describe("integration", function()
  it("talks #slow", function() end)
  it("parses #fast", function() end)
  it("formats", function() end)
end)
