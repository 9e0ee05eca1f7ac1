--- judge.normal: the standard normal distribution's cdf and quantile, to
-- double precision far into the tails (alpha spending asks for levels
-- such as 1e-9 at an early look, where a 1e-7 approximation would be
-- off by more than the level itself).
local normal = {}

local SQRT_PI = math.sqrt(math.pi)

-- erfc(z) for z >= 0. Below 3, 1 - erf by the series whose terms are all
-- positive (no cancellation); from 3 up, the continued fraction, which
-- converges fast there and keeps the tail's relative precision.
local function erfc(z)
  if z < 3 then
    local term, sum, n = z, z, 0
    while term > sum * 1e-17 do
      n = n + 1
      term = term * 2 * z * z / (2 * n + 1)
      sum = sum + term
    end
    return 1 - 2 / SQRT_PI * math.exp(-z * z) * sum
  end
  local f = z
  for k = 60, 1, -1 do f = z + (k / 2) / f end
  return math.exp(-z * z) / (SQRT_PI * f)
end

--- P(Z <= x).
function normal.cdf(x)
  if x ~= x then return x end
  if x < 0 then return 0.5 * erfc(-x / math.sqrt(2)) end
  return 1 - 0.5 * erfc(x / math.sqrt(2))
end

--- P(Z > x), precise where cdf(x) rounds to 1.
function normal.upper(x)
  return normal.cdf(-x)
end

-- Acklam's rational approximation (relative error 1.2e-9), refined below.
local A = { -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
            1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00 }
local B = { -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
            6.680131188771972e+01, -1.328068155288572e+01 }
local C = { -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
            -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00 }
local D = { 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
            3.754408661907416e+00 }

local function tail(q)
  return (((((C[1] * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) * q + C[6])
    / ((((D[1] * q + D[2]) * q + D[3]) * q + D[4]) * q + 1)
end

-- For p <= 0.5 (the quantile's symmetry gives the rest).
local function acklam(p)
  if p < 0.02425 then return tail(math.sqrt(-2 * math.log(p))) end
  local q = p - 0.5
  local r = q * q
  return (((((A[1] * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * r + A[6]) * q
    / (((((B[1] * r + B[2]) * r + B[3]) * r + B[4]) * r + B[5]) * r + 1)
end

--- x such that P(Z <= x) = p; -inf at 0, +inf at 1.
function normal.quantile(p)
  if p <= 0 then return -math.huge end
  if p >= 1 then return math.huge end
  if p > 0.5 then return -normal.quantile(1 - p) end
  local x = acklam(p)
  for _ = 1, 2 do -- Halley steps on the precise cdf
    local e = normal.cdf(x) - p
    local u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    x = x - u / (1 + x * u / 2)
  end
  return x
end

return normal
