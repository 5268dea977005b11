#!/usr/bin/env python3
"""<Queue>: each item pushed onto a Redis list runs one container, with
its id and queue in the environment; exit 0 removes it, failures retry
with backoff and end in NAME:dead; what a dead dcgid left in processing is
requeued; Concurrency holds; Redis restarting loses nothing."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from dcgitest import Server, Tap, docker_ids, free_port, wait_until

t = Tap()
tmp = tempfile.mkdtemp(prefix="dcgi-redis.")
rport = free_port()


def redis_start():
    # appendonly: a restart keeps the lists, as a real deployment would.
    return subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cli(*args):
    p = subprocess.run(["redis-cli", "-p", str(rport), *args], capture_output=True, text=True,
                       timeout=10)
    return p.stdout.strip()



def redis_up():
    try:
        socket.create_connection(("127.0.0.1", rport), 0.5).close()
        return cli("PING") == "PONG"
    except OSError:
        return False


redis = redis_start()
t.ok(wait_until(redis_up, 10), "redis-server runs")

# The function: log what it got on stderr; "fail-N" fails until attempt N,
# "poison" always fails, "slow" sleeps (for Concurrency and stop).
FN = ("/bin/sh -c \"read line; echo \\\"item=$line queue=$DCGI_QUEUE id=$DCGI_ITEM_ID "
      "attempt=$DCGI_ATTEMPT\\\" >&2; case $line in slow*) sleep 2;; poison*) exit 7;; "
      "fail-*) [ $DCGI_ATTEMPT -ge ${line#fail-} ] || exit 1;; esac; exit 0\"")
CONF = ("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
        "AccessLog off\nErrorLog {tmp}/error.log\nRedis 127.0.0.1:%d\n"
        "<Queue jobs>\n Type list\n Image dcgi-test/busybox\n Command %s\n Concurrency 2\n Retries 2\n"
        "</Queue>\n" % (rport, FN))

cli("DEL", "jobs", "jobs:processing", "jobs:dead")
# What an earlier dcgid left behind while working on it.
cli("RPUSH", "jobs:processing", "leftover")
s = Server(CONF)
log = lambda: open(os.path.join(s.tmpdir, "error.log")).read()

t.ok(wait_until(lambda: "item=leftover" in log(), 20), "an item left in processing is run again")
t.ok("left in jobs:processing by an earlier dcgid put back" in log(), "and the requeue is logged")

cli("RPUSH", "jobs", "one", "two", "three")
t.ok(wait_until(lambda: all("item=%s " % x in log() for x in ("one", "two", "three")), 30),
     "three pushed items each ran")
t.ok(wait_until(lambda: cli("LLEN", "jobs:processing") == "0" and cli("LLEN", "jobs") == "0", 15),
     "and left neither the queue nor processing")
m = re.search(r"item=one queue=(\S+) id=([0-9a-f]{16}) attempt=1", log())
t.ok(m and m.group(1) == "jobs", "DCGI_QUEUE and DCGI_ITEM_ID and DCGI_ATTEMPT in the environment")

# Retries: fails on attempt 1, succeeds on attempt 2.
cli("RPUSH", "jobs", "fail-2")
t.ok(wait_until(lambda: "item=fail-2 queue=jobs" in log() and "attempt=2" in log(), 30),
     "a failing item is retried")
t.ok(wait_until(lambda: cli("LLEN", "jobs:processing") == "0", 15), "and done on the retry")
t.ok(re.search(r"attempt 1 failed \(exit status 1\); again in 1s", log()), "the retry is logged")
t.is_(cli("LLEN", "jobs:dead"), "0", "nothing dead yet")

# A poison item: Retries 2 means 3 attempts, then jobs:dead.
cli("RPUSH", "jobs", "poison")
t.ok(wait_until(lambda: cli("LRANGE", "jobs:dead", "0", "-1") == "poison", 40),
     "a poison item ends in jobs:dead")
t.is_(log().count("item=poison "), 3, "after 1 + Retries attempts")
t.ok("failed 3 times (last: exit status 7): moved to jobs:dead" in log(), "and the log says so")
t.is_(cli("LLEN", "jobs:processing"), "0", "and it is out of processing")

# Concurrency 2: never more than two containers at once.
cli("RPUSH", "jobs", *["slow%d" % i for i in range(5)])
most = 0
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    most = max(most, len(docker_ids("dcgi.queue=jobs", running=True)))
    if all("item=slow%d " % i in log() for i in range(5)) and cli("LLEN", "jobs:processing") == "0":
        break
    time.sleep(0.1)
t.ok(1 < most <= 2, "Concurrency 2 holds (at most %d containers at once)" % most)
t.is_(cli("LLEN", "jobs:processing"), "0", "all five done")

# Redis restarts: nothing is lost, the outage is logged once.
redis.send_signal(signal.SIGTERM)
redis.wait(10)
time.sleep(2)
redis = redis_start()
t.ok(wait_until(redis_up, 10), "redis-server restarted")
cli("RPUSH", "jobs", "after-restart")
t.ok(wait_until(lambda: "item=after-restart " in log(), 30), "items are consumed again after it")
t.is_(log().count("unreachable"), 1, "the outage is logged once")
t.ok("is back" in log(), "and its end")

# SIGTERM while an item runs and more keep coming: the running one
# finishes and is acknowledged; one taken as dcgid stops stays in
# processing for the next start; none is lost and the stop does not wait
# for the grace period to run out.
cli("RPUSH", "jobs", "slow-at-stop")
t.ok(wait_until(lambda: "item=slow-at-stop " in log(), 20), "an item runs")
feeding = True
pushed = []


def feed():
    while feeding:
        name = "late-%d" % len(pushed)
        cli("RPUSH", "jobs", name)
        pushed.append(name)
        time.sleep(0.05)


import threading  # noqa: E402
fd = threading.Thread(target=feed)
fd.start()
time.sleep(0.3)
t0 = time.monotonic()
t.is_(s.stop(), 0, "SIGTERM: dcgid stops with exit 0")
stopped_in = time.monotonic() - t0
feeding = False
fd.join()
t.ok("giving up waiting" not in log() and stopped_in < 9,
     "it did not wait out GracePeriod for items it could no longer run (%.1fs)" % stopped_in)
ran = set(re.findall(r"item=(late-\d+) ", log()))
kept = set(cli("LRANGE", "jobs", "0", "-1").split()) | \
    set(cli("LRANGE", "jobs:processing", "0", "-1").split())
lost = [x for x in pushed if x not in ran and x not in kept]
t.ok(len(pushed) > 10 and not lost and "slow-at-stop" not in kept,
     "no item lost: each of the %d late ones ran or is still in Redis (lost: %s)" %
     (len(pushed), lost))
t.ok(not (set(cli("LRANGE", "jobs:processing", "0", "-1").split()) & ran),
     "the ones that ran were acknowledged")
cli("DEL", "jobs", "jobs:processing")
t.ok(wait_until(lambda: not docker_ids("dcgi.queue"), 15), "no queue container left")
redis.send_signal(signal.SIGTERM)
redis.wait(10)
shutil.rmtree(tmp, ignore_errors=True)
t.done()
