-- The git module on local repositories (temp dirs, file:// remotes) and on
-- small servers of its own: a TCP server that stalls, and sshd when present.
local git = require "git"
local helpers = require "tests.spec.support.helpers"
local exec = require "exec"
local json = require "json"
local sys = require "ferry.sys"
local task = require "task"

local function exists(path)
  return sys.stat(path) ~= nil
end

-- The git command line, to check what ferry wrote with another implementation.
local function git_cli(dir, ...)
  local r = exec.run { argv = { "git", "-C", dir, ... }, env = { GIT_CONFIG_NOSYSTEM = "1" } }
  assert(r.code == 0, r.stderr)
  return (r.stdout:gsub("%s+$", ""))
end

local function raises(reason, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.are.equal("table", type(err), tostring(err))
  assert.are.equal("git", err.kind)
  assert.are.equal(reason, err.reason, err.message)
  return err
end

local AUTHOR = { name = "Ferry Test", email = "test@ferry.invalid" }

-- A repository with one commit of two files.
local function seeded(dir)
  local repo = git.init(dir)
  repo:write("README.md", "# fleet\n")
  repo:write("clusters/prod/kustomization.yaml", "resources: []\n")
  repo:commit("Seed", { author = AUTHOR })
  return repo
end

-- A TCP server that accepts connections and closes them after `hold`
-- seconds without a byte: a Git server that hangs.
local function stalling_server(dir, hold)
  local script = dir .. "/stall.py"
  helpers.write_file(script, [[
import os, socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
def serve(c):
    time.sleep(float(sys.argv[2]))
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
]])
  local port_file = dir .. "/stall.port"
  local process = exec.spawn { argv = { "python3", script, port_file, tostring(hold) } }
  local port = helpers.eventually(function()
    local f = io.open(port_file)
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return tonumber(text)
  end, 10, "the stalling server to start")
  return "http://127.0.0.1:" .. port, process
end

describe("git", function()
  local tmp

  before_each(function()
    tmp = helpers.tmpdir()
  end)

  after_each(function()
    helpers.remove_tree(tmp)
  end)

  describe("a new repository", function()
    it("has an unborn branch: no commit id, the branch name", function()
      local repo = git.init(tmp .. "/repo")
      local id, branch = repo:head()
      assert.is_nil(id)
      assert.are.equal("main", branch)
      assert.are.same({}, repo:log())
      assert.are.equal(tmp .. "/repo/", repo.dir)
    end)

    it("takes another initial branch, or is bare", function()
      local _, branch = git.init(tmp .. "/a", { branch = "trunk" }):head()
      assert.are.equal("trunk", branch)
      local bare = git.init(tmp .. "/b.git", { bare = true })
      assert.is_true(bare.bare)
      raises("bare", bare.write, bare, "x", "y")
    end)

    it("commits nothing when nothing is staged", function()
      local repo = git.init(tmp .. "/repo")
      assert.is_nil(repo:commit("empty"))
      local id = repo:commit("empty on purpose", { allow_empty = true, author = AUTHOR })
      assert.matches("^%x+$", id)
      assert.are.equal(40, #id)
    end)
  end)

  describe("files", function()
    local repo
    before_each(function()
      repo = seeded(tmp .. "/repo")
    end)

    it("writes, stages, commits and reads back, in the work tree and at a revision", function()
      local first = repo:head()
      repo:write("clusters/prod/flux.yaml", "kind: Kustomization\n")
      assert.are.same({ { path = "clusters/prod/flux.yaml", index = "added" } }, repo:status())
      local id = repo:commit("Add flux", { author = AUTHOR })
      local head, branch = repo:head()
      assert.are.equal(id, head)
      assert.are.equal("main", branch)
      assert.are.same({}, repo:status())
      assert.are.equal("kind: Kustomization\n", repo:read("clusters/prod/flux.yaml"))
      assert.are.equal("kind: Kustomization\n", repo:read("clusters/prod/flux.yaml", { rev = "HEAD" }))
      assert.are.equal("resources: []\n", repo:read("clusters/prod/kustomization.yaml", { rev = first }))
      raises("NotFound", repo.read, repo, "clusters/prod/flux.yaml", { rev = first })
      -- the git command line sees the same history
      assert.are.equal(id, git_cli(repo.dir, "rev-parse", "HEAD"))
      assert.are.equal("Add flux", git_cli(repo.dir, "log", "-1", "--format=%s"))
      assert.are.equal("Ferry Test <test@ferry.invalid>", git_cli(repo.dir, "log", "-1", "--format=%an <%ae>"))
      assert.are.equal("", git_cli(repo.dir, "status", "--porcelain"))
    end)

    it("keeps binary content and an executable file's mode", function()
      local bytes = "\0\1\2\255 binary\r\n"
      repo:write("bin/data", bytes)
      assert.are.equal(bytes, repo:read("bin/data"))
      exec.run { argv = { "chmod", "755", repo.dir .. "bin/data" } }
      repo:write("bin/data", "#!/bin/sh\n")
      assert.are.equal(tonumber("755", 8), sys.stat(repo.dir .. "bin/data").mode & tonumber("777", 8))
    end)

    it("removes a file or a directory and stages the removal", function()
      repo:remove("README.md")
      assert.is_false(exists(repo.dir .. "README.md"))
      repo:remove("clusters")
      assert.is_false(exists(repo.dir .. "clusters"))
      assert.are.same({
        { path = "README.md", index = "deleted" },
        { path = "clusters/prod/kustomization.yaml", index = "deleted" },
      }, repo:status())
      repo:commit("Remove everything", { author = AUTHOR })
      assert.are.equal("", git_cli(repo.dir, "ls-files"))
      raises("NotFound", repo.remove, repo, "README.md")
    end)

    it("stages a file deleted by another program", function()
      os.remove(repo.dir .. "README.md")
      repo:remove("README.md")
      assert.are.same({ { path = "README.md", index = "deleted" } }, repo:status())
    end)

    it("reports untracked and modified files, and commits them with all = true", function()
      helpers.write_file(repo.dir .. "README.md", "# changed\n")
      helpers.write_file(repo.dir .. "new.txt", "new\n")
      os.remove(repo.dir .. "clusters/prod/kustomization.yaml")
      assert.are.same({
        { path = "README.md", worktree = "modified" },
        { path = "clusters/prod/kustomization.yaml", worktree = "deleted" },
        { path = "new.txt", worktree = "untracked" },
      }, repo:status())
      assert.is_nil(repo:commit("nothing staged"))
      assert.is_string(repo:commit("Everything", { all = true, author = "A U Thor <a@example.com>" }))
      assert.are.same({}, repo:status())
      assert.are.equal("README.md\nnew.txt", git_cli(repo.dir, "ls-files"))
      local last = repo:log { n = 1 }[1]
      assert.are.equal("A U Thor", last.author.name)
      assert.are.equal("a@example.com", last.author.email)
    end)

    it("shows the uncommitted changes as a patch", function()
      assert.are.equal("", (repo:diff()))
      repo:write("README.md", "# fleet\nmore\n")
      helpers.write_file(repo.dir .. "untracked.txt", "u\n")
      local patch, files = repo:diff()
      assert.matches("diff %-%-git a/README.md b/README.md", patch)
      assert.matches("\n%+more\n", patch)
      assert.matches("%+%+%+ b/untracked.txt", patch)
      assert.are.same({
        { path = "README.md", status = "modified" },
        { path = "untracked.txt", status = "added" },
      }, files)
      local _, staged = repo:diff { staged = true }
      assert.are.same({ { path = "README.md", status = "modified" } }, staged)
      repo:commit("More", { author = AUTHOR })
      local _, since = repo:diff { rev = "HEAD~1", staged = true }
      assert.are.same({ { path = "README.md", status = "modified" } }, since)
    end)

    it("lists the history newest first, n at most", function()
      for i = 1, 3 do
        repo:write("n.txt", tostring(i))
        repo:commit("Commit " .. i .. "\n\nBody " .. i, { author = AUTHOR })
      end
      local log = repo:log { n = 2 }
      assert.are.equal(2, #log)
      assert.are.equal("Commit 3", log[1].summary)
      assert.are.equal("Commit 3\n\nBody 3\n", log[1].message)
      assert.are.same({ log[2].id }, log[1].parents)
      assert.are.equal("Ferry Test", log[1].author.name)
      assert.is_true(math.abs(log[1].author.time - os.time()) < 60)
      assert.are.equal(4, #repo:log { n = 100 })
      assert.are.equal("Seed", repo:log { rev = "HEAD~3" }[1].summary)
      assert.are.equal(1, #repo:log(1))
    end)

    it("refuses paths outside the work tree", function()
      for _, path in ipairs { "../x", "/etc/passwd", "a/../../x", ".git/config", "a//b", "a/", "", "./a", "a\0b", "A/.GIT/x" } do
        raises("invalid", repo.write, repo, path, "x")
        raises("invalid", repo.read, repo, path)
      end
      exec.run { argv = { "ln", "-s", tmp, repo.dir .. "out" } }
      raises("invalid", repo.write, repo, "out/escaped.txt", "x")
      assert.is_false(exists(tmp .. "/escaped.txt"))
      helpers.write_file(tmp .. "/secret.txt", "s")
      raises("invalid", repo.read, repo, "out/secret.txt")
    end)

    it("names what is missing", function()
      local err = raises("NotFound", repo.read, repo, "missing.yaml")
      assert.matches("missing%.yaml", err.message)
      raises("directory", repo.read, repo, "clusters")
      raises("directory", repo.read, repo, "clusters", { rev = "HEAD" })
      err = raises("NotFound", repo.read, repo, "README.md", { rev = "no-such-branch" })
      assert.matches("no%-such%-branch", err.message)
      raises("NotFound", repo.log, repo, { rev = "no-such-branch" })
    end)

    it("checks arguments", function()
      assert.has_error(function() repo:write("x") end)
      assert.has_error(function() repo:write(1, "x") end)
      assert.has_error(function() repo:commit("") end)
      assert.has_error(function() repo:commit("m", { author = { name = "only a name" } }) end)
      assert.has_error(function() repo.head() end)
      assert.has_error(function() git.clone("file:///x", tmp .. "/c", { depth = 0 }) end)
      assert.has_error(function() git.clone("file:///x", tmp .. "/c", { auth = "token" }) end)
    end)

    it("is unusable once closed", function()
      repo:close()
      assert.has_error(function() repo:head() end, "attempt to use a closed repository")
      repo:close()
    end)
  end)

  describe("checkout", function()
    local repo, first
    before_each(function()
      repo = seeded(tmp .. "/repo")
      first = repo:head()
    end)

    it("creates and switches branches", function()
      local id, branch = repo:checkout("feature", { create = true })
      assert.are.same({ first, "feature" }, { id, branch })
      repo:write("feature.txt", "f\n")
      local feature = repo:commit("Feature", { author = AUTHOR })
      assert.are.same({ first, "main" }, { repo:checkout("main") })
      assert.is_false(exists(repo.dir .. "feature.txt"))
      assert.are.same({ feature, "feature" }, { repo:checkout("feature") })
      assert.are.equal("f\n", repo:read("feature.txt"))
      raises("exists", repo.checkout, repo, "main", { create = true })
    end)

    it("detaches HEAD at a commit or tag", function()
      repo:write("two.txt", "2")
      repo:commit("Two", { author = AUTHOR })
      git_cli(repo.dir, "tag", "v1", first)
      local id, branch = repo:checkout("v1")
      assert.are.equal(first, id)
      assert.is_nil(branch)
      assert.is_false(exists(repo.dir .. "two.txt"))
      assert.are.same({ first }, { repo:checkout(first:sub(1, 10)) })
      local err = raises("detached", repo.push, repo)
      assert.matches("detached", err.message)
    end)

    it("names an unknown ref", function()
      local err = raises("NotFound", repo.checkout, repo, "no-such-ref")
      assert.matches("no%-such%-ref", err.message)
      assert.are.same({ first, "main" }, { repo:head() })
    end)

    it("keeps local changes unless forced", function()
      repo:checkout("other", { create = true })
      repo:write("README.md", "# other\n")
      repo:commit("Other", { author = AUTHOR })
      helpers.write_file(repo.dir .. "README.md", "# local edit\n")
      local err = raises("conflict", repo.checkout, repo, "main")
      assert.matches("README%.md", err.message)
      assert.are.equal("# local edit\n", repo:read("README.md"))
      local _, branch = repo:head()
      assert.are.equal("other", branch)
      repo:checkout("main", { force = true })
      assert.are.equal("# fleet\n", repo:read("README.md"))
    end)
  end)

  describe("with a file:// remote", function()
    local origin_dir, url

    before_each(function()
      origin_dir = tmp .. "/origin.git"
      git.init(origin_dir, { bare = true }):close()
      local seed = seeded(tmp .. "/seed")
      exec.run { argv = { "git", "-C", seed.dir, "remote", "add", "origin", origin_dir } }
      seed:checkout("release", { create = true })
      seed:push()
      seed:checkout("main")
      seed:push()
      url = "file://" .. origin_dir
    end)

    it("clones, commits and pushes; a second clone sees the commit", function()
      local repo = git.clone(url, tmp .. "/one")
      local id, branch = repo:head()
      assert.are.equal("main", branch)
      assert.are.equal("# fleet\n", repo:read("README.md"))
      repo:write("clusters/prod/tenant.yaml", "tenant: a\n")
      local commit = repo:commit("Add tenant", { author = AUTHOR })
      assert.are_not.equal(id, commit)
      local pushed = repo:push()
      assert.are.same({ remote = "origin", ref = "refs/heads/main", id = commit }, pushed)
      assert.are.equal(commit, git_cli(origin_dir, "rev-parse", "main"))
      local two = git.clone(url, tmp .. "/two")
      assert.are.equal(commit, (two:head()))
      assert.are.equal("tenant: a\n", two:read("clusters/prod/tenant.yaml"))
    end)

    it("clones a given branch, and checks out a remote branch as a tracking branch", function()
      local repo = git.clone(url, tmp .. "/one", { branch = "release", depth = 1 })
      local _, branch = repo:head()
      assert.are.equal("release", branch)
      repo = git.clone(url, tmp .. "/two")
      local _, switched = repo:checkout("release")
      assert.are.equal("release", switched)
      assert.are.equal("origin/release", git_cli(repo.dir, "rev-parse", "--abbrev-ref", "release@{upstream}"))
    end)

    it("fetches what others pushed", function()
      local mine = git.clone(url, tmp .. "/mine")
      local theirs = git.clone(url, tmp .. "/theirs")
      theirs:write("theirs.txt", "t\n")
      local commit = theirs:commit("Theirs", { author = AUTHOR })
      theirs:push()
      local updates = mine:fetch()
      assert.are.equal(1, #updates)
      assert.are.equal("refs/remotes/origin/main", updates[1].ref)
      assert.are.equal(commit, updates[1].new)
      assert.are.equal("t\n", mine:read("theirs.txt", { rev = "origin/main" }))
      assert.are.same({}, mine:fetch())
    end)

    it("refuses a push that is not a fast-forward unless forced", function()
      local mine = git.clone(url, tmp .. "/mine")
      local theirs = git.clone(url, tmp .. "/theirs")
      theirs:write("theirs.txt", "t\n")
      theirs:commit("Theirs", { author = AUTHOR })
      theirs:push()
      mine:write("mine.txt", "m\n")
      local commit = mine:commit("Mine", { author = AUTHOR })
      local err = raises("non_fast_forward", mine.push, mine)
      assert.are.equal("push", err.op)
      assert.matches("^push file://", err.message)
      mine:push { force = true }
      assert.are.equal(commit, git_cli(origin_dir, "rev-parse", "main"))
    end)

    it("pushes another branch, and names a missing remote", function()
      local repo = git.clone(url, tmp .. "/one")
      repo:checkout("topic", { create = true })
      repo:write("topic.txt", "t")
      local commit = repo:commit("Topic", { author = AUTHOR })
      repo:checkout("main")
      assert.are.equal(commit, repo:push { branch = "topic" }.id)
      assert.are.equal(commit, git_cli(origin_dir, "rev-parse", "topic"))
      raises("NotFound", repo.push, repo, { remote = "upstream" })
      raises("NotFound", repo.fetch, repo, { remote = "upstream" })
    end)

    it("refuses a non-empty directory and leaves it as it was", function()
      local dir = tmp .. "/full"
      sys.mkdir(dir)
      helpers.write_file(dir .. "/keep.txt", "keep")
      raises("exists", git.clone, url, dir)
      assert.are.same({ "keep.txt" }, sys.listdir(dir))
    end)

    it("leaves nothing behind when the clone fails", function()
      raises("NotFound", git.clone, url, tmp .. "/nobranch", { branch = "no-such-branch" })
      assert.is_false(exists(tmp .. "/nobranch"))
      local err = raises("error", git.clone, "file://" .. tmp .. "/no-such-repo.git", tmp .. "/norepo")
      assert.matches("^clone file://", err.message)
      assert.is_false(exists(tmp .. "/norepo"))
      sys.mkdir(tmp .. "/empty")
      raises("NotFound", git.clone, url, tmp .. "/empty", { branch = "no-such-branch" })
      assert.are.same({}, sys.listdir(tmp .. "/empty"))
    end)

    it("clones a branch from a remote whose HEAD names a branch that does not exist, as git clone -b does", function()
      local odd = tmp .. "/odd.git"
      exec.run { argv = { "git", "init", "-q", "--bare", "-b", "master", odd } }
      git_cli(tmp .. "/seed", "push", "-q", odd, "main")
      local repo = git.clone("file://" .. odd, tmp .. "/odd", { branch = "main" })
      local id, branch = repo:head()
      assert.are.equal("main", branch)
      assert.are.equal(git_cli(odd, "rev-parse", "main"), id)
      assert.are.equal("# fleet\n", repo:read("README.md"))
      assert.are.same({}, repo:status())
      assert.are.equal("origin/main", git_cli(repo.dir, "rev-parse", "--abbrev-ref", "main@{upstream}"))
    end)

    it("clones another branch than the remote's HEAD and keeps no branch of the HEAD", function()
      local repo = git.clone(url, tmp .. "/one", { branch = "release" })
      assert.are.equal("release", git_cli(repo.dir, "branch", "--format=%(refname:short)"))
      assert.are.equal("# fleet\n", repo:read("README.md"))
    end)

    it("names the operation, the remote and libgit2's own reason and class of a failure", function()
      local err = raises("error", git.clone, "file://" .. tmp .. "/no-such-repo.git", tmp .. "/norepo")
      assert.are.equal("clone", err.op)
      assert.are.equal("os", err.class)
      assert.matches("^clone file://.-/no%-such%-repo%.git: .*no%-such%-repo%.git", err.message)
      assert.is_nil(err.message:find("unknown error", 1, true))
      err = raises("NotFound", git.open, tmp .. "/missing")
      assert.is_string(err.class)
    end)

    it("runs clones side by side in tasks", function()
      local spans = task.all {
        function()
          local started = sys.monotonic()
          git.clone(url, tmp .. "/a")
          return { started, sys.monotonic() }
        end,
        function()
          local started = sys.monotonic()
          git.clone(url, tmp .. "/b")
          return { started, sys.monotonic() }
        end,
      }
      -- the second started before the first was seen to finish
      assert.is_true(spans[2][1] < spans[1][2])
      assert.is_true(spans[1][1] < spans[2][2])
      assert.are.equal("# fleet\n", git.open(tmp .. "/b"):read("README.md"))
    end)
  end)

  describe("opening", function()
    it("names a directory that is not a repository", function()
      local err = raises("NotFound", git.open, tmp .. "/missing")
      assert.matches("missing", err.message)
      raises("NotFound", git.open, tmp)
    end)

    it("opens a repository by its work tree", function()
      seeded(tmp .. "/repo"):close()
      local repo = git.open(tmp .. "/repo")
      assert.are.equal("Seed", repo:log()[1].summary)
    end)
  end)

  describe("network waits", function()
    it("do not block the loop: two hanging clones overlap while a timer ticks", function()
      local server_url, server <close> = stalling_server(tmp, 1.0)
      local ticks = 0
      local started = sys.monotonic()
      local results = task.all {
        function() return select(2, pcall(git.clone, server_url .. "/a.git", tmp .. "/a")) end,
        function() return select(2, pcall(git.clone, server_url .. "/b.git", tmp .. "/b")) end,
        function()
          while sys.monotonic() - started < 0.8 do
            task.sleep(0.05)
            ticks = ticks + 1
          end
        end,
      }
      local elapsed = sys.monotonic() - started
      assert.is_true(elapsed < 1.8, "took " .. elapsed .. " s")
      assert.is_true(ticks >= 8, "the loop ticked " .. ticks .. " times")
      for i = 1, 2 do
        assert.are.equal("git", results[i].kind)
        assert.matches("^clone http://127%.0%.0%.1:%d+/[ab]%.git: ", results[i].message)
      end
      assert.is_false(exists(tmp .. "/a"))
      assert.is_false(exists(tmp .. "/b"))
    end)

    it("are cancelled by a timeout, and the clone leaves nothing behind", function()
      local server_url, server <close> = stalling_server(tmp, 1.0)
      local started = sys.monotonic()
      local ok, err = pcall(task.timeout, 0.2, git.clone, server_url .. "/a.git", tmp .. "/a")
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      assert.is_true(sys.monotonic() - started < 3)
      helpers.eventually(function() return not exists(tmp .. "/a") end, 5, "the clone to clean up")
    end)

    it("are closed without waiting for libgit2 to notice", function()
      local server_url, server <close> = stalling_server(tmp, 1.5)
      local started = sys.monotonic()
      local ok, err = pcall(task.timeout, 0.1, git.clone, server_url .. "/a.git", tmp .. "/a")
      assert.is_false(ok)
      assert.are.equal("timeout", err.kind)
      local elapsed = sys.monotonic() - started
      assert.is_true(elapsed < 0.6, "took " .. elapsed .. " s")
      helpers.eventually(function() return not exists(tmp .. "/a") end, 5, "the clone to clean up")
    end)

    it("read an HTTP refusal: its status, and what it means", function()
      local server = helpers.start_http_server()
      local ok, err = pcall(git.clone, server.url .. "/fleet.git", tmp .. "/fleet")
      helpers.stop_http_server(server)
      assert.is_false(ok)
      assert.are.equal("NotFound", err.reason, tostring(err))
      assert.are.equal(404, err.status)
      assert.are.equal("http", err.class)
      assert.are.equal("clone " .. server.url .. "/fleet.git: no repository there (HTTP 404)", err.message)
      assert.is_false(exists(tmp .. "/fleet"))
    end)

    it("never show the token, even one written in the URL", function()
      local server_url, server <close> = stalling_server(tmp, 0)
      local token = "s3cr3t-token-" .. math.random(100000)
      local with_token = server_url:gsub("^http://", "http://ferry:" .. token .. "@")
      local err = raises("error", git.clone, with_token .. "/a.git", tmp .. "/a")
      assert.is_nil(err.message:find(token, 1, true), err.message)
      assert.is_nil(err.remote:find(token, 1, true))
      assert.matches("^clone http://ferry@127", err.message)
      err = raises("error", git.clone, server_url .. "/a.git", tmp .. "/b",
        { auth = { username = "ferry", token = token } })
      assert.is_nil(tostring(err):find(token, 1, true))
    end)
  end)

  describe("over SSH", function()
    -- A private sshd on a loopback port (pending where openssh-server is
    -- missing); its host key is trusted only through known_hosts.
    local dir, url, known_hosts, server
    local sshd = "/usr/sbin/sshd"

    local function available()
      return exists(sshd) and exec.which("ssh-keygen") and exec.which("git")
    end

    setup(function()
      if not available() then return end
      dir = helpers.tmpdir()
      for _, name in ipairs { "host_key", "id_ed25519", "stranger" } do
        local r = exec.run { argv = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir .. "/" .. name } }
        assert(r.code == 0, r.stderr)
      end
      exec.run { argv = { "cp", dir .. "/id_ed25519.pub", dir .. "/authorized_keys" } }
      local port = tonumber((exec.run { argv = { "python3", "-c",
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" } }.stdout))
      helpers.write_file(dir .. "/sshd_config", table.concat({
        "Port " .. port, "ListenAddress 127.0.0.1", "HostKey " .. dir .. "/host_key",
        "AuthorizedKeysFile " .. dir .. "/authorized_keys", "PidFile " .. dir .. "/sshd.pid",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", "",
      }, "\n"))
      local user = exec.run { argv = { "id", "-un" } }.stdout:gsub("%s+$", "")
      if user == "root" then
        sys.mkdir("/run/sshd", tonumber("755", 8)) -- sshd run as root wants its privilege separation dir
      end
      server = exec.spawn { argv = { sshd, "-D", "-e", "-f", dir .. "/sshd_config" } }
      local host_key = helpers.read_file(dir .. "/host_key.pub"):match("^(%S+ %S+)")
      known_hosts = string.format("[127.0.0.1]:%d %s\n", port, host_key)
      git.init(dir .. "/origin.git", { bare = true }):close()
      seeded(dir .. "/seed"):close()
      git_cli(dir .. "/seed", "push", "-q", dir .. "/origin.git", "main")
      url = string.format("ssh://%s@127.0.0.1:%d%s/origin.git", user, port, dir)
      helpers.eventually(function()
        return exec.run { argv = { "python3", "-c", string.format(
          "import socket; socket.create_connection(('127.0.0.1', %d), 1)", port) } }.code == 0
      end, 10, "sshd to listen")
    end)

    teardown(function()
      if server then server:close() end
      if dir then helpers.remove_tree(dir) end
    end)

    -- libgit2 1.5's SSH transport leaks a few bytes per connection, which
    -- LeakSanitizer would report at exit: these run in a child ferry, with
    -- leak detection off there. ARGS (a table) reaches the child as JSON;
    -- the child answers {ok, value} or {ok = false, err = {kind, reason, message}}.
    local function in_child(code, args, env)
      local program = string.format([[
local git = require "git"
local json = require "json"
local ARGS = json.decode(%q)
local ok, value = pcall(function() %s end)
if ok then
  io.write(json.encode { ok = true, value = value == nil and json.null or value })
else
  io.write(json.encode { ok = false, err = { kind = value.kind, reason = value.reason, message = tostring(value.message) } })
end]], json.encode(args), code)
      local child_env = { ASAN_OPTIONS = "detect_leaks=0" }
      for k, v in pairs(env or {}) do child_env[k] = v end
      local r = helpers.ferry({ "eval", program }, { env = child_env })
      assert(r.code == 0, r.stderr)
      return json.decode(r.stdout)
    end

    local function auth(extra)
      local a = { identity_file = dir .. "/id_ed25519", known_hosts = known_hosts }
      for k, v in pairs(extra or {}) do a[k] = v end
      return a
    end

    local function child_raises(reason, result)
      assert.is_false(result.ok, "expected an error")
      assert.are.equal("git", result.err.kind)
      assert.are.equal(reason, result.err.reason, result.err.message)
      return result.err
    end

    it("clones and pushes with a key file, trusting the host through known_hosts", function()
      if not available() then return pending("openssh-server is not installed") end
      local result = in_child([[
local repo = git.clone(ARGS.url, ARGS.dir, { auth = ARGS.auth })
local readme = repo:read("README.md")
repo:write("ssh.txt", "over ssh\n")
local commit = repo:commit("Over SSH", { author = { name = "T", email = "t@example.com" } })
return { readme = readme, commit = commit, pushed = repo:push().id }]],
        { url = url, dir = tmp .. "/one", auth = auth() })
      assert.is_true(result.ok, result.err and result.err.message)
      assert.are.equal("# fleet\n", result.value.readme)
      assert.are.equal(result.value.commit, result.value.pushed)
      assert.are.equal(result.value.commit, git_cli(dir .. "/origin.git", "rev-parse", "main"))
    end)

    it("takes the key as text, as a Flux Secret holds it", function()
      if not available() then return pending("openssh-server is not installed") end
      local key = helpers.read_file(dir .. "/id_ed25519")
      local result = in_child("return (git.clone(ARGS.url, ARGS.dir, { auth = ARGS.auth }):head())",
        { url = url, dir = tmp .. "/one", auth = { identity = key, known_hosts = known_hosts } })
      assert.is_true(result.ok, result.err and result.err.message)
      assert.matches("^%x+$", result.value)
    end)

    it("uses the keys of an ssh-agent", function()
      if not available() or not exec.which("ssh-agent") then return pending("ssh-agent is not installed") end
      local socket = tmp .. "/agent.sock"
      local agent <close> = exec.spawn { argv = { "ssh-agent", "-D", "-a", socket } }
      helpers.eventually(function() return exists(socket) end, 10, "ssh-agent to start")
      local added = exec.run { argv = { "ssh-add", dir .. "/id_ed25519" }, env = { SSH_AUTH_SOCK = socket } }
      assert.are.equal(0, added.code, added.stderr)
      local result = in_child("return (git.clone(ARGS.url, ARGS.dir, { auth = ARGS.auth }):head())",
        { url = url, dir = tmp .. "/agent", auth = { known_hosts = known_hosts } }, { SSH_AUTH_SOCK = socket })
      assert.is_true(result.ok, result.err and result.err.message)
      assert.matches("^%x+$", result.value)
    end)

    it("refuses a host whose key known_hosts does not list, before logging in", function()
      if not available() then return pending("openssh-server is not installed") end
      local other = helpers.read_file(dir .. "/stranger.pub"):match("^(%S+ %S+)")
      local wrong = known_hosts:gsub("ssh%-ed25519 %S+", other)
      local clone = "return git.clone(ARGS.url, ARGS.dir, { auth = ARGS.auth }) and nil"
      local err = child_raises("host_key", in_child(clone,
        { url = url, dir = tmp .. "/one", auth = auth { known_hosts = wrong } }))
      local fingerprint = exec.run { argv = { "ssh-keygen", "-l", "-f", dir .. "/host_key.pub" } }.stdout
      assert.matches("SSH host key of 127%.0%.0%.1 %(ssh%-ed25519 SHA256:", err.message)
      assert.is_truthy(err.message:find(fingerprint:match("(SHA256:%S+)"), 1, true))
      assert.matches("no key for %[127%.0%.0%.1%]:%d+ in auth%.known_hosts", err.message)
      assert.is_false(exists(tmp .. "/one"))
      err = child_raises("host_key", in_child(clone, { url = url, dir = tmp .. "/two",
        auth = { identity_file = dir .. "/id_ed25519", known_hosts_file = tmp .. "/none" } }))
      assert.matches("none %(missing%)", err.message)
    end)

    it("names a key the server refuses", function()
      if not available() then return pending("openssh-server is not installed") end
      local err = child_raises("auth", in_child("return git.clone(ARGS.url, ARGS.dir, { auth = ARGS.auth }) and nil",
        { url = url, dir = tmp .. "/one", auth = auth { identity_file = dir .. "/stranger" } }))
      assert.matches("refused the key of user", err.message)
      assert.is_false(exists(tmp .. "/one"))
    end)
  end)

  describe("docs/modules/git.md", function()
    it("has examples that run as they are", function()
      local text = helpers.read_file(helpers.root .. "/docs/modules/git.md")
      local count = 0
      for code in text:gmatch("<!%-%- spec: runs %-%->\n```lua\n(.-)\n```") do
        count = count + 1
        local file = tmp .. "/example" .. count .. ".lua"
        helpers.write_file(file, code)
        local r = helpers.ferry { "run", file }
        assert.are.equal(0, r.code, r.stderr)
        assert.matches("refs/heads/main", r.stdout)
        assert.matches("README%.md\tmodified", r.stdout)
      end
      assert.is_true(count > 0)
    end)
  end)

  describe("URLs", function()
    it("are split into transport, host, port and user; passwords leave the safe form", function()
      local u = git.parse_url("https://ferry:tok%40en@git.example.com:8443/fleet.git")
      assert.are.equal("http", u.transport)
      assert.are.equal("git.example.com", u.host)
      assert.are.equal(8443, u.port)
      assert.are.equal("ferry", u.user)
      assert.are.equal("tok@en", u.password)
      assert.are.equal("https://ferry@git.example.com:8443/fleet.git", u.safe)
      u = git.parse_url("https://git.example.com/fleet.git?access_token=s3cr3t-abc")
      assert.are.equal("https://git.example.com/fleet.git?access_token=***", u.safe, "query credentials too")
      u = git.parse_url("git@github.com:org/fleet.git")
      assert.are.same({ "ssh", "github.com", "git" }, { u.transport, u.host, u.user })
      u = git.parse_url("ssh://git@[::1]:2222/srv/fleet.git")
      assert.are.same({ "ssh", "::1", 2222 }, { u.transport, u.host, u.port })
      assert.are.equal("local", git.parse_url("/srv/git/fleet.git").transport)
      assert.are.equal("local", git.parse_url("file:///srv/git/fleet.git").transport)
    end)
  end)

  describe("known_hosts", function()
    local KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    local OTHER = "AAAAC3NzaC1lZDI1NTE5AAAAIEq8hvYnLkLhKqUO9wxsALe7yHhBKDAg5uTZ+d6wFNaW"
    local base64 = require "base64"

    it("trusts the keys listed for the host, on its port", function()
      local text = table.concat({
        "# comment",
        "git.example.com,10.0.0.1 ssh-ed25519 " .. KEY,
        "[git.example.com]:2222 ssh-ed25519 " .. OTHER,
        "other.example.com ssh-ed25519 " .. OTHER,
      }, "\n")
      local keys, name = git.known_host_keys(text, "git.example.com")
      assert.are.equal("git.example.com", name)
      assert.are.same({ { type = "ssh-ed25519", key = base64.decode(KEY) } }, keys)
      keys, name = git.known_host_keys(text, "git.example.com", 2222)
      assert.are.equal("[git.example.com]:2222", name)
      assert.are.same({ { type = "ssh-ed25519", key = base64.decode(OTHER) } }, keys)
      assert.are.same({}, (git.known_host_keys(text, "unknown.example.com")))
    end)

    it("reads wildcards, negations, revocations and hashed names", function()
      local text = table.concat({
        "*.example.com,!evil.example.com ssh-ed25519 " .. KEY,
        "@revoked * ssh-ed25519 " .. OTHER,
        "git.example.org ssh-ed25519 " .. OTHER,
        "@cert-authority *.example.net ssh-ed25519 " .. KEY,
      }, "\n")
      assert.are.equal(1, #git.known_host_keys(text, "git.example.com"))
      assert.are.equal(0, #git.known_host_keys(text, "evil.example.com"))
      assert.are.equal(0, #git.known_host_keys(text, "git.example.org"))
      assert.are.equal(0, #git.known_host_keys(text, "git.example.net"))
      -- `ssh-keygen -H` writes |1|base64(salt)|base64(HMAC-SHA1(salt, name))
      local hashed = "|1|JfKTdBh7rNbXkVAQCRp4OQoPfmI=|USECr3SWf1JUPsms5AqfD5QfxkM= ssh-ed25519 " .. KEY
      local r = exec.run { argv = { "python3", "-c", [[
import base64, hmac, hashlib
salt = base64.b64decode("JfKTdBh7rNbXkVAQCRp4OQoPfmI=")
print(base64.b64encode(hmac.new(salt, b"[git.example.com]:2222", hashlib.sha1).digest()).decode())
]] } }
      assert.are.equal(0, r.code, r.stderr)
      hashed = hashed:gsub("USECr3SWf1JUPsms5AqfD5QfxkM=", (r.stdout:gsub("%s+$", "")))
      assert.are.equal(1, #git.known_host_keys(hashed, "git.example.com", 2222))
      assert.are.equal(0, #git.known_host_keys(hashed, "git.example.com"))
    end)
  end)
end)
