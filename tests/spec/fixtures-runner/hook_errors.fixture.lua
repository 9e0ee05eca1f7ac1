-- Errors outside tests: in hooks and in a describe body.

local log = package.loaded["fixture.log"] or {}
local function note(text)
  log[#log + 1] = text
end

describe("before_each fails", function()
  before_each(function()
    error("before_each boom") -- @before_each
  end)
  after_each(function() note("after_each after failed before_each") end)
  it("a", function() note("test a ran") end)
  it("b", function() note("test b ran") end)
end)

describe("setup fails", function()
  setup(function()
    error("setup boom")
  end)
  teardown(function() note("teardown after failed setup") end)
  it("c", function() note("test c ran") end)
end)

describe("after_each fails", function()
  after_each(function()
    error("after_each boom")
  end)
  it("d", function() note("test d ran") end)
end)

describe("hook assertion", function()
  before_each(function()
    assert.is_true(false)
  end)
  it("e", function() note("test e ran") end)
end)

describe("body fails", function()
  it("f", function() note("test f ran") end)
  error("describe boom")
end)

describe("still runs", function()
  it("g", function() note("test g ran") end)
end)
