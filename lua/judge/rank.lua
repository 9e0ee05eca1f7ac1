--- judge.rank: the Hodges–Lehmann shift of two samples and its
-- distribution-free interval, by inverting the Mann–Whitney test.
--
-- For sorted samples a (n values) and b (m values) the pairwise differences
-- a[j] - b[i] are never materialised: they form a matrix sorted along rows
-- and columns, so counting those below a value takes O(n + m) with two
-- pointers, and the k-th smallest is found by randomised selection over
-- the matrix (Monahan's method): O((n + m) log(n m)) expected steps
-- instead of Lehmann's O(n m) sort of every difference.
local normal = require "judge.normal"

local rank = {}

-- Exact null distributions are used below these sizes when nothing ties
-- (as R's wilcox.test does); past them the normal approximation with the
-- tie-corrected variance is accurate to well under a point of alpha.
local EXACT_BELOW = 50

-- A private generator (xorshift64*) picks the selection's pivots, so the
-- judge neither disturbs nor depends on the caller's math.random state,
-- and a verdict is the same on every run.
local function generator()
  local s = 0x2545F4914F6CDD1D
  return function(n)
    s = s ~ (s >> 12); s = s ~ (s << 25); s = s ~ (s >> 27)
    return ((s * 0x2545F4914F6CDD1D) >> 11) % n + 1
  end
end

-- The differences are compared as computed, a[j] - b[i] against t, never
-- as a[j] against t + b[i]: rounding could make a pair's own difference
-- fail to equal itself the other way round, and the selection below would
-- then never count its pivot and never end. Rounding is monotone, so for
-- sorted a and b the counts still grow row by row.

--- Number of pairs with a[j] - b[i] <= t (strict: < t).
function rank.count_below(a, b, t, strict)
  local count, j = 0, 0
  for i = 1, #b do
    local bi = b[i]
    if strict then
      while j < #a and a[j + 1] - bi < t do j = j + 1 end
    else
      while j < #a and a[j + 1] - bi <= t do j = j + 1 end
    end
    count = count + j
  end
  return count
end

-- Per row i, how many columns hold differences < t (lt) and <= t (le).
local function row_counts(a, b, t, lt, le)
  local jl, je = 0, 0
  local sum_lt, sum_le = 0, 0
  for i = 1, #b do
    local bi = b[i]
    while jl < #a and a[jl + 1] - bi < t do jl = jl + 1 end
    if je < jl then je = jl end
    while je < #a and a[je + 1] - bi <= t do je = je + 1 end
    lt[i], le[i] = jl, je
    sum_lt, sum_le = sum_lt + jl, sum_le + je
  end
  return sum_lt, sum_le
end

local function gather(a, b, low, high)
  local values = {}
  for i = 1, #b do
    for j = low[i], high[i] do values[#values + 1] = a[j] - b[i] end
  end
  table.sort(values)
  return values
end

--- The k-th smallest of the n m differences a[j] - b[i] (a, b sorted).
function rank.select(a, b, k)
  local n, m = #b, #a
  local low, high, lt, le = {}, {}, {}, {}
  for i = 1, n do low[i], high[i] = 1, m end
  local random = generator()
  local previous
  while true do
    local total, below = 0, 0
    for i = 1, n do
      below = below + low[i] - 1
      if high[i] >= low[i] then total = total + high[i] - low[i] + 1 end
    end
    -- few enough left, or (a safeguard) a round that removed none: sort them
    if total <= n + m or total == previous then return gather(a, b, low, high)[k - below] end
    previous = total
    local r, pivot = random(total), nil
    for i = 1, n do
      local width = high[i] - low[i] + 1
      if width > 0 then
        if r <= width then pivot = a[low[i] + r - 1] - b[i]; break end
        r = r - width
      end
    end
    local sum_lt, sum_le = row_counts(a, b, pivot, lt, le)
    if k <= sum_lt then
      for i = 1, n do if lt[i] < high[i] then high[i] = lt[i] end end
    elseif k <= sum_le then
      return pivot
    else
      for i = 1, n do if le[i] + 1 > low[i] then low[i] = le[i] + 1 end end
    end
  end
end

-- Sizes of the tie groups of the pooled sorted samples (empty: no ties).
local function ties(a, b)
  local pooled = table.move(a, 1, #a, 1, {})
  table.move(b, 1, #b, #pooled + 1, pooled)
  table.sort(pooled)
  local groups, run = {}, 1
  for i = 2, #pooled + 1 do
    if pooled[i] == pooled[i - 1] then
      run = run + 1
    else
      if run > 1 then groups[#groups + 1] = run end
      run = 1
    end
  end
  return groups
end

-- P(U <= u) for all u = 0..n m without ties: the coefficients of the
-- Gaussian binomial [n+m choose n]_q, by [N, k] = [N-1, k-1] + q^k [N-1, k]
-- (sums of positive terms only, so no cancellation in the tails where
-- the counts pass 2^53). Cached per size.
local exact_cache, exact_cached = {}, 0
local function exact_cdf(n, m)
  if n > m then n, m = m, n end
  local key = n * 1000 + m
  if exact_cache[key] then return exact_cache[key] end
  local poly = { [0] = { [0] = 1.0 } } -- poly[k] = [N choose k]_q, degree k (N - k)
  for N = 1, n + m do
    for k = math.min(N, n), 1, -1 do
      local with, without = poly[k - 1], poly[k] or {}
      local degree, next = k * (N - k), {}
      for u = 0, degree do
        next[u] = (with[u] or 0) + (without[u - k] or 0)
      end
      poly[k] = next
    end
  end
  local c, top = poly[n], n * m
  local total, cdf = 0, {}
  for u = 0, top do total = total + c[u]; cdf[u] = total end
  for u = 0, top do cdf[u] = cdf[u] / total end
  if exact_cached >= 64 then exact_cache, exact_cached = {}, 0 end
  exact_cache[key], exact_cached = cdf, exact_cached + 1
  return cdf
end

--- The null distribution of U (pairs with a - b below the shift) for
-- samples a, b: a function u -> P(U <= u), and the method's name.
function rank.null(a, b)
  local n, m = #a, #b
  local groups = ties(a, b)
  if n < EXACT_BELOW and m < EXACT_BELOW and #groups == 0 then
    local cdf = exact_cdf(n, m)
    return function(u)
      if u < 0 then return 0 end
      return cdf[math.min(u, n * m)]
    end, "exact"
  end
  local N = n + m
  local correction = 0
  for _, t in ipairs(groups) do correction = correction + (t * t * t - t) end
  local variance = n * m / 12 * ((N + 1) - correction / (N * (N - 1)))
  local sd, mean = math.sqrt(variance), n * m / 2
  return function(u)
    if u < 0 then return 0 end
    if sd == 0 then return u >= mean and 1 or 0 end
    return normal.cdf((u + 0.5 - mean) / sd)
  end, "normal"
end

--- The smallest k in 0..n m with cdf(k) >= alpha (0: no interval exists
-- at that level, the samples are too few).
function rank.critical(cdf, top, alpha)
  local lo, hi = 0, top
  while lo < hi do
    local mid = (lo + hi) // 2
    if cdf(mid) >= alpha then hi = mid else lo = mid + 1 end
  end
  return lo
end

--- Hodges–Lehmann shift of a over b, the two one-sided (1 - alpha) bounds,
-- and the one-sided p-values of "shift > threshold" (p_above) and
-- "shift < threshold" (p_below). a, b sorted; alpha one-sided.
function rank.shift(a, b, alpha, threshold)
  local top = #a * #b
  local cdf, method = rank.null(a, b)
  local median
  if top % 2 == 1 then
    median = rank.select(a, b, (top + 1) // 2)
  else
    median = (rank.select(a, b, top // 2) + rank.select(a, b, top // 2 + 1)) / 2
  end
  local k = rank.critical(cdf, top, alpha)
  local low, high = -math.huge, math.huge
  if k >= 1 then low, high = rank.select(a, b, k), rank.select(a, b, top - k + 1) end
  local at_or_below = rank.count_below(a, b, threshold)
  local at_or_above = top - rank.count_below(a, b, threshold, true)
  return {
    estimate = median, low = low, high = high, method = method,
    p_above = cdf(at_or_below), p_below = cdf(at_or_above),
  }
end

return rank
