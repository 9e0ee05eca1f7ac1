-- The git module against the Git smart-HTTP server of tests/env (git
-- http-backend behind lighttpd): a private repository that needs a username
-- and token, and public ones anyone may read but nobody may push to.
local env = require "tests.integration.support.env"
local helpers = require "tests.spec.support.helpers"
local git = require "git"
local sys = require "ferry.sys"
local task = require "task"

local AUTHOR = { name = "Ferry Integration", email = "integration@ferry.invalid" }

local function exists(path)
  return sys.stat(path) ~= nil
end

local function raises(reason, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.are.equal("table", type(err), tostring(err))
  assert.are.equal("git", err.kind)
  assert.are.equal(reason, err.reason, err.message)
  return err
end

describe("git over HTTP (tests/env)", function()
  local s, auth, tmp

  setup(function()
    s = env.status().git
    auth = { username = s.username, token = s.token }
  end)

  before_each(function()
    tmp = helpers.tmpdir()
  end)

  after_each(function()
    helpers.remove_tree(tmp)
  end)

  -- Tests push to branches of their own, so main stays as the fixtures made it.
  local function own_branch(repo)
    local name = env.unique("ferry-git")
    repo:checkout(name, { create = true })
    return name
  end

  it("clones a public repository without credentials", function()
    local repo = git.clone(s.public_repo, tmp .. "/core")
    local id, branch = repo:head()
    assert.are.equal("main", branch)
    assert.matches("^%x+$", id)
    assert.matches("^Import ", repo:log()[1].summary)
    assert.are.same({}, repo:status())
  end)

  it("clones the private repository with a token, commits and pushes", function()
    local repo = git.clone(s.private_repo, tmp .. "/fleet", { auth = auth })
    local branch = own_branch(repo)
    repo:write("clusters/ferry-test/" .. branch .. ".yaml", "branch: " .. branch .. "\n")
    local commit = repo:commit("Add " .. branch, { author = AUTHOR })
    local pushed = repo:push()
    assert.are.same({ remote = "origin", ref = "refs/heads/" .. branch, id = commit }, pushed)
    local again = git.clone(s.private_repo, tmp .. "/again", { auth = auth, branch = branch })
    assert.are.equal(commit, (again:head()))
    assert.are.equal("branch: " .. branch .. "\n", again:read("clusters/ferry-test/" .. branch .. ".yaml"))
    assert.are.equal("Ferry Integration", again:log()[1].author.name)
  end)

  it("refuses a wrong token: the error names the remote, never the token, and nothing is left", function()
    local wrong = "wrong-" .. s.token:reverse()
    local err = raises("auth", git.clone, s.private_repo, tmp .. "/fleet",
      { auth = { username = s.username, token = wrong } })
    assert.are.equal("clone", err.op)
    assert.are.equal(s.private_repo, err.remote)
    assert.is_truthy(err.message:find(s.private_repo, 1, true), err.message)
    assert.matches("authentication refused for user 'ferry'", err.message)
    assert.is_nil(tostring(err):find(wrong, 1, true))
    assert.is_nil(tostring(err):find(s.token, 1, true))
    assert.is_false(exists(tmp .. "/fleet"))
  end)

  it("refuses a push with a wrong token and leaves the remote branch as it was", function()
    local repo = git.clone(s.private_repo, tmp .. "/fleet", { auth = auth })
    local branch = own_branch(repo)
    local first = repo:push().id
    repo:write("refused.txt", "never pushed\n")
    repo:commit("Refused", { author = AUTHOR })
    local wrong = "wrong-" .. s.token:reverse()
    local err = raises("auth", repo.push, repo, { auth = { username = s.username, token = wrong } })
    assert.is_nil(tostring(err):find(wrong, 1, true))
    local check = git.clone(s.private_repo, tmp .. "/check", { auth = auth, branch = branch })
    assert.are.equal(first, (check:head()))
  end)

  it("asks for credentials the private repository needs", function()
    local err = raises("auth", git.clone, s.private_repo, tmp .. "/fleet", { auth = false })
    assert.matches("no token was given", err.message)
    assert.is_false(exists(tmp .. "/fleet"))
  end)

  it("takes the token from GIT_USERNAME and GIT_TOKEN", function()
    local code = string.format("return (require('git').clone(%q, %q):head())", s.private_repo, tmp .. "/env")
    local r = helpers.ferry({ "eval", code }, { env = { GIT_USERNAME = s.username, GIT_TOKEN = s.token } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^%x+", r.stdout)
  end)

  it("is refused a push to a public repository", function()
    local repo = git.clone(s.public_repo, tmp .. "/core")
    own_branch(repo)
    repo:write("x.txt", "x\n")
    repo:commit("Not allowed", { author = AUTHOR })
    local err = raises("forbidden", repo.push, repo)
    assert.matches("^push " .. s.public_repo:gsub("%p", "%%%0"), err.message)
  end)

  it("fetches what another clone pushed, and refuses a push that is not a fast-forward", function()
    local mine = git.clone(s.private_repo, tmp .. "/mine", { auth = auth })
    local branch = own_branch(mine)
    mine:push()
    local theirs = git.clone(s.private_repo, tmp .. "/theirs", { auth = auth, branch = branch })
    theirs:write("theirs.txt", "t\n")
    local their_commit = theirs:commit("Theirs", { author = AUTHOR })
    theirs:push()
    mine:write("mine.txt", "m\n")
    mine:commit("Mine", { author = AUTHOR })
    raises("non_fast_forward", mine.push, mine)
    local updates = mine:fetch()
    local seen
    for _, u in ipairs(updates) do
      if u.ref == "refs/remotes/origin/" .. branch then seen = u.new end
    end
    assert.are.equal(their_commit, seen)
    assert.are.equal("t\n", mine:read("theirs.txt", { rev = "origin/" .. branch }))
  end)

  it("runs two clones at once in tasks while the loop goes on", function()
    local started = sys.monotonic()
    local ticks = 0
    local done = false
    local spans = task.all {
      function()
        local t0 = sys.monotonic()
        git.clone(s.private_repo, tmp .. "/fleet", { auth = auth })
        return { t0, sys.monotonic() }
      end,
      function()
        local t0 = sys.monotonic()
        git.clone(s.repos["tenant-data"].http, tmp .. "/data")
        return { t0, sys.monotonic() }
      end,
      function()
        while not (exists(tmp .. "/fleet/.git/HEAD") and exists(tmp .. "/data/.git/HEAD")) and not done do
          ticks = ticks + 1
          task.sleep(0.001)
          if sys.monotonic() - started > 30 then done = true end
        end
      end,
    }
    assert.is_true(spans[2][1] < spans[1][2], "the second clone started after the first ended")
    assert.is_true(spans[1][1] < spans[2][2])
    assert.is_true(ticks > 0)
    assert.matches("^Import ", git.open(tmp .. "/data"):log()[1].summary)
  end)

  it("clones the file:// form of the same repositories", function()
    -- seeded alike: the same first commit
    local file_log = git.clone(s.repos.fleet.file, tmp .. "/fleet"):log { n = math.huge }
    local http_log = git.clone(s.private_repo, tmp .. "/http", { auth = auth }):log { n = math.huge }
    assert.are.equal(file_log[#file_log].id, http_log[#http_log].id)
  end)
end)
