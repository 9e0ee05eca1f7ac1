-- Errors outside tests: reported as errors of the block they happen in.

local function note(text) print("note: " .. text) end

describe("before_each fails", function()
  before_each(function() error("before_each boom") end)
  after_each(function() note("after_each after failed before_each") end)
  it("a", function() note("a ran") end)
  it("b", function() note("b ran") end)
end)

describe("nested before_each fails", function()
  before_each(function() note("outer before_each") end)
  after_each(function() note("outer after_each") end)
  describe("inner", function()
    before_each(function() error("inner before_each boom") end)
    after_each(function() note("inner after_each") end)
    it("c", function() note("c ran") end)
  end)
end)

describe("setup fails", function()
  setup(function() error("setup boom") end)
  teardown(function() note("teardown after failed setup") end)
  it("d", function() note("d ran") end)
end)

describe("lazy_setup fails", function()
  lazy_setup(function() error("lazy_setup boom") end)
  lazy_teardown(function() note("lazy_teardown after failed lazy_setup") end)
  it("e", function() note("e ran") end)
  it("f", function() note("f ran") end)
end)

describe("after_each fails", function()
  after_each(function() error("after_each boom") end)
  it("g", function() note("g ran") end)
end)

describe("teardown fails", function()
  teardown(function() error("teardown boom") end)
  it("h", function() note("h ran") end)
end)

describe("hook assertion", function()
  before_each(function() assert.are.same({ 1 }, { 2 }) end)
  it("i", function() note("i ran") end)
end)

describe("body fails", function()
  it("j", function() note("j ran") end)
  error("describe boom")
end)

describe("declaring inside a test", function()
  it("k", function()
    describe("not allowed", function() end)
  end)
  it("l", function()
    it("not allowed either", function() end)
  end)
end)

describe("still runs", function()
  it("m", function() note("m ran") end)
end)
