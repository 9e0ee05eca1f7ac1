#!/usr/bin/env python3
"""Entry point of one cluster of the test environment (its ingress, as the load balancer
sees it). A request for a tenant goes to the cluster's process of that tenant's app: the
tenant is the first label of the Host header (tenant-core.lab) or the first segment of the
path (/tenant-core/..., removed before forwarding). Any other GET answers 200 with the
cluster's name, so a request through HAProxy tells which cluster served it. Every answer
carries X-Cluster. /healthz answers "ok"; a tenant whose app does not answer gets 502."""

import argparse
import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


class Handler(BaseHTTPRequestHandler):
    cluster = ""
    routes = {}  # tenant -> (host, port)
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Cluster", self.cluster)
        self.end_headers()
        self.wfile.write(body)

    def route(self):
        """(tenant, path to forward), or (None, path)."""
        host = (self.headers.get("Host") or "").split(":")[0]
        tenant = host.split(".")[0]
        if tenant in self.routes:
            return tenant, self.path
        first, _, rest = self.path.lstrip("/").partition("/")
        if first in self.routes:
            return first, "/" + rest
        return None, self.path

    def forward(self, tenant, path):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(*self.routes[tenant], timeout=30)
        try:
            conn.request(self.command, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            kept = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP_BY_HOP]
            self.answer(r.status, data, kept)
        except OSError as e:
            self.answer(502, f"{tenant} on {self.cluster}: {e}\n".encode(), [("Content-Type", "text/plain")])
        finally:
            conn.close()

    def handle_any(self):
        tenant, path = self.route()
        if tenant:
            self.forward(tenant, path)
        elif self.command != "GET":
            self.answer(405, b"no tenant in the request\n", [("Content-Type", "text/plain")])
        else:
            body = b"ok\n" if self.path == "/healthz" else (self.cluster + "\n").encode()
            self.answer(200, body, [("Content-Type", "text/plain")])

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--route", action="append", default=[], metavar="TENANT=HOST:PORT",
                        help="send TENANT's requests to HOST:PORT (repeatable)")
    args = parser.parse_args()
    Handler.cluster = args.cluster
    for route in args.route:
        tenant, _, address = route.partition("=")
        host, _, port = address.rpartition(":")
        Handler.routes[tenant] = (host, int(port))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
