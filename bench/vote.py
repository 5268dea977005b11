#!/usr/bin/env python3
"""bench/vote.py: the voting app's three pages, timed from a client, with
and without `Preload`, same machine, same run.

For each of two configurations the app runs as tests/integration/voteapp.py
starts it (its own Redis and PostgreSQL on free loopback ports, dcgid with
conf/httpd.conf's routes and queue), with `Prestart 2 8` on /vote and
/result/votes and no `Cache` on /result/votes (every request runs the
function: the uncached figure):

    preload     `Preload python redis` (/vote), `Preload python psycopg2
                json` (/result/votes), as conf/httpd.conf ships
    plain       the same without Preload: the interpreter starts, and
                imports, when the request comes

The two run interleaved: N rounds, each round one request of each page
(GET /vote, GET /result/votes, POST /vote) to each configuration, the
order of the configurations alternating, with a PAUSE after every request
(so that each finds its pool refilled, as a visitor's click would) and
three after a POST (its vote is stored by a queue run, a cold container). A
request counts from sending it on a new connection to the response's last
byte. p50/p90/p99 (nearest rank) per page and configuration, the ratio
plain/preload, and how many were served by a prestarted container
(Server-Timing prestart;desc=hit).

Needs: httpd/dcgid and httpd/dcgi-init built, a Docker engine, the images
dcgi/vote, dcgi/result, dcgi/record-vote-task (tests/images/build.sh),
redis-server, PostgreSQL 15.  Settings (environment): N=30 PAUSE=1.
"""
import http.client
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import voteapp  # noqa: E402

N = int(os.environ.get("N", "30"))
PAUSE = float(os.environ.get("PAUSE", "1"))
PAGES = [("GET /vote", "GET", "/vote", None, 200),
         ("GET /result/votes", "GET", "/result/votes", None, 200),
         ("POST /vote", "POST", "/vote", b"vote=a", 303)]


def pct(values, p):
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))
    return v[int(k) - 1]


def once(port, method, path, body, want):
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hdrs = {"Connection": "close"}
    if body is not None:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    r.read()
    ms = (time.monotonic() - t0) * 1000
    timing = r.getheader("Server-Timing") or ""
    c.close()
    if r.status != want:
        raise RuntimeError("%s %s: %d, not %d" % (method, path, r.status, want))
    return ms, "prestart;desc=hit" in timing


def main():
    missing = voteapp.images_present()
    if missing:
        sys.exit("vote.py: no image %s (sh tests/images/build.sh)" % missing)
    apps = {}
    try:
        for name, preload in (("preload", True), ("plain", False)):
            apps[name] = voteapp.App(prestart="2 8", preload=preload, cache=None)
        time.sleep(5)       # the pools fill
        for app in apps.values():       # one of each, unmeasured
            for _, m, p, b, want in PAGES:
                once(app.server.port, m, p, b, want)
                time.sleep(PAUSE)
        got = {(n, pg[0]): [] for n in apps for pg in PAGES}
        order = list(apps)
        for i in range(N):
            for name in (order if i % 2 == 0 else order[::-1]):
                for label, m, p, b, want in PAGES:
                    got[(name, label)].append(once(apps[name].server.port, m, p, b, want))
                    # a POST's vote runs as a queue item (a cold container):
                    # let it end before the next request
                    time.sleep(PAUSE * (3 if m == "POST" else 1))
    finally:
        for app in apps.values():
            app.stop()
    print("# bench/vote.py  %s  %d CPUs  %s  N=%d PAUSE=%g" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
        os.uname().release, N, PAUSE))
    print("%-18s %-8s %8s %8s %8s %6s" % ("page", "config", "p50 ms", "p90 ms", "p99 ms", "hits"))
    for label, *_ in PAGES:
        p50 = {}
        for name in apps:
            s = got[(name, label)]
            ms = [x[0] for x in s]
            p50[name] = pct(ms, 50)
            print("%-18s %-8s %8.1f %8.1f %8.1f %3d/%d" % (
                label, name, pct(ms, 50), pct(ms, 90), pct(ms, 99),
                sum(1 for x in s if x[1]), len(s)))
        print("%-18s plain/preload p50: %.2f" % (label, p50["plain"] / p50["preload"]))


if __name__ == "__main__":
    main()
