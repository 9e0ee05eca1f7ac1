local errors = require "ferry.errors"
local git = require "git"
local helpers = require "tests.spec.support.helpers"
local testing = require "ferry.testing"

describe("ferry.errors", function()
  it("formats every error as kind: message, in C as in Lua", function()
    assert.are.equal("timeout: too slow", errors.format(errors.new("timeout", "too slow")))
    assert.are.equal("timeout: too slow", tostring(errors.new("timeout", "too slow")))
    local ok, err = pcall(require("json").decode, "{")
    assert.is_false(ok)
    assert.are.equal(errors.format(err), tostring(err))
    assert.are.equal("x.lua:1: boom", errors.format("x.lua:1: boom"))
    assert.are.equal("NotFound: gone", errors.format(errors.new("api", "gone", { reason = "NotFound" }),
      { reason = true }))
  end)

  it("has one predicate for not found, whatever the module", function()
    local c = testing.fake_cluster()
    local ok, api = pcall(c.get, c, { apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "no" })
    assert.is_false(ok)
    assert.is_true(errors.not_found(api))
    assert.are.equal(404, api.status)
    assert.is_nil(api.code)
    local dir = helpers.tmpdir()
    local repo = git.init(dir)
    local read_ok, missing = pcall(repo.read, repo, "nothing.yaml")
    helpers.remove_tree(dir)
    assert.is_false(read_ok)
    assert.is_true(errors.not_found(missing))
    assert.is_nil(missing.code)
    assert.is_false(errors.not_found(errors.new("timeout", "too slow")))
    assert.is_false(errors.not_found("not found"))
  end)
end)
