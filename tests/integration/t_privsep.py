#!/usr/bin/env python3
"""Privilege separation (docs/privsep.md): the processes that serve the
listening sockets run as User (dcgi), in none of the docker group, with
no descriptor on the Docker socket but the attach streams of their own
requests, and cannot open or connect to it (tried from within the process
with gdb); a server process killed mid-request is replaced, its container
removed, nothing leaked; a server process exits with its engine; SIGHUP
starts a new server process and the old one drains; PrivilegeSeparation
off runs one process."""

import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import threading
import time

from dcgitest import Server, Tap, raw, status_of, time_limit, wait_until

t = Tap()
time_limit(600, "t_privsep")

if os.geteuid() != 0:
    t.skip_all("privilege separation needs root")
try:
    DCGI = pwd.getpwnam("dcgi")
except KeyError:
    DCGI = None
if DCGI is None:
    t.skip_all("no user dcgi (tests/setup.sh makes it)")
try:
    DOCKER_GID = grp.getgrnam("docker").gr_gid
except KeyError:
    DOCKER_GID = None

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
GracePeriod 5s
<Route /hello>
    Image dcgi-test/busybox
    Command /bin/sh -c "printf 'Content-Type: text/plain\\\\n\\\\nhello\\\\n'"
</Route>
<Route /slow>
    Image dcgi-test/busybox
    Command /bin/sh -c "sleep 30; printf 'Content-Type: text/plain\\\\n\\\\nslow\\\\n'"
    Timeout 60s
</Route>
"""


def get(port, path):
    try:
        return raw(port, ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode(),
                   timeout=20)
    except OSError:
        return b""


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def socket_inodes(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


def tcp_inodes(port, state):
    """Inodes of TCP sockets with local port `port` in `state` (0A LISTEN,
    01 ESTABLISHED)."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                a = line.split()
                if int(a[1].split(":")[1], 16) == port and a[3] == state:
                    out.add(int(a[9]))
    return out


def holders(inodes):
    pids = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if socket_inodes(int(p)) & inodes:
                    pids.add(int(p))
            except OSError:
                pass
    return pids


def docker_peers():
    """Inodes of the client ends of connections to the Docker socket: the
    engine's accepted ends have the socket's path, their peers are ours."""
    out = subprocess.run(["ss", "-xanH"], capture_output=True, text=True).stdout
    peers = set()
    for line in out.splitlines():
        a = line.split()
        # Netid State Recv-Q Send-Q Local Port Peer Port
        if len(a) >= 8 and a[4].endswith("docker.sock"):
            try:
                peers.add(int(a[7]))
            except ValueError:
                pass
    return peers


def gdb_call(pid, exprs):
    """Evaluate each C expression inside process pid (it stops for the
    moment); the values and errno after each, as [(value, errno)]."""
    cmd = ["gdb", "-p", str(pid), "-batch", "-nx"]
    for e in exprs:
        cmd += ["-ex", "print (int)(%s)" % e, "-ex", "print *(int *)__errno_location()"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    vals = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)", out, re.M)]
    return list(zip(vals[0::2], vals[1::2])), out


def docker_ids(label):
    p = subprocess.run(["docker", "ps", "-aq", "--filter", "label=" + label],
                       capture_output=True, text=True)
    return p.stdout.split()


srv = Server(CONF)
with open(os.path.join(srv.root, "ok.txt"), "w") as f:
    f.write("ok\n")
engine = srv.proc.pid
errlog = os.path.join(srv.tmpdir, "error.log")
readlog = lambda: open(errlog, errors="replace").read()  # noqa: E731
t.ok(wait_until(lambda: "ready" in readlog(), 15), "a server process said it is ready")
t.ok(status_of(get(srv.port, "/ok.txt")) == 200, "a static file is served")
t.ok(status_of(get(srv.port, "/hello")) == 200, "a container route is served")

servers = children(engine)
t.is_(len(servers), 1, "the engine has one child, the server process")
server = servers[0] if servers else -1

# ----- who holds what -----

listen = tcp_inodes(srv.port, "0A")
held = holders(listen)
t.ok(server in held and held <= {engine, server},
     "the listening socket is held by the engine (to pass on) and its server process: %s" % held)
st = status(server)
uids = [int(x) for x in st["Uid"]]
gids = [int(x) for x in st["Gid"]]
groups = [int(x) for x in st.get("Groups", [])]
t.ok(uids == [DCGI.pw_uid] * 4 and gids == [DCGI.pw_gid] * 4,
     "the server process runs as dcgi (uid %s, gid %s)" % (uids, gids))
t.ok(DOCKER_GID is None or DOCKER_GID not in groups and DOCKER_GID not in gids,
     "and is in no docker group (groups %s)" % groups)
t.ok(st["CapEff"] == ["0000000000000000"] and st["NoNewPrivs"] == ["1"] and st["Seccomp"] == ["2"],
     "no capabilities, no new privileges, a seccomp filter (%s %s %s)"
     % (st["CapEff"], st["NoNewPrivs"], st["Seccomp"]))
est = status(engine)
t.ok(est["Uid"][0] == "0", "the engine runs as root (it holds the Docker socket)")

# A client connection lives in the server process, never in the engine.
c = socket.create_connection(("127.0.0.1", srv.port), 5)
c.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
c.recv(4096)
mine = c.getsockname()[1]
conn = set()
for name in ("/proc/net/tcp",):
    with open(name) as f:
        next(f)
        for line in f:
            a = line.split()
            if int(a[1].split(":")[1], 16) == srv.port and int(a[2].split(":")[1], 16) == mine:
                conn.add(int(a[9]))
t.is_(holders(conn), {server}, "the accepted connection is the server process's alone")
c.close()

# The Docker socket: idle, not a descriptor of it; mid-request, the
# request's attach stream only (an upgraded connection: raw stdin/stdout
# of that one container, not the API).
peers = docker_peers()
t.ok(not (socket_inodes(server) & peers), "idle: the server process has no connection to docker.sock")
answers = {}
th = threading.Thread(target=lambda: answers.setdefault("slow", get(srv.port, "/slow")))
th.start()
t.ok(wait_until(lambda: docker_ids("dcgi.route=/slow"), 30), "a /slow container runs")
t.ok(wait_until(lambda: socket_inodes(server) & docker_peers(), 10),
     "mid-request the server process holds the attach stream it was given")
t.is_(len(socket_inodes(server) & docker_peers()), 1, "exactly one: its request's")

# From within: gdb makes the server process itself try.
res, out = gdb_call(server, ['socket(1, 1, 0)', 'socket(2, 1, 0)',
                             'open("/var/run/docker.sock", 2)', 'open("%s", 0)' % srv.conf,
                             'open("/etc/shadow", 0)'])
if not t.is_(len(res), 5, "gdb ran five calls inside the server process"):
    t.diag(out[-2000:])
res += [(None, None)] * (5 - len(res))
t.ok(res[0] == (-1, 1) and res[1] == (-1, 1),
     "socket(AF_UNIX) and socket(AF_INET) fail with EPERM: no connection to docker.sock or Redis (%s)"
     % res[:2])
t.ok(res[2][0] == -1, "open(/var/run/docker.sock) fails (errno %s)" % res[2][1])
t.ok(res[3][0] == -1 and res[4][0] == -1,
     "the engine's files are out of reach: httpd.conf, /etc/shadow (errno %s, %s)" % (res[3][1], res[4][1]))
t.ok(srv.proc.poll() is None and status_of(get(srv.port, "/ok.txt")) == 200, "and it still serves")

# ----- a server process killed mid-request -----

fds_before = len(os.listdir("/proc/%d/fd" % engine))
os.kill(server, signal.SIGKILL)
th.join(30)
t.ok(not th.is_alive() and status_of(answers.get("slow", b"")) is None,
     "the client of the killed process sees its connection close")
t.ok(wait_until(lambda: not docker_ids("dcgi.route=/slow"), 15, 0.2),
     "its running container is removed")
t.ok(wait_until(lambda: len(children(engine)) == 1 and children(engine)[0] != server, 10),
     "the engine started a new server process")
new = children(engine)[0] if children(engine) else -1
t.ok(wait_until(lambda: "server process %d ready" % new in readlog(), 10), "which is ready")
t.is_(status_of(get(srv.port, "/hello")), 200, "the next request is served")
t.ok("server process %d killed by signal 9" % server in readlog() and
     "server process %d gone: removing its 1 container" % server in readlog(),
     "the engine logged the death and the removal")
t.ok(wait_until(lambda: len(os.listdir("/proc/%d/fd" % engine)) <= fds_before, 10),
     "the engine holds no more descriptors than before (%d, was %d)"
     % (len(os.listdir("/proc/%d/fd" % engine)), fds_before))

# ----- a server process that breaks its channel, or loses it -----


def chan_fd(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    return int(env[b"DCGID_ENGINE_FD"])


def next_server(old):
    t.ok(wait_until(lambda: children(engine) and children(engine)[0] != old and
                    "server process %d ready" % children(engine)[0] in readlog(), 15),
         "the engine started a new server process, which is ready")
    return children(engine)[0] if children(engine) else -1


res, out = gdb_call(new, ['write(%d, "xx", 2)' % chan_fd(new)])
t.ok(wait_until(lambda: "server process %d: its channel broke (a malformed message): "
                        "killing it" % new in readlog(), 10),
     "a packet shorter than a header: the engine kills the server process at once")
t.ok(wait_until(lambda: "server process %d killed by signal 9" % new in readlog(), 10),
     "and it is gone")
new = next_server(new)
t.is_(status_of(get(srv.port, "/hello")), 200, "the next request is served")
# Its channel shut while gdb holds it stopped for 8 s: it cannot exit by
# itself, so the engine must kill it (5 s after the loss).
fd = chan_fd(new)
subprocess.run(["gdb", "-p", str(new), "-batch", "-nx", "-ex",
                "print (int)shutdown(%d, 2)" % fd, "-ex", "shell sleep 8"],
               capture_output=True, text=True, timeout=120)
t.ok("server process %d still running without its channel: SIGKILL" % new in readlog(),
     "a server process that lost its channel and does not exit is killed")
new = next_server(new)
t.is_(status_of(get(srv.port, "/hello")), 200, "the next request is served")

# ----- SIGHUP: a new server process, the old one drains -----

conf = open(srv.conf).read()
with open(srv.conf, "w") as f:
    f.write(conf.replace("hello\\\\n", "hello again\\\\n"))
os.kill(engine, signal.SIGHUP)
t.ok(wait_until(lambda: "server process %d exited" % new in readlog(), 15),
     "SIGHUP: the old server process exits once the new one is ready")
t.ok(get(srv.port, "/hello").endswith(b"hello again\n\r\n0\r\n\r\n") or
     b"hello again" in get(srv.port, "/hello"), "and the new configuration serves")
cur = children(engine)
with open(srv.conf, "w") as f:
    f.write(conf + "\nBogusDirective 1\n")
os.kill(engine, signal.SIGHUP)
t.ok(wait_until(lambda: "keeping the old configuration" in readlog(), 10),
     "a broken config is refused")
time.sleep(0.5)
t.is_(children(engine), cur, "and the server process stays as it was")
t.is_(status_of(get(srv.port, "/ok.txt")), 200, "still serving")
with open(srv.conf, "w") as f:
    f.write(conf)

# ----- the engine dies: its server process follows -----

srv.stop()
t.ok(not docker_ids("dcgi.route=/slow") and not docker_ids("dcgi.route=/hello"),
     "after the stop no container is left")
srv2 = Server(CONF)
t.ok(wait_until(lambda: children(srv2.proc.pid), 10), "a second dcgid has its server process")
kid = children(srv2.proc.pid)[0] if children(srv2.proc.pid) else -1
srv2.proc.kill()
srv2.proc.wait()
t.ok(wait_until(lambda: not os.path.exists("/proc/%d" % kid) or
                status(kid).get("State", ["Z"])[0] == "Z", 5),
     "SIGKILL to the engine: its server process exits too")
srv2.proc = None

# ----- a shell's usual open-file limit (1024) -----

lim = Server(CONF, start=False)
with open(os.path.join(lim.root, "ok.txt"), "w") as f:
    f.write("ok\n")
with open(lim.stdout, "wb") as out, open(lim.stderr, "wb") as err:
    lim.proc = subprocess.Popen(["prlimit", "--nofile=1024:1024"] + lim.command("-f", lim.conf),
                                cwd=lim.tmpdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
limlog = os.path.join(lim.tmpdir, "error.log")
t.ok(wait_until(lambda: os.path.exists(limlog) and " ready" in open(limlog).read(), 15),
     "with RLIMIT_NOFILE 1024 the server process starts and is ready")
t.is_(status_of(get(lim.port, "/ok.txt")), 200, "and serves")
# The server process at its limit when a container's stream comes: that
# request gets 503, the process lives on, the engine removes the container.
limsrv = children(lim.proc.pid)[0] if children(lim.proc.pid) else -1
c = socket.create_connection(("127.0.0.1", lim.port), 10)
c.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
c.recv(4096)                                # accepted, kept alive
script = os.path.join(lim.tmpdir, "fill.gdb")
with open(script, "w") as f:
    f.write("set $n = 0\nset $first = -1\nset $last = -1\n"
            "while $n < 1100\n  set $fd = (int)dup(0)\n  if $fd < 0\n    loop_break\n"
            "  end\n  if $first < 0\n    set $first = $fd\n  end\n  set $last = $fd\n"
            "  set $n = $n + 1\nend\nprint $first\nprint $last\n")
out = subprocess.run(["gdb", "-p", str(limsrv), "-batch", "-nx", "-x", script],
                     capture_output=True, text=True, timeout=300).stdout
got = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)", out, re.M)]
t.ok(len(got) == 2 and got[0] > 0 and got[1] >= 1000,
     "gdb filled the server process's descriptor table (%s)" % got)
c.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
c.settimeout(60)
resp = b""
try:
    while True:
        b = c.recv(65536)
        if not b:
            break
        resp += b
except OSError:
    pass
c.close()
t.ok(status_of(resp) == 503 and b"Retry-After" in resp,
     "a grant whose descriptor does not fit: that request gets 503 (%r)" % resp[:60])
t.ok(children(lim.proc.pid) == [limsrv], "and the server process lives on")
t.ok(wait_until(lambda: not docker_ids("dcgi.route=/hello"), 15),
     "the engine removed the container it could not hand over")
if len(got) == 2:
    gdb_call(limsrv, ["close_range(%d, %d, 0)" % (got[0], got[1])])
t.is_(status_of(get(lim.port, "/hello")), 200, "with descriptors free again, it is served")
lim.stop()

# ----- PrivilegeSeparation off; a User that does not exist -----

srv3 = Server(CONF + "PrivilegeSeparation off\n")
t.is_(status_of(get(srv3.port, "/hello")), 200, "PrivilegeSeparation off serves")
t.is_(children(srv3.proc.pid), [], "in one process")
srv3.stop()

bad = Server(CONF + "User nosuchuser-dcgi\n", start=False)
p = subprocess.run(bad.command("-t", "-f", bad.conf), capture_output=True, text=True)
t.ok(p.returncode == 1 and "User nosuchuser-dcgi: no such user" in p.stderr and "useradd" in p.stderr,
     "-t: a User that does not exist is named, with how to make it: %s" % p.stderr.strip())
rootconf = Server(CONF + "User root\n", start=False)
p = subprocess.run(rootconf.command("-t", "-f", rootconf.conf), capture_output=True, text=True)
t.ok(p.returncode == 1 and "User root" in p.stderr and "httpd.conf:" in p.stderr,
     "User root is refused with file and line: %s" % p.stderr.strip())

t.done()
