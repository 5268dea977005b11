#!/usr/bin/env python3
"""Route `Cache TTL`: identical GETs while one is running wait for it
instead of starting containers; 200 answers are served from memory until
the TTL runs out; never for Authorization, Set-Cookie or
Cache-Control: private/no-store."""

import concurrent.futures
import socket
import subprocess
import threading
import time
import urllib.request

from dcgitest import Server, Tap, read_to_close

t = Tap()

SLOW = "/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; sleep 3; hostname\""
COOKIE = "/bin/sh -c \"printf 'Content-Type: text/plain\\nSet-Cookie: a=b\\n\\n'; hostname\""
PRIVATE = "/bin/sh -c \"printf 'Content-Type: text/plain\\nCache-Control: private\\n\\n'; hostname\""
# RFC 3875 §4.3.3: no body for HEAD.
HEADFIRST = ("/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; "
             "[ $REQUEST_METHOD = HEAD ] || echo body of $(hostname)\"")
LARGE = ("/bin/sh -c \"printf 'Content-Type: application/octet-stream\\n\\n'; "
         "head -c 600000 /dev/zero\"")
SLOWCOOKIE = "/bin/sh -c \"printf 'Content-Type: text/plain\\nSet-Cookie: a=b\\n\\n'; sleep 3; hostname\""
s = Server("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
           "AccessLog off\nErrorLog {tmp}/error.log\n"
           # six /slowcookie at once: none waits for a start place (a 503
           # after 2 s on a slow engine)
           "MaxStarting 8\n"
           "<Route /cached>\n Image dcgi-test/busybox\n Command " + SLOW + "\n Cache 3s\n"
           " MaxConcurrent 64\n</Route>\n"
           "<Route /cookie>\n Image dcgi-test/busybox\n Command " + COOKIE + "\n Cache 10s\n</Route>\n"
           "<Route /private>\n Image dcgi-test/busybox\n Command " + PRIVATE + "\n Cache 10s\n</Route>\n"
           "<Route /headfirst>\n Image dcgi-test/busybox\n Command " + HEADFIRST + "\n Cache 10s\n"
           "</Route>\n"
           "<Route /large>\n Image dcgi-test/busybox\n Command " + LARGE + "\n Cache 10s\n"
           " Timeout 60s\n</Route>\n"
           "<Route /slowcookie>\n Image dcgi-test/busybox\n Command " + SLOWCOOKIE + "\n"
           " Cache 10s\n</Route>\n")


def get(path, headers=None, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (s.port, path), headers=headers or {},
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except Exception as e:
        return None, {}, str(e).encode()


class Creates:
    """Count container creations for a route with `docker events`."""

    def __init__(self, route):
        self.p = subprocess.Popen(["docker", "events", "--filter", "event=create", "--filter",
                                   "label=dcgi.route=" + route, "--format", "{{.ID}}"],
                                  stdout=subprocess.PIPE, text=True)
        self.ids = []
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.5)

    def _read(self):
        for line in self.p.stdout:
            self.ids.append(line.strip())

    def stop(self):
        time.sleep(1)
        self.p.terminate()
        self.p.wait(10)
        return len(self.ids)


ev = Creates("/cached")
with concurrent.futures.ThreadPoolExecutor(max_workers=100) as ex:
    results = list(ex.map(lambda _: get("/cached"), range(100)))
bodies = {r[2] for r in results}
t.is_(sorted({r[0] for r in results}), [200], "100 concurrent GETs: all 200")
t.is_(len(bodies), 1, "all got the same answer (one container's hostname)")
st, h, body = get("/cached")
t.ok(st == 200 and body in bodies, "a GET within the TTL is served from the cache")
t.ok(h.get("Age") is not None and "cache" in h.get("Server-Timing", ""),
     "with Age and Server-Timing: cache")
st, h, body = get("/cached", method="HEAD")
t.ok(st == 200 and body == b"" and h.get("Content-Length") == str(len(next(iter(bodies)))),
     "HEAD is answered from the same entry, without a body")
n = ev.stop()
t.ok(1 <= n <= 3, "100 concurrent identical GETs started %d container(s)" % n)

time.sleep(3.5)
st, h, body = get("/cached")
t.ok(st == 200 and body not in bodies, "after the TTL a new container answers")

a1 = get("/cached", {"Authorization": "Basic eDp5"})[2]
a2 = get("/cached", {"Authorization": "Basic eDp5"})[2]
t.ok(a1 != a2, "requests with Authorization are never cached")
c1, c2 = get("/cookie")[2], get("/cookie")[2]
t.ok(c1 != c2, "responses with Set-Cookie are never cached")
p1, p2 = get("/private")[2], get("/private")[2]
t.ok(p1 != p2, "responses with Cache-Control: private are never cached")
q1, q2 = get("/cached?x=1")[2], get("/cached?x=2")[2]
t.ok(q1 != q2, "the query is part of the key")

# A HEAD never makes the entry a GET is then served: its function writes
# no body (RFC 3875 §4.3.3).
# (A client that waits for the server's close, so that the HEAD's run ends
# while the client is there.)
c = socket.create_connection(("127.0.0.1", s.port), 30)
c.sendall(b"HEAD /headfirst HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % s.port)
r = read_to_close(c, 30)
c.close()
t.ok(r.startswith(b"HTTP/1.1 200"), "HEAD of a cached route: 200")
st, h, body = get("/headfirst")
t.ok(st == 200 and body.startswith(b"body of "), "a GET after it gets the whole body, not "
     "HEAD's empty one (%r)" % body[:40])

# The leader's client stops reading and goes while identical requests
# wait: they still get the whole answer (the producer is resumed for them).
lead = socket.create_connection(("127.0.0.1", s.port), 10)
lead.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
lead.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(1.5)     # the leader's container runs and fills its buffers
with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
    waiting = [ex.submit(get, "/large") for _ in range(3)]
    time.sleep(0.5)
    lead.close()
    got = [f.result() for f in waiting]
t.ok(all(g[0] == 200 and len(g[2]) == 600000 for g in got),
     "the leader gone mid-way, the 3 waiters get the whole 600000 bytes: %s" %
     [(g[0], len(g[2])) for g in got])

# An answer not for sharing: the waiters then run their own containers side
# by side, not one after the other as new leaders.
most = [0]
stop = threading.Event()


def watch():
    while not stop.is_set():
        p = subprocess.run(["docker", "ps", "-q", "--filter", "label=dcgi.route=/slowcookie"],
                           capture_output=True, text=True)
        most[0] = max(most[0], len(p.stdout.split()))
        time.sleep(0.1)


w = threading.Thread(target=watch)
w.start()
with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
    got = list(ex.map(lambda _: get("/slowcookie"), range(6)))
stop.set()
w.join()
t.ok(all(g[0] == 200 for g in got), "6 identical requests for an answer with Set-Cookie: all 200")
t.ok(most[0] >= 5, "once the first said Set-Cookie, the 5 others ran side by side (%d containers at once)" % most[0])

t.is_(s.stop(), 0, "clean exit")
t.done()
