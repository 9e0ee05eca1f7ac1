--- ferry.text: plain-text tables, as kubectl and flux print them.
local text = {}

--- rows (lists of strings, the headers first) in columns two spaces apart;
-- the last column is not padded, so no line ends in spaces.
function text.columns(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for j = 1, #row - 1 do widths[j] = math.max(widths[j] or 0, #row[j]) end
  end
  local lines = {}
  for i, row in ipairs(rows) do
    local cells = {}
    for j = 1, #row - 1 do cells[j] = row[j] .. string.rep(" ", widths[j] - #row[j]) end
    cells[#row] = row[#row]
    lines[i] = table.concat(cells, "  ")
  end
  return lines
end

return text
