--- ferry.testing.promql: the part of PromQL recipes use, evaluated the way
-- Prometheus evaluates it, over series held in memory.
--
-- Supported: number and string literals; instant selectors with =, !=,
-- =~, !~ matchers and `offset`; range selectors; rate, irate, increase,
-- delta, idelta, the *_over_time functions, abs, ceil, floor, round, exp,
-- ln, sqrt, clamp, clamp_min, clamp_max, histogram_quantile, scalar,
-- vector, time, timestamp, absent; sum, avg, min, max, count, stddev,
-- stdvar, group, topk, bottomk, quantile with `by`/`without`; arithmetic,
-- comparison (with `bool`) and set operators (and, or, unless) between
-- scalars and vectors, with on()/ignoring() one-to-one matching. Anything
-- else is a parse error saying it is not supported.
local promql = {}

local LOOKBACK = 300 -- seconds an instant selector looks back (Prometheus' 5m)

-- Lexer ----------------------------------------------------------------

local function lex(text)
  local tokens, i = {}, 1
  local function push(kind, value, at) tokens[#tokens + 1] = { kind = kind, value = value, at = at } end
  while i <= #text do
    local c = text:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == "#" then
      i = (text:find("\n", i, true) or #text) + 1
    elseif text:match("^%d+[smhdwy]", i) and text:match("^%d+%a*", i):match("^[%dsmhdwy]+$")
        and not text:match("^%d+e[%-+]?%d", i) then
      local d = text:match("^[%dsmhdwy]+", i)
      push("duration", d, i)
      i = i + #d
    elseif text:match("^%d", i) or text:match("^%.%d", i) then
      local n = text:match("^0[xX]%x+", i) or text:match("^%d*%.?%d+[eE][%-+]?%d+", i)
        or text:match("^%d*%.?%d*", i)
      push("number", tonumber(n), i)
      i = i + #n
    elseif c == '"' or c == "'" or c == "`" then
      local j, out = i + 1, {}
      while j <= #text and text:sub(j, j) ~= c do
        local ch = text:sub(j, j)
        if ch == "\\" and c ~= "`" then
          local nx = text:sub(j + 1, j + 1)
          local map = { n = "\n", t = "\t", ["\\"] = "\\", ['"'] = '"', ["'"] = "'" }
          out[#out + 1] = map[nx] or ("\\" .. nx)
          j = j + 2
        else
          out[#out + 1] = ch
          j = j + 1
        end
      end
      if j > #text then error({ promql = true, message = "unterminated quoted string", at = i }) end
      push("string", table.concat(out), i)
      i = j + 1
    elseif text:match("^[%a_:][%w_:]*", i) then
      local w = text:match("^[%a_:][%w_:]*", i)
      push("ident", w, i)
      i = i + #w
    else
      local op = text:match("^=~", i) or text:match("^!~", i) or text:match("^!=", i) or text:match("^==", i)
        or text:match("^>=", i) or text:match("^<=", i)
      if op then
        push("op", op, i)
        i = i + 2
      elseif ("+-*/%^<>=(){}[],:@"):find(c, 1, true) then
        push("op", c, i)
        i = i + 1
      else
        error({ promql = true, message = string.format("unexpected character: '%s'", c), at = i })
      end
    end
  end
  push("eof", nil, #text + 1)
  return tokens
end

local UNITS = { s = 1, m = 60, h = 3600, d = 86400, w = 604800, y = 31536000 }

function promql.duration(text)
  local total = 0
  for n, u in tostring(text):gmatch("(%d+)(%a+)") do
    if not UNITS[u] then return nil end
    total = total + tonumber(n) * UNITS[u]
  end
  return total
end

-- Parser ---------------------------------------------------------------

local AGGREGATORS = { sum = true, avg = true, min = true, max = true, count = true, stddev = true, stdvar = true,
                      group = true, topk = true, bottomk = true, quantile = true }

local PRECEDENCE = {
  ["or"] = 1, ["and"] = 2, ["unless"] = 2,
  ["=="] = 3, ["!="] = 3, ["<"] = 3, [">"] = 3, ["<="] = 3, [">="] = 3,
  ["+"] = 4, ["-"] = 4, ["*"] = 5, ["/"] = 5, ["%"] = 5, ["atan2"] = 5, ["^"] = 6,
}

local function parser(text)
  local tokens = lex(text)
  local pos = 1
  local p = {}

  local function peek(k) return tokens[pos + (k or 0)] end
  local function fail(message, token)
    error({ promql = true, message = message, at = (token or peek()).at })
  end
  local function take() pos = pos + 1 return tokens[pos - 1] end
  local function accept(kind, value)
    local t = peek()
    if t.kind == kind and (value == nil or t.value == value) then return take() end
  end
  local function expect(kind, value, what)
    local t = accept(kind, value)
    if not t then
      local got = peek()
      fail(string.format("unexpected %s, expected %s", got.kind == "eof" and "end of input"
        or string.format("%q", tostring(got.value)), what or tostring(value or kind)))
    end
    return t
  end

  local function label_list()
    expect("op", "(", '"("')
    local labels = {}
    if not accept("op", ")") then
      repeat
        labels[#labels + 1] = expect("ident", nil, "label").value
      until not accept("op", ",")
      expect("op", ")", '")"')
    end
    return labels
  end

  local function matchers()
    local list = {}
    expect("op", "{")
    if accept("op", "}") then return list end
    repeat
      if peek().kind == "op" and peek().value == "}" then break end
      local name = expect("ident", nil, "label name").value
      local op = take()
      if op.kind ~= "op" or not (op.value == "=" or op.value == "!=" or op.value == "=~" or op.value == "!~") then
        fail("unexpected " .. tostring(op.value) .. " in label matching, expected one of =, !=, =~, !~", op)
      end
      local value = expect("string", nil, "label value").value
      list[#list + 1] = { name = name, op = op.value, value = value }
    until not accept("op", ",")
    expect("op", "}", '"}"')
    return list
  end

  local function postfix(node)
    while true do
      if accept("op", "[") then
        local d = expect("duration", nil, "duration")
        if accept("op", ":") then
          fail("subqueries are not supported by the fake")
        end
        expect("op", "]", '"]"')
        if node.type ~= "selector" then fail("ranges only allowed for vector selectors") end
        node = { type = "range", selector = node, range = promql.duration(d.value) }
      elseif peek().kind == "ident" and peek().value == "offset" then
        take()
        local negative = accept("op", "-")
        local d = expect("duration", nil, "duration")
        local target = node.type == "range" and node.selector or node
        target.offset = promql.duration(d.value) * (negative and -1 or 1)
      else
        return node
      end
    end
  end

  local expression

  local function primary()
    local t = peek()
    if accept("op", "(") then
      local inner = expression(0)
      expect("op", ")", '")"')
      return postfix({ type = "paren", expr = inner })
    elseif t.kind == "number" then
      take()
      return { type = "number", value = t.value }
    elseif t.kind == "duration" then
      take()
      return { type = "number", value = promql.duration(t.value) }
    elseif t.kind == "string" then
      take()
      return { type = "string", value = t.value }
    elseif t.kind == "op" and (t.value == "-" or t.value == "+") then
      take()
      local operand = expression(PRECEDENCE["*"])
      if t.value == "-" then return { type = "unary", expr = operand } end
      return operand
    elseif t.kind == "op" and t.value == "{" then
      return postfix({ type = "selector", matchers = matchers() })
    elseif t.kind == "ident" then
      take()
      local name = t.value
      if AGGREGATORS[name] then
        local grouping, without
        if peek().kind == "ident" and (peek().value == "by" or peek().value == "without") then
          without = take().value == "without"
          grouping = label_list()
        end
        expect("op", "(", '"("')
        local args = {}
        repeat
          args[#args + 1] = expression(0)
        until not accept("op", ",")
        expect("op", ")", '")"')
        if not grouping and peek().kind == "ident" and (peek().value == "by" or peek().value == "without") then
          without = take().value == "without"
          grouping = label_list()
        end
        local param
        if name == "topk" or name == "bottomk" or name == "quantile" then
          param = table.remove(args, 1)
        end
        if #args ~= 1 then fail("wrong number of arguments for aggregate expression " .. name) end
        return { type = "aggregate", op = name, expr = args[1], param = param, grouping = grouping or {},
                 without = without or false }
      end
      if peek().kind == "op" and peek().value == "(" then
        take()
        local args = {}
        if not accept("op", ")") then
          repeat
            args[#args + 1] = expression(0)
          until not accept("op", ",")
          expect("op", ")", '")"')
        end
        return postfix({ type = "call", name = name, args = args })
      end
      local node = { type = "selector", name = name, matchers = {} }
      if peek().kind == "op" and peek().value == "{" then node.matchers = matchers() end
      return postfix(node)
    end
    fail(t.kind == "eof" and "unexpected end of input" or string.format("unexpected %q", tostring(t.value)))
  end

  local function binary_op()
    local t = peek()
    if t.kind == "op" and PRECEDENCE[t.value] then return t.value end
    if t.kind == "ident" and (t.value == "and" or t.value == "or" or t.value == "unless" or t.value == "atan2") then
      return t.value
    end
  end

  function expression(min)
    local left = primary()
    while true do
      local op = binary_op()
      if not op or PRECEDENCE[op] <= min then break end
      take()
      local node = { type = "binary", op = op, lhs = left }
      if peek().kind == "ident" and peek().value == "bool" then
        take()
        node.bool = true
      end
      if peek().kind == "ident" and (peek().value == "on" or peek().value == "ignoring") then
        node.matching = take().value
        node.labels = label_list()
      end
      if peek().kind == "ident" and (peek().value == "group_left" or peek().value == "group_right") then
        fail("group_left and group_right are not supported by the fake")
      end
      -- ^ is right-associative
      node.rhs = expression(op == "^" and PRECEDENCE[op] - 1 or PRECEDENCE[op])
      left = node
    end
    return left
  end

  function p.parse()
    local tree = expression(0)
    if peek().kind ~= "eof" then
      fail(string.format("unexpected %q after the expression", tostring(peek().value)))
    end
    return tree
  end
  return p
end

-- Argument and result types of the functions ("scalar?" is optional).
local FUNCTIONS = {
  rate = { { "matrix" }, "vector" }, irate = { { "matrix" }, "vector" }, increase = { { "matrix" }, "vector" },
  delta = { { "matrix" }, "vector" }, idelta = { { "matrix" }, "vector" },
  avg_over_time = { { "matrix" }, "vector" }, sum_over_time = { { "matrix" }, "vector" },
  min_over_time = { { "matrix" }, "vector" }, max_over_time = { { "matrix" }, "vector" },
  count_over_time = { { "matrix" }, "vector" }, last_over_time = { { "matrix" }, "vector" },
  present_over_time = { { "matrix" }, "vector" },
  abs = { { "vector" }, "vector" }, ceil = { { "vector" }, "vector" }, floor = { { "vector" }, "vector" },
  exp = { { "vector" }, "vector" }, sqrt = { { "vector" }, "vector" }, ln = { { "vector" }, "vector" },
  log2 = { { "vector" }, "vector" }, log10 = { { "vector" }, "vector" }, sgn = { { "vector" }, "vector" },
  round = { { "vector", "scalar?" }, "vector" }, clamp = { { "vector", "scalar", "scalar" }, "vector" },
  clamp_min = { { "vector", "scalar" }, "vector" }, clamp_max = { { "vector", "scalar" }, "vector" },
  histogram_quantile = { { "scalar", "vector" }, "vector" }, scalar = { { "vector" }, "scalar" },
  vector = { { "scalar" }, "vector" }, time = { {}, "scalar" }, timestamp = { { "vector" }, "vector" },
  absent = { { "vector" }, "vector" },
}

local TYPE_NAMES = { scalar = "scalar", vector = "instant vector", matrix = "range vector", string = "string" }

-- The static type of a node, raising Prometheus' parse-time errors.
local function check(node)
  local function fail(message) error({ promql = true, message = message, at = 1 }) end
  local t = node.type
  if t == "number" then return "scalar" end
  if t == "string" then return "string" end
  if t == "selector" then
    local any = node.name ~= nil
    for _, m in ipairs(node.matchers) do
      if not (m.value == "" and (m.op == "=" or m.op == "=~")) then any = true end
    end
    if not any then fail("vector selector must contain at least one non-empty matcher") end
    return "vector"
  end
  if t == "range" then check(node.selector) return "matrix" end
  if t == "paren" then return check(node.expr) end
  if t == "unary" then
    local inner = check(node.expr)
    if inner ~= "scalar" and inner ~= "vector" then fail("unary expression only allowed on expressions of type scalar "
      .. "or instant vector, got " .. TYPE_NAMES[inner]) end
    return inner
  end
  if t == "call" then
    local signature = FUNCTIONS[node.name]
    if not signature then fail(string.format('unknown function with name "%s"', node.name)) end
    local wanted = signature[1]
    local required = 0
    for _, w in ipairs(wanted) do if not w:find("?", 1, true) then required = required + 1 end end
    if #node.args < required or #node.args > #wanted then
      fail(string.format('expected %d argument(s) in call to "%s", got %d', required, node.name, #node.args))
    end
    for i, arg in ipairs(node.args) do
      local want = wanted[i]:gsub("%?", "")
      local got = check(arg)
      if got ~= want then
        fail(string.format('expected type %s in call to function "%s", got %s', TYPE_NAMES[want], node.name,
          TYPE_NAMES[got]))
      end
    end
    return signature[2]
  end
  if t == "aggregate" then
    if check(node.expr) ~= "vector" then
      fail("expected type instant vector in aggregation expression, got " .. TYPE_NAMES[check(node.expr)])
    end
    if node.param then check(node.param) end
    return "vector"
  end
  if t == "binary" then
    local l, r = check(node.lhs), check(node.rhs)
    for _, side in ipairs({ l, r }) do
      if side ~= "scalar" and side ~= "vector" then
        fail("binary expression must contain only scalar and instant vector types")
      end
    end
    local set_op = node.op == "and" or node.op == "or" or node.op == "unless"
    if set_op and (l ~= "vector" or r ~= "vector") then
      fail("set operator \"" .. node.op .. "\" not allowed in binary scalar expression")
    end
    local compare = ({ ["=="] = true, ["!="] = true, [">"] = true, ["<"] = true, [">="] = true, ["<="] = true })[node.op]
    if l == "scalar" and r == "scalar" then
      if compare and not node.bool then fail("comparisons between scalars must use BOOL modifier") end
      return "scalar"
    end
    return "vector"
  end
  return "vector"
end

--- Parses an expression; returns the tree, or nil and a message.
function promql.parse(text)
  local ok, result = pcall(function()
    local tree = parser(text).parse()
    check(tree)
    return tree
  end)
  if ok then return result end
  if type(result) == "table" and result.promql then
    return nil, string.format("1:%d: parse error: %s", result.at or 1, result.message)
  end
  error(result, 0)
end

-- Evaluation -----------------------------------------------------------

local function copy_labels(labels, drop_name)
  local out = {}
  for k, v in pairs(labels) do
    if not (drop_name and k == "__name__") then out[k] = v end
  end
  return out
end

local function signature(labels, names, include)
  local keys = {}
  if include then
    for _, n in ipairs(names) do keys[#keys + 1] = n end
  else
    local skip = { __name__ = true }
    for _, n in ipairs(names or {}) do skip[n] = true end
    for k in pairs(labels) do
      if not skip[k] then keys[#keys + 1] = k end
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k .. "=" .. tostring(labels[k] or "")
  end
  return table.concat(parts, "\0")
end

local function match_regex(pattern, value)
  -- PromQL regexes are anchored RE2; the common subset maps onto Lua
  -- patterns: alternation of plain alternatives, ., .*, .+, [..], \d
  local alternatives = {}
  local depth, start = 0, 1
  for i = 1, #pattern do
    local c = pattern:sub(i, i)
    if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1
    elseif c == "|" and depth == 0 then
      alternatives[#alternatives + 1] = pattern:sub(start, i - 1)
      start = i + 1
    end
  end
  alternatives[#alternatives + 1] = pattern:sub(start)
  for _, alt in ipairs(alternatives) do
    if alt:find("[()|]") then
      local inner = alt:match("^%((.*)%)$")
      if inner and match_regex(inner, value) then return true end
    else
      local lua = alt:gsub("%%", "%%%%"):gsub("%-", "%%-"):gsub("\\d", "%%d"):gsub("\\%.", "%%.")
        :gsub("%.([%*%+%?])", ".%1")
      if value:match("^" .. lua .. "$") then return true end
    end
  end
  return false
end

local function selector_matches(node, labels)
  if node.name and labels.__name__ ~= node.name then return false end
  for _, m in ipairs(node.matchers) do
    local v = labels[m.name] or ""
    if m.op == "=" and v ~= m.value then return false end
    if m.op == "!=" and v == m.value then return false end
    if m.op == "=~" and not match_regex(m.value, v) then return false end
    if m.op == "!~" and match_regex(m.value, v) then return false end
  end
  return true
end

local function is_counter_reset(prev, cur) return cur < prev end

-- Prometheus' extrapolated rate/increase/delta.
local function extrapolated(samples, range_start, range_end, is_counter, is_rate)
  if #samples < 2 then return nil end
  local first, last = samples[1], samples[#samples]
  local result = last[2] - first[2]
  if is_counter then
    local prev = first[2]
    for i = 2, #samples do
      local v = samples[i][2]
      if is_counter_reset(prev, v) then result = result + prev end
      prev = v
    end
  end
  local duration_to_start = first[1] - range_start
  local duration_to_end = range_end - last[1]
  local sampled = last[1] - first[1]
  local average = sampled / (#samples - 1)
  if is_counter and result > 0 and first[2] >= 0 then
    local to_zero = sampled * (first[2] / result)
    if to_zero < duration_to_start then duration_to_start = to_zero end
  end
  local threshold = average * 1.1
  local interval = sampled
  interval = interval + (duration_to_start < threshold and duration_to_start or average / 2)
  interval = interval + (duration_to_end < threshold and duration_to_end or average / 2)
  -- in Prometheus' order of operations, so floats round the same way
  local factor = interval / sampled
  if is_rate then factor = factor / (range_end - range_start) end
  return result * factor
end

local OVER_TIME = {
  avg_over_time = function(vs) local s = 0 for _, v in ipairs(vs) do s = s + v end return s / #vs end,
  sum_over_time = function(vs) local s = 0 for _, v in ipairs(vs) do s = s + v end return s end,
  min_over_time = function(vs) local m = vs[1] for _, v in ipairs(vs) do if v < m then m = v end end return m end,
  max_over_time = function(vs) local m = vs[1] for _, v in ipairs(vs) do if v > m then m = v end end return m end,
  count_over_time = function(vs) return #vs end,
  last_over_time = function(vs) return vs[#vs] end,
  present_over_time = function() return 1 end,
}

local MATH = {
  abs = math.abs, ceil = math.ceil, floor = math.floor, exp = math.exp, sqrt = math.sqrt,
  ln = math.log, log2 = function(x) return math.log(x, 2) end, log10 = function(x) return math.log(x, 10) end,
  sgn = function(x) return x > 0 and 1 or (x < 0 and -1 or 0) end,
}

local function bucket_quantile(q, buckets)
  if q < 0 then return -math.huge end
  if q > 1 then return math.huge end
  table.sort(buckets, function(a, b) return a.le < b.le end)
  if #buckets < 2 or buckets[#buckets].le ~= math.huge then return 0 / 0 end
  -- cumulative counts must not decrease
  for i = 2, #buckets do
    if buckets[i].count < buckets[i - 1].count then buckets[i].count = buckets[i - 1].count end
  end
  local observations = buckets[#buckets].count
  if observations == 0 then return 0 / 0 end
  local rank = q * observations
  local b = 1
  while b < #buckets and buckets[b].count < rank do b = b + 1 end
  if b == #buckets then return buckets[#buckets - 1].le end
  if b == 1 and buckets[1].le <= 0 then return buckets[1].le end
  local bucket_start, bucket_end = 0, buckets[b].le
  local count = buckets[b].count
  if b > 1 then
    bucket_start = buckets[b - 1].le
    count = count - buckets[b - 1].count
    rank = rank - buckets[b - 1].count
  end
  return bucket_start + (bucket_end - bucket_start) * (rank / count)
end

--- Evaluates a parsed expression at time `t` over `store` (an object with
-- :samples(node, from, to) -> list of {labels, samples}). Returns a value:
-- {type = "scalar", value}, {type = "string", value} or
-- {type = "vector", result = {{metric, value}...}}.
function promql.eval(node, t, store)
  local function fail(message) error({ promql = true, message = message }) end

  local function vector(list) return { type = "vector", result = list } end
  local function scalar(v) return { type = "scalar", value = v } end

  local eval

  local function instant(sel, at)
    local offset = sel.offset or 0
    local out = {}
    for _, series in ipairs(store:select(function(labels) return selector_matches(sel, labels) end)) do
      local latest
      for _, s in ipairs(series:samples(at - offset - LOOKBACK, at - offset)) do
        if not (store.left_open and s[1] == at - offset - LOOKBACK) then latest = s end
      end
      if latest then
        out[#out + 1] = { metric = copy_labels(series.labels), value = latest[2] }
      end
    end
    return out
  end

  local function ranged(node, at)
    local sel = node.selector
    local offset = sel.offset or 0
    local out = {}
    local from, to = at - offset - node.range, at - offset
    for _, series in ipairs(store:select(function(labels) return selector_matches(sel, labels) end)) do
      local samples = {}
      for _, s in ipairs(series:samples(from, to)) do
        if not (store.left_open and s[1] == from) then samples[#samples + 1] = s end
      end
      if #samples > 0 then
        out[#out + 1] = { metric = copy_labels(series.labels), samples = samples, from = from, to = to }
      end
    end
    return out
  end

  local function as_vector(v, what)
    if v.type ~= "vector" then fail("expected type instant vector in " .. what .. ", got " .. v.type) end
    return v.result
  end

  local function as_scalar(v, what)
    if v.type ~= "scalar" then fail("expected type scalar in " .. what .. ", got " .. v.type) end
    return v.value
  end

  local function call(node, at)
    local name, args = node.name, node.args
    local function range_arg(i)
      local a = args[i]
      if not a or a.type ~= "range" then fail("expected type range vector in call to function \"" .. name .. "\"") end
      return ranged(a, at)
    end
    if name == "rate" or name == "increase" or name == "delta" then
      local out = {}
      for _, s in ipairs(range_arg(1)) do
        local v = extrapolated(s.samples, s.from, s.to, name ~= "delta", name == "rate")
        if v then out[#out + 1] = { metric = copy_labels(s.metric, true), value = v } end
      end
      return vector(out)
    elseif name == "irate" or name == "idelta" then
      local out = {}
      for _, s in ipairs(range_arg(1)) do
        local n = #s.samples
        if n >= 2 then
          local a, b = s.samples[n - 1], s.samples[n]
          local v = b[2] - a[2]
          if name == "irate" then
            if b[2] < a[2] then v = b[2] end
            v = v / (b[1] - a[1])
          end
          out[#out + 1] = { metric = copy_labels(s.metric, true), value = v }
        end
      end
      return vector(out)
    elseif OVER_TIME[name] then
      local out = {}
      for _, s in ipairs(range_arg(1)) do
        local vs = {}
        for _, sample in ipairs(s.samples) do vs[#vs + 1] = sample[2] end
        out[#out + 1] = { metric = copy_labels(s.metric, name ~= "last_over_time"), value = OVER_TIME[name](vs) }
      end
      return vector(out)
    elseif MATH[name] or name == "round" or name == "clamp" or name == "clamp_min" or name == "clamp_max" then
      local input = as_vector(eval(args[1], at), "call to function \"" .. name .. "\"")
      local out = {}
      for _, e in ipairs(input) do
        local v = e.value
        if MATH[name] then
          v = MATH[name](v)
        elseif name == "round" then
          local to = args[2] and as_scalar(eval(args[2], at), "round") or 1
          v = math.floor(v / to + 0.5) * to
        elseif name == "clamp" then
          v = math.max(as_scalar(eval(args[2], at), "clamp"), math.min(as_scalar(eval(args[3], at), "clamp"), v))
        elseif name == "clamp_min" then
          v = math.max(as_scalar(eval(args[2], at), "clamp_min"), v)
        else
          v = math.min(as_scalar(eval(args[2], at), "clamp_max"), v)
        end
        out[#out + 1] = { metric = copy_labels(e.metric, true), value = v }
      end
      return vector(out)
    elseif name == "histogram_quantile" then
      local q = as_scalar(eval(args[1], at), "histogram_quantile")
      local groups, order = {}, {}
      for _, e in ipairs(as_vector(eval(args[2], at), "histogram_quantile")) do
        local le = tonumber(e.metric.le == "+Inf" and math.huge or e.metric.le)
        if le then
          local labels = copy_labels(e.metric, true)
          labels.le = nil
          local key = signature(labels, {}, false)
          if not groups[key] then
            groups[key] = { metric = labels, buckets = {} }
            order[#order + 1] = key
          end
          table.insert(groups[key].buckets, { le = le, count = e.value })
        end
      end
      local out = {}
      for _, key in ipairs(order) do
        out[#out + 1] = { metric = groups[key].metric, value = bucket_quantile(q, groups[key].buckets) }
      end
      return vector(out)
    elseif name == "scalar" then
      local v = as_vector(eval(args[1], at), "scalar")
      return scalar(#v == 1 and v[1].value or 0 / 0)
    elseif name == "vector" then
      return vector({ { metric = {}, value = as_scalar(eval(args[1], at), "vector") } })
    elseif name == "time" then
      return scalar(at)
    elseif name == "timestamp" then
      local out = {}
      for _, e in ipairs(as_vector(eval(args[1], at), "timestamp")) do
        out[#out + 1] = { metric = copy_labels(e.metric, true), value = at }
      end
      return vector(out)
    elseif name == "absent" then
      local v = as_vector(eval(args[1], at), "absent")
      if #v > 0 then return vector({}) end
      local labels = {}
      local sel = args[1]
      if sel.type == "selector" then
        for _, m in ipairs(sel.matchers) do
          if m.op == "=" then labels[m.name] = m.value end
        end
      end
      return vector({ { metric = labels, value = 1 } })
    end
    fail(string.format('unknown function with name "%s"', name))
  end

  local function aggregate(node, at)
    local input = as_vector(eval(node.expr, at), "aggregation")
    local param = node.param and eval(node.param, at)
    local groups, order = {}, {}
    for _, e in ipairs(input) do
      local labels
      if node.without then
        labels = copy_labels(e.metric, true)
        for _, l in ipairs(node.grouping) do labels[l] = nil end
      else
        labels = {}
        for _, l in ipairs(node.grouping) do labels[l] = e.metric[l] end
      end
      local key = signature(labels, {}, false)
      if not groups[key] then
        groups[key] = { metric = labels, values = {}, elements = {} }
        order[#order + 1] = key
      end
      table.insert(groups[key].values, e.value)
      table.insert(groups[key].elements, e)
    end
    local out = {}
    for _, key in ipairs(order) do
      local g = groups[key]
      local vs = g.values
      local op = node.op
      if op == "topk" or op == "bottomk" then
        local k = math.floor(as_scalar(param, op))
        table.sort(g.elements, function(a, b)
          if op == "topk" then return a.value > b.value end
          return a.value < b.value
        end)
        for i = 1, math.min(k, #g.elements) do
          out[#out + 1] = { metric = copy_labels(g.elements[i].metric), value = g.elements[i].value }
        end
      else
        local v
        if op == "sum" then
          v = 0 for _, x in ipairs(vs) do v = v + x end
        elseif op == "avg" then
          v = 0 for _, x in ipairs(vs) do v = v + x end
          v = v / #vs
        elseif op == "min" then
          v = vs[1] for _, x in ipairs(vs) do if x < v then v = x end end
        elseif op == "max" then
          v = vs[1] for _, x in ipairs(vs) do if x > v then v = x end end
        elseif op == "count" then
          v = #vs
        elseif op == "group" then
          v = 1
        elseif op == "stddev" or op == "stdvar" then
          local mean = 0 for _, x in ipairs(vs) do mean = mean + x end
          mean = mean / #vs
          local var = 0 for _, x in ipairs(vs) do var = var + (x - mean) ^ 2 end
          var = var / #vs
          v = op == "stddev" and math.sqrt(var) or var
        elseif op == "quantile" then
          local q = as_scalar(param, "quantile")
          table.sort(vs)
          local rank = q * (#vs - 1)
          local lower = math.max(0, math.floor(rank))
          local upper = math.min(#vs - 1, lower + 1)
          local weight = rank - math.floor(rank)
          v = vs[lower + 1] * (1 - weight) + vs[upper + 1] * weight
        end
        out[#out + 1] = { metric = g.metric, value = v }
      end
    end
    return vector(out)
  end

  local ARITH = {
    ["+"] = function(a, b) return a + b end, ["-"] = function(a, b) return a - b end,
    ["*"] = function(a, b) return a * b end, ["/"] = function(a, b) return a / b end,
    ["%"] = function(a, b) return math.fmod(a, b) end, ["^"] = function(a, b) return a ^ b end,
    atan2 = function(a, b) return math.atan(a, b) end,
  }
  local COMPARE = {
    ["=="] = function(a, b) return a == b end, ["!="] = function(a, b) return a ~= b end,
    [">"] = function(a, b) return a > b end, ["<"] = function(a, b) return a < b end,
    [">="] = function(a, b) return a >= b end, ["<="] = function(a, b) return a <= b end,
  }

  local function binary(node, at)
    local op = node.op
    local lhs, rhs = eval(node.lhs, at), eval(node.rhs, at)
    if op == "and" or op == "or" or op == "unless" then
      local l, r = as_vector(lhs, op), as_vector(rhs, op)
      local include = node.matching == "on"
      local function sig(e) return signature(e.metric, node.labels, include) end
      local rset = {}
      for _, e in ipairs(r) do rset[sig(e)] = true end
      local out = {}
      if op == "and" then
        for _, e in ipairs(l) do if rset[sig(e)] then out[#out + 1] = e end end
      elseif op == "unless" then
        for _, e in ipairs(l) do if not rset[sig(e)] then out[#out + 1] = e end end
      else
        local lset = {}
        for _, e in ipairs(l) do
          out[#out + 1] = e
          lset[sig(e)] = true
        end
        for _, e in ipairs(r) do if not lset[sig(e)] then out[#out + 1] = e end end
      end
      return vector(out)
    end
    local fn = ARITH[op] or COMPARE[op]
    local is_compare = COMPARE[op] ~= nil
    if lhs.type == "scalar" and rhs.type == "scalar" then
      if is_compare then
        if not node.bool then fail("comparisons between scalars must use BOOL modifier") end
        return scalar(fn(lhs.value, rhs.value) and 1 or 0)
      end
      return scalar(fn(lhs.value, rhs.value))
    end
    local function element(metric, a, b, keep)
      if is_compare then
        local holds = fn(a, b)
        if node.bool then return { metric = copy_labels(metric, true), value = holds and 1 or 0 } end
        if holds then return { metric = copy_labels(metric), value = keep } end
        return nil
      end
      return { metric = copy_labels(metric, true), value = fn(a, b) }
    end
    local out = {}
    if lhs.type == "vector" and rhs.type == "scalar" then
      for _, e in ipairs(lhs.result) do out[#out + 1] = element(e.metric, e.value, rhs.value, e.value) end
      return vector(out)
    elseif lhs.type == "scalar" and rhs.type == "vector" then
      for _, e in ipairs(rhs.result) do out[#out + 1] = element(e.metric, lhs.value, e.value, e.value) end
      return vector(out)
    elseif lhs.type == "vector" and rhs.type == "vector" then
      local include = node.matching == "on"
      local right = {}
      for _, e in ipairs(rhs.result) do
        local key = signature(e.metric, node.labels, include)
        if right[key] then fail("found duplicate series for the match group on the right hand-side of the operation") end
        right[key] = e
      end
      local matched_left = {}
      for _, e in ipairs(lhs.result) do
        local key = signature(e.metric, node.labels, include)
        local other = right[key]
        if other and matched_left[key] then
          fail("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
        end
        matched_left[key] = true
        if other then
          local result = element(e.metric, e.value, other.value, e.value)
          if result and not is_compare and node.matching then
            local labels = {}
            if include then
              for _, l in ipairs(node.labels) do labels[l] = e.metric[l] end
            else
              labels = copy_labels(e.metric, true)
              for _, l in ipairs(node.labels) do labels[l] = nil end
            end
            result.metric = labels
          end
          out[#out + 1] = result
        end
      end
      return vector(out)
    end
    fail("binary expression must contain only scalar and instant vector types")
  end

  function eval(n, at)
    if n.type == "number" then return scalar(n.value) end
    if n.type == "string" then return { type = "string", value = n.value } end
    if n.type == "paren" then return eval(n.expr, at) end
    if n.type == "unary" then
      local v = eval(n.expr, at)
      if v.type == "scalar" then return scalar(-v.value) end
      local out = {}
      for _, e in ipairs(as_vector(v, "unary expression")) do
        out[#out + 1] = { metric = copy_labels(e.metric, true), value = -e.value }
      end
      return vector(out)
    end
    if n.type == "selector" then return vector(instant(n, at)) end
    if n.type == "range" then
      return { type = "matrix", result = ranged(n, at) }
    end
    if n.type == "call" then return call(n, at) end
    if n.type == "aggregate" then return aggregate(n, at) end
    if n.type == "binary" then return binary(n, at) end
    fail("cannot evaluate " .. tostring(n.type))
  end

  local ok, result = pcall(eval, node, t)
  if ok then return result end
  if type(result) == "table" and result.promql then return nil, result.message end
  error(result, 0)
end

promql.LOOKBACK = LOOKBACK

return promql
