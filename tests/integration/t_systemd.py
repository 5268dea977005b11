#!/usr/bin/env python3
"""Operation under systemd: the unit files (systemd-analyze verify and
security), `make install` (the tree, a kept httpd.conf, the installed dcgid
starting with the installed configuration), the man pages (mandoc -Tlint,
every directive documented with its default), and dcgid with this test
acting as systemd: NOTIFY_SOCKET (abstract and path), LISTEN_FDS sockets
(an address and a wildcard), WATCHDOG_USEC, the sequence READY, RELOADING,
READY, STOPPING; reloads under load without a failed request; a stop while
container requests run."""

import concurrent.futures
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dcgitest import (REPO, Server, Tap, free_port, raw, read_to_close, status_of,  # noqa: E402
                      wait_until, write_atomic)

t = Tap()
# Under valgrind (DCGI_WRAP) a server process needs about a second to start.
WSLOW = 6 if os.environ.get("DCGI_WRAP", "").strip() else 1
WORK = tempfile.mkdtemp(prefix="dcgitest.systemd.")
PFX = os.path.join(WORK, "prefix")
DEST = os.path.join(WORK, "dest")


def run(args, timeout=120, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout + p.stderr


def make_install(*args):
    # The outer make's jobserver is no business of this one.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return run(["make", "-s", "-C", REPO, "install", *args], env=env)


# ----- ./configure names the paths make install will use -----

cfg = os.path.join(WORK, "configure")
os.makedirs(cfg)
for f in ("configure", "Makefile.in"):
    shutil.copy(os.path.join(REPO, f), cfg)
for args, binary in ((["--prefix=/opt/dcgi"], "/opt/dcgi/sbin/dcgid"),
                     ([], "/usr/local/sbin/dcgid"),
                     (["--sbindir=/usr/sbin"], "/usr/sbin/dcgid")):
    rc, out = run(["sh", "configure", *args], cwd=cfg)
    if not t.ok(rc == 0 and re.search(r"^  binary: +%s$" % re.escape(binary), out, re.M),
                "./configure %s: its summary says binary: %s" % (" ".join(args), binary)):
        t.diag(out[-600:])

# ----- make install into a DESTDIR: the tree -----

rc, out = make_install("DESTDIR=" + DEST, "PREFIX=/usr/local")
files = sorted(os.path.relpath(os.path.join(d, f), DEST)
               for d, _, fs in os.walk(DEST) for f in fs)
want = ["usr/local/etc/dcgi/httpd.conf", "usr/local/etc/dcgi/mime.types",
        "usr/local/lib/systemd/system/dcgid.service",
        "usr/local/lib/systemd/system/dcgid.socket",
        "usr/local/lib/sysusers.d/dcgi.conf", "usr/local/sbin/dcgid",
        "usr/local/libexec/dcgi/dcgi-init",
        "usr/local/libexec/dcgi/dcgi-preload.py",
        "usr/local/share/man/man5/httpd.conf.5", "usr/local/share/man/man8/dcgid.8"]
site = sorted(os.path.relpath(os.path.join(d, f), os.path.join(REPO, "www"))
              for d, _, fs in os.walk(os.path.join(REPO, "www")) for f in fs)
want += ["usr/local/share/dcgi/www/" + f for f in site]
if not t.is_((rc, files), (0, sorted(want)), "make install DESTDIR=...: the expected tree, nothing else"):
    t.diag(out)
t.ok(all(not f.startswith("usr/local/etc/dcgi/tls") for f in files),
     "with DESTDIR no private key is made (a package must not carry one)")
conf = open(os.path.join(DEST, "usr/local/etc/dcgi/httpd.conf")).read()
t.ok(re.search(r"^DocumentRoot /usr/local/share/dcgi/www$", conf, re.M)
     and re.search(r"^MimeTypes\s+/usr/local/etc/dcgi/mime.types$", conf, re.M)
     and "TLSCertificateKeyFile /usr/local/etc/dcgi/tls/key.pem" in conf,
     "the installed httpd.conf names the installed paths")
unit = open(os.path.join(DEST, "usr/local/lib/systemd/system/dcgid.service")).read()
t.ok("ExecStart=/usr/local/sbin/dcgid -f /usr/local/etc/dcgi/httpd.conf" in unit and "@" not in
     unit.replace("man:", ""), "the installed unit names the installed binary and config")
st = os.stat(os.path.join(DEST, "usr/local/sbin/dcgid"))
t.ok(st.st_mode & 0o777 == 0o755, "the binary is 0755")
init = os.path.join(DEST, "usr/local/libexec/dcgi/dcgi-init")
rc, out = run(["ldd", init])
t.ok(os.stat(init).st_mode & 0o777 == 0o755 and "not a dynamic executable" in out,
     "dcgi-init is installed 0755 and statically linked (it runs in any image)")
with open(os.path.join(DEST, "usr/local/etc/dcgi/httpd.conf"), "a") as f:
    f.write("# edited by the operator\n")
rc, out = make_install("DESTDIR=" + DEST, "PREFIX=/usr/local")
t.ok(rc == 0 and open(os.path.join(DEST, "usr/local/etc/dcgi/httpd.conf")).read().endswith(
    "# edited by the operator\n"), "a second make install keeps the operator's httpd.conf")

# ----- the unit files -----

rc, out = make_install("PREFIX=" + PFX, "SYSUSERS=no")
t.is_(rc, 0, "make install PREFIX=... (no DESTDIR): %s" % out.strip().splitlines()[-1:])
units = [os.path.join(PFX, "lib/systemd/system", u) for u in ("dcgid.service", "dcgid.socket")]
rc, out = run(["systemd-analyze", "verify", "--man=no"] + units)
if not t.ok(rc == 0 and out.strip() == "", "systemd-analyze verify: both units are clean"):
    t.diag(out)
rc, out = run(["systemd-analyze", "security", "--offline=true", "--threshold=40", units[0]])
m = re.search(r"Overall exposure level for dcgid.service: ([\d.]+)", out)
if not t.ok(rc == 0 and m and float(m.group(1)) <= 4.0,
            "systemd-analyze security: exposure %s, at most 4.0" % (m and m.group(1))):
    t.diag(out[-1500:])
t.ok(re.search(r"^Type=notify$", unit, re.M) and re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", unit, re.M)
     and re.search(r"^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_SYS_CHROOT "
                   r"CAP_KILL$", unit, re.M)
     and not re.search(r"^(User|SupplementaryGroups)=", unit, re.M),
     "the unit: notify, reload by SIGHUP, the engine as root with only what privilege separation needs")
sysusers = open(os.path.join(REPO, "conf", "dcgid.sysusers")).read()
t.ok(re.search(r"^u dcgi ", sysusers, re.M) and not re.search(r"^m dcgi docker", sysusers, re.M),
     "sysusers: the user dcgi, in no docker group")

# ----- the man pages -----

for page in ("man/dcgid.8", "man/httpd.conf.5"):
    rc, out = run(["mandoc", "-Tlint", "-Wwarning", os.path.join(REPO, page)])
    if not t.ok(rc == 0 and out.strip() == "", "mandoc -Tlint -Wwarning %s: clean" % page):
        t.diag(out)
src = open(os.path.join(REPO, "httpd", "conf.c")).read()
table = src[src.index("directives[] = {"):]
table = table[:table.index("\n};")]
names = sorted(set(re.findall(r'\b(?:DIR|PATHDIR|NUMDIR|FLAGDIR)\("(\w+)"', table)))
page = open(os.path.join(REPO, "man", "httpd.conf.5")).read()
items = {}
for m in re.finditer(r"^\.It Ic <?(\w+)(.*?)(?=^\.It |^\.El|^\.Sh )", page, re.M | re.S):
    items.setdefault(m.group(1), m.group(2))
missing = [n for n in names if n not in items]
t.ok(len(names) > 40 and not missing, "httpd.conf(5) has an entry for each of the %d directives%s"
     % (len(names), " (missing: %s)" % " ".join(missing) if missing else ""))
nodefault = [n for n in names if n in items and not re.search(r"Default|Required|Repeatable", items[n])]
t.ok(not nodefault, "and each says its default (or that it is required or repeatable)%s"
     % (": not " + " ".join(nodefault) if nodefault else ""))
rc, out = run(["mandoc", "-Tutf8", os.path.join(PFX, "share/man/man8/dcgid.8")])
t.ok(rc == 0 and "NOTIFY_SOCKET" in out and "LISTEN_FDS" in out, "the installed dcgid(8) renders")

def get(port, host="127.0.0.1", path="/ok.txt"):
    try:
        return status_of(raw(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n", timeout=5, host=host))
    except OSError:
        return None


def tls_get(host, port, cafile, path="/ok.txt"):
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((host, port), 5) as s0, \
                ctx.wrap_socket(s0, server_hostname="localhost") as c:
            c.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
                      b"Connection: close\r\n\r\n")
            return status_of(read_to_close(c, 10))
    except (OSError, ssl.SSLError) as e:
        t.diag("TLS to %s:%d: %s" % (host, port, e))
        return None


# ----- the installed dcgid with the installed configuration -----

iconf = os.path.join(PFX, "etc/dcgi/httpd.conf")
ibin = os.path.join(PFX, "sbin/dcgid")
rc, out = run([ibin, "-t", "-f", iconf])
t.ok(rc == 0 and "Syntax OK" in out, "dcgid -t on the installed httpd.conf: Syntax OK")
hport, sport, rport = free_port(), free_port(), free_port()
text = open(iconf).read()
# What an operator would change: the ports, and here Redis (a closed port,
# so that this dcgid consumes nothing from a real Redis).
text = text.replace("Listen 127.0.0.1:8080", "Listen 127.0.0.1:%d" % hport)
text = text.replace("Listen 127.0.0.1:8443 tls", "Listen 127.0.0.1:%d tls" % sport)
text = re.sub(r"^Redis .*$", "Redis 127.0.0.1:%d" % rport, text, flags=re.M)
with open(iconf, "w") as f:
    f.write(text)
proc = subprocess.Popen([ibin, "-f", iconf], cwd="/", stdout=subprocess.DEVNULL,
                        stderr=open(os.path.join(WORK, "installed.stderr"), "wb"))
up = wait_until(lambda: get(hport, path="/") == 200 or proc.poll() is not None, 10)
home = open(os.path.join(REPO, "www", "index.html"), "rb").read()
r = raw(hport, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") if up else b""
t.ok(up and r.endswith(home), "the installed dcgid, started from /, serves the installed www/")
t.is_(tls_get("127.0.0.1", sport, os.path.join(PFX, "etc/dcgi/tls/cert.pem"), "/result/"), 200,
      "and HTTPS with the certificate make install made for localhost")


def prestarted_binds():
    p = subprocess.run(["docker", "ps", "-q", "--filter", "label=dcgi.route=/vote",
                        "--filter", "label=dcgi.request=prestarted"],
                       capture_output=True, text=True)
    ids = p.stdout.split()
    if not ids:
        return []
    p = subprocess.run(["docker", "inspect", "-f", "{{json .HostConfig.Binds}}", *ids],
                       capture_output=True, text=True)
    return p.stdout.split()


want_bind = '"%s:/.dcgi/init:ro"' % os.path.realpath(
    os.path.join(PFX, "libexec/dcgi/dcgi-init"))
t.ok(wait_until(lambda: any(want_bind in b for b in prestarted_binds()), 30),
     "its /vote route (Prestart 2) prestarts containers with the installed dcgi-init")
proc.send_signal(signal.SIGTERM)
t.is_(proc.wait(20), 0, "SIGTERM: exit 0")


# ----- dcgid with this test as systemd -----

class Notify:
    """A NOTIFY_SOCKET: abstract (@name) or a path."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "dcgitest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(WORK, "notify-%d.sock" % time.monotonic_ns())
            self.sock.bind(self.env)
        self.msgs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._recv, daemon=True).start()

    def _recv(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode(errors="replace")))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def states(self):
        """READY/RELOADING/STOPPING in the order they came."""
        out = []
        for _, m in self.all():
            for line in m.split("\n"):
                if line in ("READY=1", "RELOADING=1", "STOPPING=1"):
                    out.append(line.split("=")[0])
        return out

    def count(self, what):
        return sum(1 for _, m in self.all() if what in m.split("\n"))


def listening(addr, port, family=socket.AF_INET, dual=False):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
    s.bind((addr, port))
    s.listen(128)
    return s


def spawn(srv, socks, env, listen_pid=True):
    """Start srv's dcgid as systemd would: socks as descriptors 3, 4, ...,
    LISTEN_PID set to dcgid's own pid (sh execs it: the pid stays)."""
    fds = [s.fileno() for s in socks]

    def child():
        high = [os.dup2(fd, 100 + i) for i, fd in enumerate(fds)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
            os.close(fd)

    e = dict(os.environ)
    e.update(env)
    if socks:
        e["LISTEN_FDS"] = str(len(socks))
    script = 'LISTEN_PID=$$ exec "$0" "$@"' if listen_pid else 'LISTEN_PID=1 exec "$0" "$@"'
    cmd = ["/bin/sh", "-c", script] + srv.command("-f", srv.conf)
    with open(srv.stdout, "wb") as out, open(srv.stderr, "wb") as err:
        srv.proc = subprocess.Popen(cmd, cwd=srv.tmpdir, env=e, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, preexec_fn=child, close_fds=False)
    return srv.proc


CERT = os.path.join(PFX, "etc/dcgi/tls/cert.pem")
KEY = os.path.join(PFX, "etc/dcgi/tls/key.pem")
BASE = ("DocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\nAccessLog off\n"
        "ErrorLog {tmp}/error.log\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n" % (CERT, KEY))

p1, p2 = free_port(), free_port()
a = listening("127.0.0.1", p1)
b = listening("::", p2, socket.AF_INET6, dual=True)
srv = Server("Listen 127.0.0.1:%d\nListen %d tls\n" % (p1, p2) + BASE, start=False)
with open(os.path.join(srv.root, "ok.txt"), "w") as f:
    f.write("ok\n")
n = Notify(abstract=True)
proc = spawn(srv, [a, b], {"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "600000"})
t.ok(wait_until(lambda: "READY" in n.states() or proc.poll() is not None, 15) and proc.poll() is None,
     "READY=1 over an abstract NOTIFY_SOCKET")
t.is_(get(p1), 200, "once READY, the socket passed for 127.0.0.1 serves")
t.is_(tls_get("::1", p2, CERT), 200, "and the wildcard one speaks TLS (its Listen says tls), on ::1")
t.is_(tls_get("127.0.0.1", p2, CERT), 200, "the dual-stack socket takes IPv4 too")
elog = lambda: open(os.path.join(srv.tmpdir, "error.log")).read()  # noqa: E731
t.ok(elog().count("(from systemd)") == 2, "the log says both listeners came from systemd")
first = n.all()[0][1].split("\n") if n.all() else []
t.ok("MAINPID=%d" % proc.pid in first and any(l.startswith("STATUS=") and "server process" in l
                                              for l in first),
     "READY carries MAINPID and a STATUS summary: %r" % first)
t0 = time.monotonic()
t.ok(wait_until(lambda: n.count("WATCHDOG=1") >= 3, 3),
     "WATCHDOG=1 at half of WATCHDOG_USEC=600ms (%d in %.1fs)" % (n.count("WATCHDOG=1"), time.monotonic() - t0))

# STATUS= counts the engine's server processes and its containers.
held = socket.create_connection(("127.0.0.1", p1), 5)
held.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
held.recv(4096)
t.ok(wait_until(lambda: any("STATUS=1 server process, 0 containers running" in m for _, m in n.all()), 5),
     "STATUS= says 1 server process, 0 containers running")
held.close()

# Reloads under load: several SIGHUPs while clients fetch, none fails.
stop = threading.Event()
results = []
rlock = threading.Lock()


def client(port):
    while not stop.is_set():
        st = get(port)
        with rlock:
            results.append(st)


conf0 = open(srv.conf).read()
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
    futs = [ex.submit(client, p) for p in (p1, p1, p1, p1)]
    for i in range(6):
        time.sleep(0.4)
        # (whole: a reload that came during another runs once that one is
        # done, and each server process reads httpd.conf again)
        write_atomic(srv.conf, conf0 + "KeepAliveRequests %d\n" % (100 + i))
        proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    stop.set()
    for f in futs:
        f.result()
bad = [r for r in results if r != 200]
t.ok(len(results) > 100 and not bad, "6 reloads during %d requests on the passed socket: %d failed"
     % (len(results), len(bad)))
# Reloads are taken one at a time, each done when its server process is
# ready: about a second each under valgrind.
t.ok(wait_until(lambda: elog().count("configuration reloaded") >= 6, 5 * WSLOW),
     "all 6 reloads took effect")
t.is_(get(p1), 200, "the passed socket still serves after the reloads")
seq = n.states()
t.is_(seq[:3], ["READY", "RELOADING", "READY"], "the sequence starts READY, RELOADING, READY")
t.is_(seq.count("RELOADING"), 6, "one RELOADING=1 per SIGHUP")
rel = [m for _, m in n.all() if "RELOADING=1" in m.split("\n")]
t.ok(rel and all(re.search(r"^MONOTONIC_USEC=\d+$", m, re.M) for m in rel),
     "RELOADING=1 carries MONOTONIC_USEC")
# The same address, now with tls: the passed socket is kept and speaks TLS.
write_atomic(srv.conf, conf0.replace("Listen 127.0.0.1:%d\n" % p1, "Listen 127.0.0.1:%d tls\n" % p1))
proc.send_signal(signal.SIGHUP)
t.ok(wait_until(lambda: tls_get("127.0.0.1", p1, CERT) == 200, 5 * WSLOW),
     "a reload that adds tls to the passed socket's Listen: the same socket speaks HTTPS")
write_atomic(srv.conf, conf0)
proc.send_signal(signal.SIGHUP)
t.ok(wait_until(lambda: get(p1) == 200, 5 * WSLOW), "and plain HTTP again after the next")
t.ok(wait_until(lambda: n.states().count("READY") >= 9, 5 * WSLOW), "READY=1 after each")
# A broken configuration: RELOADING, then READY again, with the old one kept.
write_atomic(srv.conf, conf0 + "Bogus 1\n")
proc.send_signal(signal.SIGHUP)
t.ok(wait_until(lambda: n.states().count("READY") >= 10, 5 * WSLOW) and
     any("reload failed" in m for _, m in n.all()),
     "a broken reload: READY=1 again, and STATUS says the old configuration stays")
t.is_(get(p1), 200, "still serving")
proc.send_signal(signal.SIGTERM)
code = proc.wait(20)
srv.proc = None
wait_until(lambda: "STOPPING" in n.states(), 2)     # the reader thread may lag
seq = n.states()
t.ok(seq and seq[-1] == "STOPPING" and seq.count("STOPPING") == 1, "SIGTERM: STOPPING=1, last")
t.is_(code, 0, "exit 0")
t.ok(seq[:3] == ["READY", "RELOADING", "READY"] and seq[-1] == "STOPPING",
     "the whole sequence: READY -> RELOADING -> READY ... -> STOPPING")

# Path NOTIFY_SOCKET; WATCHDOG_PID of another process means no watchdog.
n2 = Notify(abstract=False)
write_atomic(srv.conf, conf0.replace("Listen %d tls\n" % p2, ""))
proc = spawn(srv, [a], {"NOTIFY_SOCKET": n2.env, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
t.ok(wait_until(lambda: "READY" in n2.states() or proc.poll() is not None, 15) and proc.poll() is None,
     "READY=1 over a NOTIFY_SOCKET path")
time.sleep(0.6)
t.is_(n2.count("WATCHDOG=1"), 0, "WATCHDOG_PID of another process: no WATCHDOG=1")
proc.send_signal(signal.SIGTERM)
t.is_(proc.wait(20), 0, "exit 0")
srv.proc = None
a.close()
b.close()

# A passed socket that matches no Listen: a clear error, exit 1.
c = listening("127.0.0.1", free_port())
proc = spawn(srv, [c], {})
try:
    code = proc.wait(15)
except subprocess.TimeoutExpired:
    proc.kill()
    code = None
srv.proc = None
err = open(srv.stderr).read()
t.ok(code == 1 and re.search(r"systemd passed on 127\.0\.0\.1:\d+ \(descriptor 3\) matches no Listen", err),
     "a passed socket that matches no Listen: exit 1, the log names it (%s)" % err.strip().splitlines()[-1:])
# LISTEN_PID of another process: the sockets are not ours; dcgid binds itself.
proc = spawn(srv, [c], {}, listen_pid=False)
up = wait_until(lambda: get(p1) == 200 or proc.poll() is not None, 10)
t.ok(up and proc.poll() is None and "(from systemd)" not in elog().split("started")[-1],
     "LISTEN_PID of another process: the descriptors are ignored")
proc.send_signal(signal.SIGTERM)
proc.wait(20)
srv.proc = None
c.close()

# ----- a stop while container requests run -----

code, out = run(["docker", "image", "inspect", "dcgi-test/busybox"], timeout=30)
if code != 0:
    t.ok(False, "the test image dcgi-test/busybox exists (tests/images/build.sh)")
else:
    st = Server("Listen 127.0.0.1:{port}\nGracePeriod 6s\n" + BASE +
                "<Route /slow>\n    Image dcgi-test/busybox\n"
                "    Command /bin/sh -c \"sleep 3; printf 'Content-Type: text/plain\\\\n\\\\nslept\\\\n'\"\n"
                "</Route>\n<Route /sleep>\n    Image dcgi-test/busybox\n    Command /cgi/sleep\n"
                "    Timeout 60s\n</Route>\n")
    mine = lambda: run(["docker", "ps", "-aq", "--filter", "label=dcgi.route"])[1].split()  # noqa: E731

    def fetch(path):
        return raw(st.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        slow = [ex.submit(fetch, b"/slow") for _ in range(3)]
        long = ex.submit(fetch, b"/sleep")
        running = wait_until(lambda: len(mine()) >= 4, 20)
        t0 = time.monotonic()
        code = st.stop(timeout=30)
        took = time.monotonic() - t0
        answers = [f.result() for f in slow]
        longr = long.result()
    t.ok(running, "4 containers running when SIGTERM comes")
    # chunked: the function sends no Content-Length
    if not t.ok(all(status_of(r) == 200 and r.endswith(b"slept\n\r\n0\r\n\r\n") for r in answers),
                "the 3 requests in flight complete with their answers"):
        t.diag(repr(answers))
    t.ok(status_of(longr) in (None, 503, 504) and took < 6 + 10,
         "the one longer than GracePeriod 6s is cut at the grace period (%.1fs)" % took)
    t.is_(code, 0, "exit 0")
    t.ok(wait_until(lambda: mine() == [], 10), "no container is left (docker ps -a)")

shutil.rmtree(WORK, ignore_errors=True)
t.done()
