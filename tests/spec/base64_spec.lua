local base64 = require "base64"

describe("base64", function()
  it("round-trips every length around a block boundary", function()
    local s = ""
    for i = 0, 10 do
      assert.are.equal(s, base64.decode(base64.encode(s)))
      s = s .. string.char(i * 37 % 256)
    end
  end)

  it("matches RFC 4648 test vectors", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for plain, encoded in pairs(vectors) do
      assert.are.equal(encoded, base64.encode(plain))
      assert.are.equal(plain, base64.decode(encoded))
    end
  end)

  it("ignores line breaks as PEM-in-kubeconfig data has them", function()
    assert.are.equal("foobar", base64.decode("Zm9v\nYmFy\n"))
  end)

  it("names the position of an invalid character", function()
    local ok, err = pcall(base64.decode, "Zm9v!mFy")
    assert.is_false(ok)
    assert.are.equal("base64", err.kind)
    assert.matches("byte 5", err.message)
  end)
end)
