--- judge: is the candidate as good as the baseline, within a margin?
--
-- judge.compare answers with a confidence interval of how much worse the
-- candidate is: "pass" when the whole interval lies below the margin
-- (non-inferiority shown), "fail" when it lies wholly above, "inconclusive"
-- when it spans the margin, "no_data" when a side has too few samples.
-- judge.sequence spends alpha over repeated looks at growing samples, and
-- judge.holm keeps the false fails of a family of checks at alpha.
-- docs/modules/judge.md says why each method was chosen and what it assumes.
local errors = require "ferry.errors"
local normal = require "judge.normal"
local rank = require "judge.rank"
local proportion = require "judge.proportion"

local judge = {}

local DEFAULTS = {
  continuous = { margin = 0.1, min_samples = 10 },
  proportion = { margin = 1, min_samples = 100 },
}

local function invalid(where, message, ...)
  error(errors.new("invalid", where .. ": " .. string.format(message, ...)), 0)
end

local function describe(value)
  if type(value) == "string" then return string.format("%q", value) end
  if type(value) == "table" then return "a table" end
  return tostring(value)
end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- The usable (finite) values of a sample, sorted; NaN and infinities are
-- what Prometheus returns for windows without traffic, so they are dropped.
local function samples(where, name, value)
  if type(value) ~= "table" then
    invalid(where, "%s must be an array of numbers, got %s", name, describe(value))
  end
  local usable = {}
  for i = 1, #value do
    local x = value[i]
    if type(x) ~= "number" then
      invalid(where, "%s must be an array of numbers, got %s at [%d]", name, describe(x), i)
    end
    if finite(x) then usable[#usable + 1] = x end
  end
  for key in pairs(value) do
    if math.type(key) ~= "integer" or key < 1 or key > #value then
      invalid(where, "%s must be an array of numbers, got key %s", name, describe(key))
    end
  end
  table.sort(usable)
  return usable
end

local function counts(where, name, value)
  if type(value) ~= "table" then
    invalid(where, "%s must be {errors = n, total = n}, got %s", name, describe(value))
  end
  local e, t = value.errors, value.total
  if type(e) ~= "number" or type(t) ~= "number" or not finite(e) or not finite(t) or e < 0 or t < 0 then
    invalid(where, "%s must be {errors = n, total = n} with non-negative numbers, got errors = %s, total = %s",
      name, describe(e), describe(t))
  end
  if e > t then
    invalid(where, "%s has more errors (%s) than its total (%s)", name, describe(e), describe(t))
  end
  return { errors = e, total = t }
end

local function option(where, options, name, kind, check, default)
  local v = options[name]
  if v == nil then return default end
  if type(v) ~= kind or (check and not check(v)) then
    invalid(where, "options.%s is not valid: %s", name, describe(v))
  end
  return v
end

local function settings(where, kind, options)
  if kind ~= "continuous" and kind ~= "proportion" then
    invalid(where, 'kind must be "continuous" or "proportion", got %s', describe(kind))
  end
  if options ~= nil and type(options) ~= "table" then
    invalid(where, "options must be a table, got %s", describe(options))
  end
  options = options or {}
  local d = DEFAULTS[kind]
  local s = {
    kind = kind,
    margin = option(where, options, "margin", "number", function(v) return finite(v) and v >= 0 end, d.margin),
    alpha = option(where, options, "alpha", "number", function(v) return v > 0 and v < 0.5 end, 0.05),
    direction = option(where, options, "direction", "string",
      function(v) return v == "higher_is_worse" or v == "lower_is_worse" end, "higher_is_worse"),
    min_samples = option(where, options, "min_samples", "number", function(v) return v >= 1 end, d.min_samples),
    scale = option(where, options, "scale", "string",
      function(v) return v == "auto" or v == "log" or v == "linear" end, "auto"),
  }
  if kind == "continuous" and s.direction == "lower_is_worse" and s.margin >= 1 then
    invalid(where, "options.margin must be below 1 when lower is worse (a 100 %% drop is the floor), got %s",
      describe(s.margin))
  end
  return s
end

local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function result(s, verdict, fields)
  fields.verdict, fields.margin, fields.alpha, fields.direction = verdict, s.margin, s.alpha, s.direction
  fields.level = 1 - 2 * s.alpha
  return fields
end

-- The verdict of "worse" bounds against the allowed worsening.
local function decide(worse_low, worse_high, allowed)
  if worse_high < allowed then return "pass" end
  if worse_low > allowed then return "fail" end
  return "inconclusive"
end

local function log_all(xs)
  local out = {}
  for i = 1, #xs do out[i] = math.log(xs[i]) end
  return out
end

local function median(xs)
  local n = #xs
  if n % 2 == 1 then return xs[(n + 1) // 2] end
  return (xs[n // 2] + xs[n // 2 + 1]) / 2
end

-- How the continuous comparison is scaled: on log scale the shift is a
-- ratio (multiplicative model, positive data only); on linear scale it is
-- an absolute shift, made relative by the baseline's median.
local function continuous_scale(s, base, cand)
  local positive = #base > 0 and #cand > 0 and base[1] > 0 and cand[1] > 0
  local scale = s.scale == "auto" and (positive and "log" or "linear") or s.scale
  if scale == "log" and not positive then
    invalid("judge.compare", "options.scale \"log\" needs positive samples, got a value <= 0")
  end
  if scale == "log" then
    local allowed = s.direction == "higher_is_worse" and math.log(1 + s.margin) or -math.log(1 - s.margin)
    local sign = s.direction == "higher_is_worse" and 1 or -1
    return log_all(base), log_all(cand), allowed, function(w) return math.exp(sign * w) - 1 end, "ratio"
  end
  local m = math.abs(median(base))
  local sign = s.direction == "higher_is_worse" and 1 or -1
  if m == 0 then return base, cand, 0, function(w) return sign * w end, "absolute" end
  return base, cand, s.margin * m, function(w) return sign * w / m end, "relative"
end

local function interval(to_change, s, low, high)
  if s.direction == "higher_is_worse" then return { low = to_change(low), high = to_change(high) } end
  return { low = to_change(high), high = to_change(low) }
end

local function compare_continuous(s, baseline, candidate)
  local base = samples("judge.compare", "baseline", baseline)
  local cand = samples("judge.compare", "candidate", candidate)
  local n = { baseline = #base, candidate = #cand }
  local short = #base < s.min_samples and "baseline" or #cand < s.min_samples and "candidate" or nil
  if short then
    return result(s, "no_data", { n = n, method = "hodges-lehmann",
      reason = string.format("the %s has %d usable samples, fewer than min_samples %s", short, n[short],
        describe(s.min_samples)) })
  end
  -- Identical samples pass outright (old judged against itself); equal
  -- counts of a proportion do not: they come by chance (10/1000 on both
  -- sides is common), and passing them would pass a real regression.
  if same(base, cand) then
    return result(s, "pass", { n = n, estimate = 0, ci = { low = 0, high = 0 }, method = "identical",
      units = "relative", p = { pass = 0, fail = 1 }, reason = "the two samples are identical" })
  end
  local b, c, allowed, to_change, units = continuous_scale(s, base, cand)
  -- "worse" differences: candidate over baseline when higher is worse.
  local minuend, subtrahend = c, b
  if s.direction == "lower_is_worse" then minuend, subtrahend = b, c end
  local shift = rank.shift(minuend, subtrahend, s.alpha, allowed)
  local verdict = decide(shift.low, shift.high, allowed)
  local ci = interval(to_change, s, shift.low, shift.high)
  local method = "hodges-lehmann " .. (units == "ratio" and "log-ratio" or "shift") .. ", mann-whitney "
    .. shift.method
  local reasons = {
    pass = "the candidate is not worse than the margin allows",
    fail = "the candidate is worse than the margin allows",
    inconclusive = "the interval spans the margin: not enough evidence either way",
  }
  if shift.low == -math.huge then
    reasons.inconclusive = "too few samples for an interval at this alpha"
  end
  return result(s, verdict, { n = n, estimate = to_change(shift.estimate), ci = ci, method = method, units = units,
    p = { pass = shift.p_below, fail = shift.p_above }, reason = reasons[verdict] })
end

local function compare_proportion(s, baseline, candidate)
  local base = counts("judge.compare", "baseline", baseline)
  local cand = counts("judge.compare", "candidate", candidate)
  local n = { baseline = base.total, candidate = cand.total }
  local short = base.total < s.min_samples and "baseline" or cand.total < s.min_samples and "candidate" or nil
  if short then
    return result(s, "no_data", { n = n, method = "newcombe",
      reason = string.format("the %s has %s requests, fewer than min_samples %s", short, describe(n[short]),
        describe(s.min_samples)) })
  end
  local sign = s.direction == "higher_is_worse" and 1 or -1
  local allowed = sign * s.margin / 100
  local diff = proportion.difference(base, cand, s.alpha, allowed)
  local verdict, p
  if sign == 1 then
    verdict, p = decide(diff.low, diff.high, allowed), { pass = diff.p_below, fail = diff.p_above }
  else
    verdict, p = decide(-diff.high, -diff.low, s.margin / 100), { pass = diff.p_above, fail = diff.p_below }
  end
  local reasons = {
    pass = "the candidate's error rate is not worse than the margin allows",
    fail = "the candidate's error rate is worse than the margin allows",
    inconclusive = "the interval spans the margin: not enough evidence either way",
  }
  return result(s, verdict, { n = n, estimate = 100 * diff.estimate, units = "points",
    ci = { low = 100 * diff.low, high = 100 * diff.high },
    method = "newcombe hybrid score", p = p, reason = reasons[verdict] })
end

--- Compares candidate with baseline; see docs/modules/judge.md.
function judge.compare(kind, baseline, candidate, options)
  local s = settings("judge.compare", kind, options)
  if kind == "continuous" then return compare_continuous(s, baseline, candidate) end
  return compare_proportion(s, baseline, candidate)
end

-- Alpha spending functions (Lan and DeMets): the share of alpha spent by
-- information time t in (0, 1].
local SPENDING = {
  obrien_fleming = function(alpha, t) return 2 * normal.upper(normal.quantile(1 - alpha / 2) / math.sqrt(t)) end,
  pocock = function(alpha, t) return alpha * math.log(1 + (math.exp(1) - 1) * t) end,
  bonferroni = function(alpha, t) return alpha * t end,
}

--- The alpha each of `looks` equally spaced looks may spend, summing to alpha.
function judge.spending(shape, alpha, looks)
  local spend = SPENDING[shape]
  if not spend then
    invalid("judge.spending", 'shape must be "obrien_fleming", "pocock" or "bonferroni", got %s', describe(shape))
  end
  if type(looks) ~= "number" or math.type(looks) ~= "integer" or looks < 1 then
    invalid("judge.spending", "looks must be a positive integer, got %s", describe(looks))
  end
  local out, spent = {}, 0
  for l = 1, looks do
    local cumulative = l == looks and alpha or spend(alpha, l / looks)
    out[l] = cumulative - spent
    spent = cumulative
  end
  return out
end

local Sequence = {}
Sequence.__index = Sequence

--- A sequential gate over at most options.looks looks; see the docs.
function judge.sequence(kind, options)
  local s = settings("judge.sequence", kind, options)
  options = options or {}
  local looks = option("judge.sequence", options, "looks", "number",
    function(v) return math.type(v) == "integer" and v >= 1 end, 10)
  local shape = option("judge.sequence", options, "spending", "string", function(v) return SPENDING[v] end,
    "obrien_fleming")
  local compare_options = {}
  for k, v in pairs(options) do compare_options[k] = v end
  compare_options.looks, compare_options.spending = nil, nil
  return setmetatable({ kind = kind, alpha = s.alpha, looks = looks, spending = shape, looked = 0, spent = 0,
    schedule = judge.spending(shape, s.alpha, looks), options = compare_options }, Sequence)
end

--- Judges the samples so far. With last = true (a deadline came before the
-- planned looks ran out) this look spends what alpha is left and decides.
function Sequence:look(baseline, candidate, last)
  if self.decided then return self.decided end
  self.looked = self.looked + 1
  local final = last == true or self.looked >= self.looks
  local alpha = final and (self.alpha - self.spent) or self.schedule[self.looked]
  -- An early O'Brien-Fleming share of many looks underflows to 0; a level
  -- of 1e-300 decides exactly as nothing would, and keeps compare's check.
  alpha = math.max(alpha, 1e-300)
  self.spent = self.spent + alpha
  local options = setmetatable({ alpha = alpha }, { __index = self.options })
  local r = judge.compare(self.kind, baseline, candidate, options)
  r.look, r.looks, r.alpha = self.looked, self.looks, alpha
  if r.verdict == "pass" or r.verdict == "fail" then
    r.done = true
  elseif final then
    r.held, r.verdict, r.done = r.verdict, "fail", true
    r.reason = string.format("still %s at the last look (%d of %d): fails safe; %s", r.held, self.looked,
      self.looks, r.reason)
  else
    r.done = false
  end
  if r.done then self.decided = r end
  return r
end

--- Holm's step-down over the fail claims of a family of results (all
-- judged at this alpha): a fail that does not survive becomes
-- "inconclusive". Pass claims need no correction: the family passes only
-- when every member passes (an intersection-union test). Returns the
-- adjusted results and the family's verdict.
function judge.holm(results, alpha)
  if type(results) ~= "table" then invalid("judge.holm", "results must be an array of results, got %s",
    describe(results)) end
  if type(alpha) ~= "number" or not (alpha > 0 and alpha < 1) then
    invalid("judge.holm", "alpha must be a number in (0, 1), got %s", describe(alpha))
  end
  local order, adjusted = {}, {}
  for i, r in ipairs(results) do
    if type(r) ~= "table" or type(r.verdict) ~= "string" then
      invalid("judge.holm", "results[%d] is not a judge result", i)
    end
    local copy = {}
    for k, v in pairs(r) do copy[k] = v end
    adjusted[i] = copy
    if r.verdict == "fail" then order[#order + 1] = i end
  end
  table.sort(order, function(x, y) return adjusted[x].p.fail < adjusted[y].p.fail end)
  local family, rejecting = #results, true
  for step, i in ipairs(order) do
    local r = adjusted[i]
    rejecting = rejecting and r.p.fail <= alpha / (family - step + 1)
    if not rejecting then
      r.verdict = "inconclusive"
      r.reason = string.format("%s, but not beyond chance over %d checks (Holm)", r.reason, family)
    end
  end
  local verdict, passes = "pass", 0
  for _, r in ipairs(adjusted) do
    if r.verdict == "fail" then verdict = "fail" end
    if r.verdict == "pass" then passes = passes + 1 end
  end
  if verdict ~= "fail" and passes < #adjusted then verdict = "inconclusive" end
  return adjusted, verdict
end

return judge
