#!/usr/bin/env python3
"""`Network isolated` and `Runtime`.

- A route with `Network isolated` runs its containers, cold and
  prestarted, in one network namespace with only loopback, held by a
  container of the route's own (label dcgi.holder, not dcgi.route): every
  request of the route sees the same namespace, a `none` route gets a new
  one per request, and another isolated route has its own.
- The holder killed from outside is made again, and the route serves on;
  a reload that takes `isolated` away removes it; so does the stop.
- `Network isolated` in a <Queue> is a config error with file and line.
- `Runtime runc` (the engine's default runtime, named) runs the container
  with it (docker inspect); `Runtime` of a name the engine does not know is
  a 502 whose log line gives the engine's own words.

Needs the image dcgi-test/busybox and dcgi-init (built by make)."""

import json
import os
import re
import signal
import subprocess
import threading

from dcgitest import Server, Tap, raw, wait_until, time_limit

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(300 * SLOW, "t_isolated.py")

NETNS = ("/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; "
         "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '\"")

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
<Route /iso>
    Image dcgi-test/busybox
    Command %(netns)s
    Network isolated
</Route>
<Route /iso2>
    Image dcgi-test/busybox
    Command %(netns)s
    Network isolated
</Route>
<Route /pre>
    Image dcgi-test/busybox
    Command %(netns)s
    Network isolated
    Prestart 2
</Route>
<Route /none>
    Image dcgi-test/busybox
    Command %(netns_slow)s
</Route>
<Route /runc>
    Image dcgi-test/busybox
    Command /bin/sh -c "printf 'Content-Type: text/plain\\\\n\\\\n'; sleep 1; echo ran"
    Runtime runc
</Route>
<Route /nosuch>
    Image dcgi-test/busybox
    Command /cgi/status
    Runtime no-such-runtime
</Route>
""" % {"netns": NETNS, "netns_slow": NETNS.replace("; tail", "; sleep 2; tail")}


def docker(*args):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return p.stdout.strip()


def holders(route=None):
    label = "dcgi.holder" if route is None else "dcgi.holder=" + route
    return docker("ps", "-aq", "--no-trunc", "--filter", "label=" + label).split()


def get(port, path, timeout=60 * SLOW):
    """(status, body) of a GET; (None, b"") when it failed."""
    try:
        data = raw(port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % path.encode(), timeout)
    except OSError:
        return None, b""
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return (int(m.group(1)) if m else None), body


def netns(port, path):
    """(status, the namespace, the interfaces) of one request."""
    st, body = get(port, path)
    lines = body.decode(errors="replace").split()
    ns = [l for l in lines if l.startswith("net:[")]
    return st, ns[0] if ns else None, [l for l in lines if not l.startswith("net:[")]


srv = Server(CONF)
errlog = os.path.join(srv.tmpdir, "error.log")


def log():
    with open(errlog, errors="replace") as f:
        return f.read()


# ----- one namespace per route ---------------------------------------------------
a = [netns(srv.port, "/iso") for _ in range(3)]
t.ok(all(st == 200 for st, _, _ in a), "Network isolated: three requests, 200 each")
t.ok(a[0][1] is not None and all(ns == a[0][1] for _, ns, _ in a),
     "they all ran in one network namespace (%s)" % [ns for _, ns, _ in a])
t.is_(a[0][2], ["lo"], "with only loopback in it")
h = holders("/iso")
t.is_(len(h), 1, "one holder container, labelled dcgi.holder=/iso")
info = json.loads(docker("inspect", h[0]))[0] if h else {}
t.is_((info.get("HostConfig") or {}).get("NetworkMode"), "none",
      "the holder has network none (its own namespace)")
t.ok("dcgi.route" not in ((info.get("Config") or {}).get("Labels") or {}),
     "and no dcgi.route label: it is none of the route's containers")
b = netns(srv.port, "/iso2")
t.ok(b[0] == 200 and b[1] is not None and b[1] != a[0][1],
     "another isolated route has a namespace of its own")
# Two at once (a namespace's number is reused once it is gone).
both = {}
ths = [threading.Thread(target=lambda k=k: both.__setitem__(k, netns(srv.port, "/none")))
       for k in (1, 2)]
for th in ths:
    th.start()
for th in ths:
    th.join(120 * SLOW)
n1, n2 = both.get(1, (None, None, [])), both.get(2, (None, None, []))
t.ok(n1[1] and n2[1] and n1[1] != n2[1] and a[0][1] not in (n1[1], n2[1]),
     "Network none: a namespace of its own per request, as before (%s, %s)" % (n1[1], n2[1]))

# ----- prestarted containers join it too -------------------------------------------
t.ok(wait_until(lambda: "/pre 2/2" in log(), 60 * SLOW, 0.25), "Prestart 2 with isolated: the pool fills")
p = [netns(srv.port, "/pre") for _ in range(2)]
t.ok(all(st == 200 for st, _, _ in p) and p[0][1] is not None and p[0][1] == p[1][1],
     "prestarted requests share the route's namespace")
ph = holders("/pre")
t.ok(len(ph) == 1 and ph[0] not in h, "the prestarted route has its own holder")

# ----- a holder that dies is made again --------------------------------------------
docker("rm", "-f", h[0])
t.ok(wait_until(lambda: "network holder %s exited; making a new one" % h[0][:12] in log(),
                30 * SLOW, 0.2),
     "the holder killed from outside: dcgid sees it and says so")
t.ok(wait_until(lambda: len(holders("/iso")) == 1 and holders("/iso")[0] != h[0], 30 * SLOW, 0.2),
     "and a new holder is there")
c = netns(srv.port, "/iso")
# The new holder's namespace, from its process (the old one's number may
# have been given to it: a namespace's number is reused once it is gone).
nh = holders("/iso")
pid = docker("inspect", "-f", "{{.State.Pid}}", nh[0]).strip() if nh else ""
try:
    hns = os.readlink("/proc/%s/ns/net" % pid)
except OSError:
    hns = None
t.ok(c[0] == 200 and c[1] is not None and c[1] == hns and c[2] == ["lo"],
     "the route serves on, in the new holder's namespace (%r, holder's %s)" % (c, hns))

# ----- Runtime ------------------------------------------------------------------------
seen = {}


def fetch_runc():
    seen["r"] = get(srv.port, "/runc")


th = threading.Thread(target=fetch_runc)
th.start()
running = []
t.ok(wait_until(lambda: running.extend(docker("ps", "-q", "--no-trunc", "--filter",
                                              "label=dcgi.route=/runc").split()) or running,
                30 * SLOW, 0.1), "Runtime runc: its container runs")
rt = json.loads(docker("inspect", running[0]))[0] if running else {}
t.is_((rt.get("HostConfig") or {}).get("Runtime"), "runc", "with HostConfig.Runtime runc")
th.join(60 * SLOW)
t.is_(seen.get("r", (None, b""))[1], b"ran\n", "and answers")
st, _ = get(srv.port, "/nosuch")
t.is_(st, 502, "Runtime no-such-runtime: 502")
t.ok(re.search(r"/nosuch.*no-such-runtime", log()),
     "the log says why, in the engine's words (%s)" %
     [l for l in log().splitlines() if "/nosuch" in l][-1:])

# ----- a reload that takes isolated away; the stop ----------------------------------
with open(srv.conf) as f:
    text = f.read()
with open(srv.conf, "w") as f:
    f.write(text.replace("<Route /iso2>\n    Image dcgi-test/busybox\n    Command %s\n"
                         "    Network isolated\n" % NETNS,
                         "<Route /iso2>\n    Image dcgi-test/busybox\n    Command %s\n" % NETNS))
srv.proc.send_signal(signal.SIGHUP)
t.ok(wait_until(lambda: not holders("/iso2"), 30 * SLOW, 0.2),
     "a reload that makes /iso2 not isolated removes its holder")
t.ok("the route is no longer isolated" in log(), "and says why")
t.ok(len(holders("/iso")) == 1, "the other routes keep theirs")
t.is_(srv.stop(timeout=60 * SLOW), 0, "clean exit")
t.ok(wait_until(lambda: not holders() and not docker(
    "ps", "-aq", "--filter", "label=dcgi.route"), 15 * SLOW, 0.2),
     "no holder and no container left after the stop")

# ----- config -----------------------------------------------------------------------
bad = Server("Listen 127.0.0.1:{port}\n<Queue q>\n    Image x\n    Network isolated\n</Queue>\n",
             start=False)
p = subprocess.run(bad.command("-t", "-f", bad.conf), capture_output=True, text=True)
t.ok(p.returncode == 1 and re.search(r"httpd\.conf:4: Network isolated: only in a <Route>",
                                     p.stdout + p.stderr),
     "Network isolated in a <Queue>: an error with file and line (%r)" % (p.stdout + p.stderr)[:200])
t.done()
