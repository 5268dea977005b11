#!/usr/bin/env python3
"""bench/fairness.py: what a second client sees while a first one is at its
MaxContainersPerClient.  Run by bench/fairness.sh, which starts dcgid.

    fairness.py PORT PATH N GAP_MS HOG HOLD_PATH [--hog-source ADDR]

Client B (127.0.0.2) sends N sequential GETs to PATH with GAP_MS between
them, first on an idle server, then while client A (127.0.0.1, or
--hog-source) keeps HOG requests to HOLD_PATH (a slow function) open at all
times: each of A's workers sends its next request as soon as the last one
was answered (200, or 503 at its limit).  Prints one JSON line: B's
latencies (ms) idle and loaded, p50/p99, B's errors, and what A got.
"""

import json
import socket
import sys
import threading
import time


def get(port, path, source, timeout=120):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path.encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    line = data.split(b"\r\n", 1)[0].split()
    status = int(line[1]) if len(line) > 1 and line[1].isdigit() else None
    return status, (time.monotonic() - t0) * 1000


def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return round(v[k], 1)


def series(port, path, n, gap):
    lat, errors = [], 0
    for _ in range(n):
        st, ms = get(port, path, "127.0.0.2")
        if st in (200, 201):
            lat.append(ms)
        else:
            errors += 1
        time.sleep(gap / 1000.0)
    return lat, errors


def main():
    port, path, n, gap, hog, hold = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                     int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    src = sys.argv[sys.argv.index("--hog-source") + 1] if "--hog-source" in sys.argv else "127.0.0.1"
    idle, idle_err = series(port, path, n, gap)
    stop = threading.Event()
    a = {"200": 0, "503": 0, "other": 0}
    lock = threading.Lock()

    def hogger():
        while not stop.is_set():
            try:
                st, _ = get(port, hold, src)
            except OSError:
                st = None
            with lock:
                a["200" if st == 200 else "503" if st == 503 else "other"] += 1
            if st != 200:
                time.sleep(0.05)

    ths = [threading.Thread(target=hogger, daemon=True) for _ in range(hog)]
    for th in ths:
        th.start()
    time.sleep(3)       # A at its limit, the rest of its workers in line
    loaded, loaded_err = series(port, path, n, gap)
    stop.set()
    for th in ths:
        th.join(180)
    print(json.dumps({
        "path": path, "n": n, "hog": hog,
        "idle": {"p50": pct(idle, 50), "p99": pct(idle, 99), "errors": idle_err},
        "loaded": {"p50": pct(loaded, 50), "p99": pct(loaded, 99), "errors": loaded_err},
        "ratio_p50": round(pct(loaded, 50) / pct(idle, 50), 3) if idle and loaded else None,
        "a": a,
    }))


if __name__ == "__main__":
    main()
