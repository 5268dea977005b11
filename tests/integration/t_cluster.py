#!/usr/bin/env python3
"""Three dcgid nodes share one Redis stream and one PostgreSQL (the voting
app's queue, record-vote-task): 300 votes are queued; one node is killed
with SIGKILL mid-run and started again later.  Every vote is stored (the
PostgreSQL counts are exact), none is left pending or in the stream, the
dead node's entries are taken over within ClaimAfter and a second, and
no container is left once the nodes stop.

Needs the image dcgi/record-vote-task, redis-server and PostgreSQL 15."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from dcgitest import Server, Tap, wait_until, sanitizer_report, time_limit
from voteapp import Postgres, Redis, images_present

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
N = 300
CLAIM_AFTER = 3
time_limit(900 * SLOW, "t_cluster.py")

if images_present() or not os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
    t.skip_all("the voting app's images or PostgreSQL 15 are not here")

tmp = tempfile.mkdtemp(prefix="dcgi-cluster.")
os.chmod(tmp, 0o755)
redis = Redis(tmp)
pg = Postgres(tmp)
CONF = ("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
        "AccessLog off\nErrorLog {tmp}/error.log\nRedis 127.0.0.1:%d\n"
        "<Queue votes>\n    Image dcgi/record-vote-task\n    Network host\n"
        "%s    Concurrency 2\n    Retries 4\n    Timeout 30s\n"
        "    ClaimAfter %ds\n</Queue>\n" % (redis.port, pg.run_lines(), CLAIM_AFTER))


def counts():
    out = pg.query("SELECT count(*) FILTER (WHERE vote = 'a') || ' ' || "
                   "count(*) FILTER (WHERE vote = 'b') FROM votes")
    return tuple(int(x) for x in out.split()) if re.fullmatch(r"\d+ \d+", out) else (0, 0)


def pending_by():
    """{consumer: entries pending on it}"""
    out = redis.cli("XPENDING", "votes", "dcgi").split("\n")
    by = {}
    # total, first id, last id, then consumer/count pairs
    for i in range(3, len(out) - 1, 2):
        if out[i + 1].isdigit():
            by[out[i]] = int(out[i + 1])
    return by


def consumer_of(srv):
    m = re.search(r"\(consumer (\S+)\)", open(os.path.join(srv.tmpdir, "error.log")).read())
    return m.group(1) if m else None


nodes = [Server(CONF) for _ in range(3)]
t.ok(wait_until(lambda: all(consumer_of(n) for n in nodes), 10 * SLOW),
     "three nodes consume the stream votes")
names = [consumer_of(n) for n in nodes]
t.is_(len(set(names)), 3, "each as a consumer of its own name: %s" % names)

# 300 votes: voter v0..v299, a for every third.
want = (sum(1 for i in range(N) if i % 3 == 0), sum(1 for i in range(N) if i % 3 != 0))
script = ("for i = 0, %d do local v = 'b' if i %% 3 == 0 then v = 'a' end "
          "redis.call('XADD', KEYS[1], '*', 'item', "
          "'{\"voter_id\": \"v' .. i .. '\", \"vote\": \"' .. v .. '\", \"ts\": ' .. i .. '}') "
          "end return 1" % (N - 1))
t.is_(redis.cli("EVAL", script, "1", "votes"), "1", "300 votes added to the stream")

# Kill the first node once it holds entries and some votes are stored.
victim = nodes[0]
t.ok(wait_until(lambda: sum(counts()) >= 30 and pending_by().get(names[0], 0) > 0,
                300 * SLOW, 0.02),
     "the first node holds entries while votes are being stored (%s stored)" % sum(counts()))
held = pending_by().get(names[0], 0)
victim.proc.send_signal(signal.SIGKILL)
victim.proc.wait(10)
killed_at = time.monotonic()
t.diag("killed %s holding %d entries, %d votes stored" % (names[0], held, sum(counts())))
t.ok(wait_until(lambda: pending_by().get(names[0], 0) == 0, (CLAIM_AFTER + 30) * SLOW, 0.05),
     "the dead node's entries are taken over")
took = time.monotonic() - killed_at
t.ok(took <= CLAIM_AFTER + 1 + (4 if WRAPPED else 0.5),
     "within ClaimAfter %ds and a second: %.2fs after the kill" % (CLAIM_AFTER, took))


def logs():
    return "".join(open(os.path.join(n.tmpdir, "error.log"), errors="replace").read()
                   for n in nodes[1:])


# Redis has the entries moved before the node that took them has read the
# answer and logged it: a moment later on a loaded machine.
t.ok(wait_until(lambda: "taken over from a consumer idle longer than ClaimAfter" in logs(),
                10 * SLOW, 0.1), "the other nodes log the take-over")

# The killed node comes back later, with the same configuration.
time.sleep(2)
victim.start()
t.ok(wait_until(lambda: open(os.path.join(victim.tmpdir, "error.log")).read().count(
    "(consumer %s)" % names[0]) == 2, 10 * SLOW), "the killed node runs again, as the same consumer")
t.ok(wait_until(lambda: counts() == want, 600 * SLOW, 0.5),
     "every vote is stored: counts %s, want %s" % (counts(), want))
t.ok(wait_until(lambda: redis.cli("XPENDING", "votes", "dcgi").split("\n")[0] == "0" and
                redis.cli("XLEN", "votes") == "0", 60 * SLOW, 0.5),
     "none is left pending or in the stream (XPENDING %s, XLEN %s)" %
     (redis.cli("XPENDING", "votes", "dcgi").split("\n")[0], redis.cli("XLEN", "votes")))
t.is_(redis.cli("XLEN", "votes:dead"), "0", "none ended in votes:dead")
t.is_(pg.query("SELECT count(*) FROM votes"), str(N), "one row per voter")
ran = [len(re.findall(r"queue votes: item done",
                      open(os.path.join(n.tmpdir, "error.log"), errors="replace").read()))
       for n in nodes]
t.ok(sum(ran) >= N and all(r > 0 for r in ran),
     "each node ran some (%s; %d in all, at least once each)" % (ran, sum(ran)))
for i, n in enumerate(nodes):
    t.is_(n.stop(timeout=60 * SLOW), 0, "node %d stops with exit 0" % (i + 1))
left = lambda: subprocess.run(["docker", "ps", "-aq", "--filter", "label=dcgi.queue=votes"],
                              capture_output=True, text=True).stdout.split()
t.ok(wait_until(lambda: not left(), 30 * SLOW, 0.5),
     "no container is left, the killed node's included (%s)" % left())
t.ok(not any(sanitizer_report(n.errors()) for n in nodes), "no sanitizer report")
redis.stop()
pg.stop()
shutil.rmtree(tmp, ignore_errors=True)
t.done()
