--- git: Git repositories through libgit2 — clone, read, write, commit, push.
--
-- local repo = git.clone(url, dir, {branch = "main", auth = {username = "ferry", token = t}})
-- repo:write("clusters/prod/kustomization.yaml", text)
-- repo:commit("Add prod")
-- repo:push()
--
-- Network calls (clone, fetch, push) run on a worker thread: inside a task
-- they yield, so other tasks go on; elsewhere they block. Local calls run
-- at once; the work tree's files are read and written here, through
-- ferry.sys, and ferry.git keeps the index in step. Errors are {kind =
-- "git", message, reason[, remote, op, class, status]} and never hold a
-- token: tokens are registered with log.secret and hidden by log.redact.
local core = require "ferry.git"
local base64 = require "base64"
local errors = require "ferry.errors"
local file = require "ferry.file"
local http = require "http"
local log = require "log"
local sys = require "ferry.sys"
local task = require "task"

local git = {}

local DEFAULT_LOG_COUNT = 20

-- Errors --------------------------------------------------------------------

local function redact(err)
  if type(err) == "table" and type(err.message) == "string" then
    err.message = log.redact(err.message)
    if type(err.remote) == "string" then err.remote = log.redact(err.remote) end
  elseif type(err) == "string" then
    err = log.redact(err)
  end
  return err
end

-- Calls f(...) and raises its error with every registered secret hidden.
local function call(f, ...)
  local results = table.pack(pcall(f, ...))
  if not results[1] then error(redact(results[2]), 0) end
  return table.unpack(results, 2, results.n)
end

local function argument_error(position, name, expected, value)
  error(string.format("bad argument #%d to '%s' (%s expected, got %s)", position, name, expected,
    type(value)), 3)
end

local function check_options(options, position, name)
  if options == nil then return {} end
  if type(options) ~= "table" then argument_error(position, name, "table of options", options) end
  return options
end

local function git_error(reason, fmt, ...)
  error(errors.new("git", string.format(fmt, ...), { reason = reason }), 0)
end

-- What libgit2 1.5 says of an HTTP refusal is only its text ("unexpected
-- http status code: 404"): the status, and what it means here.
local HTTP_REFUSALS = {
  [401] = { "auth", "authentication refused (HTTP 401)" },
  [403] = { "forbidden", "the server refused access (HTTP 403: no %s access)" },
  [404] = { "NotFound", "no repository there (HTTP 404)" },
}

local function http_refusal(err)
  if type(err) ~= "table" or err.class ~= "http" or type(err.message) ~= "string" then return err end
  local status = tonumber(err.message:match("http status code: (%d+)"))
  err.status = status
  local refusal = HTTP_REFUSALS[status]
  if refusal then
    err.reason = refusal[1]
    err.message = string.format("%s %s: " .. refusal[2], err.op, err.remote, err.op == "push" and "write" or "read")
  end
  return err
end

-- Waits for a network op of ferry.git and returns its result.
local function await(op)
  local o <close> = op
  while not o:finished() do task.await(o) end
  local results = table.pack(pcall(o.result, o))
  if not results[1] then error(http_refusal(results[2]), 0) end
  return table.unpack(results, 2, results.n)
end

-- URLs ---------------------------------------------------------------------

--- Splits a remote URL: {transport = "http"|"ssh"|"git"|"local", host, port,
-- user, password, url (without the password), safe (for messages)}.
-- Understands scheme://[user[:password]@]host[:port]/path, scp-like
-- [user@]host:path (SSH) and local paths.
function git.parse_url(url)
  local scheme, rest = url:match("^([%a][%w+.-]*)://(.*)$")
  if scheme then
    scheme = scheme:lower()
    local authority, path = rest:match("^([^/]*)(.*)$")
    local userinfo, hostport = authority:match("^(.*)@(.*)$")
    hostport = hostport or authority
    local user, password
    if userinfo then
      user, password = userinfo:match("^([^:]*):(.*)$")
      user = user or userinfo
    end
    local host, port = hostport:match("^%[(.-)%]:?(%d*)$")
    if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
    local transport = (scheme == "http" or scheme == "https") and "http"
      or (scheme == "ssh" or scheme == "ssh+git" or scheme == "git+ssh") and "ssh"
      or scheme == "git" and "git" or "local"
    local clean = scheme .. "://" .. (user and (user .. "@") or "") .. hostport .. path
    return {
      transport = transport, scheme = scheme, host = host, port = tonumber(port),
      user = user and http.unescape(user), password = password and http.unescape(password),
      url = clean, safe = http.redact_url(clean), path = path,
    }
  end
  local user, host, path = url:match("^([^@/:]+)@([^:/]+):(.*)$")
  if not user then host, path = url:match("^([^:/]+):(.*)$") end
  if host and #host > 1 then
    return { transport = "ssh", host = host, user = user, path = path, url = url, safe = url }
  end
  return { transport = "local", path = url, url = url, safe = url }
end

-- known_hosts -----------------------------------------------------------------

local MASK = 0xffffffff

local function rotate_left(x, n)
  return ((x << n) | (x >> (32 - n))) & MASK
end

local function sha1(message)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local length = #message
  message = message .. "\128" .. string.rep("\0", (55 - length) % 64) .. string.pack(">I8", length * 8)
  local w = {}
  for chunk = 1, #message, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", message, chunk + 4 * i) end
    for i = 16, 79 do w[i] = rotate_left(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = (b & c) | (~b & d), 0x5A827999
      elseif i < 40 then
        f, k = b ~ c ~ d, 0x6ED9EBA1
      elseif i < 60 then
        f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
      else
        f, k = b ~ c ~ d, 0xCA62C1D6
      end
      a, b, c, d, e = (rotate_left(a, 5) + (f & MASK) + e + k + w[i]) & MASK, a, rotate_left(b, 30), c, d
    end
    h0, h1, h2, h3, h4 = (h0 + a) & MASK, (h1 + b) & MASK, (h2 + c) & MASK, (h3 + d) & MASK, (h4 + e) & MASK
  end
  return string.pack(">I4I4I4I4I4", h0, h1, h2, h3, h4)
end

local function hmac_sha1(key, message)
  if #key > 64 then key = sha1(key) end
  key = key .. string.rep("\0", 64 - #key)
  local inner = key:gsub(".", function(c) return string.char(c:byte() ~ 0x36) end)
  local outer = key:gsub(".", function(c) return string.char(c:byte() ~ 0x5c) end)
  return sha1(outer .. sha1(inner .. message))
end

local function glob_match(pattern, name)
  local lua_pattern = "^" .. pattern:lower():gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0")
    :gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return name:lower():match(lua_pattern) ~= nil
end

-- Does the host field of a known_hosts line name `name`?
local function hosts_match(field, name)
  local salt, hash = field:match("^|1|([^|]+)|(.+)$")
  if salt then
    local ok_salt, raw_salt = pcall(base64.decode, salt)
    local ok_hash, raw_hash = pcall(base64.decode, hash)
    return ok_salt and ok_hash and hmac_sha1(raw_salt, name) == raw_hash
  end
  local matched = false
  for pattern in field:gmatch("[^,]+") do
    local negated = pattern:sub(1, 1) == "!"
    if negated then pattern = pattern:sub(2) end
    if glob_match(pattern, name) then
      if negated then return false end
      matched = true
    end
  end
  return matched
end

--- The host keys that known_hosts text trusts for host (and port, 22 by
-- default): a list of {type = "ssh-ed25519", key = <raw key bytes>}, as
-- OpenSSH reads the file: plain, wildcard (* ?), negated (!) and hashed
-- (|1|...) host names, "[host]:port" for ports other than 22; keys marked
-- @revoked are left out (and revoke the same key on other lines);
-- @cert-authority lines are ignored.
function git.known_host_keys(text, host, port)
  if type(text) ~= "string" then argument_error(1, "known_host_keys", "string", text) end
  if type(host) ~= "string" then argument_error(2, "known_host_keys", "string", host) end
  port = port or 22
  local name = port == 22 and host or string.format("[%s]:%d", host, port)
  local trusted, revoked = {}, {}
  for line in text:gmatch("[^\r\n]+") do
    line = line:match("^%s*(.-)%s*$")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local marker
      if line:sub(1, 1) == "@" then marker, line = line:match("^(@%S+)%s+(.*)$") end
      local hosts, key_type, key = (line or ""):match("^(%S+)%s+(%S+)%s+(%S+)")
      if hosts and hosts_match(hosts, name) then
        local ok, blob = pcall(base64.decode, key)
        if ok then
          if marker == "@revoked" then
            revoked[blob] = true
          elseif marker == nil then
            trusted[#trusted + 1] = { type = key_type, key = blob }
          end
        end
      end
    end
  end
  local keys = {}
  for _, k in ipairs(trusted) do
    if not revoked[k.key] then keys[#keys + 1] = k end
  end
  return keys, name
end

-- Credentials ---------------------------------------------------------------

local function home_path(path)
  if path:sub(1, 2) == "~/" then return (os.getenv("HOME") or "") .. path:sub(2) end
  return path
end

local function check_auth(auth)
  if auth ~= nil and auth ~= false and type(auth) ~= "table" then
    error("git auth must be a table ({username, token} or {identity, known_hosts, ...}) or false, got "
      .. type(auth), 4)
  end
  for _, field in ipairs { "username", "token", "password", "identity", "identity_file",
    "passphrase", "known_hosts", "known_hosts_file" } do
    local value = type(auth) == "table" and auth[field] or nil
    if value ~= nil and type(value) ~= "string" then
      error(string.format("git auth.%s must be a string, got %s", field, type(value)), 4)
    end
  end
end

-- The SSH part of the options of a network op: the key to log in with and
-- the host keys known_hosts trusts for the server.
local function ssh_credentials(c, u, auth)
  c.username = auth.username or u.user or "git"
  c.passphrase = auth.passphrase and log.secret(auth.passphrase)
  if auth.identity then
    c.identity = log.secret(auth.identity)
  elseif auth.identity_file then
    c.identity_file = home_path(auth.identity_file)
  elseif os.getenv("SSH_AUTH_SOCK") then
    c.agent = true
  else
    for _, name in ipairs { "id_ed25519", "id_ecdsa", "id_rsa" } do
      local path = home_path("~/.ssh/" .. name)
      if file.exists(path) then
        c.identity_file = path
        break
      end
    end
  end
  if c.identity_file and file.exists(c.identity_file .. ".pub") then
    c.public_key_file = c.identity_file .. ".pub"
  end
  local text, source
  if auth.known_hosts then
    text, source = auth.known_hosts, "auth.known_hosts"
  else
    source = home_path(auth.known_hosts_file or "~/.ssh/known_hosts")
    local f = io.open(source, "r")
    text = f and f:read("a") or ""
    if f then f:close() else source = source .. " (missing)" end
  end
  local keys, name = git.known_host_keys(text, u.host or "", u.port or 22)
  c.host_keys = {}
  for i, k in ipairs(keys) do c.host_keys[i] = k.key end
  c.known_hosts_source = string.format("no key for %s in %s", name, source)
end

-- The options of ferry.git's clone/fetch/push for url and auth, and the URL
-- to give libgit2 (credentials taken out of it).
local function credentials(url, auth)
  check_auth(auth)
  local u = git.parse_url(url)
  local c = { safe_url = u.safe }
  if u.password and u.password ~= "" then log.secret(u.password) end
  if auth == false then return c, url end
  auth = auth or {}
  if u.transport == "http" then
    local token = auth.token or auth.password or (u.password ~= "" and u.password) or os.getenv("GIT_TOKEN")
    if token == "" then token = nil end
    c.token = token and log.secret(token)
    c.username = auth.username or u.user or os.getenv("GIT_USERNAME") or "git"
    return c, c.token and u.url or url
  elseif u.transport == "ssh" then
    ssh_credentials(c, u, auth)
  end
  return c, url
end

-- Repositories ------------------------------------------------------------------

local Repo = {}
Repo.__index = Repo
Repo.__name = "git.Repo"

function Repo:__tostring()
  return "git.Repo(" .. tostring(self.dir) .. ")"
end

local function wrap(handle, auth)
  local dir, bare = handle:path()
  return setmetatable({ handle = handle, dir = dir, bare = bare, auth = auth }, Repo)
end

local function check_dir(dir, name)
  if type(dir) ~= "string" or dir == "" then argument_error(1, name, "directory path", dir) end
end

--- Opens the repository in dir (its work tree, or a bare repository).
-- options.auth is kept for fetch and push.
function git.open(dir, options)
  check_dir(dir, "open")
  options = check_options(options, 2, "open")
  check_auth(options.auth)
  return wrap(call(core.open, dir), options.auth)
end

--- Creates a repository in dir (made if missing): {bare = false, branch = "main"}.
-- On an existing repository it just opens it.
function git.init(dir, options)
  check_dir(dir, "init")
  options = check_options(options, 2, "init")
  check_auth(options.auth)
  return wrap(call(core.init, dir, options.bare, options.branch), options.auth)
end

--- Clones url into dir, which must be missing or empty. Options: branch (the
-- remote's default branch otherwise), depth (a hint: see docs), bare, auth.
-- On failure nothing is left behind.
function git.clone(url, dir, options)
  if type(url) ~= "string" or url == "" then argument_error(1, "clone", "URL", url) end
  if type(dir) ~= "string" or dir == "" then argument_error(2, "clone", "directory path", dir) end
  options = check_options(options, 3, "clone")
  if options.branch ~= nil and type(options.branch) ~= "string" then
    error("git.clone option branch must be a string, got " .. type(options.branch), 2)
  end
  if options.depth ~= nil and (math.type(options.depth) ~= "integer" or options.depth < 1) then
    error("git.clone option depth must be a positive integer, got " .. tostring(options.depth), 2)
  end
  local c, clean_url = credentials(url, options.auth)
  c.branch, c.depth, c.bare = options.branch, options.depth, options.bare
  log.debug("git: cloning %s into %s", c.safe_url, dir)
  local op = call(core.clone, clean_url, dir, c)
  call(await, op)
  local auth = options.auth
  if auth == nil and c.token and clean_url ~= url then
    auth = { username = c.username, token = c.token } -- they were in the URL
  end
  return wrap(call(core.open, dir), auth)
end

local function handle_of(self)
  if getmetatable(self) ~= Repo then error("git: call repository methods with ':' (repo:head())", 3) end
  return self.handle
end

local function check_path(path, position, name)
  if type(path) ~= "string" then argument_error(position, name, "path", path) end
end

--- The commit id HEAD points to (nil on a branch without commits yet) and
-- the branch name (nil when HEAD is detached).
function Repo:head()
  return call(handle_of(self).head, self.handle)
end

-- The work tree ------------------------------------------------------------

-- Refuses a path the index would not know as a file of the work tree:
-- relative, '/'-separated, no empty, "." or ".." parts, nothing in .git.
local function check_tree_path(path)
  local problem
  if path:find("\0", 1, true) then
    problem = "it holds a NUL byte"
  elseif path == "" then
    problem = "it is empty"
  elseif path:sub(1, 1) == "/" then
    problem = "it must be relative to the work tree"
  else
    for part in (path .. "/"):gmatch("(.-)/") do
      if part == "" or part == "." then
        problem = path:sub(-1) == "/" and part == "" and "it ends with '/'" or "it has an empty or '.' part"
      elseif part == ".." then
        problem = "it may not leave the work tree ('..')"
      elseif part:lower() == ".git" then
        problem = "it may not touch .git"
      end
      if problem then break end
    end
  end
  if problem then git_error("invalid", "bad path '%s': %s", path, problem) end
end

local function work_tree(self)
  if self.bare then git_error("bare", "the repository in %s is bare: it has no work tree", self.dir) end
  return self.dir
end

-- The reason of a "path: reason" error of ferry.sys or os.
local function reason_of(err)
  return tostring(err):match(": ([^:]*)$") or tostring(err)
end

-- True when the real location of existing is inside the work tree, so a
-- symbolic link cannot lead a read or write out of it.
local function inside(dir, existing)
  local root, real = sys.realpath(dir), sys.realpath(existing)
  return root ~= nil and real ~= nil and (real == root or real:sub(1, #root + 1) == root .. "/")
end

-- Removes a directory and what it holds; links are removed, not followed.
local function remove_tree(path)
  local names, err = sys.listdir(path)
  if not names then return nil, err end
  for _, name in ipairs(names) do
    local child = path .. "/" .. name
    local st = sys.lstat(child)
    local ok
    if st and st.type == "directory" then ok, err = remove_tree(child) else ok, err = os.remove(child) end
    if not ok then return nil, err end
  end
  return os.remove(path)
end

local function read_tree_file(self, path)
  check_tree_path(path)
  local dir = work_tree(self)
  local full = dir .. path
  local st, err = sys.stat(full)
  if not st then
    git_error(sys.lstat(full) and "error" or "NotFound", "cannot read %s in %s: %s", path, dir, reason_of(err))
  end
  if st.type == "directory" then git_error("directory", "cannot read %s in %s: it is a directory", path, dir) end
  if not inside(dir, full) then git_error("invalid", "cannot read %s in %s: it leads out of the work tree", path, dir) end
  local text
  text, err = file.read(full)
  if not text then git_error("error", "cannot read %s in %s: %s", path, dir, reason_of(err)) end
  return text
end

--- The text of a file: in the work tree, or in revision rev (a branch, tag,
-- commit id, "HEAD~1", "origin/main", ...) with {rev = ...}.
function Repo:read(path, options)
  local handle = handle_of(self)
  check_path(path, 1, "read")
  options = check_options(options, 2, "read")
  if options.rev ~= nil then
    if type(options.rev) ~= "string" then error("git read option rev must be a string", 2) end
    check_tree_path(path)
    return call(handle.read_rev, handle, path, options.rev)
  end
  return call(read_tree_file, self, path)
end

local function write_tree_file(self, path, text)
  check_tree_path(path)
  local dir = work_tree(self)
  local full = dir .. path
  for slash in path:gmatch("()/") do
    local ok, err = sys.mkdir(dir .. path:sub(1, slash - 1))
    if not ok then git_error("error", "cannot write %s in %s: %s", path, dir, reason_of(err)) end
  end
  if not inside(dir, full:match("^(.*)/")) then
    git_error("invalid", "cannot write %s in %s: it leads out of the work tree", path, dir)
  end
  local st = sys.lstat(full)
  if st and st.type == "directory" then git_error("directory", "cannot write %s in %s: it is a directory", path, dir) end
  -- whole or not at all; an existing file keeps its mode
  local ok, err = sys.write_atomic(full, text, st and st.type == "file" and st.mode or nil)
  if not ok then git_error("error", "cannot write %s in %s: %s", path, dir, reason_of(err)) end
  self.handle:stage(path)
end

--- Writes a file of the work tree (parents made as needed) and stages it.
function Repo:write(path, text)
  handle_of(self)
  check_path(path, 1, "write")
  if type(text) ~= "string" then argument_error(2, "write", "string", text) end
  call(write_tree_file, self, path, text)
end

local function remove_tree_file(self, path)
  check_tree_path(path)
  local dir = work_tree(self)
  local full = dir .. path
  local st = sys.lstat(full)
  if st then
    if not inside(dir, full:match("^(.*)/")) then
      git_error("invalid", "cannot remove %s in %s: it leads out of the work tree", path, dir)
    end
    local ok, err
    if st.type == "directory" then ok, err = remove_tree(full) else ok, err = os.remove(full) end
    if not ok then git_error("error", "cannot remove %s in %s: %s", path, dir, reason_of(err)) end
  elseif not self.handle:tracked(path) then
    -- gone from the work tree already is fine while the index still has it
    git_error("NotFound", "cannot remove %s in %s: no such file", path, dir)
  end
  self.handle:stage(path, true)
end

--- Deletes a file, or a directory and everything in it, from the work tree
-- and stages the deletion.
function Repo:remove(path)
  handle_of(self)
  check_path(path, 1, "remove")
  call(remove_tree_file, self, path)
end

--- The changes not committed yet: a list of {path, index, worktree,
-- old_path, conflicted}, sorted by path. index (staged) is "added",
-- "modified", "deleted", "renamed" or "typechange"; worktree (not staged)
-- is "untracked", "modified", "deleted", "typechange" or "unreadable".
function Repo:status()
  return call(handle_of(self).status, self.handle)
end

local function signature(value, what)
  if value == nil then return nil, nil end
  if type(value) == "string" then
    local name, email = value:match("^%s*(.-)%s*<([^>]*)>%s*$")
    if name and name ~= "" then return name, email end
  elseif type(value) == "table" and type(value.name) == "string" and type(value.email) == "string" then
    return value.name, value.email
  end
  error(string.format("git commit option %s must be {name = ..., email = ...} or \"Name <email>\"", what), 4)
end

local function env_signature(prefix)
  local name, email = os.getenv(prefix .. "_NAME"), os.getenv(prefix .. "_EMAIL")
  if name and email and name ~= "" and email ~= "" then return name, email end
  return nil, nil
end

--- Commits what is staged (repo:write and repo:remove stage their changes)
-- and returns the new commit id, or nil when there is nothing to commit.
-- Options: author, committer ({name, email} or "Name <email>"), all (stage
-- every change of the work tree first, like `git add -A`), allow_empty.
-- Without author: GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, then the repository's
-- user.name/user.email, then "ferry <ferry@localhost>". Without committer:
-- GIT_COMMITTER_NAME/GIT_COMMITTER_EMAIL, then the author.
function Repo:commit(message, options)
  local handle = handle_of(self)
  if type(message) ~= "string" then argument_error(1, "commit", "message", message) end
  if not message:find("%S") then error("bad argument #1 to 'commit' (the message is empty)", 2) end
  options = check_options(options, 2, "commit")
  local author_name, author_email = signature(options.author, "author")
  if not author_name then author_name, author_email = env_signature("GIT_AUTHOR") end
  local committer_name, committer_email = signature(options.committer, "committer")
  if not committer_name then committer_name, committer_email = env_signature("GIT_COMMITTER") end
  if not committer_name then committer_name, committer_email = author_name, author_email end
  return call(handle.commit, handle, message, {
    author_name = author_name, author_email = author_email,
    committer_name = committer_name, committer_email = committer_email,
    all = options.all, allow_empty = options.allow_empty,
  })
end

--- The history from HEAD (or options.rev), newest first: a list of {id,
-- summary, message, author = {name, email, time, offset}, committer,
-- parents}. options.n (or a number) caps the count (20 by default).
function Repo:log(options)
  local handle = handle_of(self)
  if type(options) == "number" then options = { n = options } end
  options = check_options(options, 1, "log")
  local n = options.n or options[1] or DEFAULT_LOG_COUNT
  if type(n) ~= "number" or n < 0 then error("git log option n must be a number >= 0", 2) end
  if n == math.huge then n = math.maxinteger end
  return call(handle.log, handle, math.floor(n), options.rev)
end

--- The uncommitted changes as a patch: returns the patch text ("" when
-- nothing changed) and a list of {path, status, old_path}. Compares HEAD (or
-- options.rev) with the work tree, untracked files included, or with what is
-- staged only when options.staged.
function Repo:diff(options)
  local handle = handle_of(self)
  options = check_options(options, 1, "diff")
  return call(handle.diff, handle, options.rev, options.staged)
end

--- Switches to ref and returns the new head (id, branch): a local branch; a
-- branch that exists only on a remote (a local branch tracking it is made,
-- like `git checkout name`); or a tag, commit id or other revision (HEAD is
-- then detached). Local changes that would be overwritten stop it unless
-- options.force; options.create makes a new branch named ref at HEAD.
function Repo:checkout(ref, options)
  local handle = handle_of(self)
  if type(ref) ~= "string" or ref == "" then argument_error(1, "checkout", "ref", ref) end
  options = check_options(options, 2, "checkout")
  return call(handle.checkout, handle, ref, options.force, options.create)
end

local function remote_of(self, options, name)
  local remote = options.remote or "origin"
  if type(remote) ~= "string" then error("git " .. name .. " option remote must be a string", 3) end
  local url, push_url, fetchspec = call(self.handle.remote, self.handle, remote)
  if not url then
    error(errors.new("git", string.format("%s: the repository in %s has no remote named '%s'", name, self.dir,
      remote), { reason = "NotFound" }), 0)
  end
  return remote, url, push_url, fetchspec
end

--- Fetches from options.remote ("origin") and returns the references it
-- updated: a list of {ref, old, new}. options.auth overrides the auth given
-- to clone or open.
function Repo:fetch(options)
  local handle = handle_of(self)
  options = check_options(options, 1, "fetch")
  local remote, url, _, fetchspec = remote_of(self, options, "fetch")
  local auth = options.auth
  if auth == nil then auth = self.auth end
  local c, clean_url = credentials(url, auth)
  c.url, c.fetchspec = clean_url, fetchspec
  log.debug("git: fetching %s", c.safe_url)
  return call(await, call(handle.fetch, handle, remote, c))
end

--- Pushes the current branch (or options.branch) to the branch of the same
-- name on options.remote ("origin"). options.force allows a push that is
-- not a fast-forward. Returns {remote, ref, id}.
function Repo:push(options)
  local handle = handle_of(self)
  options = check_options(options, 1, "push")
  local branch = options.branch
  if branch == nil then
    local _, current = self:head()
    branch = current
    if not branch then
      error(errors.new("git", string.format("push: HEAD is detached in %s: check out a branch or give "
        .. "{branch = ...}", self.dir), { reason = "detached" }), 0)
    end
  elseif type(branch) ~= "string" then
    error("git push option branch must be a string", 2)
  end
  local remote, url, push_url, fetchspec = remote_of(self, options, "push")
  local auth = options.auth
  if auth == nil then auth = self.auth end
  local c, clean_url = credentials(push_url or url, auth)
  c.url, c.fetchspec = clean_url, fetchspec
  local ref = "refs/heads/" .. branch
  local commits = call(handle.log, handle, 1, ref)
  local refspec = (options.force and "+" or "") .. ref .. ":" .. ref
  log.debug("git: pushing %s to %s", ref, c.safe_url)
  call(await, call(handle.push, handle, remote, refspec, c))
  return { remote = remote, ref = ref, id = commits[1] and commits[1].id }
end

--- Adds a remote (or changes its URL): repo:set_remote("origin", url).
function Repo:set_remote(name, url)
  local handle = handle_of(self)
  if type(name) ~= "string" or name == "" then argument_error(1, "set_remote", "remote name", name) end
  if type(url) ~= "string" or url == "" then argument_error(2, "set_remote", "URL", url) end
  call(handle.set_remote, handle, name, url)
end

--- The URL of a remote ("origin" by default), or nil when there is none.
function Repo:remote_url(name)
  local handle = handle_of(self)
  return (call(handle.remote, handle, name or "origin"))
end

--- Frees the repository (also done by the garbage collector and <close>).
function Repo:close()
  handle_of(self):close()
end
Repo.__close = Repo.close

--- What libgit2 was built with: {version, threads, https, ssh}.
git.features = core.features

return git
