local command = require "ferry.engine.command"
local providers = require "ferry.engine.providers"
local traffic = require "ferry.engine.traffic"

describe("configured commands", function()
  it("replaces placeholders and keeps unknown ones", function()
    assert.are.same({ "eksctl", "create", "--name", "prod-eun-2", "{zone}" },
      command.expand({ "eksctl", "create", "--name", "{cluster}", "{zone}" }, { cluster = "prod-eun-2" }))
  end)

  it("names the missing setting", function()
    local ok, err = pcall(command.run, nil, { setting = "traffic.switch_command", kind = "traffic" })
    assert.is_false(ok)
    assert.are.equal("traffic", err.kind)
    assert.matches("traffic.switch_command is not set", err.message)
  end)

  it("reports a failing command with its output", function()
    local ok, err = pcall(command.run, { "sh", "-c", "echo nope >&2; exit 3" }, { setting = "x", kind = "provider" })
    assert.is_false(ok)
    assert.matches("sh %-c echo nope >&2; exit 3 failed %(exit 3%): nope", err.message)
  end)

  it("runs the command provider's create with the cluster's name and version", function()
    local dir = os.tmpname()
    os.remove(dir)
    local made = providers.command.create({}, "prod-eun-2", {
      create_command = { "sh", "-c", "echo {cluster} {version} $FERRY_CLUSTER > " .. dir },
      version = "v1.36.3", context = "prod-eun-2-admin",
    })
    local f = assert(io.open(dir))
    assert.are.equal("prod-eun-2 v1.36.3 prod-eun-2\n", f:read("a"))
    f:close()
    os.remove(dir)
    assert.are.equal("prod-eun-2-admin", made.context)
  end)

  it("refuses unknown providers and traffic drivers, listing the known ones", function()
    assert.has_error(function() providers.get("gke") end)
    local ok, err = pcall(traffic.get, "f5")
    assert.is_false(ok)
    assert.matches("use none, command or haproxy", err.message)
  end)
end)
