-- kubeconfig: load any bytes as the one kubeconfig file, resolve each of
-- its contexts and build its auth, as k8s.connect does before the first
-- request. Files it names are out of reach (common.confine_files), exec
-- plugins are never run.
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local auth = require "k8s.auth"
local config = require "k8s.config"
local log = require "log"

common.confine_files()
log.configure { level = "error" }
-- registered secrets pile up over millions of inputs; what the fuzzer
-- checks does not depend on them
log.secret = function(value) return value end

local MAX_CONTEXTS = 8

local function use(resolved)
  local a = common.attempt(auth.new, resolved)
  if not a then return end
  if a.exec_config then
    common.attempt(a.exec_info, a)
  else
    common.attempt(a.prepare, a, { headers = {} })
  end
end

local function test(input)
  local cfg = common.attempt(config.load, { kubeconfig = common.write("kubeconfig", input) })
  if not cfg then return end
  local names = config.context_names(cfg)
  table.insert(names, 1, false) -- the current context
  for i = 1, math.min(#names, MAX_CONTEXTS) do
    local resolved = common.attempt(config.resolve, cfg, names[i] or nil)
    if resolved then use(resolved) end
  end
end

return { test = test, lua_coverage = true }
