#!/usr/bin/env python3
"""The voting app end to end, with real Redis, PostgreSQL and Docker:
votes appear in /result/votes, a changed vote counts once, 100 votes from
50 voters give exact counts, a Redis restart and a PostgreSQL outage lose
nothing, a poison item ends in votes:dead, and 200 concurrent polls start
only a handful of containers."""

import concurrent.futures
import http.cookiejar
import json
import random
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

from dcgitest import Tap, wait_until
from voteapp import App, images_present

t = Tap()
missing = images_present()
if missing:
    t.ok(False, "image %s is missing: run make images" % missing)
    t.done()

app = App()
port, tls_port = app.server.port, app.server.tls_port
noverify = ssl.create_default_context()
noverify.check_hostname = False
noverify.verify_mode = ssl.CERT_NONE


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Voter:
    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  NoRedirect)

    def vote(self, choice, patience=300):
        """POST vote=choice; a 503 (every container slot busy) is tried
        again, as a user would, for up to `patience` seconds."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            req = urllib.request.Request("http://127.0.0.1:%d/vote" % port,
                                         data=("vote=" + choice).encode())
            try:
                self.opener.open(req, timeout=120)
                return None
            except urllib.error.HTTPError as e:
                if e.code == 303:
                    return 303
                if e.code != 503:
                    return e.code
            except OSError:
                pass
            time.sleep(random.uniform(0.2, 1.0))
        return 503


def results():
    try:
        with urllib.request.urlopen("https://127.0.0.1:%d/result/votes" % tls_port,
                                    context=noverify, timeout=30) as r:
            return json.loads(r.read())
    except Exception:
        return None


def counts():
    r = results()
    return (r["counts"]["a"], r["counts"]["b"]) if r else None


r = results()
t.ok(r and r["options"] == {"a": "Cats", "b": "Dogs"} and r["total"] == 0,
     "GET /result/votes over HTTPS: the options and no votes")
v = Voter()
t.is_(v.vote("a"), 303, "POST /vote: 303 back to the form")
t.ok(any(c.name == "voter_id" for c in v.jar), "and a voter_id cookie")
t0 = time.monotonic()
# Within 2 s of the queue run; the cache may add up to 1 s, a slow
# (sanitized) build a little more.
t.ok(wait_until(lambda: counts() == (1, 0), 10, 0.2) and time.monotonic() - t0 < 5,
     "the vote shows in /result/votes (%.1fs)" % (time.monotonic() - t0))
t.is_(v.vote("b"), 303, "the voter changes their mind")
t.ok(wait_until(lambda: counts() == (0, 1), 10, 0.2), "counted once, for the new choice")
page = v.opener.open("http://127.0.0.1:%d/vote" % port, timeout=30).read().decode()
t.ok("You voted for <b>Dogs</b>" in page, "the form shows this voter's choice")
t.is_(Voter().vote("x"), 400, "a bad choice: 400")

# 100 votes from 50 voters at once (two each: the engine starts a handful of
# containers a second, and each vote is two runs); the last one of each counts.
expect = {}
lock = threading.Lock()


def voter_run(i):
    vt = Voter()
    last = None
    for _ in range(2):
        choice = random.choice("ab")
        if vt.vote(choice) != 303:
            return False
        last = choice
    with lock:
        expect[i] = last
    return True


t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
    oks = list(ex.map(voter_run, range(50)))
t.ok(all(oks), "100 votes from 50 concurrent voters accepted (%.0fs)" % (time.monotonic() - t0))
want = (sum(1 for x in expect.values() if x == "a"), sum(1 for x in expect.values() if x == "b"))
# The first voter (now b) counts too.
want = (want[0], want[1] + 1)
t.ok(wait_until(lambda: counts() == want, 120, 0.5),
     "exact counts after the queue drained: %s, want %s" % (counts(), want))
# The counts can be right while the last runs are still being acknowledged.
left = lambda: app.redis.cli("XPENDING", "votes", "dcgi").split("\n")[0]
t.ok(wait_until(lambda: left() == "0", 60, 0.5), "nothing left pending (%s)" % left())
t.ok(wait_until(lambda: app.redis.cli("XLEN", "votes") == "0", 60, 0.5),
     "and the stream is empty: each entry went once it was stored")

# Redis restarts and PostgreSQL goes away for a while: nothing is lost.
more = [Voter() for _ in range(20)]
for vt in more[:10]:
    vt.vote("a")
app.pg.stop()
for vt in more[10:]:
    vt.vote("b")
app.redis.stop()
# While Redis is away a vote cannot be taken: 503, never a 303 for a vote
# that was not stored (and it is not counted below).
down = []
for _ in range(3):
    try:
        urllib.request.build_opener(NoRedirect).open(urllib.request.Request(
            "http://127.0.0.1:%d/vote" % port, data=b"vote=a"), timeout=60)
        down.append(200)
    except urllib.error.HTTPError as e:
        down.append(e.code)
    except OSError:
        down.append(None)
t.ok(down == [503, 503, 503], "POST /vote while Redis is down: 503 each time (%s)" % down)
app.redis.start()
time.sleep(4)
app.pg.start()
want = (want[0] + 10, want[1] + 10)
t.ok(wait_until(lambda: counts() == want, 120, 0.5),
     "after a Redis restart and a PostgreSQL outage the counts are exact: %s, want %s"
     % (counts(), want))
log = app.log()
t.ok("unreachable" in log and "is back" in log, "the Redis outage is in the log")
t.ok("attempt 1 failed" in log, "votes that met the PostgreSQL outage were retried")
t.is_(app.redis.cli("XLEN", "votes:dead"), "0", "no vote ended in votes:dead")

# A poison item.
app.redis.cli("XADD", "votes", "*", "item", '{"voter_id": "x y", "vote": "c"}')
t.ok(wait_until(lambda: app.redis.cli("XLEN", "votes:dead") == "1", 60, 0.5),
     "a poison item ends in votes:dead")
t.ok(counts() == want, "and counts nothing")

# The cache: 200 concurrent polls, a handful of containers.
ev = subprocess.Popen(["docker", "events", "--filter", "event=create", "--filter",
                       "label=dcgi.route=/result/votes", "--format", "{{.ID}}"],
                      stdout=subprocess.PIPE, text=True)
created = []
threading.Thread(target=lambda: created.extend(ev.stdout), daemon=True).start()
time.sleep(1.5)     # let the entry of the polls above expire
with concurrent.futures.ThreadPoolExecutor(max_workers=200) as ex:
    polls = list(ex.map(lambda _: results(), range(200)))
time.sleep(1)
ev.terminate()
ev.wait(10)
t.ok(all(p is not None for p in polls), "200 concurrent polls answered")
# A handful: one per second of the burst (200 TLS handshakes take a while
# under the sanitizers), never one per poll.
t.ok(1 <= len(created) <= 8, "200 concurrent polls started %d container(s)" % len(created))

t.is_(app.stop(), 0, "dcgid stops cleanly")
t.ok(wait_until(lambda: not subprocess.run(
    ["docker", "ps", "-aq", "--filter", "label=dcgi.instance"], capture_output=True,
    text=True).stdout.strip(), 20), "no container left")
t.done()
