-- The words of the reports, under busted's `say` keys (busted.languages.en),
-- for output handlers written the busted way: s("output.failure") etc.

local say = require "ferry.test.say"
local trace = require "ferry.test.trace"

local words = {
  ["output.pending"] = "Pending",
  ["output.failure"] = "Failure",
  ["output.error"] = "Error",
  ["output.success"] = "Success",
  ["output.pending_plural"] = "pending",
  ["output.failure_plural"] = "failures",
  ["output.error_plural"] = "errors",
  ["output.success_plural"] = "successes",
  ["output.pending_zero"] = "pending",
  ["output.failure_zero"] = "failures",
  ["output.error_zero"] = "errors",
  ["output.success_zero"] = "successes",
  ["output.pending_single"] = "pending",
  ["output.failure_single"] = "failure",
  ["output.error_single"] = "error",
  ["output.success_single"] = "success",
  ["output.seconds"] = "seconds",
  ["output.no_test_files_match"] = "No test files found matching Lua pattern: %s",
  ["output.file_not_found"] = "Cannot find file or directory: %s",
}
for key, text in pairs(words) do
  say:set(key, text)
end

trace.mark_internal()

return {
  failure_messages = {
    "You have %d busted specs",
    "Your specs are busted",
    "Your code is bad and you should feel bad",
    "Your code is in the Danger Zone",
    "Strange game. The only way to win is not to test",
    "My grandmother wrote better specs on a 3 86",
    "Every time there's a failure, drink another beer",
    "Feels bad man",
  },
  success_messages = {
    "Aww yeah, passing specs",
    "Doesn't matter, had specs",
    "Feels good, man",
    "Great success",
    "Tests pass, drink another beer",
  },
}
