-- busted's report for pipes and logs: marks + - * . and no colour.

local terminal = require "ferry.test.output.terminal"

return terminal({
  marks = { success = "+", failure = "-", error = "*", pending = "." },
  arrow = "->",
  color = false,
})
