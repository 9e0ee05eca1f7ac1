"""A TCP proxy on 127.0.0.1 whose connections the tests can cut.

Usage: tcp_proxy.py TARGET_HOST TARGET_PORT PORT_FILE
Writes its port to PORT_FILE. SIGUSR1 closes every open connection (the
proxy keeps listening), as a network failure would. Stops after 600 s.
"""
import os
import selectors
import signal
import socket
import sys
import threading

connections = set()
lock = threading.Lock()


def pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(client, target):
    try:
        upstream = socket.create_connection(target)
    except OSError:
        client.close()
        return
    with lock:
        connections.update((client, upstream))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
    with lock:
        connections.difference_update((client, upstream))
    client.close()
    upstream.close()


def cut_all(*_):
    with lock:
        for s in list(connections):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    target = (sys.argv[1], int(sys.argv[2]))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    signal.signal(signal.SIGUSR1, cut_all)
    signal.alarm(600)
    while True:
        try:
            client, _ = listener.accept()
        except InterruptedError:
            continue
        threading.Thread(target=handle, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    main()
