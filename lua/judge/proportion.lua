--- judge.proportion: the difference of two proportions with Newcombe's
-- hybrid score interval (his method 10, 1998): each side's Wilson score
-- interval, combined by the square-and-add rule. Closed form, no
-- iteration, coverage close to nominal down to zero counts, and unlike the
-- Wald interval it never collapses to a point when a side has no errors.
local normal = require "judge.normal"

local proportion = {}

local function wilson(errors, total, z)
  local p = errors / total
  local z2 = z * z
  local denominator = 1 + z2 / total
  local centre = (p + z2 / (2 * total)) / denominator
  local half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
  return math.max(0, centre - half), math.min(1, centre + half)
end

--- The bounds of p2 - p1 at one-sided level alpha each (z = quantile(1 - alpha)).
local function bounds(p1, l1, u1, p2, l2, u2)
  local d = p2 - p1
  return d - math.sqrt((p2 - l2) ^ 2 + (u1 - p1) ^ 2), d + math.sqrt((u2 - p2) ^ 2 + (p1 - l1) ^ 2)
end

--- Newcombe's interval of candidate - baseline at normal deviate z.
function proportion.interval(baseline, candidate, z)
  local p1, p2 = baseline.errors / baseline.total, candidate.errors / candidate.total
  local l1, u1 = wilson(baseline.errors, baseline.total, z)
  local l2, u2 = wilson(candidate.errors, candidate.total, z)
  return bounds(p1, l1, u1, p2, l2, u2)
end

-- The deviate z at which bound(z) crosses threshold, by bisection: the
-- interval widens as z grows. Returns the one-sided p-value 1 - Phi(z).
local function crossing(bound, threshold)
  if not (bound(0) > threshold) then return 1 end
  local lo, hi = 0, 40
  if bound(hi) > threshold then return normal.upper(hi) end
  for _ = 1, 60 do
    local mid = (lo + hi) / 2
    if bound(mid) > threshold then lo = mid else hi = mid end
  end
  return normal.upper((lo + hi) / 2)
end

--- The difference (candidate - baseline), its bounds at one-sided level
-- alpha, and the one-sided p-values of "difference > threshold" (p_above)
-- and "difference < threshold" (p_below).
function proportion.difference(baseline, candidate, alpha, threshold)
  local z = normal.quantile(1 - alpha)
  local low, high = proportion.interval(baseline, candidate, z)
  local function lower(at) return (proportion.interval(baseline, candidate, at)) end
  local function negated_upper(at)
    local _, u = proportion.interval(baseline, candidate, at)
    return -u
  end
  return {
    estimate = candidate.errors / candidate.total - baseline.errors / baseline.total,
    low = low, high = high, method = "newcombe",
    p_above = crossing(lower, threshold), p_below = crossing(negated_upper, -threshold),
  }
end

return proportion
