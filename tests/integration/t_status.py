#!/usr/bin/env python3
"""The status page (www/status/) in a real browser, under load.

dcgid serves the repository's www/ with `Metrics /metrics` (both it and
/status/ loopback-only, as conf/httpd.conf has them), three
container routes (one answering 200 from cold containers, one from a
Prestart pool of 2, one whose function writes no header block: 502) and a
stream <Queue> on a throwaway Redis.  Threads keep all of them busy while
headless chromium (tests/browser/status.mjs) opens /status/, reading the
metrics every half second over a 5 s window.  The page must show, per
route, a request rate above zero, p50 <= p99 within the route's possible
range, a latency plot of several points that has pixels drawn, the pool's
fill (of 2) for the Prestart route, a 5xx rate marked red for the 502
route only; per queue its length.  Its arithmetic (the text format's
parser, histogram quantiles as Prometheus computes them, counter resets)
is checked on known numbers in the page.  It loads nothing from another
host, logs no script error, and says "offline" when dcgid stops.  The
screenshot is left in the temporary directory (DCGI_STATUS_SHOT names
another path: docs/status.png is made that way).

Needs the image dcgi-test/busybox, redis-server, chromium and
playwright-core (tests/setup.sh)."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

from dcgitest import (REPO, Redis, Server, Tap, docker_ids, http, time_limit,
                      wait_until)

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(300 * SLOW, "t_status.py")

for tool in ("redis-server", "redis-cli", "node"):
    if shutil.which(tool) is None:
        t.skip_all("no %s (tests/setup.sh installs it)" % tool)
browser_dir = os.path.join(REPO, "tests", "browser")
if not os.access("/usr/bin/chromium", os.X_OK) or not os.path.isdir(
        os.path.join(browser_dir, "node_modules", "playwright-core")):
    t.skip_all("no chromium or playwright-core (tests/setup.sh)")

work = tempfile.mkdtemp(prefix="dcgitest.status.")
redis = Redis(work)

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {repo}/www
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog {tmp}/access.log
Redis 127.0.0.1:{rport}
Consumer st-node
Metrics /metrics
<Location /metrics>
    Require ip 127.0.0.1 ::1
</Location>
<Location /status>
    Require ip 127.0.0.1 ::1
</Location>
<Route /st-api>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 0
</Route>
<Route /st-pool>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 2
</Route>
<Route /st-broken>
    Image dcgi-test/busybox
    Command /cgi/noheaders
    Prestart 0
</Route>
<Queue st-jobs>
    Image dcgi-test/busybox
    Command /bin/sh -c "read x; sleep 0.5"
    Concurrency 1
</Queue>
"""

s = Server(CONF, rport=redis.port)
st, _, _ = http(s.port, path="/status/", timeout=10)
t.is_(st, 200, "GET /status/: 200 (www/status/index.html)")
for f in ("status.js", "status.css"):
    st, head, _ = http(s.port, path="/status/" + f, timeout=10)
    t.is_(st, 200, "GET /status/%s: 200" % f)

# The load: a thread per route (two for the pool's), one pushing queue
# items faster than the queue's one run at a time takes them under load,
# so that it has a length.
stop = threading.Event()
answers = {}
lock = threading.Lock()


def load(path):
    """Requests one after another, a little apart: load the engine can
    carry (beyond it MaxStarting's waits end in 503s)."""
    while not stop.is_set():
        st, _, _ = http(s.port, path=path, timeout=60 * SLOW)
        with lock:
            answers.setdefault(path, []).append(st)
        stop.wait(0.3)


def push():
    n = 0
    while not stop.is_set():
        redis.cli("XADD", "st-jobs", "*", "item", "job-%d" % n)
        n += 1
        stop.wait(1)


ROUTES = ["/st-api", "/st-pool", "/st-broken"]
threads = [threading.Thread(target=load, args=(p,), daemon=True) for p in ROUTES]
threads += [threading.Thread(target=load, args=("/st-pool",), daemon=True),
            threading.Thread(target=push, daemon=True)]
for th in threads:
    th.start()

# DCGI_STATUS_SHOT=docs/status.png DCGI_STATUS_HOLD=90 makes the docs' one:
# a minute and a half more under load, the page's defaults but a 2 min plot.
shot = os.environ.get("DCGI_STATUS_SHOT") or os.path.join(work, "status.png")
hold = int(os.environ.get("DCGI_STATUS_HOLD") or 0)
query = "?span=2" if hold else "?period=500&window=5"
node = subprocess.Popen(
    ["node", os.path.join(browser_dir, "status.mjs"),
     "http://127.0.0.1:%d/status/%s" % (s.port, query), shot, *ROUTES, "static"],
    cwd=browser_dir, env=dict(os.environ, HOLD_MS=str(hold * 1000)), stdin=subprocess.PIPE,
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reply(timeout):
    """The browser script's next JSON line, or {} when none comes in time."""
    box = []
    th = threading.Thread(target=lambda: box.append(node.stdout.readline()), daemon=True)
    th.start()
    th.join(timeout)
    try:
        return json.loads(box[0]) if box and box[0] else {}
    except ValueError:
        return {"error": box[0]}


seen = reply(180 * SLOW + hold)
t.ok(seen.get("ok"), "the page shows every route live: %s" % seen.get("error", "ok"))
t.is_(seen.get("title"), "dcgi status", "its title")
routes = seen.get("routes") or {}
with lock:
    made = {p: len(v) for p, v in answers.items()}
    codes = {p: sorted(set(v)) for p, v in answers.items()}
# A request that finds no start slot within 2 s gets 503 (MaxStarting):
# the load may bring one about now and then.
for path, want in (("/st-api", 200), ("/st-pool", 200), ("/st-broken", 502)):
    got = codes.get(path) or []
    t.ok(want in got and set(got) <= {want, 503},
         "%s answered %d (%d requests; %s)" % (path, want, made.get(path, 0), got))
for name in ROUTES + ["static"]:
    r = routes.get(name) or {}
    t.ok(r.get("rate", 0) > 0, "%s: a request rate above 0 (%s/s)" % (name, r.get("rate")))
    hi = 1 if name == "static" else 30 * SLOW
    t.ok(0 < r.get("p50", 0) <= r.get("p99", 0) <= hi,
         "%s: 0 < p50 <= p99 <= %gs (%s, %s)" % (name, hi, r.get("p50"), r.get("p99")))
    t.ok(r.get("points", 0) >= 4 and r.get("inked", 0) > 50,
         "%s: the plot has %s points and %s pixels drawn" % (name, r.get("points"), r.get("inked")))
t.ok(routes.get("/st-api", {}).get("p50", 0) > routes.get("static", {}).get("p50", 1),
     "a cold container takes longer than a static file")
pool = routes.get("/st-pool") or {}
t.is_((pool.get("wanted"), "of 2 ready" in pool.get("poolText", "")), ("2", True),
      "the Prestart route's pool: ready of 2 (%s)" % pool.get("poolText"))
t.ok("no Prestart" in routes.get("/st-api", {}).get("poolText", ""),
     "a route without Prestart says so")
t.ok(routes.get("/st-broken", {}).get("errorsBad") and
     float(routes.get("/st-broken", {}).get("errors", "0").replace("–", "0")) > 0,
     "the 502 route's 5xx rate is above 0, marked (%s)" % routes.get("/st-broken", {}).get("errors"))
for path in ("/st-api", "/st-pool"):
    if 503 not in (codes.get(path) or []):
        t.ok(not routes.get(path, {}).get("errorsBad"), "%s: no 5xx, not marked" % path)
    else:
        t.ok(True, "%s: # SKIP it got a 503 under load" % path)
t.is_(seen.get("order", [])[-1:], ["static"], "routes by name, static last")
q = (seen.get("queues") or {}).get("st-jobs") or {}
t.ok(q.get("length", "").isdigit() and int(q["length"]) > 0,
     "the queue's length is shown (%s)" % q.get("length"))
t.is_((seen.get("node") or {}).get("live"), "live", "the page says live")

m = seen.get("math") or {}
t.is_(round(m.get("median") or 0, 9), 0.15,
      "quantile: linear within the bucket (0.15 of 0.1..0.2)")
t.is_(m.get("p99inf"), 0.5, "quantile: in the +Inf bucket, the highest finite bound")
t.is_(m.get("first"), 0.05, "quantile: the first bucket starts at 0")
t.is_(m.get("none"), None, "quantile: nothing observed, no number")
t.is_((m.get("gain"), m.get("reset")), (4, 3), "a counter that went down was reset")
t.is_(m.get("bucketReset"), [[0.1, 1], [None, 2]], "buckets that went down: a reset")
t.is_(m.get("bucketGain"), [[0.1, 1], [None, 3]], "buckets: what they gained")
t.is_((m.get("label"), m.get("nparsed"), m.get("inf")), ('/a"b', 2, "+Inf"),
      "the parser: escaped label values, bad lines skipped")
t.is_((m.get("req"), m.get("err"), m.get("buckets"), m.get("conns")),
      (7, 2, [["0.1", 1], ["Infinity", 7]], 2),
      "a snapshot: requests summed over codes, 5xx apart, the total phase's buckets only")

t.is_(seen.get("foreign"), [], "nothing from another host")
t.is_(seen.get("errors"), [], "no script error")
t.ok("/metrics" in seen.get("requests", []), "the page reads /metrics")
t.ok(os.path.getsize(shot) > 10000 if os.path.exists(shot) else False,
     "screenshot saved to %s" % shot)

stop.set()
for th in threads:
    th.join(70 * SLOW)
code = s.stop()
t.is_(code, 0, "dcgid stops cleanly")
node.stdin.write("go\n")
node.stdin.flush()
gone = reply(60)
t.ok("Cannot read /metrics" in (gone.get("offline") or ""),
     "with dcgid gone the page says offline: %s" % gone)
node.wait(60)
t.ok(wait_until(lambda: not docker_ids("dcgi.route=/st-api") and
                not docker_ids("dcgi.route=/st-pool") and
                not docker_ids("dcgi.route=/st-broken") and
                not docker_ids("dcgi.queue=st-jobs"), 30 * SLOW, 0.25),
     "no container is left")
redis.stop()
if t.failed == 0:
    shutil.rmtree(work, ignore_errors=True)
t.done()
