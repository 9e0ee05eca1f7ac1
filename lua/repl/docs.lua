--- repl.docs: `:doc NAME` — the section of docs/modules/*.md that
-- documents NAME, read from the docs directory of the installation (the
-- Markdown is not compiled into the binary, so what `:doc` shows is what
-- the web pages show). The directory is the first of:
--   $FERRY_DOCS (a directory holding the module pages)
--   DIR/docs/modules for DIR = the directory of the ferry binary and its
--     parents, up to three levels (a checkout: ./ferry, build/release/ferry)
--   DIR/../share/doc/ferry/modules (an installation under a prefix)
local sys = require "ferry.sys"

local docs = {}

local function directory_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function is_directory(path)
  local st = sys.stat(path)
  return st and st.type == "directory"
end

--- The directories searched, in order (exe: the binary's path).
function docs.search_path(exe, env)
  env = env or os.getenv
  local dirs = {}
  local from_env = env("FERRY_DOCS")
  if from_env and from_env ~= "" then dirs[#dirs + 1] = from_env end
  if exe then
    local dir = directory_of(exe)
    for _ = 0, 3 do
      dirs[#dirs + 1] = dir .. "/docs/modules"
      dir = directory_of(dir)
    end
    dirs[#dirs + 1] = directory_of(exe) .. "/../share/doc/ferry/modules"
  end
  return dirs
end

--- The first directory of the search path that exists, or nil, the list.
function docs.directory(exe, env)
  local dirs = docs.search_path(exe or sys.realpath("/proc/self/exe"), env)
  for _, dir in ipairs(dirs) do
    if is_directory(dir) then return dir end
  end
  return nil, dirs
end

--- The name a heading documents: "### c:list(options) → items" -> {"c:list"};
-- "## log.debug / log.info (fmt, ...)" -> {"log.debug", "log.info"}.
function docs.heading_names(heading)
  local names = {}
  local text = heading:gsub("`", "")
  for part in (text .. " / "):gmatch("(.-)%s+/%s+") do
    local name = part:match("^%s*([%a_][%w_%.:]*)")
    if name then names[#names + 1] = name end
  end
  return names
end

--- Splits Markdown into sections: {level, heading, names, text}.
function docs.sections(markdown)
  local sections, current = {}, nil
  local fenced = false
  for line in (markdown .. "\n"):gmatch("(.-)\n") do
    if line:match("^```") then fenced = not fenced end
    local hashes, heading = line:match("^(#+)%s+(.*)$")
    if hashes and not fenced then
      current = { level = #hashes, heading = heading, names = docs.heading_names(heading), lines = { line } }
      sections[#sections + 1] = current
    elseif current then
      current.lines[#current.lines + 1] = line
    end
  end
  -- a section runs until the next heading of its level or above
  for i, s in ipairs(sections) do
    local lines = { table.concat(s.lines, "\n") }
    for j = i + 1, #sections do
      if sections[j].level <= s.level then break end
      lines[#lines + 1] = table.concat(sections[j].lines, "\n")
    end
    s.text = (table.concat(lines, "\n"):gsub("%s+$", ""))
  end
  return sections
end

-- "old:list" and "c.list" both mean the method documented as "c:list".
local function normalise(name)
  local method = name:match("^[%a_][%w_]*:([%a_][%w_]*)$")
  if method then return ":" .. method end
  return name
end

local function matches(section_name, query)
  if section_name == query then return true end
  local q = normalise(query)
  if q:sub(1, 1) == ":" then return section_name:match(":[%a_][%w_]*$") == q end
  -- a bare word: the function or method of that name ("list", "connect")
  if not query:find("[%.:]") then
    return section_name:match("[%.:]" .. query .. "$") ~= nil
  end
  return false
end

--- Finds query among pages ({name = markdown}): the module page itself for
-- a module name, else the sections whose heading names it. Returns a list
-- of {page, section} (empty when nothing matches).
function docs.find(pages, query)
  local found = {}
  local names = {}
  for name in pairs(pages) do names[#names + 1] = name end
  table.sort(names)
  if pages[query] then
    local sections = docs.sections(pages[query])
    if sections[1] then
      -- the page's introduction and its table of contents
      local intro = sections[1].lines and table.concat(sections[1].lines, "\n") or ""
      local toc = {}
      for i = 2, #sections do
        if sections[i].level <= 3 then
          toc[#toc + 1] = string.rep("  ", sections[i].level - 2) .. "- " .. sections[i].heading
        end
      end
      found[1] = { page = query, text = (intro:gsub("%s+$", "")) .. "\n\nSections:\n" .. table.concat(toc, "\n") }
      return found
    end
  end
  for _, page in ipairs(names) do
    for _, s in ipairs(docs.sections(pages[page])) do
      for _, n in ipairs(s.names) do
        if matches(n, query) then
          found[#found + 1] = { page = page, heading = s.heading, text = s.text }
          break
        end
      end
    end
  end
  return found
end

--- Every name :doc knows (for completion): module pages and headings.
function docs.topics(pages)
  local topics = {}
  for page, markdown in pairs(pages) do
    topics[#topics + 1] = page
    for _, s in ipairs(docs.sections(markdown)) do
      for _, n in ipairs(s.names) do
        if n:find("[%.:]") then topics[#topics + 1] = n end
      end
    end
  end
  table.sort(topics)
  return topics
end

--- Reads every page of a docs directory: {name = markdown}.
function docs.load(dir)
  local pages = {}
  for _, file in ipairs(sys.listdir(dir) or {}) do
    local name = file:match("^(.+)%.md$")
    if name then
      pages[name] = require("ferry.file").read(dir .. "/" .. file)
    end
  end
  return pages
end

return docs
