-- With --no-auto-insulate globals set through _G reach later files.
_G.shared_between_files = "from globals_a"
describe("globals a", function()
  it("sets a global", function() assert.is_string(shared_between_files) end)
end)
