#!/usr/bin/env python3
"""Prestart: the pool of started, never-used containers a route keeps.

Every request gets a container of its own (hostnames), none is used twice
(a used one is removed, never seen again); the pool's counts are in the
log; MaxContainers counts idle ones (and those being removed, idle ones'
and requests': the pools never push the engine past it) and an idle one
gives way to a request of another route; a killed idle container is
replaced; idle ones older than PrestartMaxAge are replaced; an image
rebuilt under the same tag is noticed; a reload drains the pool of a
changed route and keeps an unchanged one; nothing is left after a stop,
nor after SIGKILL and a restart.  (t_cgi_prestart.py and
t_cgi_ops_prestart.py run the container route suites again with Prestart
2.)"""

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from dcgitest import Server, Tap, idle_prestarted, wait_until

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
# DCGI_SLOW: a slower engine's factor (tests/podman.sh: rootless Podman,
# whose vfs storage copies the image for each container).
SLOW = float(os.environ.get("DCGI_SLOW") or (3 if WRAPPED else 1))
TAG = "dcgi-test/prestart-tag:latest"


def docker(*args, input=None):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, input=input,
                       timeout=120)
    return p.returncode, p.stdout.strip()


def containers(label="dcgi.route"):
    code, out = docker("ps", "-aq", "--no-trunc", "--filter", "label=" + label)
    return out.split() if code == 0 else []


def idle(route, started=False):
    """The route's prestarted containers that wait for a request (with
    started=True: only those already running, ready to take one)."""
    ids = containers("dcgi.route=" + route)
    return sorted(idle_prestarted(ids, started))


def counted(count, during, every):
    """count() every `every` seconds (in a thread) while during() runs:
    the list of what it said."""
    seen, stop = [], threading.Event()

    def run():
        while not stop.is_set():
            seen.append(count())
            time.sleep(every)
    th = threading.Thread(target=run)
    th.start()
    try:
        during()
    finally:
        stop.set()
        th.join()
    return seen


def settle():
    """The engine says a container runs a moment before dcgid has the
    answer to its start: give dcgid that moment before counting on it."""
    time.sleep(1.0 * SLOW)


def get(port, path, timeout=30):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError as e:
        return None, {}, str(e).encode()


def log_of(s):
    with open(os.path.join(s.tmpdir, "error.log"), errors="replace") as f:
        return f.read()


def build_tag(version):
    """TAG: dcgi-test/busybox with DCGI_IMAGE=version in its Env (offline)."""
    code, _ = docker("build", "-q", "-t", TAG, "-",
                     input="FROM dcgi-test/busybox\nENV DCGI_IMAGE=%s\n" % version)
    return code == 0


BASE = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
AccessLog off
ErrorLog {tmp}/error.log
"""

# ----- dcgi-init by itself: the stdin protocol -----
INIT = os.path.join(os.path.dirname(os.environ.get("DCGID") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "httpd", "dcgid")), "dcgi-init")


def init_run(args, data, env=None):
    p = subprocess.run([INIT, *args], input=data, capture_output=True, timeout=10,
                       env=env if env is not None else {"KEEP": "kept", "PATH": "/bin:/usr/bin"})
    return p.returncode, p.stdout, p.stderr


def unframe(out):
    """dcgi-init's frames (httpd/envblock.h): (stdout, stderr, END's status
    or None, the bytes that broke the rules or b"")."""
    o, e, end, i = b"", b"", None, 0
    while i + 4 <= len(out) and end is None:
        typ, n = out[i], int.from_bytes(out[i + 1:i + 4], "big")
        data = out[i + 4:i + 4 + n]
        if typ not in (1, 2, 3) or n == 0 or len(data) < n or (typ == 3 and n != 1):
            break
        if typ == 1:
            o += data
        elif typ == 2:
            e += data
        else:
            end = data[0]
        i += 4 + n
    return o, e, end, out[i:]


def block(*pairs, length=None):
    e = b"".join(x.encode() + b"\0" for x in pairs)
    return (len(e) if length is None else length).to_bytes(4, "big") + e


rc, out, err = init_run(["/bin/sh", "-c", 'echo "$A|$B|$KEEP|$PATH"; cat'],
                        block("A=1", "B=x=y", "PATH=/usr/bin:/bin") + b"the body")
t.is_((rc, unframe(out)), (0, (b"1|x=y|kept|/usr/bin:/bin\nthe body", b"", 0, b"")),
      "dcgi-init sets the environment over the one it got, runs the command with "
      "the body on stdin, frames its output, ends with END 0")
rc, out, err = init_run(["/bin/sh", "-c", "echo out; echo last words >&2; exit 3"],
                        block("A=1"))
t.is_((rc, unframe(out)), (3, (b"out\n", b"last words\n", 3, b"")),
      "stderr comes framed before END, and END and the exit say the function's status")
rc, out, err = init_run(["/bin/sh", "-c", "kill -9 $$"], block("A=1"))
t.is_((rc, unframe(out)[2]), (137, 137), "killed by a signal: 128 + N, in END and the exit")
rc, out, err = init_run(["/bin/sh", "-c", "head -c 300000 /dev/zero"], block("A=1"))
o, e, end, rest = unframe(out)
t.ok(rc == 0 and o == b"\0" * 300000 and end == 0 and rest == b"",
     "300 kB of output arrive whole, in frames of at most 64 KiB")
t0 = time.monotonic()
rc, out, err = init_run(["/bin/sh", "-c", "(sleep 8; echo late) & echo early"], block("A=1"))
t.ok(unframe(out)[:3] == (b"early\n", b"", 0) and time.monotonic() - t0 < 6,
     "what the function leaves running does not hold END back (the function's end "
     "is the end, as when it is the container's first process)")
rc, out, err = init_run(["sh", "-c", "echo ran"], block("PATH=/nowhere"))
o, e, end, _ = unframe(out)
t.ok(rc == 127 and end == 127 and b"dcgi-init: sh:" in e,
     "the command is looked up in the new PATH: not found, 127 (%d %r)" % (rc, e))
rc, out, err = init_run(["/no/such/program"], block("A=1"))
o, e, end, _ = unframe(out)
t.ok(rc == 127 and end == 127 and b"/no/such/program" in e,
     "a command that is not there: 127, named")
for name, data in [("no '='", block("A")), ("an empty name", block("=x")),
                   ("a length beyond 1 MiB", (1 << 20 | 1).to_bytes(4, "big")),
                   ("fewer bytes than the length", block("A=1", length=100)),
                   ("half a length", b"\0\0"),
                   ("a last entry without its NUL", b"\0\0\0\x03A=1")]:
    rc, out, err = init_run(["/bin/echo", "ran"], data)
    t.ok(rc == 125 and out == b"" and err.startswith(b"dcgi-init: "),
         "dcgi-init refuses %s: 125, a line on stderr, nothing run" % name)
rc, out, err = init_run(["/bin/echo", "ran"], b"")
t.is_((rc, out, err), (0, b"", b""), "stdin closed before a request: exit 0, nothing run")
rc, out, err = init_run([], block("A=1"))
t.ok(rc == 125 and b"nothing to run" in err, "no command at all: 125")

if not build_tag("v1"):
    t.ok(False, "docker build of %s" % TAG)
    t.done()

# ----- a fresh container per request, none used twice -----
conf = BASE + """MaxContainers 3
<Route /a>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 2
</Route>
<Route /b>
    Image %s
    Command /cgi/echo
    Env WHO=first
    Prestart 2
</Route>
<Route /c>
    Image dcgi-test/busybox
    Command /cgi/hostname
</Route>
<Route /old>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 1
    PrestartMaxAge 2s
</Route>
""" % TAG
WAIT_ROUTE = """<Route /w>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 1
</Route>
"""
s = Server(conf.replace("MaxContainers 3\n", "") + WAIT_ROUTE)
try:
    t.ok(wait_until(lambda: len(idle("/a")) == 2 and len(idle("/b")) == 2, 30 * SLOW),
         "Prestart 2: two idle containers wait on /a and on /b")
    t.ok(wait_until(lambda: "prestarted containers ready: " in log_of(s) and
                    "/a 2/2" in log_of(s) and "/b 2/2" in log_of(s), 10 * SLOW),
         "the log says how many are ready per route (/a 2/2, /b 2/2)")

    seen, hits = [], 0
    for i in range(8):
        st, h, body = get(s.port, "/a")
        seen.append(body.decode().strip())
        hits += "prestart;desc=hit" in h.get("Server-Timing", "")
        time.sleep(0.6 * SLOW)       # the replacement starts meanwhile
    results = []

    def fetch():
        results.append(get(s.port, "/a"))
    ths = [threading.Thread(target=fetch) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    seen += [b.decode().strip() for st, h, b in results]
    hits += sum("prestart;desc=hit" in h.get("Server-Timing", "") for st, h, b in results)
    t.ok(all(len(x) == 12 for x in seen) and len(set(seen)) == len(seen),
         "12 requests (8 one after another, 4 at once), 12 different containers")
    t.ok(hits >= 8, "%d of them took a prestarted container" % hits)
    # Each is removed after its answer; one that went back to the pool
    # would stay.
    t.ok(wait_until(lambda: not any(c[:12] in seen for c in containers()), 15 * SLOW),
         "no container that answered is still there (none goes back to the pool)")

    # ----- an empty pool: the cold path -----
    # /w has Prestart 1; the replacement of the container a request takes
    # starts once that request is answered (so that it does not slow it
    # down), so the next request right after finds none ready (starting
    # takes ~250 ms) and starts its own.
    t.ok(wait_until(lambda: len(idle("/w", True)) == 1, 20 * SLOW), "/w: one is ready")
    settle()
    st1, h1, b1 = get(s.port, "/w")
    st2, h2, b2 = get(s.port, "/w")
    t.ok(st1 == 200 and "prestart;desc=hit" in h1.get("Server-Timing", ""),
         "a request takes the ready one (%s)" % h1.get("Server-Timing"))
    t.ok(st2 == 200 and "prestart;desc=miss" in h2.get("Server-Timing", "") and
         "create;dur=0.0" not in h2.get("Server-Timing", "") and b1 != b2,
         "the next one, at once, finds the pool empty and takes the cold path "
         "(%s)" % h2.get("Server-Timing"))
    t.ok(wait_until(lambda: len(idle("/w", True)) == 1, 20 * SLOW),
         "and the pool is refilled after it")

    # ----- a dead idle container is noticed and replaced -----
    # The victim must have been ready for DCGI_POOL_SETTLE_MS (2 s): one
    # that dies sooner counts as a failed start, replaced after a pause
    # and logged so.  /a's last one may have started just now.
    wait_until(lambda: len(idle("/a", True)) == 2, 20 * SLOW)
    settle()
    time.sleep(2.5)
    before = idle("/a", True)
    victim = before[0] if before else ""
    docker("kill", victim)
    t.ok(wait_until(lambda: len(idle("/a")) == 2 and victim not in idle("/a"), 20 * SLOW),
         "an idle container killed from outside is replaced")
    t.ok("exited while waiting; replacing it" in log_of(s), "and the log says so")

    # ----- PrestartMaxAge -----
    first = idle("/old")
    t.ok(wait_until(lambda: idle("/old") and idle("/old") != first, 15 * SLOW),
         "PrestartMaxAge 2s: the idle container is replaced by a new one")
    t.ok("idle for PrestartMaxAge: replaced" in log_of(s), "and the log says so")

    # ----- the image is rebuilt under the same tag -----
    st, h, body = get(s.port, "/b")
    t.ok(st == 200 and b"DCGI_IMAGE=v1" in body, "/b runs %s v1" % TAG)
    old_b = idle("/b")
    build_tag("v2")
    t.ok(wait_until(lambda: len(idle("/b", True)) == 2 and not set(idle("/b")) & set(old_b),
                    20 * SLOW),
         "the tag moved to a new image: the idle /b containers are replaced (within 5 s)")
    t.ok("the image changed" in log_of(s), "and the log says why")
    settle()
    st, h, body = get(s.port, "/b")
    t.ok(st == 200 and b"DCGI_IMAGE=v2" in body and
         "prestart;desc=hit" in h.get("Server-Timing", ""),
         "a request now runs the new image, prestarted")

    # ----- reload: a changed route is drained, an unchanged one kept -----
    # (Env alone would not need new containers: it goes to dcgi-init with
    # each request.  Memory is a setting of the container itself.)
    t.ok(wait_until(lambda: len(idle("/a", True)) == 2 and len(idle("/b", True)) == 2,
                    20 * SLOW), "both pools full again")
    a_before, b_before = idle("/a"), idle("/b")
    with open(s.conf, "w") as f:
        f.write(conf.replace("MaxContainers 3\n", "").replace("WHO=first", "WHO=second\n    Memory 200m")
                .replace("{port}", str(s.port)).replace("{root}", s.root)
                .replace("{tmp}", s.tmpdir).replace("{repo}", os.path.dirname(os.path.dirname(
                    os.path.dirname(os.path.abspath(__file__))))))
    s.proc.send_signal(signal.SIGHUP)
    t.ok(wait_until(lambda: "configuration reloaded" in log_of(s), 10 * SLOW), "reloaded")
    t.ok(wait_until(lambda: len(idle("/b", True)) == 2 and not set(idle("/b")) & set(b_before),
                    20 * SLOW),
         "the changed route /b (Memory): its idle containers are replaced")
    # (their successors do not wait for the removals here: no MaxContainers)
    t.ok(wait_until(lambda: not any(c in containers() for c in b_before), 15 * SLOW),
         "the old ones are removed")
    t.is_(idle("/a"), a_before, "the unchanged route /a keeps its idle containers")
    settle()
    st, h, body = get(s.port, "/b")
    t.ok(st == 200 and b"WHO=second" in body and
         "prestart;desc=hit" in h.get("Server-Timing", ""),
         "a request to /b sees the new Env, prestarted")
finally:
    code = s.stop(timeout=30 * SLOW)
t.is_(code, 0, "dcgid stops with exit code 0")
t.ok(wait_until(lambda: containers() == [], 15), "after the stop no container is left")

# ----- MaxContainers counts idle ones; an idle one gives way -----
# (With a NOTIFY_SOCKET, as under systemd: STATUS= counts the ready ones.)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify_name = "dcgitest-prestart-%d" % os.getpid()
notify.bind("\0" + notify_name)
notify.setblocking(False)
notes = []


def statuses():
    while True:
        try:
            notes.append(notify.recv(4096).decode(errors="replace"))
        except BlockingIOError:
            return [l for m in notes for l in m.split("\n") if l.startswith("STATUS=")]


os.environ["NOTIFY_SOCKET"] = "@" + notify_name
# Without /old's PrestartMaxAge: an idle container on its way out still
# looks idle, and the SIGKILL below must find none (the section below this
# one replaces idle containers under MaxContainers).
s = Server(conf.replace("    PrestartMaxAge 2s\n", ""))
del os.environ["NOTIFY_SOCKET"]
try:
    def inst():
        """This dcgid's containers (the label names its pid and start
        time): another engine user's do not count."""
        with open("/proc/%d/stat" % s.proc.pid) as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        return containers("dcgi.instance=%d:%s" % (s.proc.pid, start))
    t.ok(wait_until(lambda: "prestarted containers ready:" in log_of(s) and
                    len(idle("/a")) + len(idle("/b")) + len(idle("/old")) == 3, 30 * SLOW),
         "MaxContainers 3: three idle containers in all (Prestart 2 + 2 + 1 asked)")
    # Counted again and again for a while: never more than 3.
    seen = counted(lambda: len(inst()), lambda: time.sleep(1.5 * SLOW), 0.1)
    t.is_(max(seen), 3, "and no more are started (%s seen)" % sorted(set(seen)))
    # (the engine counts its server processes; one process, connections)
    t.ok(wait_until(lambda: "STATUS=1 server process, 0 containers running, 3 prestarted"
                    in statuses(), 5 * SLOW),
         "systemd's STATUS= says 3 prestarted (%s)" % (statuses()[-1:] or "none"))
    before = set(inst())
    st, h, body = get(s.port, "/c")
    t.ok(st == 200 and len(body.strip()) == 12,
         "a request to a route without Prestart is served (an idle container gave way)")

    # The container that served /c and the idle one that gave way to it are
    # removed after the answer (a request does not wait for that), and an
    # idle one looks idle until the engine has removed it. The pools
    # create the successor only once both removals are done: 3 idle ones,
    # one of them new, are the 3 idle ones and nothing on its way out.
    def refilled():
        now = set(inst())
        return (len(now) == 3 and bool(now - before) and
                len(idle("/a")) + len(idle("/b")) + len(idle("/old")) == 3)
    t.ok(wait_until(refilled, 20 * SLOW),
         "then the pools fill again to 3, with a new one (%d before, %d new)"
         % (len(before), len(set(inst()) - before)))

    # ----- SIGKILL, and a restart removes what the killed dcgid left -----
    left = inst()
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(10)
    s.proc = None
    t.ok(len(left) == 3 and all(c in containers() for c in left),
         "after SIGKILL its idle containers are still there")
    s.start(timeout=30 * SLOW)
    t.ok(wait_until(lambda: not any(c in containers() for c in left), 20 * SLOW),
         "the restarted dcgid removes them")
    t.ok(wait_until(lambda: len(inst()) == 3, 20 * SLOW), "and prestarts its own")
finally:
    code = s.stop(timeout=30 * SLOW)
t.is_(code, 0, "exit 0")
t.ok(wait_until(lambda: containers() == [], 15), "no container left")

# ----- an idle container's place is free only once the engine removed it -----
# PrestartMaxAge 1s replaces both idle containers every second: their
# successors wait for the removals, so the engine never holds more than
# MaxContainers of them, not even for the length of a removal.
s = Server(BASE + """MaxContainers 2
<Route /r>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 2
    PrestartMaxAge 1s
</Route>
""")
try:
    t.ok(wait_until(lambda: len(idle("/r", True)) == 2, 30 * SLOW), "two idle containers on /r")
    first = set(idle("/r"))
    seen = counted(lambda: len(containers("dcgi.route=/r")), lambda: time.sleep(5 * SLOW),
                   0.05)
    replaced = log_of(s).count("idle for PrestartMaxAge: replaced")
    t.ok(replaced >= 2 and not first & set(idle("/r")),
         "PrestartMaxAge 1s: they were replaced (%d times)" % replaced)
    t.ok(max(seen) <= 2, "never more than MaxContainers 2 on the engine, removals "
         "in flight included (most seen: %d, %d counts)" % (max(seen), len(seen)))
    t.ok(wait_until(lambda: len(idle("/r", True)) == 2, 20 * SLOW), "and the pool fills again")
finally:
    code = s.stop(timeout=30 * SLOW)
t.is_(code, 0, "exit 0")
t.ok(wait_until(lambda: containers() == [], 15), "no container left")

# ----- a request's container keeps its place until the engine removed it -----
# A request takes an idle container of a full pool (MaxContainers 2,
# Prestart 2); when it has answered, its container is removed and the pool
# fills again, but only once the engine has removed it: counted every
# 50 ms, the engine never holds more than 2.  (Each request waits for a
# full pool, so that it takes a prestarted container: a cold one would be
# a request not waiting for removals, as it does not.)
s = Server(BASE + """MaxContainers 2
<Route /q>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Prestart 2
</Route>
""")
hits = []


def requests():
    for _ in range(8):
        if not wait_until(lambda: len(idle("/q", True)) == 2, 20 * SLOW):
            break
        settle()
        st, h, _ = get(s.port, "/q")
        hits.append(st == 200 and "prestart;desc=hit" in h.get("Server-Timing", ""))
    t.ok(wait_until(lambda: len(idle("/q", True)) == 2, 20 * SLOW),
         "the pool is full again after the last request")


try:
    seen = counted(lambda: len(containers("dcgi.route=/q")), requests, 0.05)
    t.ok(len(hits) == 8 and all(hits), "8 requests, each served by a prestarted container "
         "(%s)" % hits)
    t.ok(seen and max(seen) <= 2, "never more than MaxContainers 2 on the engine, the "
         "requests' containers being removed included (most seen: %d, %d counts)" %
         (max(seen or [0]), len(seen)))
finally:
    code = s.stop(timeout=30 * SLOW)
t.is_(code, 0, "exit 0")
t.ok(wait_until(lambda: containers() == [], 15), "no container left")
docker("rmi", TAG)
t.done()
