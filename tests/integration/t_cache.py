#!/usr/bin/env python3
"""Route `Cache TTL`: identical GETs while one is running wait for it
instead of starting containers; 200 answers are served from memory until
the TTL runs out; never for Authorization, Set-Cookie or
Cache-Control: private/no-store."""

import concurrent.futures
import subprocess
import threading
import time
import urllib.request

from dcgitest import Server, Tap

t = Tap()

SLOW = "/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; sleep 1; hostname\""
COOKIE = "/bin/sh -c \"printf 'Content-Type: text/plain\\nSet-Cookie: a=b\\n\\n'; hostname\""
PRIVATE = "/bin/sh -c \"printf 'Content-Type: text/plain\\nCache-Control: private\\n\\n'; hostname\""
s = Server("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
           "AccessLog off\nErrorLog {tmp}/error.log\n"
           "<Route /cached>\n Image dcgi-test/busybox\n Command " + SLOW + "\n Cache 3s\n"
           " MaxConcurrent 64\n</Route>\n"
           "<Route /cookie>\n Image dcgi-test/busybox\n Command " + COOKIE + "\n Cache 10s\n</Route>\n"
           "<Route /private>\n Image dcgi-test/busybox\n Command " + PRIVATE + "\n Cache 10s\n</Route>\n")


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

t.is_(s.stop(), 0, "clean exit")
t.done()
