-- setup/teardown with --lazy mean lazy_setup/lazy_teardown.
describe("lazy", function()
  setup(function() print("setup ran") end)
  teardown(function() print("teardown ran") end)
  describe("no tests here", function()
    setup(function() print("inner setup ran") end)
  end)
  it("a test", function() print("test ran") end)
end)
