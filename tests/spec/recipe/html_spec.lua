-- The HTML report: well-formed, hostile text escaped and secrets redacted,
-- intervals and empty series shown as they are, written beside the other
-- reports, and loaded by a real browser (Debian's chromium) without errors.
local exec = require "exec"
local helpers = require "tests.spec.support.helpers"
local html = require "ferry.engine.html"
local json = require "json"
local log = require "log"
local recipe = require "recipe"

local T0 = 1767225600 -- 2026-01-01T00:00:00Z

local function points(base, n)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = { T0 + 30 * i, base + (i % 5) } end
  return out
end

local function run_data(overrides)
  local data = { id = "r-1", recipe = "upgrade-cluster", status = "succeeded", verdict = "pass",
                 started = "2026-01-01T00:00:00Z", finished = "2026-01-01T00:20:00Z", seconds = 1200,
                 steps = { { name = "compare-clusters", status = "done", seconds = 61.5 } } }
  for k, v in pairs(overrides or {}) do data[k] = v end
  return data
end

local function collected_of(overrides)
  local c = {
    comparisons = { { scope = "shop", name = "latency_p99", baseline = 120, candidate = 130, unit = "ms", estimate = 0.08,
                      ci = { low = 0.02, high = 0.15 }, n = { baseline = 300, candidate = 310 },
                      method = "hodges-lehmann log-ratio", verdict = "inconclusive", detail = "spans the margin" } },
    timeseries = { { scope = "shop", check = "latency_p99", unit = "ms", baseline = points(120, 40),
                     candidate = points(128, 40) } },
    marks = { { t = T0 + 300, label = "10% to new" }, { t = T0 + 600, label = "50% to new" } },
    sections = {},
  }
  for k, v in pairs(overrides or {}) do c[k] = v end
  return c
end

-- Parses the page as XML, and each <svg> element of its text on its own;
-- returns the number of charts, or raises with the parser's message.
local CHECKER = [[
import re, sys, xml.etree.ElementTree as ET
text = open(sys.argv[1], encoding="utf-8").read()
root = ET.fromstring(text)
svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
for s in svgs:
    ET.fromstring(s)
found = root.findall(".//{http://www.w3.org/2000/svg}svg")
assert len(found) == len(svgs), (len(found), len(svgs))
print(len(svgs))
]]

local function write_page(dir, text)
  local path = dir .. "/report.html"
  helpers.write_file(path, text)
  return path
end

local function charts_in(path)
  local r = exec.run { argv = { "python3", "-c", CHECKER, path }, timeout = 30 }
  assert(r.code == 0, "not well-formed XML: " .. r.stderr)
  return tonumber(r.stdout)
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

describe("the HTML report", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  it("is one well-formed page: every chart an SVG that parses as XML, no scripts, nothing fetched", function()
    local text = html.render(run_data(), collected_of())
    assert.are.equal(1, charts_in(write_page(dir, text)))
    assert.matches("^<!DOCTYPE html>", text)
    assert.is_nil(text:lower():find("<script", 1, true))
    for url in text:gmatch("https?://[^\"]+") do
      assert.truthy(url:match("^http://www%.w3%.org/"), "only namespaces are URLs: " .. url)
    end
  end)

  it("shows the verdict table with units, change, interval and samples", function()
    local text = html.render(run_data(), collected_of())
    for _, expected in ipairs { "120\u{A0}ms", "130\u{A0}ms", "+8%", "[+2%, +15%]", "300 old / 310 new", "? inconclusive",
                                "spans the margin", "hodges-lehmann log-ratio", ">compare-clusters<" } do
      assert.truthy(text:find(expected, 1, true), "the page shows " .. expected)
    end
  end)

  it("writes error rates' change in percentage points", function()
    local text = html.render(run_data(), collected_of { comparisons = {
      { scope = "shop", name = "error_rate", baseline = 0.4, candidate = 1.6, unit = "%", estimate = 1.2,
        ci = { low = 0.9, high = 1.5 }, n = { baseline = 9000, candidate = 9100 }, verdict = "fail" } } })
    assert.truthy(text:find("+1.2\u{A0}pp [+0.9\u{A0}pp, +1.5\u{A0}pp]", 1, true))
    assert.truthy(text:find("0.4%", 1, true))
  end)

  it("writes unbounded intervals as such", function()
    local text = html.render(run_data(), collected_of { comparisons = {
      { scope = "shop", name = "cpu", unit = "cores", estimate = 0.1, ci = { low = -math.huge, high = math.huge },
        n = { baseline = 3, candidate = 3 }, verdict = "inconclusive" },
      { scope = "shop", name = "memory", unit = "bytes", estimate = 0.1, ci = { low = 0.05, high = math.huge },
        n = { baseline = 3, candidate = 4 }, verdict = "inconclusive" } } })
    assert.truthy(text:find("+10% [−∞, +∞] (unbounded)", 1, true))
    assert.truthy(text:find("+10% [+5%, +∞] (unbounded)", 1, true))
    assert.are.equal(1, charts_in(write_page(dir, text)))
  end)

  it("says no samples for a series without points, and draws the rest", function()
    local text = html.render(run_data(), collected_of { timeseries = {
      { scope = "shop", check = "cpu", unit = "cores", baseline = {}, candidate = {} },
      { scope = "shop", check = "memory", unit = "bytes", baseline = { { T0, 0 / 0 } }, candidate = {} },
      { scope = "web", check = "latency_p50", unit = "ms", baseline = {}, candidate = points(10, 1) } } })
    local _, empty = text:gsub(">no samples<", "")
    assert.are.equal(2, empty)
    assert.are.equal(3, charts_in(write_page(dir, text)))
    assert.truthy(text:find("<h2>web: old vs new</h2>", 1, true))
  end)

  it("marks the traffic steps on the charts with their labels, and tells old from new without colour", function()
    local text = html.render(run_data(), collected_of())
    local svg = text:match("<svg.-</svg>")
    local _, marks = svg:gsub('<line class="mark"', "")
    assert.are.equal(2, marks)
    assert.truthy(svg:find(">10% to new<", 1, true))
    assert.truthy(svg:find(">50% to new<", 1, true))
    assert.truthy(svg:find(">old (baseline)<", 1, true))
    assert.truthy(svg:find(">new (candidate)<", 1, true))
    assert.truthy(svg:find(">time (UTC, 2026-01-01)<", 1, true))
    assert.truthy(svg:find(">00:05<", 1, true), "time ticks")
    assert.truthy(svg:find(">ms<", 1, true), "the unit on the value axis")
    assert.truthy(text:find("svg .old { stroke: #0072b2; stroke-dasharray", 1, true), "old is dashed")
  end)

  it("escapes hostile text and redacts a secret before escaping it", function()
    local secret = log.secret('to<k"en&9')
    local hostile = [[<script>alert("x")</script> & 'quoted' ]] .. secret
    local text = html.render(run_data {
      recipe = hostile, status = "failed", error = hostile, failed_step = hostile,
      steps = { { name = hostile, status = hostile, error = hostile } },
    }, collected_of {
      comparisons = { { scope = hostile, name = hostile, baseline = hostile, unit = hostile, verdict = hostile,
                        detail = hostile, method = hostile, estimate = 0.1, ci = { low = 0, high = 0.2 } } },
      timeseries = { { scope = hostile, check = hostile, unit = hostile, baseline = points(1, 3), candidate = {} } },
      marks = { { t = T0 + 30, label = hostile } },
      sections = { { title = hostile, text = hostile } },
    })
    assert.are.equal(1, charts_in(write_page(dir, text)))
    assert.is_nil(text:lower():find("<script", 1, true))
    assert.truthy(text:find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; ***", 1, true))
    for _, form in ipairs { secret, "to&lt;k&quot;en&amp;9", "to&lt;k", 'k"en' } do
      assert.is_nil(text:find(form, 1, true), "the page holds the secret as " .. form)
    end
  end)

  it("keeps control characters and broken UTF-8 from breaking the page", function()
    local text = html.render(run_data { status = "failed", error = "bad\0byte \27[31mred\27[0m \xff\xfe end ✔" },
      collected_of())
    assert.are.equal(1, charts_in(write_page(dir, text)))
    assert.truthy(text:find("end ✔", 1, true))
  end)
end)

describe("report.write", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir()
    log.configure { stream = io.tmpfile() } -- the runs' progress lines
  end)
  after_each(function()
    log.configure { stream = io.stderr }
    helpers.remove_tree(dir)
  end)

  local function run(r, options)
    options = options or {}
    options.state_dir = dir .. "/state"
    options.report_dir = dir
    options.output = options.output or io.tmpfile()
    return recipe.run(r, options)
  end

  local measuring = { name = "measure", run = function(ctx)
    ctx.report:mark(T0 + 300, "10% to new")
    ctx.report:comparison("shop", { { name = "latency_p99", baseline = 120, candidate = 121, unit = "ms", verdict = "pass",
                                      estimate = 0.01, ci = { low = -0.02, high = 0.04 }, n = { baseline = 40, candidate = 40 } } })
    ctx.report:series("shop", "latency_p99", { unit = "ms", baseline = points(120, 40), candidate = points(121, 20) })
    ctx.report:series("shop", "latency_p99", { unit = "ms", baseline = points(120, 40), candidate = points(121, 40) })
  end }

  it("writes <run>.html beside the Markdown and JSON and prints its path", function()
    local output = io.tmpfile()
    local report = run(recipe { name = "charts", steps = { measuring } }, { output = output })
    assert.are.equal("succeeded", report.status)
    assert.are.equal(dir .. "/" .. report.id .. ".html", report.html_path)
    output:seek("set")
    assert.matches("HTML: " .. plain(report.html_path), output:read("a"))
    assert.are.equal(report.html_path, json.decode(helpers.read_file(report.json_path)).html_path)
    local text = helpers.read_file(report.html_path)
    assert.are.equal(1, charts_in(report.html_path), "a later series of the same check replaces the earlier")
    local svg = text:match("<svg.-</svg>")
    local _, dots = svg:gsub('class="dot new"', "")
    assert.are.equal(40, dots)
    assert.truthy(svg:find(">10% to new<", 1, true))
    assert.truthy(text:find("charts — SUCCEEDED", 1, true))
  end)

  it("keeps a resumed run's earlier series and marks", function()
    local calls = 0
    local r = recipe { name = "twice", steps = { measuring, { name = "flaky", run = function()
      calls = calls + 1
      if calls == 1 then error({ kind = "interrupted", message = "stopped" }, 0) end
    end } } }
    local first = run(r)
    assert.are.equal("interrupted", first.status)
    local second = run(r, { resume = first.id })
    assert.are.equal("succeeded", second.status)
    local text = helpers.read_file(second.html_path)
    assert.are.equal(1, charts_in(second.html_path))
    assert.truthy(text:find(">10% to new<", 1, true))
  end)

  it("keeps a secret parameter out of the page", function()
    local secret = 'pa"ss<word&7'
    local report = run(recipe {
      name = "secretive",
      params = { { name = "token", secret = true } },
      steps = { { name = "fail", run = function(ctx)
        ctx.report:mark(T0, "token " .. secret)
        error("the server refused token " .. secret, 0)
      end } },
    }, { params = { token = secret } })
    local text = helpers.read_file(report.html_path)
    assert.truthy(text:find("refused token ***", 1, true))
    for _, form in ipairs { secret, "pa&quot;ss&lt;word&amp;7", "pa&quot;ss" } do
      assert.is_nil(text:find(form, 1, true), "the page holds the secret as " .. form)
    end
  end)
end)

-- Debian's chromium, installed when missing (as root, or through sudo -n).
local function chromium()
  local path = exec.which("chromium")
  if path then return path end
  local sudo = exec.run({ argv = { "id", "-u" } }).stdout:match("^0") and {} or { "sudo", "-n" }
  local function apt(...)
    local argv = table.move(sudo, 1, #sudo, 1, {})
    table.move({ ... }, 1, select("#", ...), #argv + 1, argv)
    return exec.run { argv = argv, env = { DEBIAN_FRONTEND = "noninteractive" }, timeout = 900 }
  end
  if apt("apt-get", "install", "-y", "-q", "chromium").code ~= 0 then
    apt("apt-get", "update", "-q")
    apt("apt-get", "install", "-y", "-q", "chromium")
  end
  return assert(exec.which("chromium"), "cannot install Debian's chromium (make deps installs it)")
end

-- Loads a file in headless Chromium with a fresh profile; returns the DOM
-- it dumps and the console messages it logs.
local function browse(path)
  local profile = helpers.tmpdir()
  local r = exec.run { argv = { chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--user-data-dir=" .. profile, "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" .. path },
    timeout = 120 }
  helpers.remove_tree(profile)
  assert(r.code == 0, "chromium failed: " .. r.stderr)
  local console = {}
  for l in r.stderr:gmatch("[^\n]+") do
    if l:find(":CONSOLE", 1, true) or l:find("Uncaught", 1, true) then console[#console + 1] = l end
  end
  return r.stdout, console
end

describe("the HTML report in headless Chromium", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.remove_tree(dir) end)

  it("loads without console errors and holds its charts", function()
    local page = write_page(dir, html.render(run_data(), collected_of { timeseries = {
      { scope = "shop", check = "latency_p99", unit = "ms", baseline = points(120, 40), candidate = points(128, 40) },
      { scope = "shop", check = "cpu", unit = "cores", baseline = {}, candidate = {} } } }))
    local dom, console = browse(page)
    assert.are.same({}, console)
    local _, charts = dom:gsub("<svg ", "")
    assert.are.equal(2, charts)
    assert.truthy(dom:find("<polyline", 1, true))
    assert.truthy(dom:find(">no samples<", 1, true))
    assert.truthy(dom:find(">10% to new<", 1, true))
  end)

  it("is seen to report a page's errors (the check above can fail)", function()
    local page = dir .. "/bad.html"
    helpers.write_file(page, "<!DOCTYPE html><html><body><script>throw new Error('bad')</script></body></html>")
    local _, console = browse(page)
    assert.matches("Uncaught Error: bad", table.concat(console, "\n"))
  end)
end)
