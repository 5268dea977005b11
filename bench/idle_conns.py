#!/usr/bin/env python3
"""Open N keep-alive connections to 127.0.0.1:PORT, GET PATH once on each,
read the whole response, and keep every connection open.

    idle_conns.py PORT PATH N READYFILE

Connections are made in batches (so the server's listen backlog never
overflows).  When all N responses have been read in full, a one-line summary
is written to READYFILE and the process sleeps until it gets SIGTERM/SIGINT;
the connections close when it exits.  Exit status 1 if any connection failed.
Needs an open-file limit above N (the caller raises `ulimit -n`).
"""
import selectors
import signal
import socket
import sys
import time

BATCH = 200


def main():
    port, path, n, readyfile = (int(sys.argv[1]), sys.argv[2],
                                int(sys.argv[3]), sys.argv[4])
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    socks, ok, bad = [], 0, 0
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()

    for start in range(0, n, BATCH):
        pending = {}
        for _ in range(min(BATCH, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.connect(("127.0.0.1", port))
            s.sendall(req)
            s.setblocking(False)
            socks.append(s)
            pending[s] = bytearray()
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                buf = pending[s]
                data = s.recv(65536)
                done = failed = not data
                if data:
                    buf += data
                    h = buf.find(b"\r\n\r\n")
                    if h >= 0:
                        head = bytes(buf[:h]).decode("latin-1").split("\r\n")
                        clen = 0
                        for line in head[1:]:
                            k, _, v = line.partition(":")
                            if k.strip().lower() == "content-length":
                                clen = int(v)
                        if len(buf) >= h + 4 + clen:
                            done = True
                            failed = head[0].split()[1] != "200"
                if done:
                    sel.unregister(s)
                    del pending[s]
                    if failed:
                        bad += 1
                    else:
                        ok += 1
        for s in pending:       # timed out
            sel.unregister(s)
            bad += 1

    summary = "%d connections open, %d responses OK, %d failed, %.1fs" % (
        len(socks), ok, bad, time.monotonic() - t0)
    with open(readyfile, "w") as f:
        f.write(summary + "\n")

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0 if bad == 0 else 1))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(0 if bad == 0 else 1))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
