#!/usr/bin/env python3
"""Entry point of one cluster of the test environment (its ingress, as the load balancer
sees it): every GET answers 200 with the cluster's name, so a request through HAProxy
tells which cluster served it. /healthz answers "ok"."""

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    cluster = ""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def do_GET(self):
        body = b"ok\n" if self.path == "/healthz" else (self.cluster + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Cluster", self.cluster)
        self.end_headers()
        self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cluster", required=True)
    args = parser.parse_args()
    Handler.cluster = args.cluster
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
