#!/usr/bin/env python3
"""Per-client limits.  One client (127.0.0.1) holds as many slow container
requests as MaxContainersPerClient lets it (one less than MaxContainers,
so that without the limit it would take them all), and more wait: a second
client (127.0.0.2) still gets its container at once (Server-Timing says
it waited 0 in line) and a 200 while the first one's are still running;
the first client's extra requests get 503 with Retry-After, and the error
log says so once for the burst, then once that it is over.  A client at
MaxConnectionsPerClient gets 503 with Retry-After on a further
connection, before it has sent anything; another client is served
meanwhile; said once per burst.  Loopback only: the addresses of
127.0.0.0/8 are all this host's."""

import os
import re
import socket
import threading
import time

from dcgitest import Server, Tap, read_to_close, status_of, wait_until, sanitizer_report, time_limit

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
OVERALL = 300 * SLOW

time_limit(OVERALL, "t_fairness.py")

HOLD = 6 * SLOW       # how long a slow function runs
LIMIT = 3
CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
MaxContainers %d
MaxContainersPerClient %d
MaxConnectionsPerClient 6
<Route /slow>
    Image dcgi-test/busybox
    Command /bin/sh -c "sleep %d; printf 'Content-Type: text/plain\\\\n\\\\nslow\\\\n'"
    MaxConcurrent 16
    Timeout 60s
</Route>
<Route /fast>
    Image dcgi-test/busybox
    Command /cgi/length
    MaxConcurrent 16
</Route>
""" % (LIMIT + 1, LIMIT, HOLD)


def request(port, path, source, timeout=60 * SLOW):
    """(status, head, body, when it ended) of a GET from `source`."""
    s = socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode())
    r = read_to_close(s, timeout)
    s.close()
    head, _, body = r.partition(b"\r\n\r\n")
    return status_of(r), head.decode("latin-1"), body, time.monotonic()


def log():
    try:
        with open(os.path.join(srv.tmpdir, "error.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


srv = Server(CONF)
with open(os.path.join(srv.root, "ok.txt"), "w") as f:
    f.write("fine\n")

# --- containers -----------------------------------------------------------------

st, head, body, _ = request(srv.port, "/fast", "127.0.0.2")
t.is_(st, 200, "client B, idle server: /fast 200")

results = {}


def slow(i):
    results[i] = request(srv.port, "/slow", "127.0.0.1")


a = [threading.Thread(target=slow, args=(i,)) for i in range(LIMIT)]
for th in a:
    th.start()
t.ok(wait_until(lambda: len(os.popen("docker ps -q --filter label=dcgi.route=/slow")
                         .read().split()) >= LIMIT, 60 * SLOW, 0.2),
     "client A holds %d slow containers (its limit)" % LIMIT)
started = time.monotonic()
# Three more from A: they wait in line for A's own, and get 503.
extra = [threading.Thread(target=slow, args=(LIMIT + i,)) for i in range(3)]
for th in extra:
    th.start()
time.sleep(0.3)
st, head, body, done = request(srv.port, "/fast", "127.0.0.2")
t.is_(st, 200, "client B, with A at its limit and more of A's waiting: /fast 200")
t.is_(body, b"hello", "and the whole answer")
m = re.search(r"queue;dur=([0-9.]+)", head)
t.ok(m is not None and float(m.group(1)) < 50,
     "B did not wait in line behind A (Server-Timing queue;dur=%s ms)" % (m.group(1) if m else "?"))
t.ok(all(i not in results for i in range(LIMIT)),
     "B was answered while A's containers still ran")
st, head, body, _ = request(srv.port, "/slow", "127.0.0.2")
t.is_(st, 200, "B's own slow request gets its container and a 200 too")
for th in a + extra:
    th.join()
statuses = sorted(results[i][0] for i in results)
t.is_(statuses, [200] * LIMIT + [503] * 3, "A: %d answered, the 3 beyond its limit 503" % LIMIT)
refused = [results[i] for i in results if results[i][0] == 503]
t.ok(all("Retry-After:" in r[1] for r in refused), "the 503s carry Retry-After")
t.ok(wait_until(lambda: "in the burst now over" in log(), 10 * SLOW),
     "the end of the burst is logged")
lg = log()
t.is_(lg.count("holds MaxContainersPerClient"), 1,
      "the limit is logged once for the burst, not once per request")
t.ok(re.search(r"client 127\.0\.0\.1: 3 requests refused at MaxContainersPerClient", lg),
     "the closing line counts the 3 refused")
t.ok("client 127.0.0.2" not in lg, "nothing is said of client B")

# --- connections ----------------------------------------------------------------

held = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", srv.port), 10, source_address=("127.0.0.3", 0))
    held.append(s)
time.sleep(0.3)
answers = []
for i in range(4):
    s = socket.create_connection(("127.0.0.1", srv.port), 10, source_address=("127.0.0.3", 0))
    answers.append(read_to_close(s, 10 * SLOW))
    s.close()
t.ok(all(status_of(r) == 503 and b"Retry-After: 5\r\n" in r for r in answers),
     "a 7th to 10th connection from one client: 503 with Retry-After, unasked")
st, _, body, _ = request(srv.port, "/ok.txt", "127.0.0.4")
t.ok(st == 200 and body == b"fine\n", "another client is served meanwhile")
s = held[0]
s.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.is_(status_of(read_to_close(s, 10 * SLOW)), 200, "the client's own open connections still work")
for s in held:
    s.close()
t.ok(wait_until(lambda: "connections refused at MaxConnectionsPerClient" in log(), 10 * SLOW),
     "the end of the connection burst is logged, with its count")
lg = log()
t.is_(lg.count("MaxConnectionsPerClient (6) reached"), 1, "the connection limit is logged once")
t.ok("client 127.0.0.3: 4 connections refused" in lg, "4 connections refused, it says")
st, _, _, _ = request(srv.port, "/ok.txt", "127.0.0.3")
t.is_(st, 200, "once under its limit again the client is served")

t.is_(srv.stop(), 0, "dcgid exits 0")
report = sanitizer_report(srv.errors())
t.ok(not report, "no sanitizer report")
t.done()
