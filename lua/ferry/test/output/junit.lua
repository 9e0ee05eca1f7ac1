-- busted's JUnit XML report, for CI servers: written when the program
-- ends, to stdout or to the file named by the first -Xoutput option.
--
--   <testsuites tests= errors= failures= skip= time=>
--     <testsuite name='Run 1 of 1' tests= errors= failures= skip= time= timestamp=>
--       <testcase classname='spec/x_spec.lua:12' name='full name' time='0.00'>
--         <failure>message and traceback</failure>     (or <error>, <skipped>)
--       </testcase>
--       <error>an error outside tests</error>
--
-- Layout and escaping are busted's (Penlight's XML writer: a leading
-- newline, tab indents, single-quoted attributes). busted writes the
-- attributes in hash order, which changes from run to run; here they come
-- in the order above.

local base = require "ferry.test.output.base"
local sys = require "ferry.sys"
local trace = require "ferry.test.trace"

trace.mark_internal()

local escapes = { ["'"] = "&apos;", ['"'] = "&quot;", ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;" }

local function escape(value)
  return (tostring(value):gsub("['&<>\"]", escapes))
end

-- attrs: list of {name, value}
local function node(tag, attrs)
  return { tag = tag, attrs = attrs or {}, children = {} }
end

local function attr(n, name, value)
  for _, pair in ipairs(n.attrs) do
    if pair[1] == name then
      pair[2] = value
      return
    end
  end
  n.attrs[#n.attrs + 1] = { name, value }
end

local function get(n, name)
  for _, pair in ipairs(n.attrs) do
    if pair[1] == name then
      return pair[2]
    end
  end
end

local function write(n, buffer, indent)
  local lf = "\n" .. indent
  buffer[#buffer + 1] = lf .. "<" .. n.tag
  for _, pair in ipairs(n.attrs) do
    buffer[#buffer + 1] = " " .. pair[1] .. "='" .. escape(pair[2]) .. "'"
  end
  if #n.children == 0 then
    buffer[#buffer + 1] = "/>"
    return
  end
  buffer[#buffer + 1] = ">"
  local has_children = false
  for _, child in ipairs(n.children) do
    if type(child) == "table" then
      has_children = true
      write(child, buffer, indent .. "\t")
    else
      buffer[#buffer + 1] = escape(child)
    end
  end
  buffer[#buffer + 1] = (has_children and lf or "") .. "</" .. n.tag .. ">"
end

local function duration(seconds)
  return string.format("%.2f", seconds or 0)
end

return function(options, suite)
  local handler = base(suite)
  local top = {
    start_tick = sys.monotonic(),
    node = node("testsuites", { { "tests", 0 }, { "errors", 0 }, { "failures", 0 }, { "skip", 0 } }),
  }
  local stack = {}
  local testcase
  local output_file = type(options.arguments) == "table" and options.arguments[1] or nil

  local function add(n, name, amount)
    attr(n, name, get(n, name) + (amount or 1))
  end

  function handler.suiteStart(root, count, total)
    local suite_node = node("testsuite", {
      { "name", "Run " .. count .. " of " .. total },
      { "tests", 0 }, { "errors", 0 }, { "failures", 0 }, { "skip", 0 },
    })
    suite_node.timestamp = os.date("!%Y-%m-%dT%H:%M:%S")
    table.insert(top.node.children, suite_node)
    stack[#stack + 1] = top
    top = { start_tick = root.starttick, node = suite_node }
    return nil, true
  end

  function handler.suiteEnd(root)
    local done = top
    attr(done.node, "time", duration(root.duration))
    attr(done.node, "timestamp", done.node.timestamp)
    top = table.remove(stack)
    for _, name in ipairs({ "tests", "errors", "failures", "skip" }) do
      add(top.node, name, get(done.node, name))
    end
    return nil, true
  end

  function handler.exit()
    attr(top.node, "time", duration(sys.monotonic() - top.start_tick))
    local buffer = {}
    write(top.node, buffer, "")
    local text = table.concat(buffer) .. "\n"
    local file = output_file and io.open(output_file, "w+b")
    if file then
      file:write(text)
      file:close()
    else
      options.stream:write(text)
      options.stream:flush()
    end
    return nil, true
  end

  local function status_node(parent, message, status, where)
    if status == "success" then
      return
    end
    local n = node(status)
    if status ~= "pending" and parent and parent.randomseed then
      n.children[#n.children + 1] = "Random seed: " .. parent.randomseed .. "\n"
    end
    if message then
      n.children[#n.children + 1] = message
    end
    if where and where.traceback then
      n.children[#n.children + 1] = where.traceback
    end
    testcase.children[#testcase.children + 1] = n
  end

  function handler.testStart(element)
    testcase = node("testcase", {
      { "classname", element.trace.short_src .. ":" .. element.trace.currentline },
      { "name", handler.getFullName(element) },
    })
    table.insert(top.node.children, testcase)
    return nil, true
  end

  function handler.testEnd(element, parent, status)
    add(top.node, "tests")
    attr(testcase, "time", duration(element.duration))
    if status == "pending" then
      add(top.node, "skip")
      local entry = handler.pendings[#handler.pendings]
      local where = element.trace ~= entry.trace and entry.trace
      status_node(parent, entry.message, "skipped", where)
    end
    return nil, true
  end

  function handler.failureTest(_, parent, message, where)
    add(top.node, "failures")
    status_node(parent, message, "failure", where)
    return nil, true
  end

  function handler.errorTest(_, parent, message, where)
    add(top.node, "errors")
    status_node(parent, message, "error", where)
    return nil, true
  end

  function handler.error(element, _, message, where)
    if element.descriptor ~= "it" then
      add(top.node, "errors")
      local n = node("error")
      n.children[1] = message
      if where and where.traceback then
        n.children[2] = where.traceback
      end
      table.insert(top.node.children, n)
    end
    return nil, true
  end

  local subscribe_base = handler.subscribe
  function handler.subscribe(self, opts)
    subscribe_base(self, opts)
    suite:subscribe({ "exit" }, handler.exit)
    suite:subscribe({ "suite", "start" }, handler.suiteStart)
    suite:subscribe({ "suite", "end" }, handler.suiteEnd)
    suite:subscribe({ "test", "start" }, handler.testStart, { predicate = handler.cancelOnPending })
    suite:subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
    suite:subscribe({ "error", "it" }, handler.errorTest)
    suite:subscribe({ "failure", "it" }, handler.failureTest)
    suite:subscribe({ "error" }, handler.error)
    suite:subscribe({ "failure" }, handler.error)
  end

  return handler
end
