-- Order of tests: randomize() and the --shuffle/--sort flags.

describe("shuffled block", function()
  randomize()
  for i = 1, 8 do
    it("shuffled " .. i, function() print("ran shuffled " .. i) end)
  end
end)

describe("seeded block", function()
  randomize(12345)
  before_each(function() end)
  for i = 1, 6 do
    it("seeded " .. i, function() print("ran seeded " .. i) end)
  end
  it("fails to show the seed", function() assert.is_true(false) end)
end)

describe("not randomized", function()
  randomize(false)
  it("z first", function() end)
  it("a second", function() end)
  it("m third", function() end)
end)

describe("b named block", function()
  it("y", function() end)
  it("x", function() end)
end)

describe("a named block", function()
  it("only", function() end)
end)
