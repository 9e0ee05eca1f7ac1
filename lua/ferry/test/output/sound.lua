-- busted's --enable-sound: at the end of each run, says a line aloud with
-- espeak (on Linux; `say` elsewhere) when it is installed.

local base = require "ferry.test.output.base"
local exec = require "exec"
local language = require "ferry.test.language"
local trace = require "ferry.test.trace"

trace.mark_internal()

return function(_, suite)
  local handler = base(suite)

  function handler.suiteEnd()
    local messages = handler.failuresCount > 0 and language.failure_messages or language.success_messages
    local line = messages[math.random(1, #messages)]
    local argv
    if exec.which("espeak") then
      argv = { "espeak", "-s", "160", line }
    elseif exec.which("say") then
      argv = { "say", line }
    end
    if argv then
      handler.process = exec.spawn { argv = argv }
    end
    return nil, true
  end

  local subscribe_base = handler.subscribe
  function handler.subscribe(self, opts)
    subscribe_base(self, opts)
    suite:subscribe({ "suite", "end" }, handler.suiteEnd)
  end

  return handler
end
