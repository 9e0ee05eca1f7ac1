-- Run journals: load any bytes as the journal of a run, and list the runs
-- of a state directory holding it, as `ferry run --resume` and `ferry runs` do.
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local journal = require "ferry.engine.journal"
local sys = require "ferry.sys"

assert(sys.mkdir(common.dir .. "/runs"))

local function test(input)
  local path = common.write("runs/fuzz-run.json", input)
  local run = common.attempt(journal.load, path)
  if run then
    for _, step in ipairs(run.data.steps) do run:step(step.name) end
  end
  for _, r in ipairs(journal.list(common.dir)) do
    string.format("%-48s %-18s %-12s %s", r.id, r.recipe, r.status, r.started)
  end
end

return { test = test, lua_coverage = true }
