#!/usr/bin/env python3
"""A fault-injecting HTTP server on 127.0.0.1: a small Kubernetes API (discovery,
ConfigMaps) and plain paths, answering any request with the fault it is told to.

Usage: fault-server.py [--port-file FILE] [--lifetime SECONDS]
Binds a free port (port 0), prints it on the first line of stdout (and writes it
to FILE), and stops by itself after --lifetime seconds (300) so that a crashed
test run leaves nothing behind.

The Kubernetes part: GET /version, /api (APIVersions: v1), /apis (no groups),
/api/v1 (configmaps, namespaces); GET (one or a list), POST, PUT, PATCH (apply,
merge and strategic merge read alike: the patch is merged into the object, or
creates it) and DELETE of /api/v1/namespaces/NS/configmaps[/NAME], in memory.
Anything else is 404 with a Status, or, under /plain/, 200 "ok".

Faults. A request is answered by the first fault that matches it; a fault
matches by method (any when absent) and path (without the query; a trailing
"*" matches a prefix), and only on a reused connection when "reused" is true;
"times" (default: always) counts how often it fires before it is used up.
Set them with `PUT /_control/faults` and a JSON list, or per request with the
path prefix /fault/NAME[/ARG]/... (the rest is ignored), e.g. /fault/status/503.

  {"fault": "status", "status": 503, "headers": {"Retry-After": "-5"}, "body": "...",
   "content_type": "text/plain"}  (default: a Status, application/json)
  {"fault": "close"}            read the request, then close without an answer
  {"fault": "reset", "bytes": 100}
                                headers promising the whole answer, part of it, then RST
  {"fault": "stall"}            read the request, never answer
  {"fault": "stall_body"}       send the status line and headers, then nothing
  {"fault": "truncated"}        200 with the answer's first half as a complete body
  {"fault": "html"}             200 text/html: a login page
  {"fault": "huge", "bytes": N, "chunked": false}
                                200 application/json of N bytes (a JSON string)
  {"fault": "trickle", "bytes": N, "interval": 1}
                                200 of N bytes, one byte per interval seconds

Control (never counted, never faulted):
  GET  /_control/counts   {"METHOD PATH": n, ...}: every request read, by method and path
  PUT  /_control/faults   replaces the faults with the JSON list in the body
  POST /_control/reset    forgets counts, faults and objects
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNTS = {}
FAULTS = []
OBJECTS = {}  # (namespace, name) -> ConfigMap
VERSION = [1]

LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
              b"<body><form method=\"post\" action=\"/login\"><input name=\"user\">"
              b"<input name=\"password\" type=\"password\"></form></body></html>\n")

DISCOVERY = {
    "/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.0-fault"},
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["cm"]},
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"]},
    ]},
}


def status_object(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge(target, patch):
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return target


def huge_pieces(size):
    """The pieces of a JSON string of size bytes (at least 2), 1 MiB at most each."""
    yield b'"'
    remaining, piece = size - 2, b"x" * (1 << 20)
    while remaining > 0:
        yield piece[:remaining]
        remaining -= len(piece)
    yield b'"'


def fault_from_path(path):
    """/fault/NAME[/ARG]/... -> a fault, or None."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "fault":
        return None
    name, arg = parts[2], (parts[3] if len(parts) > 3 else "")
    fault = {"fault": name}
    if name == "status":
        fault["status"] = int(arg or 500)
    elif name == "retry-after":  # /fault/retry-after/VALUE: 429 with that Retry-After
        fault = {"fault": "status", "status": 429, "headers": {"Retry-After": arg}}
    elif name in ("huge", "reset", "trickle") and arg:
        fault["bytes"] = int(arg)
    return fault


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.served = 0  # requests answered on this connection before the current one

    # ---- answers ---------------------------------------------------------

    def answer(self, status, body, content_type="application/json", headers=None):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def hang_up(self, reset):
        if reset:  # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.close_connection = True

    def wait_for_hangup(self, seconds=120):
        """Holds the connection open, silent, until the client goes away."""
        self.wfile.flush()
        self.connection.settimeout(1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if not self.connection.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.close_connection = True

    # ---- the Kubernetes API and plain paths ------------------------------------

    def configmaps(self, method, path, body):
        parts = path.strip("/").split("/")  # api v1 namespaces NS configmaps [NAME]
        if len(parts) not in (5, 6) or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "configmaps":
            return 404, status_object(404, "NotFound", "the server could not find the requested resource")
        namespace, name = parts[3], (parts[5] if len(parts) == 6 else None)
        with LOCK:
            if name is None and method == "GET":
                items = [o for (ns, _), o in sorted(OBJECTS.items()) if ns == namespace]
                return 200, {"kind": "ConfigMapList", "apiVersion": "v1", "items": items,
                             "metadata": {"resourceVersion": str(VERSION[0])}}
            if name is None and method == "POST":
                obj = json.loads(body or b"{}")
                name = obj.get("metadata", {}).get("name")
                if (namespace, name) in OBJECTS:
                    return 409, status_object(409, "AlreadyExists", f'configmaps "{name}" already exists')
                return 201, self.store(namespace, name, obj)
            key = (namespace, name)
            if method == "GET" and key in OBJECTS:
                return 200, OBJECTS[key]
            if method == "PUT":
                return 200, self.store(namespace, name, json.loads(body or b"{}"))
            if method == "PATCH":
                current = json.loads(json.dumps(OBJECTS.get(key, {"apiVersion": "v1", "kind": "ConfigMap"})))
                return 200, self.store(namespace, name, merge(current, json.loads(body or b"{}")))
            if method == "DELETE" and key in OBJECTS:
                return 200, OBJECTS.pop(key)
        return 404, status_object(404, "NotFound", f'configmaps "{name}" not found')

    @staticmethod
    def store(namespace, name, obj):
        VERSION[0] += 1
        meta = obj.setdefault("metadata", {})
        meta.update({"name": name, "namespace": namespace, "resourceVersion": str(VERSION[0])})
        meta.setdefault("uid", f"uid-{namespace}-{name}")
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "ConfigMap")
        OBJECTS[(namespace, name)] = obj
        return obj

    def normal(self, method, path, body):
        if path in DISCOVERY and method == "GET":
            return 200, DISCOVERY[path]
        if path.startswith("/plain/") or path.startswith("/fault/"):
            return 200, {"ok": True, "method": method, "path": path}
        return self.configmaps(method, path, body)

    # ---- faults ------------------------------------------------------------------

    def matching_fault(self, method, path):
        with LOCK:
            for fault in FAULTS:
                if fault.get("method", method).upper() != method:
                    continue
                pattern = fault.get("path", "*")
                if not (path == pattern or (pattern.endswith("*") and path.startswith(pattern[:-1]))):
                    continue
                if fault.get("reused") and self.served == 0:
                    continue
                if fault.get("times") is not None:
                    if fault["times"] <= 0:
                        continue
                    fault["times"] -= 1
                return dict(fault)
        return fault_from_path(path)

    def inject(self, fault, method, path, body):
        kind = fault["fault"]
        if kind == "status":
            code = int(fault.get("status", 500))
            payload = fault.get("body")
            payload = payload.encode() if isinstance(payload, str) else status_object(code, "InternalError", f"injected {code}")
            self.answer(code, payload, fault.get("content_type", "application/json"), fault.get("headers"))
        elif kind == "close":
            self.hang_up(reset=False)
        elif kind == "stall":
            self.wait_for_hangup()
        elif kind == "stall_body":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wait_for_hangup()
        elif kind in ("reset", "truncated"):
            _, real = self.normal(method, path, body)
            data = json.dumps(real).encode()
            cut = min(int(fault.get("bytes", len(data) // 2)), len(data) - 1)
            if kind == "truncated":
                self.answer(200, data[:cut])
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.hang_up(reset=True)
        elif kind == "html":
            self.answer(200, LOGIN_PAGE, "text/html; charset=utf-8")
        elif kind == "huge":
            self.send_huge(int(fault.get("bytes", 200 * 1024 * 1024)), fault.get("chunked", False))
        elif kind == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(int(fault.get("bytes", 100))))
            self.end_headers()
            for _ in range(int(fault.get("bytes", 100))):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(float(fault.get("interval", 1)))
        else:
            self.answer(400, status_object(400, "BadRequest", f"unknown fault {kind}"))

    def send_huge(self, size, chunked):
        """A JSON string of size bytes, written in 1 MiB pieces."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for data in huge_pieces(size):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client gave up (its size cap)

    # ---- control -------------------------------------------------------------------

    def control(self, method, path, body):
        global FAULTS
        with LOCK:
            if path == "/_control/counts" and method == "GET":
                return self.answer(200, COUNTS)
            if path == "/_control/faults" and method == "PUT":
                FAULTS = json.loads(body or b"[]")
                return self.answer(200, FAULTS)
            if path == "/_control/reset" and method == "POST":
                COUNTS.clear()
                FAULTS = []
                OBJECTS.clear()
                return self.answer(200, {})
        self.answer(404, status_object(404, "NotFound", "unknown control endpoint"))

    def handle_any(self):
        method = self.command.upper()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            self.control(method, path, body)
        else:
            with LOCK:
                key = f"{method} {path}"
                COUNTS[key] = COUNTS.get(key, 0) + 1
            fault = self.matching_fault(method, path)
            if fault:
                self.inject(fault, method, path, body)
            else:
                code, answer = self.normal(method, path, body)
                self.answer(code, answer)
        self.served += 1

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port-file")
    parser.add_argument("--lifetime", type=float, default=300)
    args = parser.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    print(port, flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
