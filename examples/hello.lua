-- hello.lua: a first look at ferry, no cluster needed.
--
--   ./ferry run examples/hello.lua
--   ./ferry run examples/hello.lua --set name=prod-eun-1
--
-- It reads a small multi-document Kubernetes manifest, prints a summary the
-- way `kubectl get` would, runs two checks side by side as tasks, and runs a
-- program without a shell. Results go to stdout, log lines to stderr.
local params = ... or {}   -- the --set key=value pairs
local exec = require "exec"
local log = require "log"
local task = require "task"
local yaml = require "yaml"
local clock = require("ferry.sys").monotonic

local cluster = params.name or "hello-cluster"
log.info("hello from ferry, looking at %s", cluster)

-- 1. Manifests are plain Lua tables once decoded.
local manifest = [[
apiVersion: v1
kind: Namespace
metadata:
  name: tenant-a
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: tenant-a
spec:
  replicas: 3
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: tenant-a
]]

local objects = yaml.decode_all(manifest)
print(string.format("%-12s %-10s %s", "KIND", "NAMESPACE", "NAME"))
for _, object in ipairs(objects) do
  print(string.format("%-12s %-10s %s", object.kind,
    object.metadata.namespace or "-", object.metadata.name))
end
log.info("%d objects, the Deployment wants %d replicas", #objects, objects[2].spec.replicas)

-- 2. Tasks: two checks of 0.3 s each, run side by side.
local started = clock()
local answers = task.all {
  function() task.sleep(0.3); log.info("check 1 done"); return "ingress ok" end,
  function() task.sleep(0.3); log.info("check 2 done"); return "dns ok" end,
}
local elapsed = clock() - started
print(string.format("checks on %s: %s, %s", cluster, answers[1], answers[2]))
print(string.format("2 checks of 0.3 s took %.2f s: they %s", elapsed,
  elapsed < 0.55 and "overlapped" or "ran one after the other"))

-- 3. Programs run from an argv list, never through a shell.
local uname = exec.run { argv = { "uname", "-sr" } }
print("this machine runs " .. uname.stdout:gsub("%s+$", ""))
