-- The runs of a suite: --repeat, and the order of the files
-- (--sort-files, --shuffle-files), as busted.execute does it.
--
-- Between runs the suite is reset: each file forgets what it declared (its
-- describe bodies run again), a new seed is drawn unless --seed gave one,
-- and {"suite", "reset"} tells output handlers to start over.

local block = require "ferry.test.block"
local util = require "ferry.test.util"
local trace = require "ferry.test.trace"

local execute = {}

local function new_seed(options)
  return tonumber(options.seed) or util.urandom() or os.time()
end

-- options: runs (default 1), seed, shuffle_files, sort_files.
function execute.run(suite, options)
  options = options or {}
  local root = suite.root
  local runs = options.runs or 1
  local files = table.move(root.children, 1, #root.children, 1, {})
  for i = 1, runs do
    if i > 1 then
      root.children = table.move(files, 1, #files, 1, {})
      for _, file in ipairs(files) do
        suite:forget(file)
      end
      root.lazy_done = nil
      suite.randomseed = new_seed(options)
      suite:safe_publish("suite", { "suite", "reset" }, root, i, runs)
    end
    if options.sort_files then
      util.sort_by_name(root.children)
    elseif options.shuffle_files then
      root.randomseed = suite.randomseed
      util.shuffle(root.children, suite.randomseed)
    end
    block.run_suite(suite, i, runs, suite.randomize and suite.randomseed or nil)
    if suite.skip_all then
      break
    end
  end
end

execute.new_seed = new_seed

trace.mark_internal()

return execute
