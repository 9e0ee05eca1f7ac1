-- One test run: the tree of blocks, the event bus, and running a block
-- under protection. This is the counterpart of busted.core.
--
-- Everything lives in the Suite object, nothing in module state, so a spec
-- can start a whole run of its own (the runner's own specs do) without
-- disturbing the run it is part of.
--
-- A block ("element") is a table: descriptor ("file", "describe", "it",
-- "before_each", ...), name, run (its function), trace (where it was
-- declared), attributes, parent, children (blocks with an executor),
-- hooks[descriptor] (lists of blocks without one) and env (its globals).
--
-- Globals in spec files are scoped to blocks, as in busted: a spec file
-- runs with an environment that resolves a name in the running block's env,
-- then its parents' (the root holds the DSL), then _G; assigning a global
-- stores it in the running block's env, or for a hook (envmode "unwrap") in
-- the env of the block the hook belongs to. So globals set in one describe
-- are not seen by its siblings, nor by the next file.

local events = require "ferry.test.events"
local isolation = require "ferry.test.isolation"
local failure = require "ferry.test.failure"
local format = require "ferry.test.format"
local util = require "ferry.test.util"
local trace = require "ferry.test.trace"
local sys = require "ferry.sys"

local core = {}

local Suite = {}
Suite.__index = Suite

-- Kinds of block inside which describe/it/hooks may be declared; inside a
-- test or a hook they are refused, as busted does.
local declaring = { suite = true, file = true, describe = true }

function core.new()
  local root = { descriptor = "suite", attributes = {}, children = {}, hooks = {}, env = {} }
  return setmetatable({
    bus = events.new(),
    root = root,
    current = root,
    stack = {},
    states = {},
    executors = {},
    attributes_of = {},
    api = {},
    skip_all = false,
    -- --sort-tests / --shuffle-tests, and the seed shuffles use
    sort = false,
    randomize = false,
    randomseed = os.time(),
    clock = sys.monotonic,
    gettime = util.gettime,
  }, Suite)
end

function Suite:publish(path, ...)
  return self.bus:publish(path, ...)
end

function Suite:subscribe(path, fn, options)
  return self.bus:subscribe(path, fn, options)
end

function Suite:unsubscribe(subscriber, path)
  return self.bus:unsubscribe(subscriber, path)
end

function Suite:parent(element)
  return element.parent
end

function Suite:children(element)
  return element.children or {}
end

-- Entering a block that is not the running one saves or hands on the
-- globals as its envmode says (insulate/expose); leaving it undoes that.
function Suite:push(element)
  if element ~= self.current then
    isolation.enter(self.states, element)
  end
  self.stack[#self.stack + 1] = self.current
  self.current = element
end

function Suite:pop()
  local element = self.current
  self.current = table.remove(self.stack)
  if element ~= self.current then
    isolation.leave(self.states, element)
  end
end

-- The value a spec sees for the global `key` in the running block.
function Suite:env_get(key)
  local element = self.current
  while element do
    local env = element.env
    if env then
      local value = env[key]
      if value ~= nil then
        return value
      end
    end
    element = element.parent
  end
  return _G[key]
end

-- A global assigned while `element` runs is stored in its env, except
-- that a hook ("unwrap") stores it in its block's and an expose block in
-- the block two levels up (so it reaches past the insulated file), each
-- redirection applying again to the block it leads to. Past the root it
-- goes to _G. A name the env already holds stays there.
function Suite:env_set(key, value)
  local element = self.current
  while element and not (element.env and rawget(element.env, key) ~= nil) do
    local envmode = element.attributes.envmode
    if envmode == "unwrap" then
      element = element.parent
    elseif envmode == "expose" then
      element = element.parent and element.parent.parent
    else
      break
    end
  end
  if not element then
    _G[key] = value
    return
  end
  element.env = element.env or {}
  element.env[key] = value
end

-- A fresh environment for one spec file, resolving through env_get/env_set.
function Suite:environment()
  return setmetatable({}, {
    __index = function(_, key)
      return self:env_get(key)
    end,
    __newindex = function(_, key, value)
      self:env_set(key, value)
    end,
  })
end

-- Declared blocks attach to the block being run when they are declared.
-- `declared` keeps every block and hook in declaration order: busted
-- shuffles and sorts that whole list, so the order of the tests after
-- --shuffle depends on where the hooks were declared too.
function Suite:attach(element)
  local parent = self.current
  element.parent = parent
  parent.declared = parent.declared or {}
  parent.declared[#parent.declared + 1] = element
  if self.executors[element.descriptor] then
    parent.children[#parent.children + 1] = element
  else
    parent.hooks[element.descriptor] = parent.hooks[element.descriptor] or {}
    table.insert(parent.hooks[element.descriptor], element)
  end
end

-- Names of the enclosing blocks up to the file, then `name`: the
-- "describe ... it" full name used by reports and filters. With no
-- element, starts from the block being run (for a block being declared).
function Suite:full_name(element, name)
  local names, parent
  if element then
    names = { element.name or element.descriptor }
    parent = element.parent
  else
    names = { name }
    parent = self.current
  end
  while parent and (parent.name or parent.descriptor) and parent.descriptor ~= "file" do
    table.insert(names, 1, parent.name or parent.descriptor)
    parent = parent.parent
  end
  return table.concat(names, " ")
end

-- The message an error is reported with, always a string that starts with
-- "file:line: " when the place is known.
function Suite:message_for(err, where)
  local message
  if util.has_tostring(err) then
    message = tostring(err)
  elseif err == nil then
    message = "Nil error"
  else
    message = format.pretty(err)
  end
  if not message:match("^[^\n]-:%d+: .*") and where and where.short_src then
    message = where.short_src .. ":" .. where.currentline .. ": " .. message
  end
  return message
end

-- Runs `run` as the block `element` with errors caught; returns the
-- status: "success", "failure", "error" or "pending". A bad outcome is
-- published on {status, element.descriptor}. Only a test ("it") can fail:
-- a failed assertion anywhere else (a hook, a describe body) is an error.
function Suite:safe(descriptor, run, element)
  self:push(element)
  local kind, message, where
  local ok = xpcall(run, function(err)
    kind = failure.kind(err)
    where = trace.capture(2, err)
    if kind == "pending" and err.message == nil then
      message = nil
    else
      message = self:message_for(err, where)
    end
    return err
  end)
  local status = "success"
  if not ok then
    status = kind or "error"
    if status == "failure" and descriptor ~= "it" then
      status = "error"
    end
    self:publish({ status, element.descriptor }, element, element.parent, message, where or {})
  end
  self:pop()
  return status
end

-- Publishes a start/end event with the block's timing recorded; an error
-- raised by a subscriber counts against the block. Returns true when all
-- subscribers ran cleanly.
function Suite:safe_publish(descriptor, path, element, ...)
  if path[2] == "start" then
    element.starttick = self.clock()
    element.starttime = self.gettime()
  elseif path[2] == "end" then
    element.endtime = self.gettime()
    element.endtick = self.clock()
    element.duration = element.starttick and (element.endtick - element.starttick)
  end
  local args = table.pack(...)
  local status = self:safe(descriptor, function()
    self:publish(path, element, table.unpack(args, 1, args.n))
  end, element)
  return status == "success"
end

-- Reorders a block's children (--sort-tests, --shuffle-tests, randomize())
-- as busted does: over every declared element, hooks included.
function Suite:reorder(element, how, seed)
  local declared = element.declared or {}
  if how == "sort" then
    util.sort_by_name(declared)
  else
    util.shuffle(declared, seed)
  end
  local children = {}
  for _, child in ipairs(declared) do
    if self.executors[child.descriptor] then
      children[#children + 1] = child
    end
  end
  element.children = children
end

-- Forgets what a block declared the last time it ran (--repeat runs the
-- same files again).
function Suite:forget(element)
  element.children, element.hooks, element.declared = {}, {}, nil
  element.lazy_done = nil
end

-- Runs the children of a block in order, each through its kind's executor.
function Suite:execute(element)
  for _, child in ipairs((element or self.current).children) do
    if self.skip_all then
      break
    end
    local executor = self.executors[child.descriptor]
    self:safe(child.descriptor, function()
      executor(child)
    end, child)
  end
end

-- Declares a kind of block and the function that declares one in a spec:
--   register("describe", run_describe)      a kind with an executor
--   register("before_each")                  a hook (no executor)
--   register("context", "describe")          an alias
-- The declaring function publishes {"register", descriptor}; filters
-- subscribe there first and may drop the block; the last subscriber
-- attaches it. The declaring function is kept in suite.api.
function Suite:register(descriptor, executor, attributes)
  local alias
  if type(executor) == "table" and not util.callable(executor) then
    executor, attributes = nil, executor
  end
  if type(executor) == "string" then
    alias, descriptor = descriptor, executor
    attributes = attributes or self.attributes_of[descriptor]
  else
    self.executors[descriptor] = executor
    self.attributes_of[descriptor] = attributes
    self:subscribe({ "register", descriptor }, function(name, run, where, attrs)
      self:attach({
        descriptor = descriptor,
        attributes = attrs or {},
        name = name,
        run = run,
        trace = where,
        children = {},
        hooks = {},
      })
    end)
  end

  local public_name = alias or descriptor
  local function declare(name, run)
    if run == nil and type(name) == "function" then
      name, run = alias, name
    elseif run == nil then
      run = attributes and attributes.default_fn
    end
    if not declaring[self.current.descriptor] then
      error("'" .. public_name .. "' not supported inside current context block", 2)
    end
    local where
    if self.current.parent then
      where = trace.capture(2, name)
    end
    local function publish(fn)
      self:publish({ "register", descriptor }, name, fn, where, attributes)
    end
    if run then
      publish(run)
    else
      return publish
    end
  end
  self.api[public_name] = declare
  return declare
end

trace.mark_internal()

return core
