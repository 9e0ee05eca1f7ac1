local k8s = require "k8s"
local time = require "k8s.time"

describe("k8s.time", function()
  it("parses RFC 3339 timestamps in UTC and with offsets", function()
    assert.are.equal(0, time.parse("1970-01-01T00:00:00Z"))
    assert.are.equal(1795539600, time.parse("2026-11-24T17:00:00Z"))
    assert.are.equal(time.parse("2026-11-24T17:00:00Z"), time.parse("2026-11-24T19:00:00+02:00"))
    assert.are.equal(1.5, time.parse("1970-01-01T00:00:01.5Z"))
    assert.is_nil(time.parse("yesterday"))
  end)

  it("parses durations", function()
    assert.are.equal(300, time.duration("5m"))
    assert.are.equal(5400, time.duration("1h30m"))
    assert.are.equal(0.25, time.duration("250ms"))
    assert.are.equal(7, time.duration(7))
    local ok, err = time.duration("5 minutes")
    assert.is_nil(ok)
    assert.matches("bad duration", err)
  end)
end)

describe("k8s.status.ready", function()
  local ready = k8s.status.ready

  it("waits for a Deployment's rollout", function()
    local d = { kind = "Deployment", metadata = { generation = 2 }, spec = { replicas = 3 },
                status = { observedGeneration = 1 } }
    local ok, why = ready(d)
    assert.is_false(ok)
    assert.matches("has not seen generation 2", why)
    d.status = { observedGeneration = 2, replicas = 3, updatedReplicas = 3, availableReplicas = 2 }
    ok, why = ready(d)
    assert.is_false(ok)
    assert.are.equal("2 of 3 replicas available", why)
    d.status.availableReplicas = 3
    assert.is_true((ready(d)))
  end)

  it("reports a rollout past its deadline as failed", function()
    local d = { kind = "Deployment", metadata = {}, spec = {}, status = { conditions = {
      { type = "Progressing", status = "False", reason = "ProgressDeadlineExceeded", message = "too slow" } } } }
    local ok, why, failed = ready(d)
    assert.is_false(ok)
    assert.is_true(failed)
    assert.matches("too slow", why)
  end)

  it("knows Jobs, Namespaces, CRDs, PVCs and Pods", function()
    assert.is_true((ready { kind = "Job", status = { conditions = { { type = "Complete", status = "True" } } } }))
    assert.is_true((ready { kind = "Namespace", status = { phase = "Active" } }))
    assert.is_false((ready { kind = "Namespace", status = { phase = "Terminating" } }))
    assert.is_true((ready { kind = "CustomResourceDefinition",
      status = { conditions = { { type = "Established", status = "True" } } } }))
    assert.is_false((ready { kind = "PersistentVolumeClaim", status = { phase = "Pending" } }))
    assert.is_true((ready { kind = "Pod", status = { phase = "Running",
      conditions = { { type = "Ready", status = "True" } } } }))
  end)

  it("uses Ready and Stalled conditions for other kinds (Flux, Flagger)", function()
    local ks = { kind = "Kustomization", metadata = { generation = 1 },
                 status = { observedGeneration = 1, conditions = { { type = "Ready", status = "False",
                 message = "dependency not ready" } } } }
    local ok, why = ready(ks)
    assert.is_false(ok)
    assert.matches("dependency not ready", why)
    ks.status.conditions[2] = { type = "Stalled", status = "True", message = "invalid path" }
    local _, _, failed = ready(ks)
    assert.is_true(failed)
    assert.is_true((ready { kind = "ConfigMap" }))
  end)
end)

describe("k8s.deprecations", function()
  local manifests = [[
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec: {maxReplicas: 3, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}}
---
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: restricted}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
]]

  it("finds API versions removed by the target version, with the replacement", function()
    local findings = k8s.deprecations(manifests, "v1.36.3")
    assert.are.equal(2, #findings)
    assert.are.same({ kind = "HorizontalPodAutoscaler", name = "web", namespace = "shop",
      apiVersion = "autoscaling/v2beta2", removed_in = "1.26", replacement = "autoscaling/v2",
      source = "manifest" }, findings[1])
    assert.are.equal("PodSecurityPolicy", findings[2].kind)
    assert.is_nil(findings[2].replacement)
  end)

  it("does not report what the target version still serves", function()
    assert.are.equal(0, #k8s.deprecations(manifests, "1.24"))
    assert.are.equal(1, #k8s.deprecations(manifests, "1.25"))
  end)

  it("reads the version an object was last applied with", function()
    local obj = { apiVersion = "autoscaling/v2", kind = "HorizontalPodAutoscaler",
      metadata = { name = "x", annotations = { ["kubectl.kubernetes.io/last-applied-configuration"] =
        '{"apiVersion":"autoscaling/v2beta2","kind":"HorizontalPodAutoscaler"}' } } }
    local findings = k8s.deprecations({ obj }, "1.30")
    assert.are.equal(1, #findings)
    assert.are.equal("last-applied-configuration", findings[1].source)
  end)

  it("refuses a malformed target version", function()
    assert.has_error(function() k8s.deprecations({}, "latest") end)
  end)
end)
