--- ferry.engine.html: the report of a run as one HTML page that people
-- open in a browser: the run, its steps, and per scope (tenant) the verdict
-- table and a chart of old vs new over time for each check, with the
-- moments traffic moved. Self-contained (inline CSS and SVG; no scripts,
-- fonts or links to fetch), and well-formed XML throughout so any XML tool
-- reads its charts.
local log = require "log"

local html = {}

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local REPLACEMENT = "\u{FFFD}"

-- XML admits neither control characters (but tab and newlines) nor bytes
-- that are not UTF-8; an error message may hold either.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local ok, code = pcall(utf8.codepoint, s, i)
    if ok then
      local c = utf8.char(code)
      out[#out + 1] = c
      i = i + #c
    else
      out[#out + 1] = REPLACEMENT
      i = i + 1
    end
  end
  return table.concat(out)
end

--- Text made safe for HTML element content and attribute values: secrets
-- redacted first (once escaped, a secret holding `"` or `<` would no
-- longer match itself), then escaped.
local function escape(v)
  local s = valid_utf8(log.redact(tostring(v)))
  s = s:gsub("[\0-\8\11\12\14-\31]", REPLACEMENT)
  return (s:gsub("[&<>\"']", ESCAPES))
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function number(v)
  if type(v) ~= "number" then return type(v) == "string" and escape(v) or "—" end -- nil, json.null
  if v ~= v then return "NaN" end
  if v == math.huge then return "+∞" end
  if v == -math.huge then return "−∞" end
  return (string.format("%.4g", v):gsub("^%-", "−"))
end

-- A value and its unit, kept on one line (a no-break space between).
local function with_unit(v, unit)
  if not finite(v) or not unit or unit == "" then return number(v) end
  return number(v) .. (unit == "%" and "" or "\u{A0}") .. escape(unit)
end

local function signed(v, unit)
  local text = with_unit(v, unit)
  if finite(v) and v > 0 then text = "+" .. text end
  return text
end

-- ---------------------------------------------------------------- the tables

-- An element: attributes as a flat list of names and values, body (HTML
-- already) or none for an empty element.
local function tag(name, attributes, body)
  local parts = { "<", name }
  for i = 1, #(attributes or {}), 2 do
    parts[#parts + 1] = string.format(' %s="%s"', attributes[i], escape(attributes[i + 1]))
  end
  if body == nil then
    parts[#parts + 1] = "/>"
  else
    parts[#parts + 1] = ">" .. body .. "</" .. name .. ">"
  end
  return table.concat(parts)
end

local function table_of(headers, rows)
  local out = { "<table><thead><tr>" }
  for _, h in ipairs(headers) do out[#out + 1] = "<th>" .. escape(h) .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, row in ipairs(rows) do
    out[#out + 1] = "<tr>"
    for _, cell in ipairs(row) do out[#out + 1] = cell end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out, "\n")
end

local VERDICT_SIGNS = { pass = "✔", succeeded = "✔", fail = "✘", failed = "✘", rolled_back = "✘",
                        inconclusive = "?", no_data = "∅", interrupted = "!" }

-- A verdict or status as a cell: a sign and the word, so it reads without
-- its colour.
local function verdict_cell(verdict)
  local v = tostring(verdict or "—")
  local class = v:match("^[%w_]+$") and "verdict v-" .. v or "verdict"
  return tag("td", { "class", class }, escape((VERDICT_SIGNS[v] and VERDICT_SIGNS[v] .. " " or "") .. v))
end

local function steps_table(steps)
  local rows = {}
  for _, s in ipairs(steps or {}) do
    rows[#rows + 1] = {
      "<td>" .. escape(s.name) .. "</td>", verdict_cell(s.status),
      "<td class=\"num\">" .. (s.seconds and string.format("%.1f", s.seconds) or "—") .. "</td>",
      "<td>" .. escape(s.error or s.undo_error or s.note or "") .. "</td>",
    }
  end
  return table_of({ "Step", "Status", "Seconds", "Note" }, rows)
end

-- How the judge expresses a row's change: percentage points for error
-- rates (unit "%"), the data's own unit where the baseline's median was 0,
-- else relative to the baseline.
-- Rows of the stock gate carry value_unit (the sides' figures) and unit
-- (the change's: "ratio", "relative", "points", "absolute").
local function change_kind(row)
  local units = row.units or (row.value_unit and row.unit)
  if units == "points" or (units == nil and row.unit == "%") then return "points" end
  if units == "absolute" then return "absolute" end
  return "relative"
end

local function value_unit(row)
  return row.value_unit or row.unit
end

-- A bound as a number: null (how the journal keeps an unbounded one) is infinite.
local function bound_of(v, infinite)
  return type(v) == "number" and v or infinite
end

local function change_value(v, kind, unit)
  if not finite(v) then return number(v) end
  if kind == "points" then return signed(v, "pp") end
  if kind == "absolute" then return signed(v, unit) end
  return signed(v * 100, "%")
end

local function change_text(row)
  if type(row.estimate) ~= "number" then
    return row.ratio ~= nil and ("ratio " .. number(row.ratio)) or "—"
  end
  local kind = change_kind(row)
  local text = change_value(row.estimate, kind, value_unit(row))
  local ci = row.ci
  if type(ci) == "table" and (ci.low ~= nil or ci.high ~= nil) then
    local low, high = bound_of(ci.low, -math.huge), bound_of(ci.high, math.huge)
    text = text .. " [" .. change_value(low, kind, value_unit(row)) .. ", "
      .. change_value(high, kind, value_unit(row)) .. "]"
    if not finite(low) or not finite(high) then text = text .. " (unbounded)" end
  end
  return text
end

local function samples_text(n)
  if type(n) ~= "table" then return "—" end
  return number(n.baseline) .. " old / " .. number(n.candidate) .. " new"
end

local function verdict_table(rows)
  local out = {}
  for _, row in ipairs(rows) do
    local detail = row.detail and escape(row.detail) or ""
    if row.method then
      detail = detail .. (detail ~= "" and "<br/>" or "") .. "<small>" .. escape(row.method) .. "</small>"
    end
    out[#out + 1] = {
      "<td>" .. escape(row.name) .. "</td>",
      "<td class=\"num\">" .. with_unit(row.baseline, value_unit(row)) .. "</td>",
      "<td class=\"num\">" .. with_unit(row.candidate, value_unit(row)) .. "</td>",
      "<td class=\"num\">" .. change_text(row) .. "</td>",
      "<td class=\"num\">" .. samples_text(row.n) .. "</td>",
      verdict_cell(row.verdict),
      "<td>" .. detail .. "</td>",
    }
  end
  return table_of({ "Check", "Old", "New", "Change [interval]", "Samples", "Verdict", "Detail" }, out)
end

-- ---------------------------------------------------------------- the charts

local WIDTH, HEIGHT = 760, 280
local PLOT = { left = 72, right = 744, top = 56, bottom = 236 }

-- Steps of 1, 2 or 5 times a power of ten, about `count` of them over the
-- range.
local function nice_ticks(low, high, count)
  local raw = (high - low) / count
  local power = 10 ^ math.floor(math.log(raw, 10))
  local step = power * 10
  for _, f in ipairs { 1, 2, 5 } do
    if f * power >= raw then step = f * power; break end
  end
  local ticks = {}
  for i = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) do ticks[#ticks + 1] = i * step end
  return ticks
end

local TIME_STEPS = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400 }

local function time_ticks(low, high)
  local step = TIME_STEPS[#TIME_STEPS]
  for _, s in ipairs(TIME_STEPS) do
    if (high - low) / s <= 6 then step = s; break end
  end
  local ticks = {}
  for i = math.ceil(low / step), math.floor(high / step) do ticks[#ticks + 1] = i * step end
  return ticks, step < 60 and "!%H:%M:%S" or step < 86400 and "!%H:%M" or "!%m-%d"
end

local function usable(points)
  local out = {}
  for _, p in ipairs(points or {}) do
    if type(p) == "table" and finite(p[1]) and finite(p[2]) then out[#out + 1] = p end
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

local function domain(sides)
  local t0, t1, v0, v1 = math.huge, -math.huge, 0, -math.huge
  for _, points in ipairs(sides) do
    for _, p in ipairs(points) do
      t0, t1 = math.min(t0, p[1]), math.max(t1, p[1])
      v0, v1 = math.min(v0, p[2]), math.max(v1, p[2])
    end
  end
  if t1 <= t0 then t0, t1 = t0 - 30, t1 + 30 end
  if v1 <= v0 then v1 = v0 + 1 end
  local ticks = nice_ticks(v0, v1, 5)
  return { t0 = t0, t1 = t1, v0 = math.min(v0, ticks[1]), v1 = math.max(v1, ticks[#ticks]), ticks = ticks }
end

local function coord(v)
  return string.format("%.1f", v)
end

local function scaler(d)
  local function x(t) return PLOT.left + (t - d.t0) / (d.t1 - d.t0) * (PLOT.right - PLOT.left) end
  local function y(v) return PLOT.bottom - (v - d.v0) / (d.v1 - d.v0) * (PLOT.bottom - PLOT.top) end
  return x, y
end

local function svg_line(class, x1, y1, x2, y2)
  return tag("line", { "class", class, "x1", x1, "y1", y1, "x2", x2, "y2", y2 })
end

-- Text in a chart; body is HTML already.
local function svg_text(class, x, y, body, anchor, ...)
  return tag("text", { "class", class, "x", x, "y", y, "text-anchor", anchor or "start", ... }, body)
end

local function frame()
  return tag("rect", { "class", "plot", "x", PLOT.left, "y", PLOT.top, "width", PLOT.right - PLOT.left,
                       "height", PLOT.bottom - PLOT.top })
end

local function axes(d, unit, x, y)
  local out = { frame() }
  for _, v in ipairs(d.ticks) do
    local yy = coord(y(v))
    out[#out + 1] = svg_line("grid", PLOT.left, yy, PLOT.right, yy)
    out[#out + 1] = svg_text("tick", PLOT.left - 6, yy, number(v), "end", "dominant-baseline", "middle")
  end
  local ticks, format = time_ticks(d.t0, d.t1)
  for _, t in ipairs(ticks) do
    local xx = coord(x(t))
    out[#out + 1] = svg_line("axis", xx, PLOT.bottom, xx, PLOT.bottom + 5)
    out[#out + 1] = svg_text("tick", xx, PLOT.bottom + 18, escape(os.date(format, math.floor(t))), "middle")
  end
  local middle = (PLOT.top + PLOT.bottom) // 2
  out[#out + 1] = svg_text("label", (PLOT.left + PLOT.right) / 2, HEIGHT - 8,
    escape(os.date("!time (UTC, %Y-%m-%d)", math.floor(d.t0))), "middle")
  out[#out + 1] = svg_text("label", 14, middle, escape(unit and unit ~= "" and unit or "value"), "middle",
    "transform", string.format("rotate(-90 14 %d)", middle))
  return table.concat(out, "\n")
end

-- One side's line, its points marked too while few enough to tell apart
-- (hollow for old, filled for new: the shapes differ, not only the colour).
local function line(points, class, x, y)
  if #points == 0 then return "" end
  local coords = {}
  for i, p in ipairs(points) do coords[i] = coord(x(p[1])) .. "," .. coord(y(p[2])) end
  local out = { tag("polyline", { "class", "line " .. class, "points", table.concat(coords, " ") }) }
  if #points <= 60 then
    for _, p in ipairs(points) do
      out[#out + 1] = tag("circle", { "class", "dot " .. class, "cx", coord(x(p[1])), "cy", coord(y(p[2])), "r", 2.5 })
    end
  end
  return table.concat(out, "\n")
end

-- The traffic marks inside the time range: a vertical line each, labels
-- on alternating rows above the plot so neighbours do not overlap.
local function marks_of(marks, d, x)
  local out, shown = {}, 0
  for _, m in ipairs(marks or {}) do
    if finite(m.t) and m.t >= d.t0 and m.t <= d.t1 then
      shown = shown + 1
      local xx, row = x(m.t), (shown % 2) * 12
      out[#out + 1] = svg_line("mark", coord(xx), PLOT.top - 22 + row, coord(xx), PLOT.bottom)
      out[#out + 1] = svg_text("mark-label", coord(xx + 3), PLOT.top - 14 + row, escape(m.label))
    end
  end
  return table.concat(out, "\n")
end

local function legend()
  local y, old, new = 16, PLOT.right - 300, PLOT.right - 150
  return table.concat({
    svg_line("line old", old, y, old + 36, y), svg_text("legend", old + 42, y + 4, "old (baseline)"),
    svg_line("line new", new, y, new + 36, y), svg_text("legend", new + 42, y + 4, "new (candidate)"),
  }, "\n")
end

local function chart(series, marks, id)
  local old, new = usable(series.baseline), usable(series.candidate)
  local unit = series.unit and series.unit ~= "" and " (" .. tostring(series.unit) .. ")" or ""
  local title = tostring(series.check) .. unit
  local body = {
    string.format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" '
      .. 'role="img" aria-labelledby="%s">', WIDTH, HEIGHT, WIDTH, HEIGHT, id),
    tag("title", { "id", id }, escape(title .. ": old vs new over time")),
    svg_text("title", PLOT.left, 20, escape(title)),
  }
  if #old == 0 and #new == 0 then
    body[#body + 1] = frame()
    body[#body + 1] = svg_text("empty", (PLOT.left + PLOT.right) / 2, (PLOT.top + PLOT.bottom) / 2, "no samples",
      "middle")
  else
    local d = domain { old, new }
    local x, y = scaler(d)
    body[#body + 1] = axes(d, series.unit, x, y)
    body[#body + 1] = marks_of(marks, d, x)
    body[#body + 1] = line(old, "old", x, y)
    body[#body + 1] = line(new, "new", x, y)
    body[#body + 1] = legend()
  end
  body[#body + 1] = "</svg>"
  return table.concat(body, "\n")
end

-- ---------------------------------------------------------------- the page

-- The scopes in the order they first appear, each with its rows and series.
local function scopes_of(collected)
  local order, by_name = {}, {}
  local function scope(name)
    local key = tostring(name)
    if not by_name[key] then
      by_name[key] = { name = key, rows = {}, series = {} }
      order[#order + 1] = by_name[key]
    end
    return by_name[key]
  end
  for _, row in ipairs(collected.comparisons or {}) do table.insert(scope(row.scope).rows, row) end
  for _, s in ipairs(collected.timeseries or {}) do table.insert(scope(s.scope).series, s) end
  return order
end

local STYLE = [[
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 64em; padding: 0 1em; color: #1b1b1b; }
h1 .status { font-size: 0.7em; padding: 0.1em 0.5em; border: 2px solid; border-radius: 0.3em; }
.status.pass { color: #1a6b2f; } .status.fail { color: #a4161a; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; }
.verdict { white-space: nowrap; font-weight: 600; }
.v-pass, .v-succeeded, .v-done { background: #e3f4e6; } .v-fail, .v-failed, .v-rolled_back { background: #fbe3e3; }
.v-inconclusive, .v-no_data, .v-interrupted { background: #fff4d6; }
.error { border-left: 4px solid #a4161a; padding: 0.3em 0.8em; background: #fbe3e3; white-space: pre-wrap; }
pre { background: #f5f5f5; padding: 0.6em; white-space: pre-wrap; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 0.5em 0 1.5em; font-size: 11px; }
svg .plot { fill: #fff; stroke: #888; } svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #888; }
svg .tick { fill: #333; } svg .label, svg .legend { fill: #222; font-size: 12px; }
svg .title { font-size: 14px; font-weight: 600; fill: #111; } svg .empty { fill: #666; font-size: 14px; }
svg .line { fill: none; stroke-width: 2; } svg .old { stroke: #0072b2; stroke-dasharray: 7 4; }
svg .new { stroke: #d55e00; } svg .dot { stroke-dasharray: none; stroke-width: 1.5; }
svg .dot.old { fill: #fff; } svg .dot.new { fill: #d55e00; }
svg .mark { stroke: #444; stroke-width: 1; stroke-dasharray: 2 3; } svg .mark-label { fill: #222; }
]]

local function header(data)
  local verdict = data.verdict or (data.status == "succeeded" and "pass" or "fail")
  local out = {
    string.format('<h1>%s — %s <span class="status %s">%s %s</span></h1>', escape(data.recipe),
      escape(string.upper(tostring(data.status))), verdict == "pass" and "pass" or "fail",
      verdict == "pass" and "✔" or "✘", escape(string.upper(verdict))),
    string.format("<p>Run <code>%s</code>, started %s, finished %s (%.1f s).</p>", escape(data.id),
      escape(data.started), escape(data.finished), tonumber(data.seconds) or 0),
  }
  if data.error then
    out[#out + 1] = string.format('<p class="error"><strong>Failed at step <code>%s</code>:</strong> %s</p>',
      escape(data.failed_step), escape(data.error))
  end
  return table.concat(out, "\n")
end

--- The report as one HTML5 page. data: the run's report (id, recipe,
-- status, verdict, started, finished, seconds, error, failed_step, steps);
-- collected: the collector's comparisons, timeseries, marks and sections.
function html.render(data, collected)
  collected = collected or {}
  local out = {
    "<!DOCTYPE html>",
    '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
    '<head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>',
    -- nothing runs and nothing is fetched, whatever text got in
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>",
    "<title>" .. escape(tostring(data.recipe) .. " — " .. string.upper(tostring(data.status))) .. "</title>",
    "<style>" .. STYLE .. "</style></head>",
    "<body>",
    header(data),
    "<h2>Steps</h2>",
    steps_table(data.steps),
  }
  local charts = 0
  for _, scope in ipairs(scopes_of(collected)) do
    out[#out + 1] = "<section><h2>" .. escape(scope.name) .. ": old vs new</h2>"
    if #scope.rows > 0 then out[#out + 1] = verdict_table(scope.rows) end
    for _, s in ipairs(scope.series) do
      charts = charts + 1
      out[#out + 1] = chart(s, collected.marks, "chart-" .. charts)
    end
    out[#out + 1] = "</section>"
  end
  for _, section in ipairs(collected.sections or {}) do
    out[#out + 1] = "<section><h2>" .. escape(section.title) .. "</h2><pre>" .. escape(section.text)
      .. "</pre></section>"
  end
  out[#out + 1] = "</body></html>"
  return table.concat(out, "\n") .. "\n"
end

return html
