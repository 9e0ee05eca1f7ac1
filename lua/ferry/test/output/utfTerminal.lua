-- busted's default report on a terminal: coloured marks ● ◼ ✱ ◌.
-- Colour only when the output is a terminal (options.color); then the
-- differing key in table dumps is highlighted in red too.

local terminal = require "ferry.test.output.terminal"
local state = require "ferry.test.state"

return function(options, suite)
  state.set_parameter("TableErrorHighlightColor", options.color and "red" or "none")
  return terminal({
    marks = { success = "\u{25CF}", failure = "\u{25FC}", error = "\u{2731}", pending = "\u{25CC}" },
    arrow = "\u{2192}",
    color = options.color,
  })(options, suite)
end
