-- When hooks run (printed, so the order shows in the report).

local function note(text) print("note: " .. text) end

describe("outer", function()
  setup(function() note("setup outer") end)
  teardown(function() note("teardown outer") end)
  lazy_setup(function() note("lazy_setup outer") end)
  lazy_teardown(function() note("lazy_teardown outer") end)
  strict_setup(function() note("strict_setup outer") end)
  strict_teardown(function() note("strict_teardown outer") end)
  before_each(function() note("before_each outer 1") end)
  before_each(function() note("before_each outer 2") end)
  after_each(function() note("after_each outer") end)

  it("first", function() note("it first") end)

  describe("inner", function()
    setup(function() note("setup inner") end)
    teardown(function() note("teardown inner") end)
    before_each(function() note("before_each inner") end)
    after_each(function() note("after_each inner") end)

    it("second", function()
      note("it second")
      finally(function() note("finally second") end)
    end)

    it("third", function() note("it third") end)
  end)

  describe("lazy and empty", function()
    lazy_setup(function() note("lazy_setup never (no tests)") end)
    lazy_teardown(function() note("lazy_teardown never") end)
  end)

  describe("lazy with a pending test only", function()
    lazy_setup(function() note("lazy_setup pending-only") end)
    pending("nothing to set up")
  end)

  it("last", function() note("it last") end)
end)
