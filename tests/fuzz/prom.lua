-- Prometheus answers: any bytes as the body of a 200 (and of a 400) answer
-- to each kind of request prom makes, read as prom reads them.
local common = dofile((debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")) .. "common.lua")
local prom = require "prom"

local answer = { body = "", status = 200 }
-- a cluster whose service proxy answers with the input
local cluster = { name = "fuzz" }
function cluster.proxy()
  return answer.body, { status = answer.status }
end
local p = prom.connect { cluster = cluster, service = "monitoring/prometheus:9090" }

local function read(result)
  if result and (result.type == "vector" or result.type == "scalar") then
    common.attempt(result.number, result)
  end
end

local function test(input)
  for _, status in ipairs { 200, 400 } do
    answer.body, answer.status = input, status
    read(common.attempt(p.query, p, "up"))
    read(common.attempt(p.range, p, "up", { start = 0, stop = 60, step = 15 }))
    common.attempt(p.series, p, "up")
    common.attempt(p.alerts, p)
  end
end

return { test = test, lua_coverage = true }
