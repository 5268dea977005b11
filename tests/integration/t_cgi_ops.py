#!/usr/bin/env python3
"""Container routes in operation: the container's confinement as dcgid
asks for it (and as the function sees it), DockerHost over unix:// and
tcp://, the engine going away and coming back, and the orphan sweep after
dcgid is killed with SIGKILL mid-request."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from dcgitest import (DOCKER_SOCK, PRESTART, Server, Tap, idle_prestarted, pools_full, splice,
                      status_of, wait_until)

t = Tap()


def docker(*args, timeout=30):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    return p.stdout.strip()


def containers(label, idle=False):
    """Containers with label; prestarted ones that wait for a request count
    only with idle=True."""
    ids = [c for c in docker("ps", "-aq", "--filter", "label=" + label).split() if c]
    if PRESTART and not idle:
        waiting = idle_prestarted(ids)
        ids = [i for i in ids if i not in waiting]
    return ids



def get(port, path, timeout=30):
    """(status, headers, body) of a GET; status None when it failed."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError:
        return None, {}, b""


class Proxy:
    """A byte pipe in front of the real Docker socket, on a unix socket or
    a loopback TCP port, that can be stopped and started: an engine that
    goes away and comes back, without touching the real one."""

    def __init__(self, unix_path=None):
        self.unix_path = unix_path
        self.port = None
        self.lsock = None
        self.conns = []
        self.running = False

    def start(self):
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.unix_path)
        else:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port or 0))
            self.port = s.getsockname()[1]
        s.listen(64)
        self.lsock = s
        self.running = True
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(DOCKER_SOCK)
            self.conns += [c, up]
            splice(c, up)

    def stop(self):
        self.running = False
        self.lsock.close()
        for c in self.conns:
            try:
                # shutdown first: close() alone does not wake a thread
                # blocked in recv(), and the connection would live on.
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns = []
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)


INSPECT = ("/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; "
           "grep CapEff /proc/self/status; id -u; "
           "if touch /rootfile 2>/dev/null; then echo root-writable; else echo root-readonly; fi; "
           "if touch /tmp/x 2>/dev/null; then echo tmp-writable; fi; "
           "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; "
           "cat /data/file.txt; sleep 2\"")

data_dir = None


def conf_for(docker_host):
    return ("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
            "AccessLog off\nErrorLog {tmp}/error.log\nDockerHost " + docker_host + "\n"
            "<Route /inspect>\n Image dcgi-test/busybox\n Command " + INSPECT + "\n"
            " Memory 64m\n Pids 50\n CPUs 0.5\n User 65534\n"
            " Mount {data} /data ro\n</Route>\n"
            "<Route /rw>\n Image dcgi-test/busybox\n ReadOnly off\n Network none\n"
            " Command /bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; touch /rootfile && echo root-writable\"\n</Route>\n"
            "<Route /echo>\n Image dcgi-test/busybox\n Command /cgi/echo\n</Route>\n"
            "<Route /sleep>\n Image dcgi-test/busybox\n Command /cgi/sleep\n Timeout 60s\n</Route>\n")


import tempfile
data_dir = tempfile.mkdtemp(prefix="dcgi-data.")
with open(os.path.join(data_dir, "file.txt"), "w") as f:
    f.write("mounted-data\n")
os.chmod(data_dir, 0o755)
os.chmod(os.path.join(data_dir, "file.txt"), 0o644)

# ----- confinement, over a unix:// proxy -----
tmp = tempfile.mkdtemp(prefix="dcgitest.")
proxy = Proxy(unix_path=os.path.join(tmp, "engine.sock"))
proxy.start()
s = Server(conf_for("unix://" + proxy.unix_path), tmpdir=tmp, data=data_dir)

result = {}
ROUTES = ("/inspect", "/rw", "/echo", "/sleep")
if PRESTART:
    t.ok(wait_until(lambda: pools_full(os.path.join(tmp, "error.log"), ROUTES, PRESTART), 60, 0.5),
         "Prestart %d: the pools are full" % PRESTART)


def fetch_inspect():
    result["r"] = get(s.port, "/inspect")


th = threading.Thread(target=fetch_inspect)
th.start()
t.ok(wait_until(lambda: containers("dcgi.route=/inspect"), 15), "the /inspect container runs")
ids = containers("dcgi.route=/inspect")
info = json.loads(docker("inspect", ids[0]))[0] if ids else {}
hc = info.get("HostConfig", {})
t.is_(hc.get("NetworkMode"), "none", "network none by default")
t.is_(hc.get("CapDrop"), ["ALL"], "all capabilities dropped")
t.ok("no-new-privileges" in (hc.get("SecurityOpt") or []), "no-new-privileges")
t.is_(hc.get("ReadonlyRootfs"), True, "read-only root file system by default")
t.ok("/tmp" in (hc.get("Tmpfs") or {}), "a tmpfs on /tmp")
t.is_(hc.get("Memory"), 64 << 20, "Memory 64m")
t.is_(hc.get("MemorySwap"), 64 << 20, "no swap beyond Memory")
t.is_(hc.get("PidsLimit"), 50, "Pids 50")
t.is_(hc.get("NanoCpus"), 500000000, "CPUs 0.5")
t.is_((hc.get("LogConfig") or {}).get("Type"), "none", "no log driver keeps the output")
t.ok(not any("docker.sock" in b for b in (hc.get("Binds") or [])), "no Docker socket mounted")
t.is_(info.get("Config", {}).get("User"), "65534", "User 65534")
labels = info.get("Config", {}).get("Labels") or {}
t.ok(labels.get("dcgi.route") == "/inspect" and ":" in labels.get("dcgi.instance", ""),
     "labels dcgi.route and dcgi.instance")
th.join(30)
st, h, body = result.get("r", (None, {}, b""))
lines = body.decode(errors="replace").split("\n")
t.is_(st, 200, "GET /inspect through the unix:// DockerHost")
if PRESTART:
    t.ok("prestart;desc=hit" in h.get("Server-Timing", ""),
         "and it ran in a prestarted container (%s)" % h.get("Server-Timing"))
t.ok("CapEff:\t0000000000000000" in lines, "the function has no capabilities")
t.ok("65534" in lines, "the function runs as User")
t.ok("root-readonly" in lines, "the function cannot write its root")
t.ok("tmp-writable" in lines, "the function can write /tmp")
t.is_([l for l in lines if l in ("lo", "eth0")], ["lo"], "only loopback: network none")
t.ok("mounted-data" in lines, "the Mount is visible read-only")
st, _, body = get(s.port, "/rw")
t.ok(st == 200 and b"root-writable" in body, "ReadOnly off: the root is writable")

# ----- the engine goes away and comes back -----
proxy.stop()
t0 = time.monotonic()
st, h, _ = get(s.port, "/echo")
t.is_(st, 503, "engine unreachable: 503")
t.ok(time.monotonic() - t0 < 3, "answered fast, no hang")
t.ok(h.get("Retry-After") is not None, "with Retry-After")
with open(os.path.join(tmp, "error.log")) as f:
    t.ok("unreachable" in f.read(), "the log says the engine is unreachable")
proxy.start()
st, _, body = get(s.port, "/echo")
t.is_(st, 200, "the engine is back: 200 again, without a restart")
t.is_(s.stop(), 0, "clean exit")
proxy.stop()
t.ok(wait_until(lambda: not containers("dcgi.route=/inspect", idle=True) and
                not containers("dcgi.route=/rw", idle=True), 15),
     "no container left")

# ----- tcp:// -----
tproxy = Proxy()
tproxy.start()
s = Server(conf_for("tcp://127.0.0.1:%d" % tproxy.port), data=data_dir)
st, _, body = get(s.port, "/echo/x")
t.ok(st == 200 and b"PATH_INFO=/x" in body, "DockerHost tcp://127.0.0.1:PORT works")
t.is_(s.stop(), 0, "clean exit")
tproxy.stop()

# ----- SIGKILL mid-request, then a new dcgid removes the orphan -----
s = Server(conf_for("unix://" + DOCKER_SOCK), data=data_dir)
killed = {}
# A request that comes while the pools fill waits for one of MaxStarting's
# places, and gets a 503 after 2 s: on a slow engine it would.
if PRESTART:
    t.ok(wait_until(lambda: pools_full(os.path.join(s.tmpdir, "error.log"), ROUTES, PRESTART),
                    60, 0.5), "the pools are full")


def fetch_sleep():
    killed["r"] = get(s.port, "/sleep", timeout=60)


th = threading.Thread(target=fetch_sleep)
th.start()
t.ok(wait_until(lambda: containers("dcgi.route=/sleep"), 15), "a /sleep container runs")
# Every container of this dcgid's (with Prestart, its idle ones too).
orphans = containers("dcgi.route", idle=True)
with open("/proc/%d/stat" % s.proc.pid) as f:
    killed_inst = "%d:%s" % (s.proc.pid, f.read().rsplit(")", 1)[1].split()[19])
s.proc.send_signal(signal.SIGKILL)
s.proc.wait(10)
s.proc = None
th.join(10)
time.sleep(1)
t.ok(orphans and all(c in containers("dcgi.route", idle=True) for c in orphans),
     "after SIGKILL its %d container(s) are still there (nobody removed them)" % len(orphans))
s2 = Server(conf_for("unix://" + DOCKER_SOCK), data=data_dir)
t.ok(wait_until(lambda: not any(c in containers("dcgi.route", idle=True) for c in orphans), 20),
     "the restarted dcgid removed the orphans")


def said_so():
    # The line comes with the engine's answer to the DELETE, which can be
    # read (and the log written) a moment after docker ps stops listing it.
    with open(os.path.join(s2.tmpdir, "error.log")) as f:
        return "left by an earlier dcgid" in f.read()


t.ok(wait_until(said_so, 10), "and said so in its log")
st, _, _ = get(s2.port, "/echo")
t.is_(st, 200, "and serves")

# ----- at exit, a last look for the instance's own containers -----
# A create whose connection broke while the engine went on making the
# container can beat the removal by name that follows it: dcgid does not
# know the container.  Play that container: one with s2's instance label.
with open("/proc/%d/stat" % s2.proc.pid) as f:
    start = f.read().rsplit(")", 1)[1].split()[19]
unknown = docker("create", "--label", "dcgi.instance=%d:%s" % (s2.proc.pid, start),
                 "--label", "dcgi.route=/echo", "dcgi-test/busybox", "true")
t.ok(unknown in "\n".join(docker("ps", "-aq", "--no-trunc", "--filter",
                                 "label=dcgi.route").split()),
     "a container of s2's instance that s2 does not know of")
# A create a killed dcgid had sent can land after the next one's sweep at
# its start (a slow engine): a dead instance's container made only now.
late = docker("create", "--label", "dcgi.instance=" + killed_inst,
              "--label", "dcgi.route=/echo", "dcgi-test/busybox", "true")
t.is_(s2.stop(), 0, "clean exit")
t.ok(not containers("dcgi.route", idle=True) and
     not docker("ps", "-aq", "--filter", "id=" + unknown),
     "it is gone when dcgid has exited: the last look before exit removed it")
t.ok(late and not docker("ps", "-aq", "--filter", "id=" + late),
     "and so is the killed dcgid's container made after the start's sweep")
with open(os.path.join(s2.tmpdir, "error.log")) as f:
    lg = f.read()
    t.ok("still there at exit" in lg and "came after the sweep at the start" in lg,
         "and the log says so, for each")
t.ok(wait_until(lambda: not containers("dcgi.route", idle=True), 15),
     "no dcgi container left at all")
t.done()
