#!/usr/bin/env python3
"""Metrics PATH: dcgid answers it itself, in the Prometheus text format.

With privilege separation (the default) and with PrivilegeSeparation off,
after a known set of requests (static files, a container route, a route
with Prestart) and queue items (done, retried, dead):

- GET: 200, Content-Type text/plain; version=0.0.4, Cache-Control:
  no-store, and `promtool check metrics` finds nothing to say (the format,
  and Prometheus's naming rules);
- HEAD: 200 with no body; POST: 405 with Allow: GET, HEAD;
- the numbers are the requests made, exactly: per route and status code,
  the histogram's counts per phase, containers started, the pool's hits
  and ready containers, the queue's items done, retried and dead and its
  length; the engine's counts reach a server process within seconds;
- after a reload the engine's counts go on (a server process's own start
  again from zero under privilege separation: a new process); nothing is
  left behind.

Needs the image dcgi-test/busybox, redis-server and promtool (Debian
package prometheus)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

from dcgitest import (Redis, Server, Tap, docker_ids, http, sanitizer_report, time_limit,
                      wait_until)

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1

time_limit(300 * SLOW, "t_metrics.py")

for tool in ("redis-server", "redis-cli", "promtool"):
    if shutil.which(tool) is None:
        t.skip_all("no %s (Debian: redis-server, redis-tools, prometheus)" % tool)

work = tempfile.mkdtemp(prefix="dcgitest.metrics.")
redis = Redis(work)
t.ok(wait_until(redis.up, 10), "redis-server runs")


def request(port, method="GET", path="/", body=b""):
    return http(port, method, path, body, 60 * SLOW)


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): value} of the samples in text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if m is None:
            raise ValueError("not a sample: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


class Scraper:
    """GET /metrics, counting its own requests (each is a static 200 in
    the next answer)."""

    def __init__(self, port):
        self.port, self.n, self.text, self.head = port, 0, "", ""

    def get(self):
        st, self.head, body = request(self.port, path="/metrics")
        self.n += 1
        self.text = (body or b"").decode()
        return st

    def value(self, name, **labels):
        return parse(self.text).get((name, tuple(sorted(labels.items()))))

    def until(self, cond, timeout=15):
        """Scrape until cond() holds on what came (the engine's counts
        come once a second)."""
        return wait_until(lambda: self.get() == 200 and cond(), timeout * SLOW, 0.25)


FN = ("/bin/sh -c \"read line; case $line in fail-*) [ $DCGI_ATTEMPT -ge ${line#fail-} ] "
      "|| exit 1;; poison*) exit 7;; esac; exit 0\"")

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog {tmp}/access.log
PrivilegeSeparation %(privsep)s
Redis 127.0.0.1:%(rport)d
Consumer mx-%(privsep)s
Metrics /metrics
<Route /mx-cold-%(privsep)s>
    Image dcgi-test/busybox
    Command /cgi/status
</Route>
<Route /mx-pool-%(privsep)s>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 1
</Route>
<Queue mx-q-%(privsep)s>
    Image dcgi-test/busybox
    Command %(fn)s
    Retries 1
</Queue>
"""

NFILES, NCOLD, NPOOL = 3, 3, 2
for privsep in ("on", "off"):
    name = "privsep %s" % privsep
    cold, pool, queue = ("/mx-cold-" + privsep, "/mx-pool-" + privsep, "mx-q-" + privsep)
    s = Server(CONF % {"privsep": privsep, "rport": redis.port, "fn": FN})
    m = Scraper(s.port)
    with open(os.path.join(s.root, "index.html"), "w") as f:
        f.write("hello\n")

    # The answer itself.
    t.is_(m.get(), 200, "%s: GET /metrics: 200" % name)
    t.ok("Content-Type: text/plain; version=0.0.4; charset=utf-8" in m.head
         and "Cache-Control: no-store" in m.head,
         "%s: text/plain; version=0.0.4, Cache-Control: no-store" % name)
    st, head, body = request(s.port, "HEAD", "/metrics")
    t.ok(st == 200 and body == b"" and "Content-Length: " in head and
         "version=0.0.4" in head, "%s: HEAD: 200, no body" % name)
    st, head, body = request(s.port, "POST", "/metrics", b"x=1")
    t.ok(st == 405 and "Allow: GET, HEAD" in head, "%s: POST: 405 with Allow: GET, HEAD" % name)
    st, head, body = request(s.port, "GET", "/metrics?x=1")
    t.ok(st == 200 and b"dcgi_connections_open" in body, "%s: the query string is ignored" % name)
    m.n += 1

    # Known requests.
    for i in range(NFILES):
        st, _, body = request(s.port, path="/")
        t.ok(st == 200 and body == b"hello\n", "%s: static file %d: 200" % (name, i + 1))
    for i in range(NCOLD):
        st, head, body = request(s.port, path=cold)
        t.ok(st == 201 and body == b"created", "%s: %s %d: 201" % (name, cold, i + 1))
    t.ok(m.until(lambda: m.value("dcgi_prestart_ready", route=pool) == 1, 60),
         "%s: the pool's prestarted container is ready (dcgi_prestart_ready 1)" % name)
    for i in range(NPOOL):
        st, head, body = request(s.port, path=pool)
        t.ok(st == 200 and (body or b"").strip() != b"", "%s: %s %d: 200" % (name, pool, i + 1))
    for item in ("ok", "fail-2", "poison"):
        redis.cli("XADD", queue, "*", "item", item)

    # The engine's counts arrive within seconds; then all of it at once.
    t.ok(m.until(lambda: m.value("dcgi_queue_items_done_total", queue=queue) == 2 and
                 m.value("dcgi_queue_items_dead_total", queue=queue) == 1 and
                 m.value("dcgi_queue_length", queue=queue) == 0 and
                 m.value("dcgi_prestart_ready", route=pool) == 1, 30),
         "%s: queue items done 2, dead 1, length 0; the pool full again" % name)
    text, scrapes = m.text, m.n - 1   # the scrapes before this answer
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    if not t.ok(p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "",
                "%s: promtool check metrics: no complaint" % name):
        t.diag(p.stdout + p.stderr)
    v, failed = m.value, t.failed
    t.is_(v("dcgi_requests_total", route="static", code="200"), NFILES + scrapes + 1.0,
          "%s: static 200s: the files, the scrapes and the HEAD" % name)
    t.is_(v("dcgi_requests_total", route="static", code="405"), 1.0,
          "%s: static 405: the POST" % name)
    t.is_(v("dcgi_requests_total", route=cold, code="201"), float(NCOLD),
          "%s: %s: exactly %d with code 201" % (name, cold, NCOLD))
    t.is_(v("dcgi_requests_total", route=cold, code="200"), None, "%s: %s: no 200" % (name, cold))
    t.is_(v("dcgi_requests_total", route=pool, code="200"), float(NPOOL),
          "%s: %s: exactly %d with code 200" % (name, pool, NPOOL))
    for phase in ("queue", "create", "attach", "start", "fb", "total"):
        t.is_(v("dcgi_request_duration_seconds_count", route=cold, phase=phase), float(NCOLD),
              "%s: %s: %s timed %d times" % (name, cold, phase, NCOLD))
    t.is_(v("dcgi_request_duration_seconds_bucket", route=cold, phase="total", le="+Inf"),
          float(NCOLD), "%s: %s: the +Inf bucket holds them all" % (name, cold))
    t.ok((v("dcgi_request_duration_seconds_bucket", route=cold, phase="start", le="0.005") or 0)
         < NCOLD, "%s: a cold start takes more than 5 ms" % name)
    t.ok(0 < (v("dcgi_request_duration_seconds_sum", route=cold, phase="total") or 0) < 60 * SLOW,
         "%s: %s: the total's sum is some seconds" % (name, cold))
    t.is_(v("dcgi_request_duration_seconds_count", route="static", phase="total"),
          NFILES + scrapes + 2.0, "%s: static: every request timed in total" % name)
    t.is_(v("dcgi_containers_started_total", route=cold), float(NCOLD),
          "%s: %s: %d containers started" % (name, cold, NCOLD))
    hits = v("dcgi_prestart_hits_total", route=pool) or 0
    misses = v("dcgi_prestart_misses_total", route=pool) or 0
    t.ok(hits > 0 and hits + misses == NPOOL,
         "%s: %s: pool hits %d > 0, hits + misses = %d" % (name, pool, hits, NPOOL))
    t.ok((v("dcgi_containers_started_total", route=pool) or 0) >= NPOOL + 1,
         "%s: %s: its pool's containers started, and replaced" % (name, pool))
    t.is_(v("dcgi_prestart_wanted", route=pool), 1.0, "%s: dcgi_prestart_wanted 1" % name)
    t.is_(v("dcgi_prestart_ready", route=cold), None, "%s: no pool series for %s" % (name, cold))
    t.is_(v("dcgi_containers_running", route=cold), 0.0, "%s: %s: none running now" % (name, cold))
    t.is_(v("dcgi_queue_items_retried_total", queue=queue), 2.0,
          "%s: queue items retried 2 (fail-2 once, poison once)" % name)
    t.is_(v("dcgi_queue_items_held", queue=queue), 0.0, "%s: queue items held 0" % name)
    t.is_(v("dcgi_queue_items_running", queue=queue), 0.0, "%s: queue items running 0" % name)
    t.ok((v("dcgi_connections_open") or 0) >= 1, "%s: a connection open (this one)" % name)
    t.is_(v("dcgi_engine_errors_total"), 0.0, "%s: no engine errors" % name)
    t.is_(v("dcgi_redis_outages_total"), 0.0, "%s: no Redis outage" % name)
    if t.failed > failed:
        t.diag(text)

    # Redis goes away and comes back: an outage, and errors.
    redis.stop()
    t.ok(m.until(lambda: m.value("dcgi_redis_outages_total") == 1 and
                 (m.value("dcgi_redis_errors_total") or 0) >= 1 and
                 m.value("dcgi_queue_length", queue=queue) is None, 20),
         "%s: Redis stopped: an outage, errors, the length no longer known" % name)
    redis.start()
    t.ok(wait_until(redis.up, 10), "%s: redis-server runs again" % name)
    t.ok(m.until(lambda: m.value("dcgi_queue_length", queue=queue) == 0, 30),
         "%s: Redis back: the length again" % name)
    t.is_(m.value("dcgi_redis_outages_total"), 1.0, "%s: still one outage" % name)

    # A reload: the engine's counts go on.
    elog = lambda: open(os.path.join(s.tmpdir, "error.log"), errors="replace").read()
    s.proc.send_signal(signal.SIGHUP)
    t.ok(wait_until(lambda: "configuration reloaded" in elog(), 20 * SLOW),
         "%s: SIGHUP: reloaded" % name)
    t.ok(m.until(lambda: m.value("dcgi_containers_started_total", route=cold) == NCOLD, 15),
         "%s: after the reload: %s still %d containers started" % (name, cold, NCOLD))
    want = None if privsep == "on" else float(NCOLD)
    t.is_(m.value("dcgi_requests_total", route=cold, code="201"), want,
          "%s: the requests' counts %s" % (name, "start again in the new server process"
                                           if privsep == "on" else "go on in one process"))

    t.is_(s.stop(timeout=60 * SLOW), 0, "%s: dcgid exits 0" % name)
    t.ok(not sanitizer_report(s.errors()), "%s: no sanitizer report" % name)
    t.ok(wait_until(lambda: not docker_ids("dcgi.route=" + cold) and
                    not docker_ids("dcgi.route=" + pool) and
                    not docker_ids("dcgi.queue=" + queue), 30 * SLOW, 0.25),
         "%s: no container is left" % name)
    shutil.rmtree(s.tmpdir, ignore_errors=True)

redis.stop()
shutil.rmtree(work, ignore_errors=True)
t.done()
