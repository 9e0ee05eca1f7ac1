-- Which files a run loads. A path naming a file is taken as it is; a
-- directory is searched recursively for files whose base name matches one
-- of the patterns (Lua patterns, busted's default "_spec") and none of the
-- exclude patterns. Hidden entries (".name") below a directory are skipped.
-- Each path's files are sorted, so runs are repeatable.

local sys = require "ferry.sys"
local trace = require "ferry.test.trace"

local discover = {}

local function join(dir, name)
  if dir:sub(-1) == "/" then
    return dir .. name
  end
  return dir .. "/" .. name
end

local function basename(path)
  return path:match("([^/]*)/*$")
end

local function walk(dir, found, recursive)
  local names = sys.listdir(dir)
  if not names then
    return
  end
  for _, name in ipairs(names) do
    if name:sub(1, 1) ~= "." then
      local path = join(dir, name)
      local info = sys.stat(path)
      if info and info.type == "directory" then
        if recursive then
          walk(path, found, recursive)
        end
      elseif info and info.type == "file" then
        found[#found + 1] = path
      end
    end
  end
end

-- busted's rules: an excluding pattern counts unless empty; with no
-- including pattern every file is in.
local function excluded(name, patterns)
  for _, pattern in ipairs(patterns) do
    if pattern ~= "" and name:find(pattern) then
      return true
    end
  end
  return false
end

local function included(name, patterns)
  for _, pattern in ipairs(patterns) do
    if name:find(pattern) then
      return true
    end
  end
  return #patterns == 0
end

-- Returns the list of files and the list of paths that do not exist.
-- options: pattern (list), exclude_pattern (list), recursive (default true).
function discover.files(paths, options)
  local files, missing = {}, {}
  for _, root in ipairs(paths) do
    local info = sys.stat(root)
    if info and info.type == "file" then
      files[#files + 1] = root
    elseif info and info.type == "directory" then
      local found = {}
      walk(root, found, options.recursive ~= false)
      local selected = {}
      for _, path in ipairs(found) do
        local name = basename(path)
        if not excluded(name, options.exclude_pattern or {}) and included(name, options.pattern or {}) then
          selected[#selected + 1] = path
        end
      end
      table.sort(selected)
      table.move(selected, 1, #selected, #files + 1, files)
    else
      missing[#missing + 1] = root
    end
  end
  return files, missing
end

trace.mark_internal()

return discover
