#!/usr/bin/env python3
"""Slow clients cost bounded memory and never hold a container past its
Timeout.  slowhttptest (Debian's) at a small scale on loopback: slowloris
(headers that never end), slow POST (a body that trickles into a container
route) and slow read (a client that reads a container's 20 MiB stream a
few bytes at a time).  During each, a second client (127.0.0.2) is served;
after each, dcgid's VmRSS is within a bound of where it started, and no
container is left.  Then our own raw sockets: a client that never reads a
20 MiB stream (dcgid stops reading the container, whose Timeout then ends
it; RSS stays flat), a body that never completes (no container is ever
started for it), and a head that fills the first input buffer exactly,
with a body behind it."""

import os
import socket
import subprocess
import threading
import time

from dcgitest import (Server, Tap, read_to_close, rss_kib, sanitizer_report, status_of,
                      time_limit, wait_until)

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
OVERALL = 400 * SLOW

time_limit(OVERALL, "t_slow.py")

TIMEOUT = 4
CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
HeaderTimeout 5s
BodyTimeout 5s
SendTimeout 30s
MaxConnectionsPerClient 200
MaxContainersPerClient 8
<Route /big>
    Image dcgi-test/busybox
    Command /cgi/big
    Timeout %ds
</Route>
<Route /post>
    Image dcgi-test/busybox
    Command /cgi/echo
</Route>
""" % TIMEOUT


def docker_ids(route):
    p = subprocess.run(["docker", "ps", "-aq", "--filter", "label=dcgi.route=" + route],
                       capture_output=True, text=True, timeout=60)
    return p.stdout.split()


class Probe:
    """GET /ok.txt from 127.0.0.2 every 0.3 s while an attack runs."""

    def __init__(self, port):
        self.port, self.results, self.stop = port, [], False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), 5 * SLOW,
                                             source_address=("127.0.0.2", 0))
                s.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                r = read_to_close(s, 5 * SLOW)
                s.close()
                self.results.append(status_of(r) == 200 and r.endswith(b"fine\n"))
            except OSError:
                self.results.append(False)
            time.sleep(0.3)

    def done(self):
        self.stop = True
        self.th.join()
        return self.results


def attack(args, seconds):
    """Run slowhttptest for about `seconds` against the server."""
    cmd = ["slowhttptest", "-l", str(seconds), "-p", "3", *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        return p.returncode
    except subprocess.TimeoutExpired:
        return None


s = Server(CONF)
with open(os.path.join(s.root, "ok.txt"), "w") as f:
    f.write("fine\n")
pid = s.proc.pid     # under valgrind too: it runs dcgid in its own process
base = "http://127.0.0.1:%d" % s.port
# Warm up (TLS-free, a container run, static), then the base line.
subprocess.run(["curl", "-s", "-o", "/dev/null", base + "/ok.txt"], timeout=30)
subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "30", base + "/post", "-d", "x"],
               timeout=60)
time.sleep(0.5)
rss0 = rss_kib(pid)
t.diag("VmRSS at the start: %d KiB" % rss0)

with open("/proc/%d/maps" % pid) as f:
    SANITIZED = "libasan" in f.read()
# ASan keeps freed memory in quarantine (and valgrind its own): the bound
# is for growth that would be unbounded, not for the allocator's habits.
BOUND = (96 if WRAPPED or SANITIZED else 16) * 1024


def after(name):
    r = rss_kib(pid)
    t.diag("%s: VmRSS %d KiB (start %d KiB, +%d KiB)" % (name, r, rss0, r - rss0))
    t.ok(r - rss0 < BOUND, "%s: VmRSS grew by %d KiB, under %d KiB" % (name, r - rss0, BOUND))


def during(args, seconds, watch, every):
    """slowhttptest with args for about `seconds`, while Probe serves a
    second client and watch() runs every `every` seconds; (slowhttptest's
    exit code or None, the probe's results)."""
    probe, stop = Probe(s.port), threading.Event()

    def loop():
        while not stop.is_set():
            watch()
            time.sleep(every)

    w = threading.Thread(target=loop, daemon=True)
    w.start()
    rc = attack(args, seconds)
    stop.set()
    w.join()
    return rc, probe.done()


# --- slowloris: 150 connections whose headers never end -------------------------
peak = [0]
rc, res = during(["-H", "-c", "150", "-r", "100", "-i", "1", "-x", "16", "-u", base + "/ok.txt"],
                 8, lambda: peak.__setitem__(0, max(peak[0], rss_kib(pid))), 0.2)
t.ok(rc is not None, "slowhttptest -H (slowloris) ran")
t.ok(res and all(res), "slowloris: another client was served throughout (%d/%d)" %
     (sum(res), len(res)))
t.diag("slowloris: VmRSS at most %d KiB during the attack" % peak[0])
t.ok(peak[0] - rss0 < BOUND, "slowloris: VmRSS during the attack +%d KiB" % (peak[0] - rss0))
after("slowloris")

# --- slow POST into a container route -------------------------------------------
before = docker_ids("/post")
seen = []
rc, res = during(["-B", "-c", "100", "-r", "100", "-i", "1", "-s", "65536", "-x", "16",
                  "-u", base + "/post"], 8,
                 lambda: seen.extend(i for i in docker_ids("/post") if i not in before), 0.5)
t.ok(rc is not None, "slowhttptest -B (slow POST) ran")
t.ok(res and all(res), "slow POST: another client was served throughout (%d/%d)" %
     (sum(res), len(res)))
with open(os.path.join(s.tmpdir, "error.log"), errors="replace") as f:
    lg = f.read()
ended = lg.count("client closed during the request body") + lg.count("request timed out (body)")
# slowhttptest's own probe, a whole POST every 3 s, gets a container each.
t.ok(len(set(seen)) <= 5 and ended >= 90,
     "slow POST: %d slow bodies ended without a container (%d containers: "
     "slowhttptest's probes)" % (ended, len(set(seen))))
after("slow POST")

# --- slow read of a container's 20 MiB stream -------------------------------------
rc, res = during(["-X", "-c", "30", "-r", "30", "-w", "256", "-y", "512", "-n", "1", "-z", "32",
                  "-k", "1", "-u", base + "/big"], 10, lambda: None, 1)
t.ok(rc is not None, "slowhttptest -X (slow read) ran")
t.ok(res and all(res), "slow read: another client was served throughout (%d/%d)" %
     (sum(res), len(res)))
after("slow read")
with open(os.path.join(s.tmpdir, "error.log"), errors="replace") as f:
    lg = f.read()
t.ok("Timeout %dms reached" % (TIMEOUT * 1000) in lg,
     "slow read: the route's Timeout ended containers whose client read too slowly")
t.ok(wait_until(lambda: not docker_ids("/big"), 20 * SLOW),
     "slow read: no /big container left afterwards")

# --- our own: a client that never reads -----------------------------------------
c = socket.create_connection(("127.0.0.1", s.port), 10, source_address=("127.0.0.3", 0))
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
t.ok(wait_until(lambda: len(docker_ids("/big")) == 1, 30 * SLOW), "never-read: its container runs")
time.sleep(1.5)
r1 = rss_kib(pid)
time.sleep(1.5)
r2 = rss_kib(pid)
t.ok(r2 - rss0 < BOUND and r2 - r1 < 1024,
     "never-read: VmRSS flat while the container's output waits (%d, %d KiB)" % (r1, r2))
t.ok(wait_until(lambda: not docker_ids("/big"), (TIMEOUT + 10) * SLOW),
     "never-read: the container is gone by its Timeout (%ds) and a little" % TIMEOUT)
c.close()

# --- our own: a body that never completes ---------------------------------------
before = docker_ids("/post")
c = socket.create_connection(("127.0.0.1", s.port), 10, source_address=("127.0.0.3", 0))
c.sendall(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
for _ in range(3):
    time.sleep(1)
    c.sendall(b"d")
t.is_([i for i in docker_ids("/post") if i not in before], [],
      "a trickling body holds no container")
r = read_to_close(c, 15 * SLOW)
t.is_(status_of(r), 408, "and gets 408 once it pauses longer than BodyTimeout")
c.close()

# --- a head that fills the first input buffer exactly, then a body -------------
head = b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Pad: "
head += b"p" * (4096 - len(head) - 4) + b"\r\n\r\n"
assert len(head) == 4096
c = socket.create_connection(("127.0.0.1", s.port), 30, source_address=("127.0.0.3", 0))
c.sendall(head)
time.sleep(0.3)
c.sendall(b"hello")
r = read_to_close(c, 30 * SLOW)
c.close()
t.ok(status_of(r) == 200 and r.rstrip(b"\r\n0").endswith(b"hello"),
     "a 4096-byte head, then its body: answered (%r)" % r[:40])

t.is_(s.stop(timeout=60 * SLOW), 0, "dcgid exits 0")
report = sanitizer_report(s.errors())
t.ok(not report, "no sanitizer report")
t.done()
