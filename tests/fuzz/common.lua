--- What the fuzz drivers share: running a step that may refuse its input
-- with a ferry error, comparing decoded values, and a scratch file for the
-- parsers that read a path. Loaded by each driver with dofile.
local common = {}

--- Calls fn(...): its results, or nil when it raised a ferry error (the
-- input was refused, clearly). Any other error goes on up to the harness,
-- which reports it as a finding.
function common.attempt(fn, ...)
  local results = table.pack(pcall(fn, ...))
  if results[1] then return table.unpack(results, 2, results.n) end
  local err = results[2]
  if type(err) == "table" and type(err.kind) == "string" and type(err.message) == "string" then
    return nil
  end
  error(err, 0)
end

--- True when a and b hold the same data (NaN equal to NaN).
function common.same(a, b)
  if a ~= a and b ~= b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b
  end
  for k, v in pairs(a) do
    if not common.same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- A directory of this process's own, under /dev/shm when there is one.
local base = io.open("/dev/shm") and "/dev/shm" or (os.getenv("TMPDIR") or "/tmp")
local sys = require "ferry.sys"
common.dir = string.format("%s/ferry-fuzz-%d", base, sys.getpid())
assert(sys.mkdir(common.dir))

--- Writes text to a scratch file of this process and returns its path.
function common.write(name, text)
  local path = common.dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

--- Lets io.open reach only the scratch directory: a fuzzed kubeconfig may
-- name any path (/dev/zero, a device, a huge file) as its CA or token file;
-- reading it would stall the run, and tell nothing about the parser.
function common.confine_files()
  local open = io.open
  local prefix = common.dir .. "/"
  io.open = function(path, mode)
    if type(path) == "string" and path:sub(1, #prefix) == prefix then return open(path, mode) end
    -- a value that is no path at all reaches io.open itself, as it would in ferry
    if type(path) ~= "string" and type(path) ~= "number" then return open(path, mode) end
    return nil, tostring(path) .. ": No such file or directory (outside the fuzz directory)"
  end
end

return common
