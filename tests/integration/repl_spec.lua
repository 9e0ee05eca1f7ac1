-- `ferry repl` in a real terminal (tmux) against the clusters of tests/env:
-- completion, multi-line input, Ctrl-C, history, printing, errors; and the
-- same REPL fed by a pipe.
local env = require "tests.integration.support.env"
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local task = require "task"

local PROMPT = "old%-admin:default> "

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(argv)
  local r = exec.run { argv = argv, timeout = 30 }
  assert(r.code == 0, table.concat(argv, " ") .. ": " .. r.stderr)
  return r.stdout
end

local terminals = 0

-- A REPL in a tmux server of its own (its socket and configuration in the
-- test's temp dir), so the spec touches no tmux of the user's and leaves
-- nothing behind.
local Terminal = {}
Terminal.__index = Terminal

local function start_terminal(dir, args, variables)
  terminals = terminals + 1
  local self = setmetatable({ socket = string.format("%s/tmux-%d", dir, terminals),
                              config = dir .. "/tmux.conf", status_file = dir .. "/status" }, Terminal)
  helpers.write_file(self.config, "set -g history-limit 10000\n")
  os.remove(self.status_file)
  -- the shell only records the exit status; it ignores Ctrl-C, which ferry
  -- (setting its own handler) still gets
  local words = { "exec", "sh", "-c", shell_quote('trap "" INT; "$@"; echo "$?" > ' .. shell_quote(self.status_file)),
                  "sh", "env" }
  for name, value in pairs(variables) do words[#words + 1] = name .. "=" .. shell_quote(value) end
  words[#words + 1] = shell_quote(helpers.ferry_bin())
  words[#words + 1] = "repl"
  for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
  self:tmux { "new-session", "-d", "-x", "160", "-y", "50", "-s", "repl", table.concat(words, " ") }
  return self
end

function Terminal:tmux(args)
  local argv = { "tmux", "-S", self.socket, "-f", self.config }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return run(argv)
end

--- Types text as it is (no key names).
function Terminal:type(text) self:tmux { "send-keys", "-t", "repl", "-l", text } end

--- Presses keys by name: "Enter", "Tab", "C-c", "Up".
function Terminal:press(...) self:tmux { "send-keys", "-t", "repl", ... } end

function Terminal:line(text)
  self:type(text)
  self:press("Enter")
end

--- The whole screen and scrollback, wrapped lines joined.
function Terminal:screen()
  return self:tmux { "capture-pane", "-p", "-J", "-S", "-", "-t", "repl" }
end

--- Waits until the screen matches pattern; returns the screen.
function Terminal:wait_for(pattern, seconds)
  local screen
  local ok = pcall(helpers.eventually, function()
    screen = self:screen()
    return screen:find(pattern) ~= nil
  end, seconds or 10)
  if not ok then error("the terminal never showed " .. pattern .. "; it shows:\n" .. tostring(screen), 2) end
  return screen
end

--- Counts the matches of pattern on the screen.
function Terminal:count(pattern)
  return select(2, self:screen():gsub(pattern, ""))
end

--- The exit status of the REPL once it has ended.
function Terminal:exit_status(seconds)
  local status
  local ok = pcall(helpers.eventually, function()
    local f = io.open(self.status_file)
    if f then
      status = tonumber(f:read("a"))
      f:close()
    end
    return status ~= nil
  end, seconds or 10)
  if not ok then error("the REPL did not exit; the terminal shows:\n" .. self:screen(), 2) end
  return status
end

--- Leaves the REPL with :quit and checks it ended well (under
-- AddressSanitizer, a leak or a memory error would change the status).
function Terminal:quit()
  self:press("C-u")
  self:line(":quit")
  assert.are.equal(0, self:exit_status())
end

function Terminal:close()
  exec.run { argv = { "tmux", "-S", self.socket, "kill-server" }, timeout = 10 }
end

describe("ferry repl", function()
  local old, namespace, kubeconfig, old_context, new_context
  local dir, terminal

  local function open(extra_args, variables)
    local args = { "--kubeconfig", kubeconfig, "--context", old_context, "--context", new_context }
    for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
    local vars = { XDG_STATE_HOME = dir .. "/state", FERRY_STATE_DIR = dir .. "/ferry-state" }
    for k, v in pairs(variables or {}) do vars[k] = v end
    terminal = start_terminal(dir, args, vars)
    terminal:wait_for(PROMPT)
    return terminal
  end

  setup(function()
    if not exec.which("tmux") then
      local r = exec.run { argv = { "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux" },
                           timeout = 300 }
      assert(r.code == 0 and exec.which("tmux"), "tmux is needed and could not be installed: " .. r.stderr)
    end
    local status = env.status()
    kubeconfig = status.kubeconfig
    old_context, new_context = status.clusters.old.contexts.admin, status.clusters.new.contexts.admin
    assert.are.equal("old-admin", old_context) -- PROMPT says so
    old = env.connect("old")
    namespace = env.unique("repl")
    old:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = namespace } }
    for _, name in ipairs { "web-frontend", "api-server" } do
      old:apply {
        apiVersion = "apps/v1", kind = "Deployment", metadata = { name = name, namespace = namespace },
        spec = { replicas = 1, selector = { matchLabels = { app = name } },
                 template = { metadata = { labels = { app = name } },
                              spec = { containers = { { name = "app", image = "example/" .. name } } } } },
      }
    end
    old:wait({ kind = "Deployment", namespace = namespace, name = "web-frontend" }, { timeout = "60s" })
  end)

  teardown(function()
    if old and namespace then
      pcall(old.delete, old, { apiVersion = "v1", kind = "Namespace", name = namespace }, { missing_ok = true })
    end
  end)

  before_each(function() dir = helpers.tmpdir() end)

  after_each(function()
    if terminal then terminal:close() end
    terminal = nil
    helpers.remove_tree(dir)
  end)

  it("completes k8s. and a Deployment name in a string", function()
    local t = open()
    t:type("k8s.con")
    t:press("Tab")
    t:wait_for("\nconfig +connect\n") -- both share "con": listed
    t:type("n")
    t:press("Tab")
    t:wait_for(PROMPT .. "k8s%.connect\n")
    t:press("C-u")
    t:type(string.format('old:get{kind="Deployment", namespace="%s", name="web-f', namespace))
    t:press("Tab")
    t:wait_for('name="web%-frontend"')
    t:line("}")
    t:wait_for("\nDeployment " .. namespace:gsub("%-", "%%-") .. "/web%-frontend  ready=1/1 ")
    t:quit()
  end)

  it("completes a method and a kind", function()
    local t = open()
    t:type("c:li")
    t:press("Tab")
    t:wait_for(PROMPT .. "c:list")
    t:type('{kind="Deploym')
    t:press("Tab")
    t:wait_for('c:list{kind="Deployment"')
    t:quit()
  end)

  it("continues an unfinished chunk on the next lines", function()
    local t = open()
    t:line("function sq(x)")
    t:wait_for("\n>>%s*\n")
    t:line("  return x * x")
    t:line("end")
    t:line("sq(12)")
    t:wait_for("\n144\n")
    assert.are.equal(0, t:count("error"))
    t:quit()
  end)

  it("cancels a long wait with Ctrl-C and goes on", function()
    local t = open()
    t:line(string.format('old:wait({kind="Deployment", namespace="%s", name="never-there"}, {timeout="10m"})',
      namespace))
    task.sleep(1.5)
    assert.are.equal(0, t:count("interrupted"))
    local started = require("ferry.sys").monotonic()
    t:press("C-c")
    t:wait_for("\ninterrupted\n" .. PROMPT, 5)
    assert.is_true(require("ferry.sys").monotonic() - started < 5)
    t:line("6 * 7")
    t:wait_for("\n42\n")
    -- a second Ctrl-C is handled the same way (not the one that ends ferry)
    t:line("task.sleep(60)")
    task.sleep(0.5)
    t:press("C-c")
    helpers.eventually(function() return t:count("\ninterrupted\n") == 2 end, 5, "a second interruption")
    t:line("1 + 1")
    t:wait_for("\n2\n" .. PROMPT)
    t:quit()
  end)

  it("runs a task spawned at the prompt while the user types nothing", function()
    local t = open()
    local ticks_file = dir .. "/ticks"
    t:line(string.format("ticks = 0; ticker = task.spawn(function() while true do ticks = ticks + 1; "
      .. "do local f <close> = io.open(%q, 'w'); f:write(ticks) end; task.sleep(0.01) end end)", ticks_file))
    -- no line is entered meanwhile: the file grows only if the loop runs at the prompt
    helpers.eventually(function()
      local f = io.open(ticks_file)
      local ticks = f and tonumber(f:read("a"))
      if f then f:close() end
      return (ticks or 0) >= 5
    end, 10, "the task never ticked while the prompt waited")
    t:line('print("ticked " .. tostring(ticks >= 5))')
    t:wait_for("\nticked true\n")
    -- half a line, then Ctrl-C: the line goes, the task stays
    t:type("ticker:cancel(")
    t:press("C-c")
    t:line('print("still " .. ticker.state)')
    t:wait_for("\nstill waiting\n")
    t:quit()
  end)

  it("keeps history across two runs, without lines holding secrets", function()
    local t = open()
    t:line("hist_marker = 4242")
    t:line('log.secret("s3cr3t-value-xyz")')
    t:line('secret_copy = "s3cr3t-value-xyz"')
    t:line(":quit")
    assert.are.equal(0, t:exit_status())
    t:close()
    local saved = helpers.read_file(dir .. "/state/ferry/history")
    assert.matches("hist_marker", saved)
    assert.is_nil(saved:find("s3cr3t", 1, true))
    local again = open()
    again:press("Up")
    again:wait_for(PROMPT .. ":quit\n")
    again:press("Up")
    again:wait_for(PROMPT .. "hist_marker = 4242\n")
    again:press("Enter")
    again:line("hist_marker + 1")
    again:wait_for("\n4243\n")
    again:quit()
  end)

  it("prints c:list{kind=\"Pod\"} as a table", function()
    local t = open()
    t:line(string.format('c:list{kind="Pod", namespace="%s"}', namespace))
    local screen = t:wait_for("\nNAME +READY +STATUS +RESTARTS +AGE\n")
    assert.matches("\napi%-server%-%S+ +1/1 +Running +0 +%d+s\n", screen)
    assert.matches("\nweb%-frontend%-%S+ +1/1 +Running +0 +%d+s\n", screen)
    t:quit()
  end)

  it("prints an API error in one line, the traceback on :trace", function()
    local t = open()
    t:line(string.format('old:get{kind="Deployment", namespace="%s", name="does-not-exist"}', namespace))
    local screen = t:wait_for('\nerror: NotFound: deployments%.apps "does%-not%-exist" not found %(GET [^\n]* on old%-admin%)')
    assert.is_nil(screen:find("stack traceback", 1, true))
    t:line(":trace")
    t:wait_for("\nstack traceback:\n")
    t:quit()
  end)

  it("switches clients and namespaces, and describes an object", function()
    local t = open()
    t:line(":ns " .. namespace)
    t:wait_for("old%-admin:" .. namespace:gsub("%-", "%%-") .. "> ")
    t:line(":describe deploy/web-frontend")
    t:wait_for("\nConditions:\nTYPE +STATUS +REASON +AGE +MESSAGE\n")
    t:line(":context new")
    t:wait_for("new%-admin:default> ")
    t:line("c:version().gitVersion")
    t:wait_for('\n"' .. env.status().clusters.new.version:gsub("%.", "%%.") .. '"\n')
    t:quit()
  end)
end)

describe("ferry repl with piped input", function()
  local kubeconfig, namespace, old

  setup(function()
    kubeconfig = env.status().kubeconfig
    old = env.connect("old")
    namespace = env.unique("repl-pipe")
    old:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = namespace } }
    old:apply { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "settings", namespace = namespace },
                data = { a = "1", b = "2" } }
  end)

  teardown(function()
    if old and namespace then
      pcall(old.delete, old, { apiVersion = "v1", kind = "Namespace", name = namespace }, { missing_ok = true })
    end
  end)

  local function repl(input, extra)
    local args = { "repl", "--kubeconfig", kubeconfig, "--context", "old-admin", "--context", "new-admin",
                   "-n", namespace }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    return helpers.ferry(args, { stdin = input })
  end

  it("runs lines without prompt decoration and prints their values", function()
    local status = env.status()
    local r = repl(table.concat({
      "old:version().gitVersion",
      "new:version().gitVersion",
      "x = 20",
      "function double(n)",
      "  return n * 2",
      "end",
      "double(x) + 2",
      ":yaml {answer = 42}",
      ':json c:get{kind="ConfigMap", name="settings"}.data',
      'c:list{kind="ConfigMap", fieldSelector="metadata.name=settings"}',
    }, "\n") .. "\n")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("", r.stderr)
    assert.are.equal(table.concat({
      '"' .. status.clusters.old.version .. '"',
      '"' .. status.clusters.new.version .. '"',
      "42",
      "answer: 42",
      '{\n  "a": "1",\n  "b": "2"\n}',
    }, "\n"), r.stdout:match("^(.-)\nNAME"))
    assert.matches("\nNAME +DATA +AGE\nsettings +2 +%d+s\n$", r.stdout)
    assert.is_nil(r.stdout:find(">", 1, true)) -- no prompt
  end)

  it("reports errors on stderr and exits 1", function()
    local r = repl('c:get{kind="ConfigMap", name="missing"}\n1 + 1\nnot valid lua\n')
    assert.are.equal(1, r.code)
    assert.are.equal("2\n", r.stdout)
    assert.matches('^error: NotFound: configmaps "missing" not found %(GET [^\n]+%)\nerror: repl:1: ', r.stderr)
  end)

  it("runs -e code first, and shows docs and recipe runs", function()
    local dir = helpers.tmpdir()
    local r = helpers.ferry({ "repl", "--kubeconfig", kubeconfig, "--context", "old-admin", "-e", "y = 5",
                              "-e", "y * 2" }, {
      stdin = ":doc k8s.connect\n:runs\n:describe ConfigMap/kube-root-ca.crt\n",
      env = { FERRY_STATE_DIR = dir },
    })
    helpers.remove_tree(dir)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^10\n### k8s%.connect%(%[options%]%) → client\n", r.stdout)
    assert.matches("\nno recipe runs yet in " .. dir:gsub("%p", "%%%0") .. "/runs", r.stdout)
    assert.matches("\nConfigMap default/kube%-root%-ca%.crt  data=1 age=%S+\nConditions: none\n", r.stdout)
  end)

  it("lists recipe runs and resumes one", function()
    local dir = helpers.tmpdir()
    run { "mkdir", dir .. "/recipes" }
    helpers.write_file(dir .. "/recipes/flaky.lua", string.format([[
      local recipe = require "recipe"
      return recipe {
        name = "flaky", description = "fails until %s/go exists",
        steps = {
          { name = "prepare", run = function() end },
          { name = "check", run = function() assert(io.open("%s/go"), "not yet") end },
        },
      }]], dir, dir))
    local variables = { FERRY_STATE_DIR = dir .. "/state", FERRY_RECIPES = dir .. "/recipes" }
    helpers.ferry({ "run", "flaky", "--keep-on-failure" }, { env = variables })
    local r = helpers.ferry({ "repl" }, { stdin = ":runs\n", env = variables })
    assert.are.equal(0, r.code, r.stderr)
    local id = r.stdout:match("\n(flaky%-%S+) +flaky +failed +%S+ +check\n")
    assert.is_string(id, r.stdout)
    helpers.write_file(dir .. "/go", "")
    r = helpers.ferry({ "repl" }, { stdin = ":resume " .. id .. "\n:runs\n", env = variables })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\nrun " .. id:gsub("%-", "%%-") .. ": succeeded\n", r.stdout)
    assert.matches("\n" .. id:gsub("%-", "%%-") .. " +flaky +succeeded +%S+\n", r.stdout)
    helpers.remove_tree(dir)
  end)

  it("says what is wrong with its arguments", function()
    local r = helpers.ferry { "repl", "--kubeconfig", kubeconfig, "--context", "no-such-context" }
    assert.are.equal(1, r.code)
    assert.matches("no context 'no%-such%-context'", r.stderr)
    r = helpers.ferry { "repl", "--bogus" }
    assert.are.equal(2, r.code)
    assert.matches("unknown option '%-%-bogus' for 'repl'", r.stderr)
  end)
end)
