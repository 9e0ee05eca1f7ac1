local judge = require "judge"
local rank = require "judge.rank"
local normal = require "judge.normal"
local proportion = require "judge.proportion"

-- Samplers over math.random, seeded per test so every run draws the same.
local function gaussian()
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end
local function lognormal(n, median, sigma, factor)
  local out = {}
  for i = 1, n do out[i] = median * (factor or 1) * math.exp(sigma * gaussian()) end
  return out
end
local function exponential(n, mean)
  local out = {}
  for i = 1, n do out[i] = -mean * math.log(1 - math.random()) end
  return out
end
-- Binomial by geometric skips between successes: O(n p) draws.
local function binomial(n, p)
  if p <= 0 then return 0 end
  local count, at, step = 0, 0, math.log(1 - p)
  while true do
    at = at + math.floor(math.log(1 - math.random()) / step) + 1
    if at > n then return count end
    count = count + 1
  end
end

local function failure(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(err)
end

-- At most the count a binomial(trials, rate) exceeds with probability ~0.1 %.
local function allowance(trials, rate)
  return trials * rate + 3.1 * math.sqrt(trials * rate * (1 - rate))
end

describe("judge.normal", function()
  it("has the cdf and quantile to double precision far into the tails", function()
    assert.is.near(1.959963984540054, normal.quantile(0.975), 1e-12)
    assert.is.near(-1.644853626951472, normal.quantile(0.05), 1e-12)
    assert.is.near(9.865876450377e-10, normal.cdf(-6), 1e-20)
    assert.is.near(1e-10, normal.cdf(normal.quantile(1e-10)), 1e-22)
    assert.are.equal(0.5, normal.cdf(0))
  end)
end)

describe("judge.rank", function()
  it("selects the k-th pairwise difference as sorting them all does, ties included", function()
    math.randomseed(11)
    for _ = 1, 60 do
      local a, b = {}, {}
      for i = 1, math.random(1, 40) do a[i] = math.random(0, 12) end
      for i = 1, math.random(1, 40) do b[i] = math.random(0, 12) + 0.5 * math.random(0, 1) end
      table.sort(a); table.sort(b)
      local all = {}
      for i = 1, #b do for j = 1, #a do all[#all + 1] = a[j] - b[i] end end
      table.sort(all)
      for _, k in ipairs { 1, #all, (#all + 1) // 2, math.random(1, #all) } do
        assert.are.equal(all[k], rank.select(a, b, k))
      end
    end
  end)

  it("has the exact Mann-Whitney distribution without ties", function()
    local cdf, method = rank.null({ 1, 2, 3 }, { 1.5, 2.5 })
    assert.are.equal("exact", method)
    -- U over 3 x 2 takes 0..6 with counts 1 1 2 2 2 1 1 out of 10
    local want = { [0] = 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1 }
    for u = 0, 6 do assert.is.near(want[u], cdf(u), 1e-12) end
    local a, b = {}, {}
    for i = 1, 49 do a[i], b[i] = i, i + 0.5 end
    cdf = rank.null(a, b)
    assert.is.near(3.9250145964817e-29, cdf(0), 1e-40) -- 1 / C(98, 49)
    assert.is.near(0.5, cdf(49 * 49 // 2), 1e-12)
  end)

  it("uses the normal approximation with the tie correction when values tie", function()
    local _, method = rank.null({ 1, 1, 2 }, { 2, 3 })
    assert.are.equal("normal", method)
  end)
end)

describe("judge.proportion", function()
  it("gives Newcombe's published intervals (1998, method 10)", function()
    local z = normal.quantile(0.975)
    local low, high = proportion.interval({ errors = 48, total = 80 }, { errors = 56, total = 70 }, z)
    assert.is.near(0.0524, low, 5e-5); assert.is.near(0.3339, high, 5e-5)
    low, high = proportion.interval({ errors = 3, total = 10 }, { errors = 9, total = 10 }, z)
    assert.is.near(0.1705, low, 5e-5); assert.is.near(0.8090, high, 5e-5)
    low, high = proportion.interval({ errors = 0, total = 20 }, { errors = 0, total = 10 }, z)
    assert.is.near(-0.1611, low, 5e-5); assert.is.near(0.2775, high, 5e-5)
  end)
end)

describe("judge.compare", function()
  describe("continuous", function()
    it("passes identical inputs, in any order", function()
      local r = judge.compare("continuous", { 5, 1, 4, 2, 3, 9, 8, 7, 6, 10 }, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
      assert.are.equal("pass", r.verdict)
      assert.are.equal(0, r.estimate)
      assert.are.same({ low = 0, high = 0 }, r.ci)
      assert.are.same({ baseline = 10, candidate = 10 }, r.n)
    end)

    it("keeps A/A false fails at or below alpha (200 trials, seed 1)", function()
      math.randomseed(1)
      local fails, passes = 0, 0
      for _ = 1, 200 do
        local r = judge.compare("continuous", lognormal(30, 100, 0.5), lognormal(30, 100, 0.5), { margin = 0 })
        if r.verdict == "fail" then fails = fails + 1 end
        if r.verdict == "pass" then passes = passes + 1 end
      end
      -- margin 0: both claims are tested at their edge, each at alpha
      assert.is_true(fails <= allowance(200, 0.05), "false fails: " .. fails)
      assert.is_true(passes <= allowance(200, 0.05), "passes of a zero margin: " .. passes)
    end)

    it("catches a 50 % latency increase and passes a 2 % one within a 10 % margin", function()
      math.randomseed(2)
      local caught, passed = 0, 0
      for _ = 1, 50 do
        if judge.compare("continuous", lognormal(40, 100, 0.3), lognormal(40, 100, 0.3, 1.5)).verdict == "fail" then
          caught = caught + 1
        end
        if judge.compare("continuous", lognormal(200, 100, 0.1), lognormal(200, 100, 0.1, 1.02)).verdict
          == "pass" then
          passed = passed + 1
        end
      end
      assert.is_true(caught >= 45, "caught " .. caught)
      assert.is_true(passed >= 45, "passed " .. passed)
    end)

    it("estimates the ratio on log scale: 2x CPU per request reads as +100 %", function()
      math.randomseed(3)
      local base = exponential(60, 0.02)
      local cand = {}
      for i, x in ipairs(base) do cand[i] = 2 * x end
      local r = judge.compare("continuous", base, cand)
      assert.are.equal("fail", r.verdict)
      assert.is.near(1, r.estimate, 1e-9)
      assert.is_true(r.ci.low <= 1 and r.ci.high >= 1 and r.ci.low > 0.1)
      assert.matches("log%-ratio", r.method)
    end)

    it("reports the change candidate over baseline with its interval in order", function()
      math.randomseed(4)
      local r = judge.compare("continuous", lognormal(50, 100, 0.2), lognormal(50, 100, 0.2, 1.3))
      assert.is_true(r.ci.low < r.estimate and r.estimate < r.ci.high)
      assert.is_true(r.estimate > 0.15 and r.estimate < 0.45)
      assert.are.equal("relative", r.units == "ratio" and "relative" or r.units)
      assert.are.equal(0.9, r.level)
    end)

    it("passes or fails at the same alpha as its p-values say", function()
      math.randomseed(5)
      for _ = 1, 40 do
        local factor = 0.9 + math.random() * 0.4
        local r = judge.compare("continuous", lognormal(20, 100, 0.3), lognormal(25, 100, 0.3, factor))
        assert.are.equal(r.verdict == "fail", r.p.fail < r.alpha)
        assert.are.equal(r.verdict == "pass", r.p.pass < r.alpha)
      end
    end)

    it("handles ties: discrete values take the normal path and still decide", function()
      local base, cand = {}, {}
      for i = 1, 60 do base[i] = 10 + i % 3; cand[i] = 20 + i % 3 end
      local r = judge.compare("continuous", base, cand)
      assert.are.equal("fail", r.verdict)
      assert.matches("normal", r.method)
      local same = judge.compare("continuous", base, { table.unpack(base, 1, 59) })
      assert.are_not.equal("fail", same.verdict)
    end)

    it("handles zeros: all-zero sides pass, zeros against positives fail on linear scale", function()
      local zeros, some = {}, {}
      for i = 1, 20 do zeros[i] = 0; some[i] = 1 + i % 4 end
      assert.are.equal("pass", judge.compare("continuous", zeros, zeros).verdict)
      local r = judge.compare("continuous", zeros, some)
      assert.are.equal("fail", r.verdict)
      assert.are.equal("absolute", r.units)
      local mixed = judge.compare("continuous", { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9.5 })
      assert.are.equal("relative", mixed.units)
      assert.are_not.equal("fail", mixed.verdict)
    end)

    it("never passes tiny samples", function()
      local r = judge.compare("continuous", { 1, 2, 3 }, { 1.1, 2.1, 3.1 })
      assert.are.equal("no_data", r.verdict)
      assert.matches("fewer than min_samples 10", r.reason)
      r = judge.compare("continuous", { 1, 2, 3 }, { 1.1, 2.1, 3.1 }, { min_samples = 1, margin = 5 })
      assert.are.equal("inconclusive", r.verdict)
      assert.matches("too few samples for an interval", r.reason)
      assert.are.equal(-1, r.ci.low); assert.are.equal(math.huge, r.ci.high)
    end)

    it("is no_data without usable samples: empty, or NaN only", function()
      local nan = 0 / 0
      assert.are.equal("no_data", judge.compare("continuous", {}, { 1, 2 }).verdict)
      local r = judge.compare("continuous", { nan, nan }, lognormal(20, 1, 0.1))
      assert.are.equal("no_data", r.verdict)
      assert.are.same({ baseline = 0, candidate = 20 }, r.n)
      assert.matches("the baseline has 0 usable samples", r.reason)
    end)

    it("follows the direction: lower throughput is worse", function()
      math.randomseed(6)
      local base = lognormal(40, 1000, 0.1)
      local lower = lognormal(40, 1000, 0.1, 0.7)
      assert.are.equal("fail", judge.compare("continuous", base, lower, { direction = "lower_is_worse" }).verdict)
      assert.are.equal("pass", judge.compare("continuous", base, lower).verdict)
      local r = judge.compare("continuous", base, lower, { direction = "lower_is_worse" })
      assert.is_true(r.estimate < -0.2 and r.ci.low < r.ci.high)
    end)

    it("applies the margin: 5 % worse passes a 10 % margin and fails a zero one", function()
      math.randomseed(7)
      local base = lognormal(300, 100, 0.05)
      local cand = lognormal(300, 100, 0.05, 1.05)
      assert.are.equal("pass", judge.compare("continuous", base, cand, { margin = 0.1 }).verdict)
      assert.are.equal("fail", judge.compare("continuous", base, cand, { margin = 0 }).verdict)
    end)
  end)

  describe("proportion", function()
    it("keeps A/A false fails at or below alpha (200 trials, seed 8)", function()
      math.randomseed(8)
      local fails = 0
      for _ = 1, 200 do
        local r = judge.compare("proportion", { errors = binomial(2000, 0.02), total = 2000 },
          { errors = binomial(2000, 0.02), total = 2000 }, { margin = 0 })
        if r.verdict == "fail" then fails = fails + 1 end
      end
      assert.is_true(fails <= allowance(200, 0.05), "false fails: " .. fails)
    end)

    it("reports the difference in percentage points", function()
      local r = judge.compare("proportion", { errors = 10, total = 1000 }, { errors = 40, total = 1000 })
      assert.are.equal("fail", r.verdict)
      assert.is.near(3, r.estimate, 1e-9)
      assert.are.equal("points", r.units)
      assert.is_true(r.ci.low > 1 and r.ci.high > r.ci.low)
    end)

    it("does not pass errors against an all-zero baseline", function()
      assert.are.equal("fail",
        judge.compare("proportion", { errors = 0, total = 1000 }, { errors = 50, total = 1000 }).verdict)
      local r = judge.compare("proportion", { errors = 0, total = 20 }, { errors = 3, total = 20 }, { min_samples = 1 })
      assert.are_not.equal("pass", r.verdict)
      assert.are.equal("pass",
        judge.compare("proportion", { errors = 0, total = 5000 }, { errors = 0, total = 4000 }).verdict)
    end)

    it("passes identical counts on enough requests, is no_data with too few", function()
      assert.are.equal("pass",
        judge.compare("proportion", { errors = 5, total = 1000 }, { errors = 5, total = 1000 }).verdict)
      -- equal counts come by chance: they pass through the interval, not outright
      assert.are.equal("inconclusive",
        judge.compare("proportion", { errors = 5, total = 1000 }, { errors = 5, total = 1000 }, { margin = 0 }).verdict)
      assert.are.equal("no_data",
        judge.compare("proportion", { errors = 0, total = 1 }, { errors = 0, total = 1 }).verdict)
      assert.are.equal("no_data",
        judge.compare("proportion", { errors = 0, total = 0 }, { errors = 0, total = 500 }).verdict)
    end)

    it("follows the direction: a lower success rate is worse", function()
      local base, cand = { errors = 990, total = 1000 }, { errors = 940, total = 1000 }
      assert.are.equal("fail", judge.compare("proportion", base, cand, { direction = "lower_is_worse" }).verdict)
      assert.are.equal("pass", judge.compare("proportion", base, cand).verdict)
      local r = judge.compare("proportion", cand, base, { direction = "lower_is_worse" })
      assert.are.equal("pass", r.verdict)
      assert.is_true(r.p.pass < r.alpha and r.p.fail >= r.alpha)
    end)

    it("applies the margin in points", function()
      local base, cand = { errors = 100, total = 10000 }, { errors = 150, total = 10000 }
      assert.are.equal("pass", judge.compare("proportion", base, cand, { margin = 1 }).verdict)
      assert.are.equal("fail", judge.compare("proportion", base, cand, { margin = 0 }).verdict)
      assert.are.equal("inconclusive", judge.compare("proportion", base, cand, { margin = 0.5 }).verdict)
    end)
  end)

  it("names the bad argument in one clear error", function()
    assert.matches("judge.compare: kind must be \"continuous\" or \"proportion\", got \"latency\"",
      failure(judge.compare, "latency", {}, {}))
    assert.matches("judge.compare: baseline must be an array of numbers, got nil",
      failure(judge.compare, "continuous", nil, {}))
    assert.matches("judge.compare: candidate must be an array of numbers, got \"7\" at %[2%]",
      failure(judge.compare, "continuous", { 1 }, { 1, "7" }))
    assert.matches("judge.compare: candidate must be an array of numbers, got key \"p50\"",
      failure(judge.compare, "continuous", { 1 }, { p50 = 1 }))
    assert.matches("judge.compare: baseline must be {errors = n, total = n}",
      failure(judge.compare, "proportion", { 1, 2 }, { errors = 0, total = 1 }))
    assert.matches("judge.compare: candidate has more errors %(5%) than its total %(4%)",
      failure(judge.compare, "proportion", { errors = 0, total = 1 }, { errors = 5, total = 4 }))
    assert.matches("judge.compare: options.alpha is not valid: 0.7",
      failure(judge.compare, "continuous", {}, {}, { alpha = 0.7 }))
    assert.matches("judge.compare: options.direction is not valid: \"up\"",
      failure(judge.compare, "continuous", {}, {}, { direction = "up" }))
    assert.matches("options.margin must be below 1 when lower is worse",
      failure(judge.compare, "continuous", {}, {}, { direction = "lower_is_worse", margin = 1 }))
    assert.matches("^invalid: ", failure(judge.compare, "continuous", {}, {}, "fast"))
  end)
end)

describe("judge.spending", function()
  it("spends alpha over the looks: O'Brien-Fleming little early, Bonferroni evenly", function()
    for _, shape in ipairs { "obrien_fleming", "pocock", "bonferroni" } do
      local total = 0
      for _, a in ipairs(judge.spending(shape, 0.05, 8)) do total = total + a end
      assert.is.near(0.05, total, 1e-15)
    end
    local obf = judge.spending("obrien_fleming", 0.05, 10)
    assert.is_true(obf[1] < 1e-8 and obf[10] > 0.01)
    assert.is.near(0.005, judge.spending("bonferroni", 0.05, 10)[3], 1e-15)
    assert.matches("shape must be", failure(judge.spending, "linear", 0.05, 3))
  end)
end)

describe("judge.sequence", function()
  local function grow(sample, more)
    for _, x in ipairs(more) do sample[#sample + 1] = x end
    return sample
  end

  it("keeps A/A false fails at or below alpha over repeated looks (200 runs of 5 looks, seed 9)", function()
    math.randomseed(9)
    local fails = 0
    for _ = 1, 200 do
      local gate = judge.sequence("continuous", { margin = 0, looks = 5, spending = "pocock" })
      local base, cand, r = {}, {}, nil
      repeat
        r = gate:look(grow(base, lognormal(10, 100, 0.4)), grow(cand, lognormal(10, 100, 0.4)))
      until r.done
      if r.verdict == "fail" and not r.held then fails = fails + 1 end
    end
    assert.is_true(fails <= allowance(200, 0.05), "false fails: " .. fails)
  end)

  it("passes and moves on, then gives the same decision", function()
    math.randomseed(10)
    local gate = judge.sequence("continuous", { looks = 6 })
    local base, cand = {}, {}
    local r
    repeat
      r = gate:look(grow(base, lognormal(40, 100, 0.05)), grow(cand, lognormal(40, 100, 0.05)))
    until r.done
    assert.are.equal("pass", r.verdict)
    assert.is_true(r.look < 6, "decided at look " .. r.look)
    assert.are.equal(r, gate:look(base, cand))
  end)

  it("fails and stops on a regression", function()
    math.randomseed(12)
    local gate = judge.sequence("proportion", { looks = 4, margin = 1 })
    local r = gate:look({ errors = 10, total = 5000 }, { errors = 400, total = 5000 })
    assert.are.equal("fail", r.verdict)
    assert.is_true(r.done)
    assert.are.equal(1, r.look)
  end)

  it("holds while inconclusive, then fails safe at the last look", function()
    local gate = judge.sequence("proportion", { looks = 3, margin = 1 })
    local base, cand = { errors = 10, total = 1000 }, { errors = 20, total = 1000 }
    local first = gate:look(base, cand)
    assert.are.equal("inconclusive", first.verdict)
    assert.is_false(first.done)
    assert.are.equal("inconclusive", gate:look(base, cand).verdict)
    local last = gate:look(base, cand)
    assert.are.equal("fail", last.verdict)
    assert.are.equal("inconclusive", last.held)
    assert.is_true(last.done)
    assert.matches("fails safe", last.reason)
    local spent = first.alpha + gate.schedule[2] + last.alpha
    assert.is.near(0.05, spent, 1e-15)
  end)

  it("looks early in a long plan, where the first share of alpha underflows", function()
    local gate = judge.sequence("continuous", { looks = 2000 })
    assert.are.equal(0, gate.schedule[1])
    local r = gate:look(lognormal(20, 1, 0.1), lognormal(20, 1, 0.1))
    assert.are.equal("inconclusive", r.verdict)
  end)

  it("holds on no_data too, and a deadline's last look spends what is left", function()
    local gate = judge.sequence("continuous", { looks = 10 })
    local r = gate:look({}, {})
    assert.are.equal("no_data", r.verdict)
    assert.is_false(r.done)
    r = gate:look({ 1, 2 }, { 1, 2, 3 }, true)
    assert.are.equal("fail", r.verdict)
    assert.are.equal("no_data", r.held)
    assert.is.near(0.05, gate.spent, 1e-15)
  end)
end)

describe("judge.holm", function()
  it("keeps a strong fail, turns a marginal one inconclusive over the family", function()
    local strong = judge.compare("proportion", { errors = 0, total = 2000 }, { errors = 200, total = 2000 })
    local marginal = judge.compare("proportion", { errors = 100, total = 10000 }, { errors = 130, total = 10000 },
      { margin = 0 })
    assert.are.equal("fail", marginal.verdict)
    local fine = judge.compare("proportion", { errors = 5, total = 5000 }, { errors = 5, total = 5000 })
    local adjusted, verdict = judge.holm({ strong, marginal, fine, fine, fine, fine }, 0.05)
    assert.are.equal("fail", adjusted[1].verdict)
    assert.is_true(marginal.p.fail > 0.05 / 5)
    assert.are.equal("inconclusive", adjusted[2].verdict)
    assert.matches("Holm", adjusted[2].reason)
    assert.are.equal("fail", marginal.verdict) -- the inputs are not changed
    assert.are.equal("fail", verdict)
    local _, family = judge.holm({ marginal, fine, fine, fine, fine, fine }, 0.05)
    assert.are.equal("inconclusive", family)
    _, family = judge.holm({ fine, fine }, 0.05)
    assert.are.equal("pass", family)
    assert.matches("judge.holm: results%[1%] is not a judge result", failure(judge.holm, { 1 }, 0.05))
  end)
end)

describe("judge.rank.select", function()
  -- Tied values on log scale, as the lab's gate sampled them: a pair's
  -- difference did not always equal itself compared the other way round
  -- (a[j] against t + b[i]), and the selection never ended. Run in a
  -- process of its own, so a regression fails here instead of hanging.
  local A = {-1.6001476459970438, -1.6001476459970438, -1.6001476459970438, -0.057528146194069069, -0.031835175061471231, -0.031835175061471231, -0.031835175061471231, -0.031835175061471231, -0.031835175061471231, -0.031835175061471231, 0.2295178659930959, 0.2295178659930959, 0.52010384352731742, 0.52010384352731742, 0.98383985144277575, 0.98383985144277575, 0.98383985144277575}
  local B = {-1.6001476459970438, -1.6001476459970438, -1.6001476459970438, -1.6001476459970438, -1.6001476459970438, -0.057528146194069069, 0.2295178659930959, 0.3295178659930959, 0.3295178659930959, 0.52010384352731742, 0.52010384352731742, 0.52010384352731742, 0.52010384352731742, 0.6201038435273174, 0.98383985144277575, 0.98383985144277575, 1.0838398514427758}

  it("ends on tied, rounded differences and gives the k-th smallest of them", function()
    local exec = require "exec"
    local json = require "json"
    local code = "local rank = require 'judge.rank'; local a, b = " .. json.encode(A):gsub("%[", "{"):gsub("%]", "}")
      .. ", " .. json.encode(B):gsub("%[", "{"):gsub("%]", "}")
      .. "; local out = {}; for k = 1, #a * #b do out[k] = rank.select(a, b, k) end; return out"
    local bin = os.getenv("FERRY_BIN") or "./ferry"
    local r = exec.run { argv = { bin, "eval", code }, timeout = 60 }
    assert.are.equal(0, r.code, "rank.select did not end: " .. r.stderr)
    local got = json.decode(r.stdout)
    local all = {}
    for _, x in ipairs(B) do for _, y in ipairs(A) do all[#all + 1] = y - x end end
    table.sort(all)
    assert.are.equal(#all, #got)
    for k = 1, #all do assert.are.equal(all[k], got[k], "k = " .. k) end
  end)
end)
