#!/usr/bin/env python3
"""The command line and the life of the process: -t, -v, refusing a bad
config, SIGHUP reload (listeners added and removed, a broken config keeps
the old one), SIGTERM draining an in-flight response, the error log."""

import os
import re
import signal
import socket
import subprocess
import time

from dcgitest import Server, Tap, free_port, raw, status_of, wait_until

t = Tap()

BASE = "DocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\nAccessLog off\nErrorLog {tmp}/error.log\n"


def get(port, path="/ok.txt"):
    try:
        return raw(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   timeout=3)
    except OSError:
        return b""


def slow_client(port):
    """A connection with a small receive window (set before the handshake,
    so that it is negotiated), for responses that cannot fit in buffers."""
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.settimeout(10)
    c.connect(("127.0.0.1", port))
    return c


def wait_for(cond, timeout=5):
    return wait_until(cond, timeout, 0.05)


# -t and -v
s = Server("Listen 127.0.0.1:{port}\n" + BASE, start=False)
p = subprocess.run(s.command("-t", "-f", s.conf), capture_output=True, text=True, cwd=s.tmpdir)
t.is_((p.returncode, p.stdout.strip()), (0, "Syntax OK"), "-t on a good config: Syntax OK")
p = subprocess.run(s.command("-v"), capture_output=True, text=True)
t.ok(p.returncode == 0 and re.match(r"dcgid \d+\.\d+\.\d+", p.stdout), "-v prints the version")
p = subprocess.run(s.command("-x"), capture_output=True, text=True)
t.ok(p.returncode != 0 and "usage" in p.stderr, "an unknown option prints usage")

bad = os.path.join(s.tmpdir, "bad.conf")
with open(bad, "w") as f:
    f.write("Listen 127.0.0.1:%d\nDocumentRoot www\nImgae foo\nMaxBody lots\n<Route /x>\n"
            "Timeout 5q\n</Route>\n" % free_port())
p = subprocess.run(s.command("-t", "-f", bad), capture_output=True, text=True, cwd=s.tmpdir)
t.is_(p.returncode, 1, "-t on a bad config exits 1")
errs = [l for l in p.stderr.splitlines() if l.startswith(bad + ":")]
t.ok(any(l.startswith(bad + ":3:") for l in errs), "unknown directive reported with its line")
t.ok(any(l.startswith(bad + ":4:") for l in errs), "bad size reported with its line")
t.ok(any(l.startswith(bad + ":6:") for l in errs), "bad duration in a route reported with its line")
t.ok(len(errs) >= 4, "every error is reported, not just the first (%d)" % len(errs))
p = subprocess.run(s.command("-f", bad), capture_output=True, text=True, cwd=s.tmpdir, timeout=10)
t.ok(p.returncode != 0 and bad + ":3:" in p.stderr, "the server refuses to start with the same messages")
p = subprocess.run(s.command("-f", os.path.join(s.tmpdir, "nope.conf")), capture_output=True,
                   text=True, cwd=s.tmpdir, timeout=10)
t.ok(p.returncode != 0 and "nope.conf" in p.stderr, "a missing config file is named")

# A port already in use is a clear error, not a hang.
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen()
with open(bad, "w") as f:
    f.write("Listen 127.0.0.1:%d\n" % busy.getsockname()[1] + BASE.replace("{root}", s.root)
            .replace("{repo}", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
            .replace("{tmp}", s.tmpdir).replace("ErrorLog " + s.tmpdir + "/error.log\n", ""))
p = subprocess.run(s.command("-f", bad), capture_output=True, text=True, cwd=s.tmpdir, timeout=10)
t.ok(p.returncode != 0 and "Address already in use" in p.stderr, "port in use: named in the error")
busy.close()

# Reload.
s = Server("Listen 127.0.0.1:{port}\n" + BASE)
with open(os.path.join(s.root, "ok.txt"), "w") as f:
    f.write("ok\n")
t.is_(status_of(get(s.port)), 200, "serving before reload")
port2 = free_port()
good_conf = open(s.conf).read()
with open(s.conf, "w") as f:
    f.write(good_conf + "Listen 127.0.0.1:%d\n" % port2)
s.proc.send_signal(signal.SIGHUP)
t.ok(wait_for(lambda: status_of(get(port2)) == 200), "SIGHUP: a new listener answers")
t.is_(status_of(get(s.port)), 200, "the old listener still answers")

# A keep-alive connection opened before a reload keeps working across it.
ka = socket.create_connection(("127.0.0.1", s.port), 5)
ka.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
first = ka.recv(4096)

with open(s.conf, "w") as f:
    f.write(good_conf.replace("Listen 127.0.0.1:%d" % s.port, "Listen 127.0.0.1:%d" % port2))
s.proc.send_signal(signal.SIGHUP)
t.ok(wait_for(lambda: get(s.port) == b""), "SIGHUP: a removed listener stops answering")
t.is_(status_of(get(port2)), 200, "the kept listener still answers")
ka.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
second = b""
while True:
    chunk = ka.recv(4096)
    if not chunk:
        break
    second += chunk
ka.close()
t.ok(status_of(first) == 200 and status_of(second) == 200,
     "a keep-alive connection survives the reload")

# A new DocumentRoot: the same path now comes from the new tree (no file
# kept open from the old one is served).
root2 = os.path.join(s.tmpdir, "www2")
os.makedirs(root2)
with open(os.path.join(root2, "ok.txt"), "w") as f:
    f.write("new root\n")
with open(s.conf, "w") as f:
    f.write(good_conf.replace("Listen 127.0.0.1:%d" % s.port, "Listen 127.0.0.1:%d" % port2)
            .replace("DocumentRoot " + s.root, "DocumentRoot " + root2))
s.proc.send_signal(signal.SIGHUP)
t.ok(wait_for(lambda: get(port2).endswith(b"new root\n")),
     "SIGHUP with a new DocumentRoot: the same path is served from the new tree")
with open(s.conf, "w") as f:
    f.write(good_conf.replace("Listen 127.0.0.1:%d" % s.port, "Listen 127.0.0.1:%d" % port2))
s.proc.send_signal(signal.SIGHUP)
t.ok(wait_for(lambda: get(port2).endswith(b"ok\n")), "and back to the first tree")

with open(s.conf, "w") as f:
    f.write("Listen 127.0.0.1:%d\nBogusDirective 1\n" % port2)
s.proc.send_signal(signal.SIGHUP)
time.sleep(0.5)
t.is_(status_of(get(port2)), 200, "a broken config on reload: still serving")
t.ok(s.proc.poll() is None, "and still running")
with open(os.path.join(s.tmpdir, "error.log")) as f:
    elog = f.read()
t.ok(re.search(r"httpd\.conf:2: .*BogusDirective", elog), "the reload error names file and line")
t.ok("keeping the old configuration" in elog, "the log says the old configuration stays")
t.ok(re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info) ", elog, re.M),
     "error log lines carry time and level")

# SIGTERM while a large response is being read slowly: it completes.
with open(os.path.join(s.root, "big"), "wb") as f:
    f.write(b"q" * (16 << 20))
c = slow_client(port2)
c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
data = c.recv(1000)
s.proc.send_signal(signal.SIGTERM)
time.sleep(0.3)
t.ok(get(port2) == b"", "after SIGTERM no new connection is accepted")
while True:
    chunk = c.recv(1 << 16)
    if not chunk:
        break
    data += chunk
c.close()
body = data.partition(b"\r\n\r\n")[2]
t.is_(len(body), 16 << 20, "the in-flight response was completed")
t.is_(s.stop(), 0, "exit status 0 after draining")

# The grace period bounds a drain that does not finish.
s = Server("Listen 127.0.0.1:{port}\nGracePeriod 1s\n" + BASE)
with open(os.path.join(s.root, "big"), "wb") as f:
    f.write(b"q" * (16 << 20))
c = slow_client(s.port)
c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
c.recv(100)
t0 = time.monotonic()
s.proc.send_signal(signal.SIGTERM)
code = s.stop(timeout=20)
t.ok(time.monotonic() - t0 < 10, "a stalled client does not hold the stop beyond the grace period")
t.is_(code, 0, "exit 0")
c.close()

# A function that runs on after its complete response (its Content-Length
# all sent) is waited for during GracePeriod, then killed and removed.
s = Server("Listen 127.0.0.1:{port}\nGracePeriod 2s\n" + BASE +
           "<Route /linger>\n    Image dcgi-test/busybox\n    Command /cgi/linger\n"
           "    Env LINGER=120\n    Timeout 300s\n</Route>\n")
r = raw(s.port, b"GET /linger HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=60)
t.ok(r.startswith(b"HTTP/1.1 200") and r.endswith(b"hello"), "/linger: its complete response")
ids = lambda: subprocess.run(["docker", "ps", "-aq", "--filter", "label=dcgi.route=/linger"],  # noqa: E731
                             capture_output=True, text=True).stdout.split()
t.ok(len(ids()) == 1, "and its function runs on")
t0 = time.monotonic()
code = s.stop(timeout=60)
t.ok(code == 0 and time.monotonic() - t0 < 20,
     "SIGTERM: dcgid exits 0 after GracePeriod 2s, not at the function's Timeout 300s "
     "(%.1f s)" % (time.monotonic() - t0))
t.ok(wait_for(lambda: not ids(), 15), "its container is gone")
with open(os.path.join(s.tmpdir, "error.log")) as f:
    t.ok("GracePeriod over: killing container" in f.read(), "and the log says so")

# Prestart on a route whose image is not there: the log says so once, naming
# the route, and requests take the cold path (502 for the missing image).
s = Server("Listen 127.0.0.1:{port}\n" + BASE +
           "<Route /p>\n    Image dcgi-test/no-such-image\n    Prestart 2\n</Route>\n")
warn = lambda: [l for l in open(os.path.join(s.tmpdir, "error.log")).read().splitlines()  # noqa: E731
                if "<Route /p>: cannot prestart: image dcgi-test/no-such-image" in l]
t.ok(wait_for(lambda: len(warn()) == 1), "Prestart with a missing image: a warning names the route")
t.is_(status_of(raw(s.port, b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    timeout=20)), 502, "and a request gets 502 from the cold path")
time.sleep(6)
t.is_(len(warn()), 1, "the warning is not repeated at each look at the image (5 s)")
t.is_(s.stop(), 0, "exit 0")
t.done()
