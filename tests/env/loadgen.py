#!/usr/bin/env python3
"""Load generator of the lab: a steady stream of requests for every tenant, for as long as
the environment runs.

- Client traffic: --rate requests per second per tenant through HAProxy's frontend (Host:
  TENANT.lab), so the weights of HAProxy's backend decide which cluster serves them.
- Smoke traffic: --smoke-rate requests per second per tenant straight to every cluster's
  entry point, the synthetic checks a cluster gets before it takes users: a cluster that
  has no weight yet still has measured error rates and latencies to compare.

Requests are sent on schedule, each in its own thread, so a slow answer never slows the
stream. The clusters are read again every few seconds from the environment's state
directory (clusters/<name>/cluster.env, INGRESS_PORT): a cluster added or removed later
gains or loses its smoke stream. Counts per stream are served on --port as Prometheus
metrics (lab_loadgen_requests_total{stream, tenant, cluster, code}); /healthz answers "ok".
"""

import argparse
import http.client
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {}  # (stream, tenant, cluster, code) -> n
LOCK = threading.Lock()


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1


def send(stream, tenant, address, cluster):
    """One GET / for tenant at address (host, port); counts it by the cluster that answered."""
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": tenant + ".lab", "User-Agent": "ferry-lab-loadgen"})
        r = conn.getresponse()
        r.read()
        count((stream, tenant, r.getheader("X-Cluster") or cluster, str(r.status)))
    except OSError:
        count((stream, tenant, cluster, "error"))
    finally:
        conn.close()


def clusters(state_dir):
    """{name: (host, port)} of the running clusters' entry points."""
    found = {}
    root = os.path.join(state_dir, "clusters")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            with open(os.path.join(root, name, "cluster.env")) as f:
                env = dict(line.rstrip("\n").partition("=")[::2] for line in f)
        except OSError:
            continue
        if env.get("INGRESS_PORT"):
            found[name] = ("127.0.0.1", int(env["INGRESS_PORT"]))
    return found


def run(args):
    pool = ThreadPoolExecutor(max_workers=64)
    host, _, port = args.haproxy.rpartition(":")
    frontend = (host, int(port))
    targets, refreshed = {}, 0.0
    client_every, smoke_every = 1.0 / args.rate, 1.0 / args.smoke_rate if args.smoke_rate > 0 else None
    next_client = next_smoke = time.monotonic()
    while True:
        now = time.monotonic()
        # after a stall (a busy machine), go on from now rather than catch up in a burst
        next_client, next_smoke = max(next_client, now - 1), max(next_smoke, now - 1)
        if now - refreshed >= 2:
            targets, refreshed = clusters(args.state_dir), now
        if now >= next_client:
            for tenant in args.tenants:
                pool.submit(send, "client", tenant, frontend, "")
            next_client += client_every
        if smoke_every and now >= next_smoke:
            for name, address in targets.items():
                for tenant in args.tenants:
                    pool.submit(send, "smoke", tenant, address, name)
            next_smoke += smoke_every
        wait = min(next_client, next_smoke if smoke_every else next_client) - time.monotonic()
        if wait > 0:
            time.sleep(wait)


class Metrics(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            lines = ["# TYPE lab_loadgen_requests_total counter"]
            with LOCK:
                for (stream, tenant, cluster, code), n in sorted(COUNTS.items()):
                    lines.append(f'lab_loadgen_requests_total{{stream="{stream}",tenant="{tenant}",'
                                 f'cluster="{cluster}",code="{code}"}} {n}')
            body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--haproxy", required=True, help="HOST:PORT of HAProxy's frontend")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--tenants", required=True, help="comma-separated tenant names")
    parser.add_argument("--rate", type=float, default=10, help="client requests per second per tenant")
    parser.add_argument("--smoke-rate", type=float, default=2,
                        help="smoke requests per second per tenant and cluster (0: none)")
    parser.add_argument("--port", type=int, required=True, help="port of the metrics and /healthz")
    args = parser.parse_args()
    args.tenants = [t for t in args.tenants.split(",") if t]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Metrics)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    run(args)


if __name__ == "__main__":
    main()
