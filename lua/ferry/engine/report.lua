--- ferry.engine.report: the end of a run — Markdown for people (printed and
-- saved), an HTML page with charts for people (ferry.engine.html), JSON for
-- machines, all beside the journal: steps, durations, metric comparisons
-- added by steps (with their samples over time and the run's marks, for
-- the charts), and the verdict.
local errors = require "ferry.errors"
local json = require "json"
local log = require "log"
local sys = require "ferry.sys"

local report = {}

local Collector = {}
Collector.__index = Collector

--- What steps add to the report while they run. Kept in the run's
-- journal (data.report) so a resumed run reports what came before too.
function report.collector(journal_data)
  local saved = journal_data and journal_data.report or {}
  local self = setmetatable({
    sections = saved.sections or json.array {},
    comparisons = saved.comparisons or json.array {},
    -- not "series": that name is the method's
    timeseries = saved.timeseries or json.array {},
    marks = saved.marks or json.array {},
  }, Collector)
  if journal_data then
    journal_data.report = { sections = self.sections, comparisons = self.comparisons,
                            timeseries = self.timeseries, marks = self.marks }
  end
  return self
end

--- Adds a section of Markdown text under a title.
function Collector:section(title, text)
  self.sections[#self.sections + 1] = { title = title, text = text }
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- A number JSON can carry: NaN and infinities (an unbounded interval)
-- become null, so the journal and the JSON report can hold them.
local function storable(v)
  if type(v) == "number" and not finite(v) then return json.null end
  return v
end

--- Adds comparison rows: {name, verdict, detail, baseline, candidate (the
-- sides' figures: sample medians, or error rates in %), value_unit (their
-- unit), estimate, ci = {low, high}, n = {baseline, candidate}, method,
-- unit (of estimate and ci: "ratio" and "relative" are fractions, 0.1 =
-- +10 %; "points" percentage points; "absolute" the check's unit)}. An
-- unbounded bound (math.huge) is kept as json.null.
function Collector:comparison(scope, rows)
  for _, row in ipairs(rows) do
    local copy = { scope = scope }
    for k, v in pairs(row) do copy[k] = storable(v) end
    if type(row.ci) == "table" then copy.ci = { low = storable(row.ci.low), high = storable(row.ci.high) } end
    self.comparisons[#self.comparisons + 1] = copy
  end
end

local function points(list)
  local out = json.array {}
  for _, p in ipairs(list or {}) do
    if finite(p[1]) and finite(p[2]) then out[#out + 1] = json.array { p[1], p[2] } end
  end
  return out
end

--- Adds a check's values over time, old and new, for the charts: {unit =
-- "ms", baseline = {{t, v}, ...}, candidate = {{t, v}, ...}} (t: unix
-- seconds); points that are not finite are left out. A later call for the
-- same scope and check replaces the earlier one: a gate that looks again
-- passes its grown samples. Written to the JSON report as `series`.
function Collector:series(scope, check, values)
  local entry = { scope = scope, check = check, unit = values.unit,
                  baseline = points(values.baseline), candidate = points(values.candidate) }
  for i, s in ipairs(self.timeseries) do
    if s.scope == scope and s.check == check then
      self.timeseries[i] = entry
      return
    end
  end
  self.timeseries[#self.timeseries + 1] = entry
end

--- Marks a moment of the run on the charts (t: unix seconds), e.g. the
-- traffic weight set: "10% to new".
function Collector:mark(t, label)
  self.marks[#self.marks + 1] = { t = t, label = label }
end

local function number(v)
  if type(v) ~= "number" then return (v == nil or v == json.null) and "—" or tostring(v) end
  if v ~= v then return "NaN" end
  return string.format("%.4g", v)
end

local function with_unit(v, unit)
  local text = number(v)
  if text == "—" or not unit then return text end
  return text .. " " .. unit
end

-- A bound of a change: "unbounded" for null (or an infinity).
local function bound(v, units)
  if v == nil or v == json.null or not finite(v) then return "unbounded" end
  if units == "points" then return string.format("%+.2f pts", v) end
  if units == "absolute" then return string.format("%+.4g", v) end
  return string.format("%+.1f %%", 100 * v)
end

local function change(c)
  if c.estimate == nil or c.estimate == json.null then
    return c.ratio and ("×" .. number(c.ratio)) or "—"
  end
  local text = bound(c.estimate, c.unit)
  if type(c.ci) == "table" then text = string.format("%s [%s, %s]", text, bound(c.ci.low, c.unit),
    bound(c.ci.high, c.unit)) end
  return text
end

local function counts(n)
  if type(n) ~= "table" then return "—" end
  local function one(x) return type(x) == "number" and string.format("%.0f", x) or "—" end
  return one(n.baseline) .. " vs " .. one(n.candidate)
end

local function markdown(data, collected)
  local lines = {
    string.format("# %s — %s", data.recipe, string.upper(data.status)),
    "",
    string.format("Run `%s`, started %s, finished %s (%.1f s).", data.id, data.started,
      tostring(data.finished), data.seconds or 0),
  }
  if data.error then
    lines[#lines + 1] = ""
    lines[#lines + 1] = string.format("**Failed at step `%s`:** %s", tostring(data.failed_step), data.error)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "| Step | Status | Seconds | Note |"
  lines[#lines + 1] = "|---|---|---|---|"
  for _, s in ipairs(data.steps) do
    lines[#lines + 1] = string.format("| %s | %s | %s | %s |", s.name, s.status,
      s.seconds and string.format("%.1f", s.seconds) or "—",
      (s.error or s.undo_error or s.note or ""):gsub("|", "\\|"):gsub("\n", " "))
  end
  if #collected.comparisons > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "## Metrics: old vs new"
    lines[#lines + 1] = ""
    lines[#lines + 1] = "| Scope | Check | Old | New | Change | Samples | Verdict |"
    lines[#lines + 1] = "|---|---|---|---|---|---|---|"
    for _, c in ipairs(collected.comparisons) do
      lines[#lines + 1] = string.format("| %s | %s | %s | %s | %s | %s | %s |", tostring(c.scope), tostring(c.name),
        with_unit(c.baseline, c.value_unit), with_unit(c.candidate, c.value_unit), change(c), counts(c.n),
        tostring(c.verdict) .. (c.failed_safe == true and " (fails safe)" or ""))
    end
  end
  for _, section in ipairs(collected.sections) do
    lines[#lines + 1] = ""
    lines[#lines + 1] = "## " .. section.title
    lines[#lines + 1] = ""
    lines[#lines + 1] = section.text
  end
  return table.concat(lines, "\n") .. "\n"
end

--- Writes <run>.md, <run>.report.json and <run>.html beside the journal,
-- prints the Markdown (to options.output, default stdout) and returns the
-- report.
function report.write(journal, collected, options)
  local data = journal.data
  local result = {
    id = data.id, recipe = data.recipe, status = data.status, verdict = data.status == "succeeded" and "pass" or "fail",
    started = data.started, finished = data.finished, seconds = data.seconds, error = data.error,
    failed_step = data.failed_step, steps = data.steps,
    comparisons = json.array(collected.comparisons), sections = json.array(collected.sections),
    series = json.array(collected.timeseries or {}), marks = json.array(collected.marks or {}),
  }
  local dir = options.report_dir or journal.dir
  require("ferry.engine.journal").ensure_dir(dir)
  -- redacted before they are escaped into Markdown and JSON
  data, collected, result = log.redact_value(data), log.redact_value(collected), log.redact_value(result)
  local text = log.redact(markdown(data, collected))
  result.markdown_path = dir .. "/" .. data.id .. ".md"
  result.json_path = dir .. "/" .. data.id .. ".report.json"
  result.html_path = dir .. "/" .. data.id .. ".html"
  local ok, err = sys.write_atomic(result.markdown_path, text)
  if ok then ok, err = sys.write_atomic(result.html_path, require("ferry.engine.html").render(result, collected)) end
  if ok then
    ok, err = sys.write_atomic(result.json_path,
      log.redact(json.encode(result, { pretty = true, sort_keys = true })) .. "\n")
  end
  if not ok then log.warn("cannot write the report: %s", errors.format(err)) end
  local out = options.output or io.stdout
  out:write("\n", text)
  out:write(string.format("\nReport: %s (JSON: %s, HTML: %s)\n", result.markdown_path, result.json_path,
    result.html_path))
  return result
end

return report
