#!/usr/bin/env python3
"""<Queue> on a Redis stream (Type stream, the default): each entry added
with XADD runs one container; exit 0 acknowledges and deletes it; failures
retry with backoff and end in the stream NAME:dead with the reason; an
entry with no field `item` and more than one field goes there at once.
What is pending on this node's own consumer when it starts is taken back
at once; what is pending on another consumer idle longer than ClaimAfter
is taken over within ClaimAfter and a second; one delivered more than
Retries + 1 times goes to NAME:dead without a run.  An entry that runs
longer than ClaimAfter stays with its node (its idle time is kept fresh)
while a second node watches.  Concurrency holds; Redis restarting under
load loses nothing; SIGTERM while entries keep coming loses nothing."""

import os
import re
import shutil
import tempfile
import threading
import time

from dcgitest import Server, Tap, docker_ids, wait_until, sanitizer_report
from voteapp import Redis

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
tmp = tempfile.mkdtemp(prefix="dcgi-stream.")
redis = Redis(tmp)          # appendfsync always: a restart keeps the stream
cli = redis.cli


def pending(consumer=None):
    """How many entries of jobs are pending (on `consumer`)."""
    if consumer is None:
        out = cli("XPENDING", "jobs", "dcgi").split("\n")
        return int(out[0]) if out and out[0].isdigit() else -1
    out = cli("XPENDING", "jobs", "dcgi", "-", "+", "1000", consumer)
    return len([x for x in out.split("\n") if re.fullmatch(r"\d+-\d+", x)])


def dead_entries():
    """NAME:dead's entries as dicts."""
    out = cli("XRANGE", "jobs:dead", "-", "+").split("\n")
    entries, i = [], 0
    while i < len(out):
        if re.fullmatch(r"\d+-\d+", out[i]):
            e, i = {}, i + 1
            while i + 1 < len(out) and not re.fullmatch(r"\d+-\d+", out[i]):
                e[out[i]] = out[i + 1]
                i += 2
            entries.append(e)
        else:
            i += 1
    return entries


t.ok(cli("PING") == "PONG", "redis-server runs")

# The function: log what it got on stderr; "fail-N" fails until attempt N,
# "poison" always fails, "slow" sleeps 2 s, "long" 8 s.
FN = ("/bin/sh -c \"read line; echo \\\"item=$line queue=$DCGI_QUEUE id=$DCGI_ITEM_ID "
      "attempt=$DCGI_ATTEMPT\\\" >&2; case $line in slow*) sleep 2;; long*) sleep 8;; "
      "poison*) exit 7;; fail-*) [ $DCGI_ATTEMPT -ge ${line#fail-} ] || exit 1;; esac; "
      "exit 0\"")


def conf(consumer):
    return ("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
            "AccessLog off\nErrorLog {tmp}/error.log\nRedis 127.0.0.1:%d\nConsumer %s\n"
            "<Queue jobs>\n Image dcgi-test/busybox\n Command %s\n Concurrency 2\n Retries 2\n"
            " ClaimAfter 2s\n</Queue>\n" % (redis.port, consumer, FN))


# What this node held when it stopped (an entry read by "node-a" and
# never acknowledged), and one that a vanished node "ghost" holds.
cli("XGROUP", "CREATE", "jobs", "dcgi", "0", "MKSTREAM")
cli("XADD", "jobs", "*", "item", "leftover")
cli("XREADGROUP", "GROUP", "dcgi", "node-a", "COUNT", "1", "STREAMS", "jobs", ">")
cli("XADD", "jobs", "*", "item", "ghostly")
cli("XREADGROUP", "GROUP", "dcgi", "ghost", "COUNT", "1", "STREAMS", "jobs", ">")
ghost_at = time.monotonic()
t.is_(pending(), 2, "two entries pending before dcgid starts")
s = Server(conf("node-a"))
log = lambda: open(os.path.join(s.tmpdir, "error.log"), errors="replace").read()

t.ok(wait_until(lambda: "item=leftover " in log(), 20 * SLOW),
     "the entry pending on this node's own consumer is run again")
t.ok("pending on this consumer since an earlier start: taken back" in log(),
     "and the take-back is logged")
t.ok(wait_until(lambda: pending("ghost") == 0, 10 * SLOW, 0.05), "the ghost's entry is taken over")
took = time.monotonic() - ghost_at
t.ok(took <= 2 + 1 + (2 if WRAPPED else 0.3),
     "within ClaimAfter 2s and a second (%.2fs after its delivery)" % took)
t.ok(wait_until(lambda: "item=ghostly " in log(), 20 * SLOW), "and run")
t.ok(re.search(r"\] queue jobs: taken over from a consumer idle longer than ClaimAfter", log()),
     "the take-over is logged")

cli("XADD", "jobs", "*", "item", "one")
cli("XADD", "jobs", "*", "other", "two")        # its only field
cli("XADD", "jobs", "*", "ts", "1", "item", "three")
t.ok(wait_until(lambda: all("item=%s " % x in log() for x in ("one", "two", "three")), 30 * SLOW),
     "three entries each ran (field item, or the only field)")
t.ok(wait_until(lambda: pending() == 0 and cli("XLEN", "jobs") == "0", 15 * SLOW),
     "and each is acknowledged and deleted (XPENDING 0, XLEN 0)")
m = re.search(r"item=one queue=(\S+) id=(\d+-\d+) attempt=1", log())
t.ok(m and m.group(1) == "jobs", "DCGI_QUEUE, DCGI_ITEM_ID (the entry's id) and DCGI_ATTEMPT")

# Retries: fails on attempt 1, succeeds on attempt 2.
cli("XADD", "jobs", "*", "item", "fail-2")
t.ok(wait_until(lambda: re.search(r"item=fail-2 queue=jobs id=\S+ attempt=2", log()), 30 * SLOW),
     "a failing entry is retried")
t.ok(wait_until(lambda: pending() == 0, 15 * SLOW), "and acknowledged after the retry")
t.ok(re.search(r"attempt 1 failed \(exit status 1\); again in 1s", log()), "the retry is logged")

# A poison entry: Retries 2 means 3 attempts, then jobs:dead with the reason.
cli("XADD", "jobs", "*", "item", "poison")
t.ok(wait_until(lambda: any(e.get("item") == "poison" for e in dead_entries()), 40 * SLOW),
     "a poison entry ends in the stream jobs:dead")
e = [e for e in dead_entries() if e.get("item") == "poison"][:1]
e = e[0] if e else {}
t.ok(e.get("reason") == "exit status 7" and e.get("consumer") == "node-a" and
     e.get("deliveries") == "3" and re.fullmatch(r"\d+-\d+", e.get("id", "")),
     "with the reason, its id, the consumer and 3 runs: %s" % e)
t.is_(log().count("item=poison "), 3, "after 1 + Retries attempts")
t.ok(wait_until(lambda: pending() == 0, 10 * SLOW), "and it is no longer pending")

# An entry that holds no item: to jobs:dead at once, left in jobs for a look.
bad = cli("XADD", "jobs", "*", "a", "1", "b", "2")
t.ok(wait_until(lambda: any(e.get("id") == bad for e in dead_entries()), 20 * SLOW),
     "an entry of two fields, none of them item, goes to jobs:dead")
t.ok([e for e in dead_entries() if e.get("id") == bad][0].get("reason", "").startswith(
    "the entry has no field item"), "with the reason")
t.ok(wait_until(lambda: pending() == 0, 10 * SLOW) and cli("XLEN", "jobs") == "1",
     "acknowledged, and kept in jobs (XLEN 1)")
cli("XDEL", "jobs", bad)

# Delivered too often: a ghost's entry claimed three more times already.
# (In one script: node-a, waiting in XREADGROUP, must not get it first.)
crashy = cli("EVAL", "local id = redis.call('XADD', KEYS[1], '*', 'item', 'crashy') "
             "redis.call('XREADGROUP', 'GROUP', 'dcgi', 'ghost', 'COUNT', '1', 'STREAMS', "
             "KEYS[1], '>') "
             "for i = 1, 2 do redis.call('XCLAIM', KEYS[1], 'dcgi', 'ghost', 0, id) end "
             "return id", "1", "jobs")
t.ok(wait_until(lambda: any(e.get("id") == crashy for e in dead_entries()), 20 * SLOW),
     "an entry delivered more than Retries + 1 times goes to jobs:dead")
t.ok("item=crashy " not in log(), "without a run")
t.ok([e for e in dead_entries() if e.get("id") == crashy][0].get("reason", "").startswith(
    "delivered 3 times"), "and the reason says how often it was delivered before")

# Concurrency 2: never more than two containers at once.
for i in range(5):
    cli("XADD", "jobs", "*", "item", "slow%d" % i)
most = 0
deadline = time.monotonic() + 40 * SLOW
while time.monotonic() < deadline:
    most = max(most, len(docker_ids("dcgi.queue=jobs", running=True)))
    if all("item=slow%d " % i in log() for i in range(5)) and pending() == 0:
        break
    time.sleep(0.1)
t.ok(1 < most <= 2, "Concurrency 2 holds (at most %d containers at once)" % most)
t.is_(pending(), 0, "all five done")

# A second node, and an entry that runs longer than ClaimAfter: it stays
# with the node that runs it, and the other takes its share of new ones.
s2 = Server(conf("node-b"))
log2 = lambda: open(os.path.join(s2.tmpdir, "error.log"), errors="replace").read()
time.sleep(1)
cli("XADD", "jobs", "*", "item", "long-1")
t.ok(wait_until(lambda: pending() == 0 and ("item=long-1 " in log() or "item=long-1 " in log2()),
                40 * SLOW), "an 8 s entry with ClaimAfter 2s ran")
t.is_(log().count("item=long-1 ") + log2().count("item=long-1 "), 1,
      "once: its node kept it fresh, the other did not take it over")
for i in range(12):
    cli("XADD", "jobs", "*", "item", "shared-%d" % i)
t.ok(wait_until(lambda: all(("item=shared-%d " % i) in log() + log2() for i in range(12)) and
                pending() == 0, 60 * SLOW), "twelve entries ran on two nodes")
both = [sum(("item=shared-%d " % i) in lg for i in range(12)) for lg in (log(), log2())]
t.ok(both[0] > 0 and both[1] > 0, "both nodes took some: %s" % both)

# Redis away longer than ClaimAfter while an entry runs: when it is back,
# the other node does not take over what is still running.
cli("XADD", "jobs", "*", "item", "long-2")
t.ok(wait_until(lambda: "item=long-2 " in log() + log2(), 20 * SLOW, 0.05), "an 8 s entry runs")
redis.stop()
time.sleep(3)
redis.start()
t.ok(cli("PING") == "PONG", "redis-server is back after 3 s")
t.ok(wait_until(lambda: pending() == 0 and cli("XLEN", "jobs") == "0", 60 * SLOW),
     "the entry was acknowledged")
time.sleep(2)
t.is_((log() + log2()).count("item=long-2 "), 1,
      "it ran once: its node renewed it as Redis came back, the other waited")
t.is_(s2.stop(), 0, "the second node stops with exit 0")

# NAME:dead is no stream: the dead letter cannot be written, and the entry
# stays pending (logged) until it can.
cli("DEL", "jobs:dead")
cli("RPUSH", "jobs:dead", "not a stream")
poison2 = cli("XADD", "jobs", "*", "item", "poison-2")
t.ok(wait_until(lambda: "refused to move an item to its dead letters" in log(), 40 * SLOW),
     "a dead letter that Redis refuses is logged")
t.ok(poison2 in cli("XRANGE", "jobs", "-", "+").split("\n") and pending() == 1,
     "and the entry is neither acknowledged nor deleted")
cli("DEL", "jobs:dead")
t.ok(wait_until(lambda: any(e.get("id") == poison2 for e in dead_entries()), 60 * SLOW),
     "once NAME:dead can take it, the entry ends there (taken again after ClaimAfter)")
t.ok(wait_until(lambda: pending() == 0, 10 * SLOW), "and is no longer pending")

# Redis restarts under load: nothing is lost, the outage is logged once.
names = ["load-%d" % i for i in range(20)]
for n in names[:10]:
    cli("XADD", "jobs", "*", "item", n)
time.sleep(0.5)
redis.stop()
time.sleep(1)
redis.start()
t.ok(cli("PING") == "PONG", "redis-server restarted")
for n in names[10:]:
    cli("XADD", "jobs", "*", "item", n)
t.ok(wait_until(lambda: all("item=%s " % n in log() for n in names) and pending() == 0 and
                cli("XLEN", "jobs") == "0", 90 * SLOW),
     "every entry added around the restart ran and was acknowledged")
t.is_(log().count("unreachable"), 2, "each outage is logged once")
t.ok("is back" in log(), "and its end")
t.ok(s.proc.poll() is None, "dcgid stayed up")

# SIGTERM while an entry runs and more keep coming: none is lost.
cli("XADD", "jobs", "*", "item", "slow-at-stop")
t.ok(wait_until(lambda: "item=slow-at-stop " in log(), 20 * SLOW), "an entry runs")
feeding = True
added = {}


def feed():
    while feeding:
        name = "late-%d" % len(added)
        added[name] = cli("XADD", "jobs", "*", "item", name)
        time.sleep(0.05)


# One waits for its retry at the stop: released with its runs as its
# deliveries, idle ClaimAfter, for another node to take at once.
waiting = cli("XADD", "jobs", "*", "item", "fail-9")
t.ok(wait_until(lambda: "item=fail-9 " in log() and
                re.search(r"\[req %s\] queue jobs: attempt 1 failed" % waiting, log()), 20 * SLOW),
     "an entry fails and waits for its retry")
fd = threading.Thread(target=feed)
fd.start()
time.sleep(0.3)
t.is_(s.stop(), 0, "SIGTERM: dcgid stops with exit 0")
runs = log().count("item=fail-9 ")
p = cli("XPENDING", "jobs", "dcgi", "-", "+", "100").split("\n")
info = p[p.index(waiting):p.index(waiting) + 4] if waiting in p else []
t.ok(len(info) == 4 and int(info[2]) >= 2000 and info[3] == str(runs),
     "the entry waiting for a retry was released: idle >= 2000 ms, deliveries = its %d run(s): %s"
     % (runs, info))
feeding = False
fd.join()
ran = set(re.findall(r"item=(late-\d+) ", log()))
left = set(x for x in cli("XRANGE", "jobs", "-", "+").split("\n") if x.startswith("late-"))
lost = [x for x in added if x not in ran and x not in left]
t.ok(len(added) > 10 and not lost, "no entry lost: each of the %d late ones ran or is still in "
     "the stream (lost: %s)" % (len(added), lost))
t.ok(not (left & ran), "the ones that ran were deleted")
t.ok("item=slow-at-stop " in log() and
     not any(x == "slow-at-stop" for x in cli("XRANGE", "jobs", "-", "+").split("\n")),
     "the one running at SIGTERM finished and was acknowledged")
t.ok(wait_until(lambda: not docker_ids("dcgi.queue=jobs"), 15 * SLOW), "no queue container left")
t.ok(not sanitizer_report(s.errors()) and not sanitizer_report(s2.errors()),
     "no sanitizer report")
redis.stop()
shutil.rmtree(tmp, ignore_errors=True)
t.done()
