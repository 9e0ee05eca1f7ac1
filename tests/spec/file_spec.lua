local helpers = require "tests.spec.support.helpers"
local file = require "ferry.file"

describe("ferry.file", function()
  local dir

  setup(function() dir = helpers.tmpdir() end)
  teardown(function() helpers.remove_tree(dir) end)

  it("reads a whole file, bytes as they are", function()
    helpers.write_file(dir .. "/a", "one\r\ntwo\0three")
    assert.are.equal("one\r\ntwo\0three", file.read(dir .. "/a"))
    assert.is_true(file.exists(dir .. "/a"))
  end)

  it("says why it cannot, naming the path", function()
    local text, why = file.read(dir .. "/missing")
    assert.is_nil(text)
    assert.matches(dir .. "/missing: No such file or directory", why, 1, true)
    assert.is_false(file.exists(dir .. "/missing"))
  end)
end)
