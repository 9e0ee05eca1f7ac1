--- repl.commands: the `:` commands of the REPL. Each takes the session
-- (lua/repl/init.lua) and the text after the command's name.
local docs = require "repl.docs"
local sys = require "ferry.sys"
local view = require "repl.view"

local commands = {}

local list = {}      -- in the order :help shows them
local by_name = {}

local function command(name, usage, summary, run)
  local c = { name = name, usage = usage, summary = summary, run = run }
  list[#list + 1] = c
  by_name[name] = c
  return c
end

-- Short forms people type out of habit, besides unique prefixes.
local ALIASES = { q = "quit", exit = "quit", h = "help", ["?"] = "help", t = "trace" }

--- The names of the commands, sorted.
function commands.names()
  local names = {}
  for _, c in ipairs(list) do names[#names + 1] = c.name end
  table.sort(names)
  return names
end

--- The command a word means: its exact name, an alias or a unique prefix.
-- Returns the name, or nil and a message.
function commands.resolve(word)
  if by_name[word] then return word end
  if ALIASES[word] then return ALIASES[word] end
  local found = {}
  for _, c in ipairs(list) do
    if word ~= "" and c.name:sub(1, #word) == word then found[#found + 1] = c.name end
  end
  if #found == 1 then return found[1] end
  if #found > 1 then
    table.sort(found)
    return nil, string.format("ambiguous command ':%s' (:%s)", word, table.concat(found, ", :"))
  end
  return nil, string.format("unknown command ':%s' (:help lists the commands)", word)
end

--- Splits ":name argument" into the command's name and its argument
-- (trimmed, "" when absent); nil, message for an unknown command.
function commands.parse(line)
  local word, argument = line:match("^%s*:(%S*)%s*(.-)%s*$")
  if not word then return nil, "not a command: " .. line end
  if word == "" then return nil, "a command name must follow ':' (:help lists them)" end
  local name, err = commands.resolve(word)
  if not name then return nil, err end
  return name, argument
end

--- Runs a command line; returns what the command returned.
function commands.run(session, line)
  local name, argument = commands.parse(line)
  if not name then
    session:fail(argument)
    return nil
  end
  return by_name[name].run(session, argument)
end

--- Splits "-n 5 rest" style options off an argument: returns the value of
-- the option (or nil) and the rest.
function commands.option(argument, flag)
  local value, rest = argument:match("^%-" .. flag .. "%s+(%S+)%s*(.*)$")
  if value then return value, rest end
  return nil, argument
end

local function need(session, argument, usage)
  if argument == "" then
    session:fail("usage: " .. usage)
    return false
  end
  return true
end

command("help", ":help", "this list", function(session)
  local lines = { "Commands:" }
  for _, c in ipairs(list) do
    lines[#lines + 1] = string.format("  %-26s %s", c.usage, c.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Type Lua: an expression prints its value (`c:list{kind=\"Pod\"}`), statements run"
  lines[#lines + 1] = "(`x = 1`), an unfinished chunk continues on the next line. `_` holds the last value."
  lines[#lines + 1] = "Tab completes names, fields, methods (c:li<Tab>), kinds and object names in strings."
  lines[#lines + 1] = "Ctrl-C cancels the running line, Ctrl-R searches the history, Ctrl-D exits."
  lines[#lines + 1] = "Commands may be shortened to a unique prefix (:des for :describe). docs/repl.md has more."
  session:print(table.concat(lines, "\n"))
end)

command("context", ":context [NAME]", "list the clients, or make NAME the current one (c)", function(session, argument)
  if argument == "" then
    session:print(session:describe_clients())
    return
  end
  session:use_context(argument)
end)

command("ns", ":ns [NAMESPACE]", "show or set the namespace of the current client", function(session, argument)
  local c = session:client()
  if not c then
    session:fail("no client: start with --context NAME, or use :context NAME")
    return
  end
  if argument == "" then
    session:print(c.namespace)
    return
  end
  if #argument > 63 or not argument:match("^[a-z0-9][-a-z0-9]*$") or argument:match("%-$") then
    session:fail(string.format("'%s' is not a valid namespace name", argument))
    return
  end
  c.namespace = argument
end)

command("yaml", ":yaml EXPR", "print the value of EXPR as YAML", function(session, argument)
  if not need(session, argument, ":yaml EXPR") then return end
  local ok, results = session:evaluate(argument)
  if not ok then return end
  local yaml = require "yaml"
  for i = 1, results.n do
    local encoded, text = pcall(yaml.encode, results[i])
    if not encoded then return session:fail(text) end
    session:print((text:gsub("\n$", "")))
  end
end)

command("json", ":json EXPR", "print the value of EXPR as JSON", function(session, argument)
  if not need(session, argument, ":json EXPR") then return end
  local ok, results = session:evaluate(argument)
  if not ok then return end
  local json = require "json"
  for i = 1, results.n do
    local encoded, text = pcall(json.encode, results[i], { pretty = true, sort_keys = true })
    if not encoded then return session:fail(text) end
    session:print(text)
  end
end)

command("time", ":time EXPR", "run EXPR and print how long it took", function(session, argument)
  if not need(session, argument, ":time EXPR") then return end
  local started = sys.monotonic()
  local ok, results = session:evaluate(argument)
  local elapsed = sys.monotonic() - started
  if ok then session:print_results(results) end
  session:print(string.format("(%.3f s)", elapsed))
end)

command("watch", ":watch [-n SECONDS] EXPR", "print EXPR again every 2 s until Ctrl-C", function(session, argument)
  local every, expression = commands.option(argument, "n")
  local seconds = tonumber(every or "2")
  if not seconds or seconds < 0.1 then return session:fail("usage: :watch [-n SECONDS] EXPR (SECONDS >= 0.1)") end
  if not need(session, expression, ":watch [-n SECONDS] EXPR") then return end
  session:watch(expression, seconds)
end)

command("describe", ":describe REF", "an object with its conditions and recent events", function(session, argument)
  if not need(session, argument, ":describe Kind/name | :describe EXPR") then return end
  session:describe(argument)
end)

-- The recipe engine's journal (lua/recipe/journal.lua), when this build has one.
local function journal_module()
  local ok, journal = pcall(require, "ferry.engine.journal")
  if ok and type(journal) == "table" and type(journal.list) == "function" then return journal end
  return nil
end

local NO_ENGINE = "no recipe runs: this build of ferry has no recipe engine"
local RUNS_SHOWN = 20

command("runs", ":runs", "recent recipe runs, newest first", function(session)
  local journal = journal_module()
  if not journal then return session:print(NO_ENGINE) end
  local ok, results = session:run(journal.list)
  if not ok then return end
  local runs = results[1]
  if #runs == 0 then
    return session:print("no recipe runs yet in " .. journal.dir() .. " (`ferry run NAME` starts one)")
  end
  local rows = { { "RUN", "RECIPE", "STATUS", "STARTED", "FAILED STEP" } }
  for i = 1, math.min(#runs, RUNS_SHOWN) do
    local r = runs[i]
    local stopped = r.status ~= "succeeded" and r.status ~= "running"
    rows[#rows + 1] = { tostring(r.id), tostring(r.recipe or ""), tostring(r.status or ""),
                        tostring(r.started or ""), stopped and tostring(r.failed_step or "") or "" }
  end
  local text = view.layout(rows, session:width())
  if #runs > RUNS_SHOWN then text = text .. string.format("\n... %d older runs", #runs - RUNS_SHOWN) end
  session:print(text)
end)

command("resume", ":resume ID", "resume an interrupted or failed recipe run", function(session, argument)
  if not need(session, argument, ":resume ID (:runs lists them)") then return end
  local journal = journal_module()
  if not journal then return session:fail(NO_ENGINE) end
  local ok, results = session:run(function()
    local recipe = require "recipe"
    local run = journal.load(argument)
    local report = recipe.run(recipe.load(run.data.recipe), { resume = run.data.id })
    return report and report.status
  end)
  if ok then session:print(string.format("run %s: %s", argument, tostring(results[1]))) end
end)

command("doc", ":doc NAME", "the documentation of a module or function (k8s.connect, c:list)", function(session, argument)
  local dir, searched = session:docs_directory()
  if not dir then
    session:fail("no documentation found (looked in " .. table.concat(searched, ", ")
      .. "); set FERRY_DOCS to the docs/modules directory")
    return
  end
  local pages = session:docs_pages()
  if argument == "" then
    local names = {}
    for name in pairs(pages) do names[#names + 1] = name end
    table.sort(names)
    session:print("Modules: " .. table.concat(names, ", ") .. "\n:doc NAME shows one (k8s, k8s.connect, c:list).")
    return
  end
  local found = docs.find(pages, argument)
  if #found == 0 then
    session:fail(string.format("no documentation for '%s' in %s", argument, dir))
    return
  end
  local text = found[1].text
  if #found > 1 then
    local others = {}
    for i = 2, #found do others[#others + 1] = found[i].page .. ": " .. found[i].heading end
    text = text .. "\n\nAlso: " .. table.concat(others, "; ")
  end
  session:print(text)
end)

command("trace", ":trace", "the traceback of the last error", function(session)
  session:print(session.last_traceback or "no error yet")
end)

command("quit", ":quit", "leave the REPL (so does Ctrl-D)", function(session)
  session.quit = true
end)

return commands
