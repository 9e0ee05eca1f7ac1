-- busted's default report on a terminal: coloured marks ● ◼ ✱ ◌.
-- Colour when the output is a terminal, or as -Xoutput --color/--plain
-- say; then the differing key in table dumps is highlighted in red too.

local terminal = require "ferry.test.output.terminal"

return terminal({
  name = "utfTerminal",
  marks = { success = "\u{25CF}", failure = "\u{25FC}", error = "\u{2731}", pending = "\u{25CC}" },
  arrow = "\u{2192}",
  color = nil,
})
