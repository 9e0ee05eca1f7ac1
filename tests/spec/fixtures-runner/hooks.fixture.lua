-- Records the order in which blocks run into the list the runner's specs
-- put in package.loaded["fixture.log"].

local log = package.loaded["fixture.log"] or {}
local function note(text)
  log[#log + 1] = text
end

describe("outer", function()
  setup(function() note("setup outer") end)
  teardown(function() note("teardown outer") end)
  lazy_setup(function() note("lazy_setup outer") end)
  lazy_teardown(function() note("lazy_teardown outer") end)
  before_each(function() note("before_each outer") end)
  after_each(function() note("after_each outer") end)

  it("first", function()
    note("it first")
  end)

  describe("inner", function()
    setup(function() note("setup inner") end)
    teardown(function() note("teardown inner") end)
    before_each(function() note("before_each inner") end)
    after_each(function() note("after_each inner") end)

    it("second", function()
      note("it second")
      finally(function() note("finally second") end)
    end)
  end)
end)
