--- prom.gate: the sequential gate -- a family of checks (tenants × checks),
-- old against new, judged again and again on growing samples until each
-- passes, one fails, or the deadline comes.
--
--   local gate = require "prom.gate"
--   local outcome = gate.run {
--     members = { { scope = "shop", check = samples.check("latency_p50"), margin = 0.1,
--                   baseline = { prom = p_old, vars = {...} }, candidate = { prom = p_new, vars = {...} } } },
--     start = t0,             -- samples from here (seconds since the epoch; a member's own start first)
--     first = t0 + 300,       -- the first look (default: now)
--     step = 30, interval = 30, looks = 10, deadline = 600, alpha = 0.05,
--     progress = function(line) ... end,
--   }
--   -- outcome.verdict "pass" | "fail"; outcome.members[i].result, .baseline, .candidate (samples)
--
-- Each look spends its share of alpha (judge.spending), judges every check
-- not yet passed at that share and applies Holm's step-down across them
-- (judge.holm): a fail that survives fails the gate; checks that passed
-- stay passed; the rest hold and are looked at again an interval later.
-- The last look (the planned count, or the deadline) spends what alpha is
-- left, and what is still undecided then fails safe. See
-- docs/modules/judge.md#in-the-stock-recipes.
local judge = require "judge"
local samples = require "prom.samples"
local task = require "task"

local gate = {}

gate.real_clock = { now = os.time, sleep = task.sleep }

--- The clock of a gate over these prom clients: a client's own `clock`
-- (ferry.testing's fake Prometheus has one that moves without waiting;
-- sleeping moves every distinct one), else the real one.
function gate.clock_of(clients)
  local clocks, seen = {}, {}
  for _, p in ipairs(clients) do
    if p.clock and not seen[p.clock] then
      seen[p.clock] = true
      clocks[#clocks + 1] = p.clock
    end
  end
  if #clocks == 0 then return gate.real_clock end
  return {
    now = clocks[1].now,
    sleep = function(seconds) for _, c in ipairs(clocks) do c.sleep(seconds) end end,
  }
end

local function percent(x)
  if x == math.huge then return "unbounded" end
  if x == -math.huge then return "-unbounded" end
  return string.format("%+.0f %%", 100 * x)
end

--- A judge result's change as text: "+4 % [-2 %, +11 %]" or "+0.3 pts [...]".
function gate.change(r)
  if r.estimate == nil then return "no estimate" end
  local fmt = percent
  if r.units == "points" then
    fmt = function(x)
      if math.abs(x) == math.huge then return x > 0 and "unbounded" or "-unbounded" end
      return string.format("%+.2f pts", x)
    end
  elseif r.units == "absolute" then
    fmt = function(x)
      if math.abs(x) == math.huge then return x > 0 and "unbounded" or "-unbounded" end
      return string.format("%+.4g", x)
    end
  end
  return string.format("%s [%s, %s]", fmt(r.estimate), fmt(r.ci.low), fmt(r.ci.high))
end

local function counted(n)
  return math.type(n) == "integer" and tostring(n) or string.format("%.0f", n)
end

--- The progress line of one member's result at a look.
function gate.line(m, r)
  local what = m.check.kind == "proportion" and "requests" or "samples"
  return string.format("tenant %s %s: %s, %s, %s vs %s %s; look %d of %d", m.scope, m.check.name, r.verdict,
    gate.change(r), counted(r.n.baseline), counted(r.n.candidate), what, r.look, r.looks)
end

-- Collects each side's new windows up to `now` (aligned to the steps).
local function sample(m, start, step, now)
  start = m.start or start
  local last = m.collected_to or start
  local stop = start + ((now - start) // step) * step
  if stop <= last then return end
  local window = { start = last, stop = stop, step = step }
  local both = task.all {
    function() return samples.collect(m.baseline.prom, m.check, m.baseline.vars, window) end,
    function() return samples.collect(m.candidate.prom, m.check, m.candidate.vars, window) end,
  }
  samples.append(m.baseline_samples, both[1])
  samples.append(m.candidate_samples, both[2])
  m.collected_to = stop
end

local function judged(m, alpha)
  return judge.compare(m.check.kind, samples.judged(m.check, m.baseline_samples),
    samples.judged(m.check, m.candidate_samples),
    { alpha = alpha, margin = m.margin, min_samples = m.min_samples, direction = m.direction })
end

-- One look: judges the open members at `alpha`, Holm across them. Returns
-- whether any failed.
local function look(open, alpha, index, looks, final)
  local results = {}
  for i, m in ipairs(open) do results[i] = judged(m, alpha) end
  local adjusted = judge.holm(results, alpha)
  local failed = false
  for i, m in ipairs(open) do
    local r = adjusted[i]
    r.look, r.looks, r.alpha = index, looks, alpha
    if final and (r.verdict == "inconclusive" or r.verdict == "no_data") then
      r.held, r.failed_safe = r.verdict, true
      r.reason = string.format("still %s at the last look (%d of %d): fails safe; %s", r.verdict, index, looks,
        r.reason)
    end
    m.result = r
    if r.verdict == "pass" then m.decided = true end
    if r.verdict == "fail" or r.failed_safe then failed = true end
  end
  return failed
end

local function check_options(o)
  for _, name in ipairs { "start", "step", "interval", "looks", "deadline", "alpha" } do
    if type(o[name]) ~= "number" then error("gate.run needs " .. name .. " (a number)", 3) end
  end
  if o.step <= 0 or o.interval <= 0 then error("gate.run: step and interval must be positive", 3) end
  if type(o.members) ~= "table" or #o.members == 0 then error("gate.run needs members (a non-empty list)", 3) end
end

--- Runs the gate; see the header. Returns {verdict = "pass" | "fail",
-- looks = n, members}: each member with result (the judge's, with look,
-- looks, alpha, held and failed_safe when it failed safe),
-- baseline_samples and candidate_samples (see prom.samples.collect).
function gate.run(o)
  check_options(o)
  local clients = {}
  for _, m in ipairs(o.members) do
    clients[#clients + 1], clients[#clients + 2] = m.baseline.prom, m.candidate.prom
    m.baseline_samples, m.candidate_samples = { times = {} }, { times = {} }
    m.collected_to, m.decided, m.result = nil, false, nil
  end
  local clock = o.clock or gate.clock_of(clients)
  local progress = o.progress or function() end
  local first = o.first or clock.now()
  if clock.now() < first then clock.sleep(first - clock.now()) end
  local ends = clock.now() + o.deadline
  local schedule = judge.spending(o.spending or "obrien_fleming", o.alpha, o.looks)
  local spent = 0
  for index = 1, o.looks do
    local now = clock.now()
    local final = index == o.looks or now + o.interval > ends
    local alpha = math.max(final and (o.alpha - spent) or schedule[index], 1e-300)
    spent = spent + alpha
    local open = {}
    for _, m in ipairs(o.members) do
      if not m.decided then
        sample(m, o.start, o.step, now)
        open[#open + 1] = m
      end
    end
    local failed = look(open, alpha, index, o.looks, final)
    for _, m in ipairs(open) do
      if m.result.verdict ~= "pass" then progress(gate.line(m, m.result)) end
    end
    local all_passed = true
    for _, m in ipairs(o.members) do all_passed = all_passed and m.decided end
    if failed or all_passed then
      return { verdict = failed and "fail" or "pass", looks = index, members = o.members }
    end
    clock.sleep(o.interval)
  end
  error("unreachable: the last look always decides")
end

return gate
