-- The REPL's logic without a terminal or a cluster: chunks, printing,
-- completion, commands, history, :doc, client names, and ferry.edit's
-- history on its own.
local chunk = require "repl.chunk"
local commands = require "repl.commands"
local complete = require "repl.complete"
local docs = require "repl.docs"
local helpers = require "tests.spec.support.helpers"
local history = require "repl.history"
local json = require "json"
local printer = require "repl.printer"
local repl = require "repl"
local view = require "repl.view"

local NOW = 1764090000 -- 2025-11-25T17:00:00Z
local function ago(seconds) return os.date("!%Y-%m-%dT%H:%M:%SZ", NOW - seconds) end

local function pod(name, fields)
  local p = {
    apiVersion = "v1", kind = "Pod",
    metadata = { name = name, namespace = "shop", creationTimestamp = ago(300) },
    spec = { containers = { { name = "app" }, { name = "sidecar" } } },
    status = {
      phase = "Running",
      conditions = { { type = "Ready", status = "True" } },
      containerStatuses = {
        { name = "app", ready = true, restartCount = 2, state = { running = {} } },
        { name = "sidecar", ready = true, restartCount = 1, state = { running = {} } },
      },
    },
  }
  for k, v in pairs(fields or {}) do p[k] = v end
  return p
end

local function deployment(name, ready, wanted)
  return {
    apiVersion = "apps/v1", kind = "Deployment",
    metadata = { name = name, namespace = "shop", creationTimestamp = ago(7200), generation = 1 },
    spec = { replicas = wanted },
    status = { observedGeneration = 1, replicas = wanted, readyReplicas = ready,
               updatedReplicas = wanted, availableReplicas = ready },
  }
end

describe("repl.chunk", function()
  it("compiles an expression first, so its value can be printed", function()
    local fn, how = chunk.compile("1 + 2")
    assert.are.equal("expression", how)
    assert.are.equal(3, fn())
  end)

  it("compiles statements when the text is not an expression", function()
    local fn, how = chunk.compile("local x = 2; return x * 21")
    assert.are.equal("statements", how)
    assert.are.equal(42, fn())
  end)

  it("says incomplete for an unfinished chunk, as lua.c does with <eof>", function()
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("function f(x)") })
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("function f(x)\n  return x") })
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("c:list{") })
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("x = ") })
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("{") }) -- an unfinished table
    local fn = chunk.compile("function f(x)\n  return x * x\nend")
    assert.is_function(fn)
  end)

  it("returns the syntax error of a line that cannot be finished", function()
    local fn, err = chunk.compile("x = = 1")
    assert.is_nil(fn)
    assert.matches("^repl:1: unexpected symbol near '='", err)
  end)

  it("reads =expr as an expression", function()
    local fn, how = chunk.compile("=6 * 7")
    assert.are.equal("expression", how)
    assert.are.equal(42, fn())
    assert.are.same({ nil, chunk.INCOMPLETE }, { chunk.compile("=(1 +") })
  end)

  it("finds lines with nothing to run", function()
    assert.is_true(chunk.blank("   "))
    assert.is_true(chunk.blank("-- a comment"))
    assert.is_false(chunk.blank("--[[ a long comment"))
    assert.is_false(chunk.blank("x = 1 -- set"))
  end)
end)

describe("repl.printer", function()
  it("prints scalars as Lua literals", function()
    assert.are.equal('"a\\nb\\"c"', printer.format("a\nb\"c"))
    assert.are.equal("42", printer.format(42))
    assert.are.equal("1.5", printer.format(1.5))
    assert.are.equal("2.0", printer.format(2.0))
    assert.are.equal("true", printer.format(true))
    assert.are.equal("nil", printer.format(nil))
    assert.are.equal("json.null", printer.format(json.null))
  end)

  it("cuts long strings and says how much is left", function()
    local text = printer.format(string.rep("x", 30), { string = 10 })
    assert.are.equal('"xxxxxxxxxx"..(20 more bytes)', text)
  end)

  it("prints a small table on one line with sorted keys after the array part", function()
    local text = printer.format({ 10, 20, zeta = 1, alpha = "a", ["with-dash"] = true, [7] = "seven" })
    assert.are.equal('{ 10, 20, [7] = "seven", alpha = "a", ["with-dash"] = true, zeta = 1 }', text)
  end)

  it("puts a wide table on several indented lines", function()
    local text = printer.format({ name = string.rep("n", 40), nested = { a = 1, b = string.rep("b", 50) } },
      { width = 60 })
    assert.are.equal(table.concat({
      "{",
      '  name = "' .. string.rep("n", 40) .. '",',
      "  nested = {",
      "    a = 1,",
      '    b = "' .. string.rep("b", 50) .. '"',
      "  }",
      "}",
    }, "\n"), text)
  end)

  it("bounds depth, entries per table and lines", function()
    local deep = { a = { b = { c = { d = 1 } } } }
    assert.are.equal("{ a = { b = {...} } }", printer.format(deep, { depth = 2 }))
    local many = {}
    for i = 1, 10 do many[i] = i end
    assert.are.equal("{ 1, 2, 3, --[[ 7 more ]] }", printer.format(many, { items = 3 }))
    local lines = {}
    for i = 1, 30 do lines["key" .. string.format("%02d", i)] = string.rep("v", 20) end
    local text = printer.format(lines, { width = 20, lines = 5 })
    local count = select(2, text:gsub("\n", "\n")) + 1
    assert.are.equal(6, count)
    assert.matches("%-%- %.%.%. 27 more lines", text)
  end)

  it("marks a cycle instead of looping", function()
    local t = { name = "loop" }
    t.self = t
    assert.are.equal('{ name = "loop", self = <cycle> }', printer.format(t))
  end)

  it("prints a table with __tostring through it", function()
    local v = setmetatable({}, { __tostring = function() return "k8s client old" end })
    assert.are.equal("k8s client old", printer.format(v))
  end)

  it("prints a Kubernetes object as a one-line summary", function()
    local text = printer.format(deployment("web", 2, 3), { now = NOW })
    assert.are.equal("Deployment shop/web  ready=2/3 up-to-date=3 available=2 age=2h  "
      .. "[not ready: 2 of 3 replicas available]", text)
    assert.are.equal("Pod shop/api-1  ready=2/2 status=Running restarts=3 age=5m  [ready: running and ready]",
      printer.format(pod("api-1"), { now = NOW }))
  end)

  it("prints a list of Pods as kubectl get does", function()
    local crashing = pod("api-2", {})
    crashing.status = {
      phase = "Running",
      containerStatuses = {
        { name = "app", ready = false, restartCount = 7, state = { waiting = { reason = "CrashLoopBackOff" } } },
        { name = "sidecar", ready = true, restartCount = 0, state = { running = {} } },
      },
    }
    local text = printer.format({ pod("api-1"), crashing }, { now = NOW })
    assert.are.equal(table.concat({
      "NAME    READY   STATUS             RESTARTS   AGE",
      "api-1   2/2     Running            3          5m",
      "api-2   1/2     CrashLoopBackOff   7          5m",
    }, "\n"), text)
  end)

  it("adds a NAMESPACE column when the objects come from several", function()
    local other = deployment("web", 1, 1)
    other.metadata.namespace = "admin"
    local text = printer.format({ deployment("web", 3, 3), other }, { now = NOW })
    assert.are.equal(table.concat({
      "NAMESPACE   NAME   READY   UP-TO-DATE   AVAILABLE   AGE",
      "shop        web    3/3     3            3           2h",
      "admin       web    1/1     1            1           2h",
    }, "\n"), text)
  end)

  it("prints one table per kind for a mixed list", function()
    local text = printer.format({ pod("api-1"), deployment("web", 1, 1) }, { now = NOW })
    assert.matches("^Pod:\nNAME +READY +STATUS +RESTARTS +AGE\napi%-1 ", text)
    assert.matches("\n\nDeployment:\nNAME +READY +UP%-TO%-DATE +AVAILABLE +AGE\nweb ", text)
  end)

  it("shows Flux objects' Ready condition and message, cut to the terminal", function()
    local function kustomization(name, ready, message)
      return {
        apiVersion = "kustomize.toolkit.fluxcd.io/v1", kind = "Kustomization",
        metadata = { name = name, namespace = "flux-system", creationTimestamp = ago(90) },
        status = { conditions = { { type = "Ready", status = ready, message = message } } },
      }
    end
    local text = printer.format({
      kustomization("tenant-a", "True", "Applied revision: main@sha1:abc"),
      kustomization("tenant-b", "False", "kustomize build failed: accumulating resources: missing file"),
    }, { now = NOW, columns = 60 })
    assert.are.equal(table.concat({
      "NAME       READY   MESSAGE                               AGE",
      "tenant-a   True    Applied revision: main@sha1:abc       90s",
      "tenant-b   False   kustomize build failed: accumula...   90s",
    }, "\n"), text)
    assert.matches("^Kustomization flux%-system/tenant%-b  ready=False age=90s  %[not ready: Ready=False: kustomize",
      printer.format(kustomization("tenant-b", "False", "kustomize build failed"), { now = NOW }))
  end)

  it("shows Canaries' phase and weight", function()
    local canary = {
      apiVersion = "flagger.app/v1beta1", kind = "Canary",
      metadata = { name = "podinfo", namespace = "test", creationTimestamp = ago(600) },
      status = { phase = "Progressing", canaryWeight = 20, failedChecks = 1, lastTransitionTime = ago(30) },
    }
    assert.are.equal(table.concat({
      "NAME      STATUS        WEIGHT   FAILED   LAST TRANSITION   AGE",
      "podinfo   Progressing   20       1        30s               10m",
    }, "\n"), printer.format({ canary }, { now = NOW }))
  end)

  it("says so for an empty list result", function()
    local empty = setmetatable(json.array(), { __index = { resourceVersion = "12" } })
    assert.are.equal("{} -- no objects", printer.format(empty))
  end)

  it("prints the values of a line on one line, or one per line when one is long", function()
    assert.are.equal('1\t"two"\tnil', printer.results(table.pack(1, "two", nil)))
    assert.are.equal("true\n{\n  a = 1\n}", printer.results(table.pack(true, { a = 1 }), { width = 4 }))
    assert.is_nil(printer.results(table.pack()))
  end)

  it("reduces an API error to its reason and message", function()
    local err = setmetatable({ kind = "api", reason = "NotFound", status = 404,
      message = 'deployments.apps "x" not found (GET /apis/apps/v1/... on old)' },
      { __tostring = function(e) return "api: " .. e.message end })
    assert.are.equal('NotFound: deployments.apps "x" not found (GET /apis/apps/v1/... on old)',
      printer.error_line(err))
    assert.are.equal("timeout: too slow", printer.error_line({ kind = "timeout", message = "too slow" }))
    assert.are.equal("repl:1: boom", printer.error_line("repl:1: boom"))
  end)
end)

describe("repl.view", function()
  it("tells objects and lists of objects from other tables", function()
    assert.is_true(view.is_object(pod("a")))
    assert.is_false(view.is_object({ kind = "Pod" }))
    assert.is_true(view.is_object_list({ pod("a"), deployment("b", 1, 1) }))
    assert.is_false(view.is_object_list({ pod("a"), { x = 1 } }))
    assert.is_false(view.is_object_list({ pod("a"), extra = true }))
    assert.is_false(view.is_object_list({}))
  end)

  it("lays out columns and cuts the last one to the width", function()
    local text = view.layout({ { "A", "MESSAGE" }, { "xx", string.rep("m", 40) } }, 30)
    assert.are.equal("A    MESSAGE\nxx   " .. string.rep("m", 22) .. "...", text)
  end)

  it("tells a Terminating Pod and an evicted one", function()
    local leaving = pod("a")
    leaving.metadata.deletionTimestamp = ago(1)
    local evicted = pod("b")
    evicted.status.reason = "Evicted"
    local text = view.table({ leaving, evicted }, NOW)
    assert.matches("a +2/2 +Terminating", text)
    assert.matches("b +2/2 +Evicted", text)
  end)

  it("prints conditions and the latest events", function()
    local d = deployment("web", 1, 1)
    d.status.conditions = { { type = "Available", status = "True", reason = "MinimumReplicasAvailable",
                              lastTransitionTime = ago(60), message = "ok" } }
    assert.are.equal("TYPE        STATUS   REASON                     AGE   MESSAGE\n"
      .. "Available   True     MinimumReplicasAvailable   60s   ok", view.conditions(d, NOW))
    local events = {}
    for i = 1, 12 do
      events[i] = { type = "Normal", reason = "R" .. i, count = 1, message = "m" .. i, lastTimestamp = ago(20 - i) }
    end
    local text = view.events(events, NOW, nil, 10)
    assert.is_nil(text:find("R2 ", 1, true))
    assert.matches("\n8s +Normal +R12 +1 +m12$", text)
    assert.is_nil(view.events({}, NOW))
  end)
end)

describe("repl.complete", function()
  local Client = {}
  Client.__index = Client
  function Client.list() end
  function Client.get() end
  function Client.kinds() end
  local old = setmetatable({ name = "old-admin", namespace = "default" }, Client)
  local other = setmetatable({ name = "new-admin", namespace = "default" }, Client)
  local env = {
    k8s = { connect = function() end, config = {}, status = { ready = function() end } },
    old = old, new = other, c = old, print = print, pairs = pairs, _hidden = 1,
    text = "abc",
  }
  local asked
  local ctx = {
    env = env,
    client = function(value) return value or old end,
    kinds = function() return { "Deployment", "DaemonSet", "Pod", "PodTemplate" } end,
    names = function(client, kind, namespace)
      asked = { client = client, kind = kind, namespace = namespace }
      return { "web-frontend", "web-backend", "worker" }
    end,
    namespaces = function() return { "default", "kube-system", "shop" } end,
    contexts = function() return { "old-admin", "new-admin", "old" } end,
    docs = function() return { "k8s", "k8s.connect", "k8s.config.load", "c:list" } end,
    commands = commands.names(),
    command = function(word) return (commands.resolve(word)) end,
  }

  local function candidates(before)
    local r = complete.candidates(before, ctx)
    local list = {}
    for i, v in ipairs(r) do list[i] = v end
    return list, r.prefix, r.suffix
  end

  it("completes the fields of a module", function()
    local list, prefix = candidates("k8s.con")
    assert.are.same({ "config", "connect" }, list)
    assert.are.equal("con", prefix)
    assert.are.same({ "config", "connect", "status" }, (candidates("x = k8s.")))
    assert.are.same({ "ready" }, (candidates("k8s.status.re")))
  end)

  it("completes methods after a colon, from the metatable, functions only", function()
    local list, prefix = candidates("c:li")
    assert.are.same({ "list" }, list)
    assert.are.equal("li", prefix)
    assert.are.same({ "get", "kinds", "list" }, (candidates("old:")))
    assert.are.same({ "name", "namespace" }, (candidates("old.na")))
    assert.are.same({ "upper" }, (candidates("text:upp")))
  end)

  it("completes globals and keywords, hiding _names unless asked", function()
    assert.are.same({ "pairs", "print" }, (candidates("pr = 1; p")))
    assert.are.same({ "function" }, (candidates("fun")))
    assert.are.same({ "_hidden" }, (candidates("_h")))
    local all = candidates("")
    assert.is_nil(table.concat(all, " "):find("_hidden", 1, true))
  end)

  it("offers nothing after a call or inside a number", function()
    assert.are.same({}, (candidates("f().")))
    assert.are.same({}, (candidates("missing.fi")))
  end)

  it("completes kinds inside kind = \"...\", ignoring case, closing the quote", function()
    local list, prefix, suffix = candidates('c:list{kind="po')
    assert.are.same({ "Pod", "PodTemplate" }, list)
    assert.are.equal("po", prefix)
    assert.are.equal('"', suffix)
    local _, _, single = candidates("old:get{kind='Dae")
    assert.are.equal("'", single)
  end)

  it("completes object names of the kind and namespace given before", function()
    local list, prefix, suffix = candidates('new:get{kind="Deployment", namespace="shop", name="web-')
    assert.are.same({ "web-backend", "web-frontend" }, list)
    assert.are.equal("web-", prefix)
    assert.are.equal('"', suffix)
    assert.are.same({ client = other, kind = "Deployment", namespace = "shop" }, asked)
    candidates('c:get{kind="Pod", name="')
    assert.are.same({ client = old, kind = "Pod" }, asked)
  end)

  it("completes namespaces and contexts", function()
    assert.are.same({ "shop" }, (candidates('c:list{kind="Pod", namespace="sh')))
    assert.are.same({ "old", "old-admin" }, (candidates('k8s.connect{context="ol')))
  end)

  it("leaves other strings and comments alone", function()
    assert.are.same({}, (candidates('print("hel')))
    assert.are.same({}, (candidates("-- k8s.con")))
    assert.are.same({ "config", "connect" }, (candidates('x = "a" .. k8s.con')))
  end)

  it("finds where an open string starts", function()
    assert.are.same({ 5, '"' }, { complete.open_string('x = "ab') })
    assert.is_nil(complete.open_string('x = "ab" .. y'))
    assert.are.same({ 14, "'" }, { complete.open_string([[x = "a\"b" ..'c]]) })
    assert.is_nil(complete.open_string("--[[ 'x ]] y"))
    assert.are.same({ nil, "comment" }, { complete.open_string("x = [[ 'a") })
    assert.are.same({ nil, "comment" }, { complete.open_string("y = 1 -- 'a") })
  end)

  it("completes : commands and their arguments", function()
    local list, prefix, suffix = candidates(":de")
    assert.are.same({ "describe" }, list)
    assert.are.equal("de", prefix)
    assert.are.equal(" ", suffix)
    assert.are.same({ "new-admin" }, (candidates(":context ne")))
    assert.are.same({ "kube-system" }, (candidates(":ns ku")))
    assert.are.same({ "k8s.config.load", "k8s.connect" }, (candidates(":doc k8s.c")))
    local kinds, _, slash = candidates(":describe dep")
    assert.are.same({ "Deployment" }, kinds)
    assert.are.equal("/", slash)
    assert.are.same({ "worker" }, (candidates(":describe Deployment/wo")))
    assert.are.same({ "list" }, (candidates(":yaml c:li")))
    assert.are.same({ "list" }, (candidates(":watch -n 5 old:li")))
  end)

  it("decides what Tab does: replace with a lone candidate, extend to what several share, else list", function()
    assert.are.same({ prefix = "de", replace = "describe " },
      complete.edit({ "describe", prefix = "de", suffix = " " }, ":de", 80))
    assert.are.same({ prefix = "k8s.c", replace = "k8s.con" },
      complete.edit({ "k8s.config", "k8s.connect", prefix = "k8s.c" }, "x = k8s.c", 80))
    local listed = complete.edit({ "k8s.config", "k8s.connect", prefix = "k8s.con" }, "k8s.con", 80)
    assert.are.equal("k8s.con", listed.prefix)
    assert.are.equal("\nk8s.config   k8s.connect\n", listed.listing)
    -- a case-folded match replaces the prefix even at the same length
    assert.are.same({ prefix = "dep", replace = "Dep" },
      complete.edit({ "Deployment", "DeploymentList", "Depot", prefix = "dep" }, "dep", 80))
    assert.is_nil(complete.edit({ prefix = "x" }, "x", 80), "nothing to offer: beep")
    assert.is_nil(complete.edit({ "abc", prefix = "zz" }, "ab", 80), "a prefix the line does not have")
    assert.is_nil(complete.edit(nil, "ab", 80))
  end)

  it("never cuts a UTF-8 character when extending", function()
    local r = complete.edit({ "caf\u{e9}s", "caf\u{e8}s", prefix = "c" }, "c", 80)
    assert.are.same({ prefix = "c", replace = "caf" }, r)
  end)

  it("lays candidates out down the columns, as ls does, and caps the list", function()
    assert.are.equal("\naa  cc\nbb  dd\n", complete.layout({ "aa", "bb", "cc", "dd" }, 9))
    assert.are.equal("\naa\nbb\n", complete.layout({ "aa", "bb" }, 3))
    local many = {}
    for i = 1, 250 do many[i] = string.format("w%03d", i) end
    local text = complete.layout(many, 80)
    assert.truthy(text:find("w200", 1, true))
    assert.is_nil(text:find("w201", 1, true))
    assert.matches("%.%.%. 50 more\n$", text)
  end)
end)

describe("repl.commands", function()
  it("resolves names, aliases and unique prefixes", function()
    assert.are.equal("describe", commands.resolve("describe"))
    assert.are.equal("describe", commands.resolve("des"))
    assert.are.equal("quit", commands.resolve("q"))
    assert.are.equal("quit", commands.resolve("exit"))
    local name, err = commands.resolve("r")
    assert.is_nil(name)
    assert.are.equal("ambiguous command ':r' (:resume, :runs)", err)
    name, err = commands.resolve("frob")
    assert.is_nil(name)
    assert.matches("unknown command ':frob'", err)
  end)

  it("splits a command line into name and argument", function()
    assert.are.same({ "yaml", 'c:get{kind="Pod", name="x"}' },
      { commands.parse('  :yaml   c:get{kind="Pod", name="x"}  ') })
    assert.are.same({ "help", "" }, { commands.parse(":help") })
    assert.are.same({ "ns", "shop" }, { commands.parse(":ns shop") })
    local name, err = commands.parse(":")
    assert.is_nil(name)
    assert.matches("a command name must follow", err)
  end)

  it("takes a -n option off an argument", function()
    assert.are.same({ "5", "c:list{}" }, { commands.option("-n 5 c:list{}", "n") })
    assert.are.same({ nil, "c:list{}" }, { commands.option("c:list{}", "n") })
  end)

  it("lists every command the issue asks for", function()
    for _, name in ipairs { "help", "context", "ns", "yaml", "json", "time", "watch", "runs", "resume",
                            "doc", "trace", "quit", "describe" } do
      assert.are.equal(name, commands.resolve(name))
    end
  end)

  it("runs a command against a session, and reports a bad one", function()
    local printed, failed = {}, {}
    local session = {
      print = function(_, text) printed[#printed + 1] = text end,
      fail = function(_, err) failed[#failed + 1] = err end,
      last_traceback = "stack traceback: here",
    }
    commands.run(session, ":trace")
    assert.are.same({ "stack traceback: here" }, printed)
    commands.run(session, ":nonsense")
    assert.matches("unknown command ':nonsense'", failed[1])
    commands.run(session, ":quit")
    assert.is_true(session.quit)
    commands.run(session, ":yaml")
    assert.are.equal("usage: :yaml EXPR", failed[2])
  end)
end)

describe("repl.history", function()
  local function env(values) return function(name) return values[name] end end

  it("lives under XDG_STATE_HOME, else ~/.local/state", function()
    assert.are.equal("/state/ferry/history", history.path(env { XDG_STATE_HOME = "/state", HOME = "/home/me" }))
    assert.are.equal("/home/me/.local/state/ferry/history", history.path(env { HOME = "/home/me" }))
    assert.are.equal("/home/me/.local/state/ferry/history",
      history.path(env { XDG_STATE_HOME = "relative", HOME = "/home/me" }))
    assert.is_nil(history.path(env {}))
  end)

  it("never keeps a line holding a registered secret", function()
    local redact = function(text) return (text:gsub("hunter22", "***")) end
    assert.is_true(history.keep("c:list{}", redact))
    assert.is_false(history.keep('token = "hunter22"', redact))
    assert.is_false(history.keep("   ", redact))
  end)

  it("creates its directory", function()
    local dir = helpers.tmpdir()
    assert.is_true(history.prepare(dir .. "/a/b/history"))
    assert.are.equal("directory", require("ferry.sys").stat(dir .. "/a/b").type)
    helpers.remove_tree(dir)
  end)
end)

describe("repl.docs", function()
  local page = table.concat({
    "# k8s — Kubernetes client",
    "Intro text.",
    "## Connecting",
    "### k8s.connect([options]) → client",
    "Connects.",
    "```lua",
    "# not a heading inside code",
    "```",
    "### c:list(options) → items",
    "Lists.",
    "#### Paging",
    "Pages.",
    "## log.debug / log.info (fmt, ...)",
    "Logs.",
  }, "\n")
  local pages = { k8s = page }

  it("reads the names a heading documents", function()
    assert.are.same({ "c:list" }, docs.heading_names("c:list(options) → items"))
    assert.are.same({ "log.debug", "log.info" }, docs.heading_names("log.debug / log.info (fmt, ...)"))
    assert.are.same({ "k8s.connect" }, docs.heading_names("`k8s.connect`"))
  end)

  it("finds a function's section, its subsections included", function()
    local found = docs.find(pages, "k8s.connect")
    assert.are.equal(1, #found)
    assert.are.equal("### k8s.connect([options]) → client\nConnects.\n```lua\n# not a heading inside code\n```",
      found[1].text)
    local list = docs.find(pages, "c:list")[1].text
    assert.matches("Lists%.\n#### Paging\nPages%.$", list)
  end)

  it("finds methods by any client's name, and bare names", function()
    assert.are.equal("c:list(options) → items", docs.find(pages, "old:list")[1].heading)
    assert.are.equal("c:list(options) → items", docs.find(pages, "list")[1].heading)
    assert.are.equal("log.debug / log.info (fmt, ...)", docs.find(pages, "log.info")[1].heading)
    assert.are.same({}, docs.find(pages, "nothing.here"))
  end)

  it("shows a module's introduction and sections for its name", function()
    local text = docs.find(pages, "k8s")[1].text
    assert.matches("^# k8s — Kubernetes client\nIntro text%.\n\nSections:\n", text)
    assert.matches("%- Connecting\n  %- k8s%.connect", text)
  end)

  it("lists topics for completion", function()
    assert.are.same({ "c:list", "k8s", "k8s.connect", "log.debug", "log.info" }, docs.topics(pages))
  end)

  it("looks next to the binary and its parents, after $FERRY_DOCS", function()
    local dirs = docs.search_path("/opt/ferry/build/release/ferry", function(name)
      return name == "FERRY_DOCS" and "/my/docs" or nil
    end)
    assert.are.same({ "/my/docs", "/opt/ferry/build/release/docs/modules", "/opt/ferry/build/docs/modules",
      "/opt/ferry/docs/modules", "/opt/docs/modules", "/opt/ferry/build/release/../share/doc/ferry/modules" }, dirs)
  end)

  it("finds this checkout's pages", function()
    local dir = docs.directory(helpers.root .. "/ferry", function() return nil end)
    assert.are.equal(helpers.root .. "/docs/modules", dir)
    assert.is_string(docs.load(dir).k8s)
  end)
end)

describe("repl client names", function()
  local function none() return false end

  it("names a client by its context and, without -admin, a short name", function()
    local names = repl.client_names({ "old-admin", "new-admin" }, { ["old-admin"] = "old", ["new-admin"] = "new" }, none)
    assert.are.same({ ["old-admin"] = { "old", "old_admin" }, ["new-admin"] = { "new", "new_admin" } }, names)
  end)

  it("uses the cluster name only when one context has that cluster", function()
    local names = repl.client_names({ "prod-eun-2", "ops", "audit" },
      { ["prod-eun-2"] = "eun-2", ops = "shared", audit = "shared" }, none)
    assert.are.same({ "eun_2", "prod_eun_2" }, names["prod-eun-2"])
    assert.are.same({ "ops" }, names.ops)
    assert.are.same({ "audit" }, names.audit)
  end)

  it("skips names in use and makes identifiers of the rest", function()
    local names = repl.client_names({ "k8s-admin", "1st" }, {}, function(n) return n == "k8s" end)
    assert.are.same({ "k8s_admin" }, names["k8s-admin"])
    assert.are.same({ "_1st" }, names["1st"])
    assert.are.equal("end_", repl.identifier("end"))
  end)
end)

describe("repl arguments", function()
  it("parses contexts, namespace, kubeconfig, code and a file", function()
    local o = repl.parse_args { "--context", "old-admin", "--context=new-admin", "-n", "shop",
      "--kubeconfig", "/k", "-e", "x = 1", "init.lua", "a", "-b" }
    assert.are.same({ "old-admin", "new-admin" }, o.contexts)
    assert.are.equal("shop", o.namespace)
    assert.are.equal("/k", o.kubeconfig)
    assert.are.same({ "x = 1" }, o.code)
    assert.are.equal("init.lua", o.file)
    assert.are.same({ "a", "-b" }, o.file_args)
  end)

  it("refuses unknown options and missing values", function()
    assert.are.same({ nil, "unknown option '--bogus' for 'repl'" }, { repl.parse_args { "--bogus" } })
    assert.are.same({ nil, "--context needs a NAME" }, { repl.parse_args { "--context" } })
    assert.are.same({ nil, "-e needs CODE" }, { repl.parse_args { "-e" } })
  end)
end)

describe("ferry.edit", function()
  local edit = require "ferry.edit"
  -- one editor for the whole block: each libedit instance reads the
  -- terminal database, and ncurses leaks a little on every read after the
  -- first (which AddressSanitizer would report)
  local e

  it("checks its options before it starts libedit", function()
    assert.has_error(function() edit.new { complete = 42 } end, "complete must be a function (got number)")
    assert.has_error(function() edit.new { history_size = 0 } end, "history_size must be between 1 and 1000000")
    assert.has_error(function() edit.new { name = {} } end)
  end)

  it("keeps, saves and loads a history", function()
    local dir = helpers.tmpdir()
    e = edit.new { history_size = 3 }
    assert.has_error(function() e:set_completer("x") end)
    e:add_history("one"):add_history("two"):add_history("two"):add_history("a\nmulti-line chunk")
    e:add_history("four")
    assert.are.same({ "two", "a\nmulti-line chunk", "four" }, e:history())
    assert.is_true(e:save_history(dir .. "/history"))
    assert.are.equal(384, require("ferry.sys").stat(dir .. "/history").mode) -- 0600
    assert.are.same({}, e:clear_history():history())
    assert.are.equal(3, e:load_history(dir .. "/history"))
    assert.are.same({ "two", "a\nmulti-line chunk", "four" }, e:history())
    local missing, err = e:load_history(dir .. "/nope")
    assert.is_nil(missing)
    assert.matches("nope", err)
    helpers.remove_tree(dir)
  end)

  it("closes once (close, __close), and refuses use after close", function()
    assert.are.equal("ferry.editor", tostring(e))
    do local scoped <close> = e end
    assert.are.equal("ferry.editor (closed)", tostring(e))
    e:close()
    assert.has_error(function() e:history() end, "the editor is closed")
    assert.has_error(function() e:readline("> ") end, "the editor is closed")
  end)

  it("reads lines from input that is not a terminal, then eof", function()
    local r = helpers.ferry({ "eval", [[
      local e = require("ferry.edit").new { complete = function() return {} end }
      local a = e:readline("> ")
      local b = e:readline("> ")
      local c, why = e:readline("> ")
      return table.concat({ a, b, tostring(c), why }, "|")]] }, { stdin = "first line\nsecond\n" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("first line|second|nil|eof\n$", r.stdout)
  end)
end)
