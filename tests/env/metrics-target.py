#!/usr/bin/env python3
"""Metrics target of the test environment: Prometheus scrapes it, the tests set its values.

It serves, in the Prometheus text format, the series ferry's checks query in a real
mesh: istio_requests_total, istio_request_duration_milliseconds (a histogram),
container_cpu_usage_seconds_total and container_memory_working_set_bytes, each with a
`cluster` label. A sample is {"name", "labels", "value"} plus an optional "rate": a
counter's value grows by `rate` per second from the moment it is set, so rate() and
increase() see real traffic. A value may be a number or "NaN", "+Inf", "-Inf".

HTTP API (all on 127.0.0.1):
  GET    /metrics              the exposition Prometheus scrapes
  GET    /samples              every sample, as JSON
  POST   /samples              JSON sample or list of samples: add or replace (same name+labels)
  DELETE /samples[?name=N][&cluster=C]
                               drop every sample (or those named N, or of cluster C: a cluster
                               that stopped); queries then come back empty
  POST   /clusters             {"cluster": C}: seed C's workloads (a cluster started later)
  GET    /faults               the faults set, {cluster: fault}
  POST   /faults               {"cluster": C, "fault": "latency"|"errors"|"cpu"|"none"}: from now
                               on C's workloads answer ~10x slower, or 20% of requests fail,
                               or use 4x the CPU
  POST   /reset                back to the seed samples below (faults kept)
  GET    /healthz              "ok"
"""

import argparse
import json
import math
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TYPES = {
    "istio_requests_total": "counter",
    "istio_request_duration_milliseconds": "histogram",
    "container_cpu_usage_seconds_total": "counter",
    "container_memory_working_set_bytes": "gauge",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
BUCKETS_MS = ["5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "+Inf"]


# Cumulative share of requests at or under each bucket bound: ~40 ms when
# healthy, ~400 ms under the "latency" fault.
HEALTHY_SHARES = [0.02, 0.10, 0.35, 0.75, 0.95, 0.99, 0.995, 0.999, 1.0, 1.0, 1.0]
SLOW_SHARES = [0.0, 0.0, 0.01, 0.02, 0.05, 0.25, 0.60, 0.95, 0.99, 1.0, 1.0]
FAULTS = ("none", "latency", "errors", "cpu")


def seed(clusters, workloads=(("tenant-core", "podinfo"),), faults=None):
    """A healthy workload per cluster and workload: 10 req/s, 1% of them 500s, ~40 ms
    latency; a cluster's fault ("latency", "errors" or "cpu") makes its workloads worse."""
    samples = []
    for cluster in clusters:
        fault = (faults or {}).get(cluster, "none")
        for namespace, name in workloads:
            samples += workload_samples(cluster, namespace, name, fault)
    return samples


def workload_samples(cluster, namespace, name, fault):
    workload = {"cluster": cluster, "reporter": "destination",
                "destination_workload": name, "destination_workload_namespace": namespace,
                "destination_service_name": name}
    samples = []
    errors = 2.0 if fault == "errors" else 0.1
    for code, rate in (("200", 10 - errors), ("500", errors)):
        samples.append({"name": "istio_requests_total",
                        "labels": {**workload, "response_code": code}, "value": 0, "rate": rate})
    shares, mean_ms = (SLOW_SHARES, 400.0) if fault == "latency" else (HEALTHY_SHARES, 40.0)
    for le, share in zip(BUCKETS_MS, shares):
        samples.append({"name": "istio_request_duration_milliseconds_bucket",
                        "labels": {**workload, "le": le}, "value": 0, "rate": 10 * share})
    samples.append({"name": "istio_request_duration_milliseconds_sum",
                    "labels": workload, "value": 0, "rate": 10 * mean_ms})
    samples.append({"name": "istio_request_duration_milliseconds_count",
                    "labels": workload, "value": 0, "rate": 10.0})
    pod = {"cluster": cluster, "namespace": namespace, "pod": name + "-0", "container": name}
    cpu = 0.2 if fault == "cpu" else 0.05
    samples.append({"name": "container_cpu_usage_seconds_total", "labels": pod, "value": 0, "rate": cpu})
    samples.append({"name": "container_memory_working_set_bytes", "labels": pod, "value": 64 * 1024 * 1024})
    return samples


def parse_value(value):
    if isinstance(value, str):
        return float(value.replace("Inf", "inf"))  # float() takes "NaN", "+inf", "-inf"
    return float(value)


def format_value(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def family(name):
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and TYPES.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name


class Store:
    def __init__(self, clusters, workloads):
        self.clusters = list(clusters)
        self.workloads = workloads
        self.faults = {}
        self.lock = threading.Lock()
        self.samples = {}
        self.reset()

    @staticmethod
    def key(name, labels):
        return (name, tuple(sorted(labels.items())))

    def reset(self):
        with self.lock:
            self.samples = {}
        self.put(seed(self.clusters, self.workloads, self.faults))

    def add_cluster(self, cluster):
        """Seeds a cluster's workloads (a cluster started after the target)."""
        if cluster not in self.clusters:
            self.clusters.append(cluster)
        self.put(seed([cluster], self.workloads, self.faults))

    def set_fault(self, cluster, fault):
        """Makes a cluster's workloads worse from now on (seeded again if it runs)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: use one of {', '.join(FAULTS)}")
        self.faults[cluster] = fault
        if cluster in self.clusters:
            self.put(seed([cluster], self.workloads, self.faults))

    def put(self, samples):
        now = time.time()
        checked = []
        for sample in samples:
            name, labels = sample["name"], sample.get("labels", {})
            if not isinstance(name, str) or not all(isinstance(v, str) for v in labels.values()):
                raise ValueError("a sample needs a string name and string label values")
            checked.append((name, dict(labels), parse_value(sample.get("value", 0)),
                            float(sample.get("rate", 0))))
        with self.lock:
            for name, labels, value, rate in checked:
                self.samples[self.key(name, labels)] = {"name": name, "labels": labels,
                                                        "value": value, "rate": rate, "since": now}

    def delete(self, name=None, cluster=None):
        with self.lock:
            if name is None and cluster is None:
                self.samples = {}
            else:
                self.samples = {k: s for k, s in self.samples.items()
                                if not ((name is None or s["name"] == name)
                                        and (cluster is None or s["labels"].get("cluster") == cluster))}
            if cluster is not None and name is None:
                # a cluster that stopped: its fault goes with it
                self.faults.pop(cluster, None)
                if cluster in self.clusters:
                    self.clusters.remove(cluster)

    def current(self):
        now = time.time()
        with self.lock:
            samples = list(self.samples.values())
        out = []
        for s in samples:
            value = s["value"] + s["rate"] * (now - s["since"]) if s["rate"] else s["value"]
            out.append({"name": s["name"], "labels": s["labels"], "value": value, "rate": s["rate"]})
        return sorted(out, key=lambda s: (family(s["name"]), s["name"], sorted(s["labels"].items())))

    def exposition(self):
        lines, typed = [], set()
        for s in self.current():
            fam = family(s["name"])
            if fam not in typed:
                typed.add(fam)
                lines.append(f"# TYPE {fam} {TYPES.get(fam, 'untyped')}")
            labels = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(s["labels"].items()))
            lines.append(f"{s['name']}{{{labels}}} {format_value(s['value'])}" if labels
                         else f"{s['name']} {format_value(s['value'])}")
        return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    store = None

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def reply(self, code, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else None

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/metrics":
            self.reply(200, self.store.exposition(), "text/plain; version=0.0.4")
        elif path == "/samples":
            samples = [{**s, "value": format_value(s["value"]) if not math.isfinite(s["value"]) else s["value"]}
                       for s in self.store.current()]
            self.reply(200, samples)
        elif path == "/faults":
            self.reply(200, self.store.faults)
        elif path == "/healthz":
            self.reply(200, "ok\n", "text/plain")
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/samples":
                body = self.body()
                self.store.put(body if isinstance(body, list) else [body])
                self.reply(200, {"ok": True})
            elif path == "/clusters":
                self.store.add_cluster(str(self.body()["cluster"]))
                self.reply(200, {"ok": True})
            elif path == "/faults":
                body = self.body()
                self.store.set_fault(str(body["cluster"]), str(body.get("fault", "none")))
                self.reply(200, {"ok": True})
            elif path == "/reset":
                self.store.reset()
                self.reply(200, {"ok": True})
            else:
                self.reply(404, {"error": "not found"})
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            self.reply(400, {"error": str(err)})

    def do_DELETE(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/samples":
            self.reply(404, {"error": "not found"})
            return
        query = urllib.parse.parse_qs(url.query)
        self.store.delete(query.get("name", [None])[0], query.get("cluster", [None])[0])
        self.reply(200, {"ok": True})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clusters", default="old,new", help="comma-separated cluster names to seed")
    parser.add_argument("--workloads", default="tenant-core/podinfo",
                        help="comma-separated NAMESPACE/NAME of the workloads each cluster serves")
    args = parser.parse_args()
    workloads = [tuple(w.split("/", 1)) for w in args.workloads.split(",") if "/" in w]
    Handler.store = Store([c for c in args.clusters.split(",") if c], workloads)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
