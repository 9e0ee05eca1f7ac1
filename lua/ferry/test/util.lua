-- Helpers the assertions share (the counterpart of luassert.util).

local trace = require "ferry.test.trace"
local sys = require "ferry.sys"

local util = {}

-- Wall-clock seconds with a fraction (busted's gettime): the epoch second
-- ferry started in, advanced by the monotonic clock.
local epoch_offset = os.time() - sys.monotonic()

function util.gettime()
  return epoch_offset + sys.monotonic()
end

-- Shuffles a list in place as busted does (Fisher-Yates driven by
-- math.random after math.randomseed(seed)), so a seed gives busted's order.
function util.shuffle(t, seed)
  if seed then
    math.randomseed(seed)
  end
  local n = #t
  while n >= 2 do
    local k = math.random(n)
    t[n], t[k] = t[k], t[n]
    n = n - 1
  end
  return t
end

-- Sorts blocks by name, unnamed ones first (busted's --sort order).
function util.sort_by_name(elements)
  table.sort(elements, function(a, b)
    if a.name and b.name then
      return a.name < b.name
    end
    return b.name ~= nil
  end)
  return elements
end

-- A seed from /dev/urandom (4 bytes, big-endian), or nil.
function util.urandom()
  local f = io.open("/dev/urandom", "rb")
  if not f then
    return nil
  end
  local s = f:read(4)
  f:close()
  local value = 0
  for i = 1, #s do
    value = value * 256 + s:byte(i)
  end
  return value
end

local arglist_mt = {}

-- An argument list keeps its count in `n`, so trailing nils survive.
function util.make_arglist(...)
  return setmetatable({ n = select("#", ...), ... }, arglist_mt)
end

function util.is_arglist(value)
  return getmetatable(value) == arglist_mt
end

function util.unpack(t, i, j)
  return table.unpack(t, i or 1, j or t.n or #t)
end

-- table.insert/table.remove that keep `n` right when values are nil:
-- tinsert(t, value) appends, tinsert(t, pos, value) shifts up.
function util.tinsert(t, ...)
  local pos, value
  if select("#", ...) < 2 then
    value = ...
  else
    pos, value = ...
  end
  t.n = (t.n or #t) + 1
  if not pos then
    pos = t.n
  elseif pos > t.n then
    t.n = pos
  end
  for i = t.n, pos + 1, -1 do
    t[i] = t[i - 1]
  end
  t[pos] = value
end

function util.tremove(t, pos)
  t.n = t.n or #t
  pos = pos or t.n
  local removed = t[pos]
  if pos > t.n then
    t[pos] = nil
    return removed
  end
  for i = pos, t.n do
    t[i] = t[i + 1]
  end
  t.n = t.n - 1
  return removed
end

function util.callable(value)
  if type(value) == "function" then
    return true
  end
  local mt = debug.getmetatable(value)
  return mt ~= nil and type(rawget(mt, "__call")) == "function"
end

function util.has_tostring(value)
  if type(value) == "string" then
    return true
  end
  local mt = debug.getmetatable(value)
  return mt ~= nil and type(rawget(mt, "__tostring")) == "function"
end

function util.shallowcopy(t)
  if type(t) ~= "table" then
    return t
  end
  local copy = setmetatable({}, getmetatable(t))
  for k, v in next, t do
    copy[k] = v
  end
  return copy
end

function util.pack(...)
  return { n = select("#", ...), ... }
end

-- luassert's name for has_tostring.
function util.hastostring(value)
  return util.has_tostring(value)
end

-- A deep copy keeping metatables (deepmt: copies of them); spies are kept
-- as they are.
function util.deepcopy(t, deepmt, cache)
  if type(t) ~= "table" then
    return t
  end
  local spy = package.loaded["ferry.test.spy"]
  cache = cache or {}
  if cache[t] then
    return cache[t]
  end
  local copy = {}
  cache[t] = copy
  for k, v in next, t do
    copy[k] = (spy and spy.is_spy(v)) and v or util.deepcopy(v, deepmt, cache)
  end
  if deepmt then
    debug.setmetatable(copy, util.deepcopy(debug.getmetatable(t), false, cache))
  else
    debug.setmetatable(copy, debug.getmetatable(t))
  end
  return copy
end

-- What a spy keeps of one call: deep copies of the values (vals) and the
-- values themselves (refs, for match.is_ref).
function util.copyargs(args)
  local match = require "ferry.test.match"
  local spy = require "ferry.test.spy"
  local copy = setmetatable({}, getmetatable(args))
  for k, v in pairs(args) do
    copy[k] = (match.is_matcher(v) or spy.is_spy(v)) and v or util.deepcopy(v)
  end
  return { vals = copy, refs = util.shallowcopy(args) }
end

function util.cleararglist(arglist)
  for i = arglist.n, 1, -1 do
    util.tremove(arglist, i)
  end
  arglist.n = nil
end

-- Whether recorded values (args, refs) match the expected ones (specs):
-- matchers decide where given, deep comparison otherwise.
local function matcharg(args, argrefs, specs)
  local match = require "ferry.test.match"
  for idx, argval in pairs(args) do
    local spec = specs[idx]
    if match.is_matcher(spec) then
      if match.is_ref_matcher(spec) then
        argval = argrefs[idx]
      end
      if not spec(argval) then
        return false
      end
    elseif spec == nil or not util.deepcompare(argval, spec) then
      return false
    end
  end
  for idx, spec in pairs(specs) do
    if args[idx] == nil then
      if not (match.is_matcher(spec) and spec(nil)) then
        return false
      end
    end
  end
  return true
end

-- The last recorded call (or return) matching specs, or nil.
function util.matchargs(invocations, specs)
  for i = #invocations, 1, -1 do
    local call = invocations[i]
    if matcharg(call.vals, call.refs, specs) then
      return call
    end
  end
  return nil
end

-- The first stub.on_call_with entry matching the arguments of a call.
function util.matchoncalls(oncalls, args)
  for _, callspecs in ipairs(oncalls) do
    if matcharg(args, args, callspecs.vals) then
      return callspecs
    end
  end
  return nil
end

-- luassert's helpers for custom assertions that report at a level.
function util.errorlevel(level)
  local _, at = trace.user_frame((level or 1) + 1)
  return at or 1
end

function util.extract_keys(nspace, tokens)
  return require("ferry.test.namespaces").extract_keys(nspace, tokens)
end

-- Keys of a table in a fixed order: the array part first, then numbers,
-- booleans, strings, tables and the rest. Reports and the first difference
-- found by deepcompare must not depend on hash order.
local type_order = { number = 1, boolean = 2, string = 3, table = 4, ["function"] = 5, userdata = 6, thread = 7 }

function util.sorted_keys(t)
  local keys = {}
  for k in next, t do
    keys[#keys + 1] = k
  end
  local length = #t
  local function rank(k)
    if math.type(k) == "integer" and k >= 1 and k <= length then
      return 0
    end
    return type_order[type(k)] or 8
  end
  table.sort(keys, function(a, b)
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then
      return ra < rb
    end
    local ta = type(a)
    if ta == "number" or ta == "string" then
      return a < b
    elseif ta == "boolean" then
      return a and not b
    end
    return false
  end)
  return keys
end

-- Deep comparison as luassert does it (metatables with __eq decide unless
-- ignore_mt; cycles tolerated). On a difference it also returns the path to
-- it, innermost key first ("crumbs"), which the table formatter marks.
function util.deepcompare(t1, t2, ignore_mt, cycles, thresh1, thresh2)
  if type(t1) ~= "table" or type(t2) ~= "table" then
    return t1 == t2
  end
  local mt1, mt2 = debug.getmetatable(t1), debug.getmetatable(t2)
  if mt1 and mt1 == mt2 and mt1.__eq then
    if not ignore_mt then
      return t1 == t2
    end
  elseif rawequal(t1, t2) then
    return true
  end

  cycles = cycles or { {}, {} }
  thresh1, thresh2 = thresh1 or 1, thresh2 or 1
  cycles[1][t1] = cycles[1][t1] or 0
  cycles[2][t2] = cycles[2][t2] or 0
  if cycles[1][t1] == 1 or cycles[2][t2] == 1 then
    thresh1 = cycles[1][t1] + 1
    thresh2 = cycles[2][t2] + 1
  end
  if cycles[1][t1] > thresh1 and cycles[2][t2] > thresh2 then
    return true
  end
  cycles[1][t1] = cycles[1][t1] + 1
  cycles[2][t2] = cycles[2][t2] + 1

  for _, k in ipairs(util.sorted_keys(t1)) do
    local v2 = t2[k]
    if v2 == nil then
      return false, { k }
    end
    local same, crumbs = util.deepcompare(t1[k], v2, nil, cycles, thresh1, thresh2)
    if not same then
      crumbs = crumbs or {}
      crumbs[#crumbs + 1] = k
      return false, crumbs
    end
  end
  for _, k in ipairs(util.sorted_keys(t2)) do
    if t1[k] == nil then
      return false, { k }
    end
  end

  cycles[1][t1] = cycles[1][t1] - 1
  cycles[2][t2] = cycles[2][t2] - 1
  return true
end

trace.mark_internal()

--- True when no two values of list are equal (deep: by util.deepcompare),
-- as luassert's `unique` assertion and matcher decide.
function util.unique(list, deep)
  for k, v in pairs(list) do
    for k2, v2 in pairs(list) do
      if k ~= k2 then
        if deep and util.deepcompare(v, v2, true) then
          return false
        elseif v == v2 then
          return false
        end
      end
    end
  end
  return true
end

return util
