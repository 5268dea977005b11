#!/usr/bin/env python3
"""The engine's start rate: MaxStarting, waiting bounded by 503, and a
pool that sizes itself (Prestart MIN MAX).

- MaxStarting 1: three requests at once to a cold route are created and
  started one after the other (the engine's events, create and start,
  alternate), and all three are answered.
- Above the rate: eight requests at once with MaxStarting 1 each get a 200
  or, after waiting at most 2 s, a 503 with Retry-After; none hangs, some
  are refused, and the log names MaxStarting.
- Prestart 0 4: no idle container while nothing comes; under a steady
  stream of requests the pool grows (idle containers appear) and after
  the stream stops it shrinks back to none.

Needs the image dcgi-test/busybox and dcgi-init (built by make)."""

import os
import re
import subprocess
import threading
import time

from dcgitest import Server, Tap, idle_prestarted, raw, status_of, time_limit, wait_until

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(400 * SLOW, "t_starts.py")

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
MaxStarting 1
<Route /cold>
    Image dcgi-test/busybox
    Command /cgi/status
</Route>
<Route /auto>
    Image dcgi-test/busybox
    Command /cgi/status
    Prestart 0 4
</Route>
"""


def get(port, path, timeout=60 * SLOW):
    """The raw response of a GET (b"" when it failed)."""
    try:
        return raw(port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % path.encode(), timeout)
    except OSError:
        return b""


def at_once(port, path, n):
    """n GETs at the same moment: [(status, raw response, seconds)]."""
    out = [None] * n
    go = threading.Event()

    def one(i):
        go.wait()
        t0 = time.monotonic()
        r = get(port, path)
        out[i] = (status_of(r), r, time.monotonic() - t0)

    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    go.set()
    for th in ths:
        th.join(120 * SLOW)
    return [o if o is not None else (None, b"", 0) for o in out]


def docker_ids(label):
    return subprocess.run(["docker", "ps", "-aq", "--filter", "label=" + label],
                          capture_output=True, text=True, timeout=60).stdout.split()


srv = Server(CONF)
errlog = os.path.join(srv.tmpdir, "error.log")


def log():
    with open(errlog, errors="replace") as f:
        return f.read()


# ----- MaxStarting 1: one create-to-start at a time ---------------------------------
get(srv.port, "/cold")          # the look at the image is made; not counted
since = subprocess.run(["date", "+%s.%N"], capture_output=True, text=True).stdout.strip()
res = at_once(srv.port, "/cold", 3)
until = subprocess.run(["date", "+%s.%N"], capture_output=True, text=True).stdout.strip()
t.ok(all(st == 201 for st, _, _ in res), "MaxStarting 1: three requests at once, all answered (%s)"
     % [st for st, _, _ in res])
ev = subprocess.run(["docker", "events", "--since", since, "--until", until,
                     "--filter", "type=container", "--filter", "label=dcgi.route=/cold",
                     "--filter", "event=create", "--filter", "event=start",
                     "--format", "{{.Action}}"],
                    capture_output=True, text=True, timeout=60).stdout.split()
t.is_(ev, ["create", "start"] * 3,
      "the engine saw create, start, create, start, ...: never two starting at once")

# ----- above the rate: a bounded wait, then 503 -------------------------------------
res = at_once(srv.port, "/cold", 8)
codes = [st for st, _, _ in res]
t.ok(all(st in (201, 503) for st in codes),
     "eight at once with MaxStarting 1: each gets 201 or 503 (%s)" % codes)
refused = [(r, secs) for st, r, secs in res if st == 503]
t.ok(refused and all(b"\r\nRetry-After: " in r for r, _ in refused),
     "some wait too long and get 503 with Retry-After (%d of 8)" % len(refused))
t.ok(all(secs < 10 * SLOW for _, secs in refused),
     "after a bounded wait, not a hang (%s s)" % [round(secs, 1) for _, secs in refused])
t.ok(codes.count(201) >= 2, "and the others are served (%d)" % codes.count(201))
t.ok(re.search(r"/cold: no container slot within 2000ms \(.*MaxStarting 1\): 503", log()),
     "the log names MaxStarting")

# ----- Prestart 0 4: the pool follows the arrivals ----------------------------------
def idle():
    return idle_prestarted(docker_ids("dcgi.route=/auto"), started=True)


time.sleep(6)
t.is_(len(idle()), 0, "Prestart 0 4: no idle container while nothing comes")
grew = []
stop = time.monotonic() + 25 * SLOW
while time.monotonic() < stop and not grew:
    st = status_of(get(srv.port, "/auto"))
    if st != 201:
        t.diag("a request during the stream got %s" % st)
    time.sleep(0.4)
    if idle():
        grew.append(len(idle()))
t.ok(grew, "under a steady stream of requests idle containers appear (%s)" % grew)
t.ok(wait_until(lambda: len(idle()) == 0, 40 * SLOW, 0.5),
     "after the stream stops the pool shrinks back to none")
t.is_(srv.stop(timeout=60 * SLOW), 0, "clean exit")
t.ok(wait_until(lambda: not docker_ids("dcgi.route"), 15 * SLOW, 0.2), "no container left")
t.done()
