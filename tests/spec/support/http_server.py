"""A small HTTP server for the http module's specs, on 127.0.0.1 only.

Usage: http_server.py PORT_FILE  -- writes the chosen port to PORT_FILE.
Stops by itself after 120 seconds so a crashed test run leaves nothing behind.
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

attempts = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_text(self, status, text, headers=None):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        path = self.path
        if path == "/hello":
            self.send_text(200, "hello", {"X-Test": "yes"})
        elif path == "/echo":
            self.send_text(200, json.dumps({
                "method": self.command,
                "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }))
        elif path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(1, 6):
                chunk = f"line {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/drop":
            # promise 1000 bytes, send 10, hang up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        elif path == "/slow":
            time.sleep(3)
            self.send_text(200, "late")
        elif path.startswith("/flaky/"):
            key = path
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] < 3:
                self.send_text(503, "try again")
            else:
                self.send_text(200, f"ok after {attempts[key]}")
        elif path.startswith("/busy/"):
            # /busy/KEY?after=VALUE: 429 with "Retry-After: VALUE" once, then 200
            key, _, query = path.partition("?")
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] < 2:
                self.send_text(429, "slow down", {"Retry-After": query.partition("=")[2]})
            else:
                self.send_text(200, f"ok after {attempts[key]}")
        elif path.startswith("/gateway/"):
            key = path
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] < 3:
                self.send_text(504, "upstream timed out")
            else:
                self.send_text(200, f"ok after {attempts[key]}")
        elif path == "/missing":
            self.send_text(404, "not found")
        else:
            self.send_text(404, "unknown path")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    threading.Timer(120, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
