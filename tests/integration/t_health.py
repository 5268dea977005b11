#!/usr/bin/env python3
"""Health PATH: dcgid itself answers it, never a container or a file.

With privilege separation (the default) and with PrivilegeSeparation off:

- 200 "ok" (text/plain, Cache-Control: no-store) to GET and HEAD, the
  query string ignored; 405 with Allow to POST; a path below it is not it.
- 503 "redis down" (with Retry-After) while the <Queue>'s Redis is
  stopped, 200 again once it is back.
- 503 "engine down" while DockerHost is a socket that accepts and closes
  at once, 200 again once it passes through to the real engine; the
  outage is one line in the error log, not one per check.
- 503 "draining" to a request that arrives during a SIGTERM drain (its
  head begun before the signal) while a slow container request keeps the
  server alive; that request still gets its 200.
- A reload: under privilege separation the old server process drains, and
  a keep-alive connection to it gets 503 "draining" while a new
  connection gets 200; in one process a reload drains nothing.

Needs the image dcgi-test/busybox and redis-server."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from dcgitest import (DOCKER_SOCK, Server, Tap, docker_ids, free_port, http, read_to_close,
                      sanitizer_report, splice, status_of, time_limit, wait_until)

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
HZ = "/hz-health"

time_limit(400 * SLOW, "t_health.py")

if shutil.which("redis-server") is None:
    t.skip_all("no redis-server")


class Engine:
    """A unix socket for DockerHost: "pass" pipes each connection to the
    real engine, "close" accepts and closes it at once (an engine that
    does not answer).  set() closes what is open, so that dcgid's
    kept-alive connections come back under the new mode."""

    def __init__(self, path):
        self.path, self.mode, self.all = path, "pass", []
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(path)
        self.ls.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode):
        self.mode = mode
        for c in self.all:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.all = []

    def close(self):
        self.ls.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            if self.mode == "close":
                c.close()
                continue
            self.all.append(c)
            try:
                up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                up.connect(DOCKER_SOCK)
            except OSError:
                c.close()
                continue
            self.all.append(up)
            splice(c, up)


def split(r):
    """(status, head, body) of one whole response."""
    head, _, body = r.partition(b"\r\n\r\n")
    return status_of(r), head.decode("latin-1"), body


def request(port, method="GET", path=HZ, body=b"", timeout=5):
    try:
        return http(port, method, path, body, timeout * SLOW)
    except OSError:
        return None, "", b""


def one(sock, path=HZ):
    """One request on a kept-alive connection: (status, head, body)."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    data = b""
    sock.settimeout(5 * SLOW)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, "", b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"\r\nContent-Length: (\d+)", head, re.I)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status_of(data), head.decode("latin-1"), body


def says(want, what):
    """Health answers 503 with `what` in its body (and Retry-After)."""
    st, head, body = request(port_now[0])
    return st == 503 and what.encode() in body and "Retry-After:" in head if want == 503 \
        else st == 200 and body == b"ok\n"


work = tempfile.mkdtemp(prefix="dcgitest.health.")
engine = Engine(os.path.join(work, "engine.sock"))
rport = free_port()
rdir = os.path.join(work, "redis")
os.makedirs(rdir)


def redis_start():
    return subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", rdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def redis_ping():
    p = subprocess.run(["redis-cli", "-p", str(rport), "PING"], capture_output=True,
                       text=True, timeout=10)
    return p.stdout.strip() == "PONG"


redis = redis_start()
t.ok(wait_until(redis_ping, 10), "redis-server runs")

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog {tmp}/access.log
PrivilegeSeparation %(privsep)s
DockerHost unix://%(sock)s
Redis 127.0.0.1:%(rport)d
Health %(hz)s
GracePeriod 20s
<Queue hz-q-%(privsep)s>
    Type list
    Image dcgi-test/busybox
    Command /bin/true
</Queue>
<Route /hz-slow-%(privsep)s>
    Image dcgi-test/busybox
    Command /bin/sh -c "sleep 4; printf 'Content-Type: text/plain\\n\\nx\\n'"
    Timeout 30s
</Route>
"""

port_now = [0]
for privsep in ("on", "off"):
    name = "privsep %s" % privsep
    slow = "/hz-slow-" + privsep
    engine.set("pass")
    s = Server(CONF % {"privsep": privsep, "sock": engine.path, "rport": rport, "hz": HZ})
    port_now[0] = s.port
    elog = lambda: open(os.path.join(s.tmpdir, "error.log"), errors="replace").read()

    # Normally: ok.
    t.ok(wait_until(lambda: says(200, ""), 10 * SLOW), "%s: GET %s: 200 ok" % (name, HZ))
    st, head, body = request(s.port)
    t.ok("Content-Type: text/plain" in head and "Cache-Control: no-store" in head
         and "Retry-After" not in head, "%s: text/plain, Cache-Control: no-store" % name)
    st, head, body = request(s.port, path=HZ + "?probe=1&x=%2F")
    t.is_((st, body), (200, b"ok\n"), "%s: the query string is ignored" % name)
    st, head, body = request(s.port, "HEAD")
    t.ok(st == 200 and body == b"" and "Content-Length: 3" in head, "%s: HEAD: 200, no body" % name)
    st, head, body = request(s.port, "POST", body=b"x=1")
    t.ok(st == 405 and "Allow: GET, HEAD" in head, "%s: POST: 405 with Allow: GET, HEAD" % name)
    st, head, body = request(s.port, "DELETE")
    t.is_(st, 405, "%s: DELETE: 405" % name)
    st, head, body = request(s.port, path=HZ + "/below")
    t.is_(st, 404, "%s: a path below it is not it (404)" % name)

    # Redis stopped, then back.
    redis.send_signal(signal.SIGTERM)
    redis.wait(10)
    t.ok(wait_until(lambda: says(503, "redis down"), 10 * SLOW),
         "%s: Redis stopped: 503 redis down, with Retry-After" % name)
    redis = redis_start()
    t.ok(wait_until(redis_ping, 10), "%s: redis-server runs again" % name)
    t.ok(wait_until(lambda: says(200, ""), 20 * SLOW), "%s: Redis back: 200 ok" % name)

    # The engine does not answer, then does.
    engine.set("close")
    t.ok(wait_until(lambda: says(503, "engine down"), 10 * SLOW),
         "%s: the engine does not answer: 503 engine down" % name)
    time.sleep(5)   # a few more pings while it is down
    t.ok(says(503, "engine down"), "%s: and still, some pings later" % name)
    engine.set("pass")
    t.ok(wait_until(lambda: says(200, ""), 10 * SLOW), "%s: the engine back: 200 ok" % name)
    lg = elog()
    t.is_(lg.count("does not answer /_ping"), 1, "%s: the outage is one line in the error log" % name)
    t.ok("answers /_ping again" in lg, "%s: and its end another" % name)
    t.ok(HZ not in lg, "%s: no health request in the error log" % name)
    with open(os.path.join(s.tmpdir, "access.log"), errors="replace") as f:
        t.ok("GET %s HTTP/1.1\" 200" % HZ in f.read(), "%s: the access log has them" % name)

    # A reload: the old server process drains (privilege separation).
    ka = socket.create_connection(("127.0.0.1", s.port), 5)
    st, head, body = one(ka)
    t.is_((st, body), (200, b"ok\n"), "%s: a keep-alive connection: 200" % name)
    s.proc.send_signal(signal.SIGHUP)
    t.ok(wait_until(lambda: "configuration reloaded" in elog(), 15 * SLOW),
         "%s: SIGHUP: reloaded" % name)
    st, head, body = one(ka)
    if privsep == "on":
        t.ok(st == 503 and body == b"draining\n" and "Connection: close" in head,
             "%s: the old server process, draining: 503 draining" % name)
        if st != 503:
            t.diag("%r %r %r" % (st, head, body))
    else:
        t.is_((st, body), (200, b"ok\n"), "%s: one process: a reload drains nothing" % name)
    ka.close()
    t.ok(wait_until(lambda: says(200, ""), 5 * SLOW), "%s: a new connection: 200 ok" % name)

    # SIGTERM while a slow request runs: a request begun before it gets 503.
    got = {}

    def fetch():
        got["slow"] = request(s.port, path=slow, timeout=30)

    th = threading.Thread(target=fetch)
    th.start()
    t.ok(wait_until(lambda: docker_ids("dcgi.route=" + slow), 20 * SLOW, 0.1),
         "%s: a slow request's container runs" % name)
    late = socket.create_connection(("127.0.0.1", s.port), 5)
    late.sendall(b"GET " + HZ.encode() + b" HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.5 * SLOW)
    before = len(re.findall(r"stopping: \d+ connection", elog()))
    s.proc.send_signal(signal.SIGTERM)
    t.ok(wait_until(lambda: len(re.findall(r"stopping: \d+ connection", elog())) > before,
                    10 * SLOW, 0.05), "%s: SIGTERM: the server drains" % name)
    late.sendall(b"\r\n")
    st, head, body = split(read_to_close(late, 5 * SLOW))
    late.close()
    t.ok(st == 503 and body == b"draining\n" and "Retry-After:" in head,
         "%s: during the drain: 503 draining" % name)
    if st != 503:
        t.diag("%r %r %r" % (st, head, body))
    th.join(30 * SLOW)
    st, head, body = got.get("slow", (None, "", b""))
    if not t.ok(st == 200 and body == b"x\n",
                "%s: the slow request is answered in full" % name):
        t.diag("%r %r %r" % (st, head, body))
    t.is_(s.stop(timeout=60 * SLOW), 0, "%s: dcgid exits 0" % name)
    t.ok(not sanitizer_report(s.errors()), "%s: no sanitizer report" % name)
    t.ok(wait_until(lambda: not docker_ids("dcgi.route=" + slow), 20 * SLOW, 0.25),
         "%s: no container is left" % name)
    shutil.rmtree(s.tmpdir, ignore_errors=True)

redis.send_signal(signal.SIGTERM)
redis.wait(10)
engine.close()
shutil.rmtree(work, ignore_errors=True)
t.done()
