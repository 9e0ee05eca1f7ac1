--- repl: `ferry repl`, a Lua prompt for troubleshooting a fleet — every
-- module as a global, one Kubernetes client per --context, line editing
-- and history (ferry.edit, on libedit), completion (repl.complete),
-- readable printing (repl.printer) and `:` commands (repl.commands).
--
-- How a line runs: it is read through the event loop, so tasks spawned at
-- the prompt go on while the user types; it is compiled as lua.c does
-- (repl.chunk), then run as a task of its own, which the prompt waits for. The prompt itself runs in a
-- plain coroutine, not a task, so its waits drive the event loop directly:
-- Ctrl-C then cancels the running tasks and raises {kind="interrupted"}
-- at the prompt's wait (lua/task.lua), the prompt clears the interrupt
-- and reads the next line. (Were the prompt a task, its waits would yield
-- to task.run_protected, which ends the program on a second Ctrl-C.)
-- See docs/repl.md.
local chunk = require "repl.chunk"
local commands = require "repl.commands"
local complete = require "repl.complete"
local discovery = require "k8s.discovery"
local docs = require "repl.docs"
local errors = require "ferry.errors"
local history = require "repl.history"
local k8s = require "k8s"
local log = require "log"
local loop = require "ferry.loop"
local printer = require "repl.printer"
local sys = require "ferry.sys"
local task = require "task"
local view = require "repl.view"

local repl = {}

-- Loaded as globals when they exist in this build.
local MODULES = { "k8s", "flux", "flagger", "prom", "git", "json", "yaml", "task", "recipe", "log",
                  "http", "exec", "base64" }
local CONTINUATION_PROMPT = ">> "
local NAMES_TTL = 10          -- seconds object names stay cached for completion
local COMPLETION_TIMEOUT = 5  -- seconds a completion may wait for the API server

repl.usage = [==[
Usage: ferry repl [--context NAME]... [-n NAMESPACE] [--kubeconfig FILE] [-e CODE]... [FILE [ARGS...]]

A Lua prompt with every ferry module as a global (k8s, json, yaml, task, log,
http, exec, and flux, prom, ... where this build has them) and a Kubernetes
client per --context: named after the context (old_admin), also by a short
name (old for old-admin, or the context's cluster name when only one of the
contexts uses that cluster), the first one also as `c`.

Options:
  --context NAME      connect to a kubeconfig context (repeatable)
  -n, --namespace NS  default namespace of the clients
  --kubeconfig FILE   kubeconfig to read (default: $KUBECONFIG, ~/.kube/config)
  -e CODE             run CODE as if typed at the prompt (repeatable)
  FILE [ARGS...]      run FILE first (ARGS in the global arg), then prompt

Type :help at the prompt for its commands. With input that is not a terminal
(a pipe, a file) lines run without prompt or colours, and ferry exits 1 if one
failed. History: $XDG_STATE_HOME/ferry/history. docs/repl.md has the guide.]==]

local function is_keyword(name)
  return printer.identifier("x" .. name) and not printer.identifier(name)
end

--- A Lua name made of a context or cluster name ("prod-eun-2" -> "prod_eun_2").
function repl.identifier(text)
  local name = text:gsub("[^%w_]", "_")
  if name:match("^%d") then name = "_" .. name end
  if is_keyword(name) then name = name .. "_" end
  return name
end

--- The global names of each client. contexts: every context with a client,
-- in order; cluster_of: context -> cluster name (or nil); taken(name):
-- true when the name is in use. A client gets a short name — the context
-- without a trailing "-admin", else its cluster's name when no other of the
-- contexts uses that cluster — then the context's own name; each as a Lua
-- identifier, skipped when taken. Returns {[context] = {names...}}.
function repl.client_names(contexts, cluster_of, taken)
  local clusters = {}
  for _, context in ipairs(contexts) do
    local cluster = cluster_of[context]
    if cluster then clusters[cluster] = (clusters[cluster] or 0) + 1 end
  end
  local given, result = {}, {}
  for _, context in ipairs(contexts) do
    local short = context:match("^(.+)%-admin$")
    local cluster = cluster_of[context]
    if not short and cluster and clusters[cluster] == 1 then short = cluster end
    local names = {}
    for _, candidate in ipairs { short or false, context } do
      if candidate then
        local name = repl.identifier(candidate)
        if not given[name] and not taken(name) then
          given[name] = true
          names[#names + 1] = name
        end
      end
    end
    result[context] = names
  end
  return result
end

--- Parses the arguments of `ferry repl`: options or nil, message.
function repl.parse_args(args)
  local options = { contexts = {}, code = {}, file_args = {} }
  local i = 1
  local function value_of(a, long, short)
    local inline = a:match("^" .. long:gsub("%-", "%%-") .. "=(.*)$")
    if inline then return inline, true end
    if a == long or (short and a == short) then
      i = i + 1
      return args[i], true
    end
    return nil, false
  end
  while i <= #args do
    local a = args[i]
    local context, is_context = value_of(a, "--context")
    local namespace, is_namespace = value_of(a, "--namespace", "-n")
    local kubeconfig, is_kubeconfig = value_of(a, "--kubeconfig")
    if is_context then
      if not context or context == "" then return nil, "--context needs a NAME" end
      options.contexts[#options.contexts + 1] = context
    elseif is_namespace then
      if not namespace or namespace == "" then return nil, "--namespace needs a NAMESPACE" end
      options.namespace = namespace
    elseif is_kubeconfig then
      if not kubeconfig or kubeconfig == "" then return nil, "--kubeconfig needs a FILE" end
      options.kubeconfig = kubeconfig
    elseif a == "-e" then
      i = i + 1
      if not args[i] then return nil, "-e needs CODE" end
      options.code[#options.code + 1] = args[i]
    elseif a == "-h" or a == "--help" then
      options.help = true
    elseif a == "--" then
      options.file = args[i + 1]
      options.file_args = { table.unpack(args, i + 2) }
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, "unknown option '" .. a .. "' for 'repl'"
    else
      options.file = a
      options.file_args = { table.unpack(args, i + 1) }
      break
    end
    i = i + 1
  end
  return options
end

-- ---- the session ------------------------------------------------------------

local Session = {}
Session.__index = Session

local Client = require("k8s.client").Client

local function is_client(value)
  return type(value) == "table" and getmetatable(value) == Client
end

function Session.new(options)
  local self = setmetatable({
    options = options,
    interactive = sys.isatty(0),
    clients = {},       -- context -> client
    order = {},         -- contexts, in the order they were connected
    names = {},         -- context -> its global names
    context_of = {},    -- global name -> context
    failures = 0,
    cache = {},         -- completion: key -> {at, list}
    quit = false,
  }, Session)
  self.colour = self.interactive and sys.isatty(2)
  return self
end

--- The terminal's width when stdout is one, else nil.
function Session:width()
  if not sys.isatty(1) then return nil end
  return require("ferry.edit").columns()
end

function Session:print(text)
  io.stdout:write(log.redact(text), "\n")
  io.stdout:flush()
end

--- Reports an error in one line on stderr and keeps it for :trace.
function Session:fail(err, traceback)
  self.failures = self.failures + 1
  local interrupted = errors.is(err, "interrupted")
  local line = interrupted and "interrupted" or ("error: " .. printer.error_line(err))
  self.last_traceback = traceback or printer.error_line(err)
  if traceback and self.interactive and not self.hinted and not interrupted then
    line = line .. "   (:trace shows where)"
    self.hinted = true
  end
  if self.colour and not interrupted then line = "\27[31m" .. line .. "\27[0m" end
  if interrupted and self.interactive then line = "\n" .. line end -- after the terminal's ^C
  io.stdout:flush()
  io.stderr:write(log.redact(line), "\n")
end

--- Runs fn(...) as a task and waits for it: true, packed results | false,
-- err (already reported). Ctrl-C cancels it.
function Session:run(fn, ...)
  local t = task.spawn(fn, ...)
  local outcome = table.pack(pcall(t.wait, t))
  if outcome[1] then return true, table.pack(table.unpack(outcome, 2, outcome.n)) end
  local err = outcome[2]
  if errors.is(err, "interrupted") then
    loop.clear_interrupt()
    if not t:done() then
      -- Ctrl-C cancelled it; let its cleanup finish, as task.run_protected
      -- does (another Ctrl-C stops waiting)
      local cleaned, cleanup_error = pcall(t.wait, t)
      if not cleaned and errors.is(cleanup_error, "interrupted") then loop.clear_interrupt() end
    end
  elseif not t:done() then
    pcall(task.cancel, t, err) -- e.g. a deadlock: it waits for something that cannot come
  end
  self:fail(err, t.traceback)
  return false, err
end

--- Compiles and runs source as a line typed at the prompt would run.
function Session:evaluate(source)
  local fn, err = chunk.compile(source)
  if not fn then
    self:fail(err == chunk.INCOMPLETE and ("unfinished expression: " .. source) or err)
    return false
  end
  return self:run(fn)
end

function Session:print_options()
  return { columns = self:width(), width = math.min(self:width() or 100, 120), now = os.time() }
end

function Session:print_results(results)
  if results.n == 0 then return end
  rawset(_G, "_", results[1])
  self:print(printer.results(results, self:print_options()))
end

-- ---- clients ----------------------------------------------------------------

function Session:kubeconfig()
  if self.config == nil then
    local ok, cfg = pcall(k8s.config.load, { kubeconfig = self.options.kubeconfig })
    self.config = ok and cfg or false
  end
  return self.config or nil
end

--- The current client (`c`), or nil.
function Session:client()
  return self.current and self.clients[self.current] or nil
end

function Session:connect(context)
  local c = k8s.connect { context = context, kubeconfig = self.options.kubeconfig,
                          namespace = self.options.namespace }
  self.clients[context] = c
  self.order[#self.order + 1] = context
  return c
end

-- Gives the clients without names their globals (repl.client_names).
function Session:name_clients()
  local cfg = self:kubeconfig()
  local cluster_of = {}
  for _, context in ipairs(self.order) do
    local entry = cfg and cfg.contexts[context]
    cluster_of[context] = entry and entry.cluster or nil
  end
  local names = repl.client_names(self.order, cluster_of, function(name)
    return rawget(_G, name) ~= nil or name == "c" or name == "clients" or name == "_"
  end)
  local all = rawget(_G, "clients")
  if type(all) ~= "table" then all = {} end
  for _, context in ipairs(self.order) do
    all[context] = self.clients[context]
    if not self.names[context] then
      self.names[context] = names[context]
      for _, name in ipairs(names[context]) do
        rawset(_G, name, self.clients[context])
        self.context_of[name] = context
      end
    end
  end
  rawset(_G, "clients", all)
end

--- Makes a client current (`c`): by context, by its global name, or a
-- context of the kubeconfig not connected yet.
function Session:use_context(name)
  local context = self.clients[name] and name or self.context_of[name]
  if not context then
    local ok, err = pcall(self.connect, self, name)
    if not ok then return self:fail(err) end
    self:name_clients()
    context = name
  end
  self.current = context
  rawset(_G, "c", self.clients[context])
end

function Session:describe_clients()
  if #self.order == 0 then
    return "no clients: :context NAME connects to a context of the kubeconfig"
  end
  local rows = { { "", "CONTEXT", "NAMES", "NAMESPACE", "SERVER" } }
  for _, context in ipairs(self.order) do
    local c = self.clients[context]
    local names = table.concat(self.names[context] or {}, ", ")
    if context == self.current then names = names ~= "" and ("c, " .. names) or "c" end
    rows[#rows + 1] = { context == self.current and "*" or "", context, names, c.namespace, c.server }
  end
  local text = view.layout(rows)
  local cfg, others = self:kubeconfig(), {}
  for _, name in ipairs(cfg and k8s.config.context_names(cfg) or {}) do
    if not self.clients[name] then others[#others + 1] = name end
  end
  if #others > 0 then text = text .. "\nother contexts: " .. table.concat(others, ", ") end
  return text
end

function Session:prompt()
  local c = self:client()
  if not c then return "ferry> " end
  return string.format("%s:%s> ", self.current, c.namespace)
end

-- ---- :describe and :watch ----------------------------------------------------

-- "[CLIENT] Kind/name" or "[CLIENT] Kind name": client, kind, name; nil otherwise.
local function text_reference(session, argument)
  local first, rest = argument:match("^(%S+)%s+(.+)$")
  local c = session:client()
  if first and (session.clients[first] or session.context_of[first]) then
    c = session.clients[first] or session.clients[session.context_of[first]]
    argument = rest
  end
  local kind, name = argument:match("^([%a][%w%.]*)/([%w][%w%-%.]*)$")
  if not kind then kind, name = argument:match("^([%a][%w%.]*)%s+([%w][%w%-%.]*)$") end
  return c, kind, name, argument
end

function Session:describe(argument)
  local c, kind, name, expression = text_reference(self, argument)
  if not c then return self:fail("no client: start with --context NAME, or use :context NAME") end
  local fn
  if not kind then
    local err
    fn, err = chunk.compile(expression)
    if not fn then return self:fail(err == chunk.INCOMPLETE and "unfinished expression" or err) end
  end
  local ok, results = self:run(function()
    local obj
    if kind then
      local entry = discovery.find(c, kind)
      if not entry then
        error(errors.new("unknown_kind", string.format("cluster %s serves no kind '%s'", c.name, kind)), 0)
      end
      obj = c:get { apiVersion = entry.apiVersion, kind = entry.kind, name = name }
    else
      local value = fn()
      obj = (view.is_object(value) and value.status) and value or c:get(value)
    end
    local events_ok, events = pcall(c.events, c, obj)
    return obj, events_ok and events or {}
  end)
  if not ok then return end
  local obj, events = results[1], results[2]
  local now, width = os.time(), self:width()
  local parts = { view.summary(obj, now) }
  local conditions = view.conditions(obj, now, width)
  parts[#parts + 1] = conditions and ("Conditions:\n" .. conditions) or "Conditions: none"
  local recent = view.events(events, now, width, 10)
  parts[#parts + 1] = recent and ("Events:\n" .. recent) or "Events: none"
  self:print(table.concat(parts, "\n"))
end

function Session:watch(expression, seconds)
  local fn, err = chunk.compile(expression)
  if not fn then return self:fail(err == chunk.INCOMPLETE and "unfinished expression" or err) end
  while true do
    if self.interactive and sys.isatty(1) then io.stdout:write("\27[H\27[2J") end
    self:print(string.format("every %gs: %s    %s   (Ctrl-C stops)", seconds, expression, os.date("%H:%M:%S")))
    local ok, results = self:run(fn)
    if ok then
      self:print_results(results)
    elseif errors.is(results, "interrupted") then
      return
    end
    local slept, sleep_error = pcall(task.sleep, seconds)
    if not slept then
      loop.clear_interrupt()
      if not errors.is(sleep_error, "interrupted") then
        self:fail(sleep_error)
      elseif self.interactive then
        io.stdout:write("\n") -- after the terminal's ^C
      end
      return
    end
  end
end

-- ---- completion --------------------------------------------------------------

-- Runs fn(...) for completion with a time limit; nil on any failure.
local function bounded(fn, ...)
  local ok, value = pcall(task.timeout, COMPLETION_TIMEOUT, fn, ...)
  if ok then return value end
  return nil
end

function Session:cached(key, fn)
  local hit = self.cache[key]
  local now = sys.monotonic()
  if hit and now - hit.at < NAMES_TTL then return hit.list end
  local list = bounded(fn)
  if list then self.cache[key] = { at = now, list = list } end
  return list or {}
end

local function names_of(c, kind, namespace)
  local entry = discovery.find(c, kind)
  if not entry then return {} end
  local items = c:list { apiVersion = entry.apiVersion, kind = entry.kind, namespace = namespace,
                         limit = 500 }
  local names = {}
  for _, item in ipairs(items) do names[#names + 1] = item.metadata.name end
  return names
end

function Session:completion_context()
  local session = self
  return {
    env = _G,
    commands = commands.names(),
    command = function(word) return (commands.resolve(word)) end,
    client = function(value)
      if is_client(value) then return value end
      return session:client()
    end,
    kinds = function(c)
      if not c then return {} end
      local entries = bounded(c.kinds, c) or {}
      local kinds = {}
      for _, e in ipairs(entries) do kinds[#kinds + 1] = e.kind end
      return kinds
    end,
    names = function(c, kind, namespace)
      if not c then return {} end
      namespace = namespace or c.namespace
      return session:cached(table.concat({ c.name, kind, namespace }, "|"), function()
        return names_of(c, kind, namespace)
      end)
    end,
    namespaces = function(c)
      if not c then return {} end
      return session:cached(c.name .. "|Namespace", function() return names_of(c, "Namespace") end)
    end,
    contexts = function()
      local cfg = session:kubeconfig()
      local list = cfg and k8s.config.context_names(cfg) or {}
      for name in pairs(session.context_of) do list[#list + 1] = name end
      return list
    end,
    docs = function()
      return docs.topics(session:docs_pages())
    end,
  }
end

-- The completer given to the line editor: what Tab does (complete.edit),
-- for the text before the cursor on a terminal `columns` wide; never raises.
function Session:complete(before, _, columns)
  local ok, result = pcall(complete.candidates, before, self.completion)
  if not ok then return nil end
  return complete.edit(result, before, columns)
end

-- ---- :doc ----------------------------------------------------------------------

function Session:docs_directory()
  if self.docs_dir == nil then
    local dir, searched = docs.directory()
    self.docs_dir, self.docs_searched = dir or false, searched
  end
  return self.docs_dir or nil, self.docs_searched
end

function Session:docs_pages()
  if not self.pages then
    local dir = self:docs_directory()
    self.pages = dir and docs.load(dir) or {}
  end
  return self.pages
end

-- ---- history -------------------------------------------------------------------

function Session:open_history()
  local path = history.path()
  if not path or not history.prepare(path) then return end
  self.history_path = path
  if sys.stat(path) then self.editor:load_history(path) end
end

--- Stores a line (after it ran: a line that registered a secret is not kept).
function Session:remember(source)
  if not self.editor or not self.history_path then return end
  if not history.keep(source, log.redact) then return end
  self.editor:add_history(source)
  local ok, err = self.editor:save_history(self.history_path)
  if not ok and not self.history_warned then
    self.history_warned = true
    io.stderr:write("ferry repl: history not saved: ", err, "\n")
  end
end

-- ---- the loop ------------------------------------------------------------------

local function load_modules()
  for _, name in ipairs(MODULES) do
    if rawget(_G, name) == nil then
      local ok, module = pcall(require, name)
      if ok then
        rawset(_G, name, module)
      elseif not tostring(module):find("module '" .. name .. "' not found", 1, true) then
        io.stderr:write("ferry repl: module ", name, " failed to load: ", errors.format(module), "\n")
      end
    end
  end
end

function Session:banner()
  local v = sys.versions()
  local lines = { string.format("ferry %s (%s): :help lists commands, Tab completes, Ctrl-D exits", v.ferry, v.lua) }
  if #self.order > 0 then
    local parts = {}
    for _, context in ipairs(self.order) do
      local names = self.names[context] or {}
      local label = names[1] and (names[1] .. " = " .. context) or ("clients[\"" .. context .. "\"]")
      if context == self.current then label = label .. " (also c)" end
      parts[#parts + 1] = label
    end
    lines[#lines + 1] = "clients: " .. table.concat(parts, ", ")
  end
  self:print(table.concat(lines, "\n"))
end

-- Runs a complete chunk typed (or given with -e) and prints its values.
function Session:run_source(source)
  local fn, err = chunk.compile(source)
  if not fn then
    self:fail(err == chunk.INCOMPLETE and ("unfinished chunk: " .. source) or err)
    return
  end
  local ok, results = self:run(fn)
  if ok then self:print_results(results) end
end

-- Reads a line through the event loop: the tasks started at the prompt run
-- while the user types (ferry.edit's start/feed).
function Session:read_line(prompt)
  local editor = self.editor
  if not editor then
    local line = io.stdin:read("l")
    if line == nil then return nil, "eof" end
    return line
  end
  editor:start(prompt)
  while true do
    local line, why, message = editor:feed()
    if line ~= false then return line, why, message end
    task.await(editor)
  end
end

-- One line of input: a command, a chunk, or part of one.
function Session:step()
  if loop.interrupted() then loop.clear_interrupt() end -- a Ctrl-C nobody took
  local prompt = self.pending and CONTINUATION_PROMPT or self:prompt()
  local line, why = self:read_line(prompt)
  if not line then
    if why == "interrupted" then
      loop.clear_interrupt()
      self.pending = nil
      io.stdout:write("\n")
      return
    end
    if self.pending then
      local source = table.concat(self.pending, "\n")
      self.pending = nil
      local _, err = chunk.compile(source)
      self:fail(err == chunk.INCOMPLETE and ("unfinished chunk at the end of the input: " .. source) or err)
    end
    if self.editor then io.stdout:write("\n") end
    self.quit = true
    return
  end
  if not self.pending then
    if chunk.blank(line) then return end
    if line:match("^%s*:") then
      commands.run(self, line)
      self:remember(line)
      return
    end
    self.pending = { line }
  else
    self.pending[#self.pending + 1] = line
  end
  local source = table.concat(self.pending, "\n")
  local fn, err = chunk.compile(source)
  if not fn and err == chunk.INCOMPLETE then return end
  self.pending = nil
  if fn then
    local ok, results = self:run(fn)
    if ok then self:print_results(results) end
  else
    self:fail(err)
  end
  self:remember(source)
end

function Session:start()
  load_modules()
  for _, context in ipairs(self.options.contexts) do
    local ok, err = pcall(self.connect, self, context)
    if not ok then
      io.stderr:write("ferry repl: ", printer.error_line(err), "\n")
      return false
    end
  end
  if #self.order == 0 then
    -- no --context: the kubeconfig's current context, when there is one
    local cfg = self:kubeconfig()
    if cfg and cfg.current_context then pcall(self.connect, self, cfg.current_context) end
  end
  self:name_clients()
  if self.order[1] then
    self.current = self.order[1]
    rawset(_G, "c", self.clients[self.current])
  end
  self.completion = self:completion_context()
  return true
end

function Session:main()
  if not self:start() then return 1 end
  for _, code in ipairs(self.options.code) do self:run_source(code) end
  if self.options.file then
    local fn, err = loadfile(self.options.file)
    if not fn then
      self:fail(err)
    else
      rawset(_G, "arg", { [0] = self.options.file, table.unpack(self.options.file_args) })
      self:run(fn, table.unpack(self.options.file_args))
    end
  end
  if self.interactive then
    local edit = require "ferry.edit"
    self.editor = edit.new { name = "ferry", complete = function(...) return self:complete(...) end }
    self:open_history()
    self:banner()
  end
  while not self.quit do
    local ok, err = xpcall(self.step, function(e)
      return errors.is(e, "interrupted") and e or errors.traceback(e, 2)
    end, self)
    if not ok then
      -- a Ctrl-C between two lines, or a fault of the REPL itself: keep going
      loop.clear_interrupt()
      self.pending = nil
      if not errors.is(err, "interrupted") then
        io.stderr:write("ferry repl: ", errors.format(err), "\n")
      end
    end
  end
  if self.editor then self.editor:close() end
  return (not self.interactive and self.failures > 0) and 1 or 0
end

--- `ferry repl ARGS`: returns the exit status.
function repl.main(args)
  local options, err = repl.parse_args(args)
  if not options then
    io.stderr:write("ferry: ", err, "\nRun 'ferry help repl' for usage.\n")
    return 2
  end
  if options.help then
    print(repl.usage)
    return 0
  end
  local session = Session.new(options)
  local main_task = task.current()
  -- a plain coroutine, not a task: see the top of this file
  local co = coroutine.create(function() return session:main() end)
  local ok, status = coroutine.resume(co)
  if not ok or coroutine.status(co) ~= "dead" then
    io.stderr:write("ferry repl: ", tostring(status), "\n")
    status = 1
  end
  -- what the lines left running would keep the process alive
  for _, t in ipairs(task.running()) do
    if t ~= main_task then pcall(task.cancel, t) end
  end
  return status
end

repl.Session = Session
return repl
