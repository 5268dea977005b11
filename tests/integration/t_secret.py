#!/usr/bin/env python3
"""Secret NAME FILE: a file's content as the container's /run/secrets/NAME.

With PrivilegeSeparation on and off, a root-only (0600) file holding a
random token is a Secret of a cold route, a Prestart route and a stream
<Queue>, whose functions run as nobody:

- the function reads the token at /run/secrets/token and cannot write it;
  it is not in its environment;
- `docker inspect` of a running container shows no token anywhere (not in
  Env, not in the command): only a read-only bind of a copy;
- a queue item's function finds the token (its item is the token it
  must see) and is done;
- after a reload with the file changed, new containers (cold and pooled)
  see the new content;
- no log holds the token; at a stop the copies and their directory go;
- a Secret whose file is missing is a config error with file and line.

Needs the image dcgi-test/busybox and redis-server."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time

from dcgitest import (Redis, Server, Tap, docker_ids, http, time_limit, wait_until)

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(300 * SLOW, "t_secret.py")
if shutil.which("redis-server") is None:
    t.skip_all("no redis-server")

SHOW = ("/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; cat /run/secrets/token; "
        "echo; id -u; (echo x >/run/secrets/token) 2>/dev/null && echo writable || "
        "echo read-only; env\"")
CHECK = "/bin/sh -c \"read item; [ \\\"$(cat /run/secrets/token)\\\" = \\\"$item\\\" ]\""
CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog {tmp}/access.log
PrivilegeSeparation %(privsep)s
Redis 127.0.0.1:%(rport)d
Consumer sec-%(privsep)s
<Route /sec-cold>
    Image dcgi-test/busybox
    Command %(show)s
    User 65534:65534
    Secret token {tmp}/token
    Prestart 0
</Route>
<Route /sec-pool>
    Image dcgi-test/busybox
    Command %(show)s
    User 65534:65534
    Secret token {tmp}/token
    Prestart 1
</Route>
<Route /sec-slow>
    Image dcgi-test/busybox
    Command /bin/sh -c "sleep 4; printf 'Content-Type: text/plain\\n\\nslept'"
    User 65534:65534
    Secret token {tmp}/token
    Prestart 0
</Route>
<Queue sec-q-%(privsep)s>
    Image dcgi-test/busybox
    Command %(check)s
    User 65534:65534
    Secret token {tmp}/token
    Retries 0
</Queue>
"""

work = os.path.realpath(__import__("tempfile").mkdtemp(prefix="dcgitest.secret."))
redis = Redis(work)
# The copies go under $RUNTIME_DIRECTORY (as systemd's RuntimeDirectory=):
# here a directory of the test's, where they can be counted.
rundir = os.path.join(work, "run")
os.makedirs(rundir)
# Traversable, as /run is: a rootless engine (tests/podman.sh) enters the
# copies' directory below, which dcgid gives to it.
os.chmod(work, 0o711)
os.chmod(rundir, 0o711)
os.environ["RUNTIME_DIRECTORY"] = rundir


def copies_dirs():
    return sorted(d for d in os.listdir(rundir) if d.startswith("dcgi-secrets."))


for privsep in ("on", "off"):
    name = "privsep %s" % privsep
    q = "sec-q-" + privsep
    s = Server(CONF % {"privsep": privsep, "rport": redis.port, "show": SHOW, "check": CHECK},
               start=False)
    token = secrets.token_hex(16)
    path = os.path.join(s.tmpdir, "token")
    with open(path, "w") as f:
        f.write(token)
    os.chmod(path, 0o600)
    s.start()

    def get(p):
        return http(s.port, path=p, timeout=60 * SLOW)

    for route in ("/sec-cold", "/sec-pool"):
        st, _, body = get(route)
        out = (body or b"").decode(errors="replace").split("\n")
        t.is_(st, 200, "%s: %s: 200" % (name, route))
        t.is_(out[:3], [token, "65534", "read-only"],
              "%s:   nobody reads the token at /run/secrets/token, cannot write it" % name)
        t.ok(token not in "\n".join(out[3:]), "%s:   it is not in the environment" % name)

    # docker inspect of a running container.
    box = []
    th = threading.Thread(target=lambda: box.append(get("/sec-slow")), daemon=True)
    th.start()
    t.ok(wait_until(lambda: docker_ids("dcgi.route=/sec-slow", running=True), 10 * SLOW, 0.1),
         "%s: a /sec-slow container runs" % name)
    ids = docker_ids("dcgi.route=/sec-slow", running=True)
    p = subprocess.run(["docker", "inspect"] + ids, capture_output=True, text=True, timeout=60)
    text = p.stdout
    try:
        info = json.loads(text)[0]
    except (ValueError, IndexError):
        info = {}
    mounts = [m for m in info.get("Mounts", []) if m.get("Destination") == "/run/secrets/token"]
    t.ok(text and token not in text, "%s:   docker inspect shows no token anywhere" % name)
    t.ok(len(mounts) == 1 and mounts[0].get("RW") is False and
         mounts[0].get("Source", "").startswith("/") and "token" not in mounts[0]["Source"],
         "%s:   a read-only bind of a copy at /run/secrets/token: %s" % (name, mounts))
    copy = mounts[0]["Source"] if mounts else ""
    st = os.stat(copy) if copy and os.path.exists(copy) else None
    t.ok(st is not None and (st.st_mode & 0o777) == 0o444 and
         (os.stat(os.path.dirname(copy)).st_mode & 0o777) == 0o700,
         "%s:   the copy is 0444 in a 0700 directory" % name)
    th.join(60 * SLOW)
    t.is_(box[0][0] if box else None, 200, "%s:   and it answers" % name)

    # A queue item sees the token.
    redis.cli("XADD", q, "*", "item", token)
    redis.cli("XADD", q, "*", "item", "not-the-token")
    t.ok(wait_until(lambda: redis.cli("XLEN", q + ":dead") == "1" and
                    redis.cli("XLEN", q) == "0", 60 * SLOW, 0.3),
         "%s: the queue's function found the token (done), the wrong item went dead" % name)
    t.ok("not-the-token" in redis.cli("XRANGE", q + ":dead", "-", "+"),
         "%s:   the dead one is the wrong item (%s)" % (name, redis.cli("XLEN", q + ":dead")))

    # A reload with the file changed.
    token2 = secrets.token_hex(16)
    with open(path, "w") as f:
        f.write(token2)
    s.proc.send_signal(signal.SIGHUP)

    def sees_new(route):
        st, _, body = get(route)
        return st == 200 and (body or b"").decode().split("\n")[0] == token2

    t.ok(wait_until(lambda: sees_new("/sec-cold"), 30 * SLOW, 0.5),
         "%s: after a reload a cold container sees the new content" % name)
    t.ok(wait_until(lambda: sees_new("/sec-pool"), 30 * SLOW, 0.5),
         "%s:   and a prestarted one (the pool was renewed)" % name)

    t.is_(s.stop(), 0, "%s: dcgid stops cleanly" % name)
    logs = ""
    for f in ("error.log", "access.log", "dcgid.stderr", "dcgid.stdout"):
        try:
            logs += open(os.path.join(s.tmpdir, f), errors="replace").read()
        except OSError:
            pass
    t.ok(logs and token not in logs and token2 not in logs, "%s: no log holds a token" % name)
    t.ok(copy and not os.path.exists(copy) and not os.path.exists(os.path.dirname(copy)),
         "%s: the copies and their directory are gone" % name)
    t.ok(wait_until(lambda: not docker_ids("dcgi.route=/sec-cold") and
                    not docker_ids("dcgi.route=/sec-pool") and
                    not docker_ids("dcgi.queue=" + q), 30 * SLOW, 0.3),
         "%s: no container is left" % name)
    if t.failed == 0:
        shutil.rmtree(s.tmpdir, ignore_errors=True)

# A dcgid killed (SIGKILL) leaves its copies; the next one removes them.
s = Server(CONF % {"privsep": "off", "rport": redis.port, "show": SHOW, "check": CHECK},
           start=False)
with open(os.path.join(s.tmpdir, "token"), "w") as f:
    f.write("killed")
os.chmod(os.path.join(s.tmpdir, "token"), 0o600)
s.start()
t.ok(wait_until(lambda: len(copies_dirs()) == 1, 10 * SLOW, 0.1),
     "one directory of copies while dcgid runs: %s" % copies_dirs())
first = copies_dirs()
s.proc.kill()
s.proc.wait()
s.proc = None
t.is_(copies_dirs(), first, "SIGKILL: it stays")
s.start()
t.ok(wait_until(lambda: len(copies_dirs()) == 1 and copies_dirs() != first, 10 * SLOW, 0.1),
     "the next dcgid removed it and made its own: %s" % copies_dirs())
t.is_(s.stop(), 0, "and stops cleanly")
t.is_(copies_dirs(), [], "its own went at the stop")
t.ok(wait_until(lambda: not docker_ids("dcgi.route=/sec-pool"), 30 * SLOW, 0.3),
     "no container is left (the killed one's were swept)")

# A missing file: a config error with file and line.
s = Server(CONF % {"privsep": "on", "rport": redis.port, "show": SHOW, "check": CHECK},
           start=False)
p = subprocess.run(s.command("-t", "-f", s.conf), capture_output=True, text=True, timeout=60)
t.ok(p.returncode != 0 and "httpd.conf:13: Secret token: " in p.stderr and
     "token: No such file or directory" in p.stderr,
     "dcgid -t: a Secret whose file is missing is an error at its line: %s" %
     p.stderr.strip().splitlines()[:1])
redis.stop()
shutil.rmtree(work, ignore_errors=True)
t.done()
