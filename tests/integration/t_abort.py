#!/usr/bin/env python3
"""The abort matrix: for every kind of route and every phase of a request,
a client that goes away, once with a FIN (close) and once with an RST
(SO_LINGER 0).  After each case dcgid is alive and answers the next
request correctly, and within GracePeriod no container of the case is left
(docker ps -a --filter label=dcgi.route=...); at the end dcgid exits 0
with no sanitizer report (make check under --enable-sanitizers: ASan and
UBSan abort the process on the first error).

Kinds: a fast CGI, a large streamed output (20 MiB), a slow CGI (a line
every 0.2 s), a POST with a body, a chunked request body, a prestarted
route, a cached route, a static file, and a TLS listener (a streamed
route and a static file over HTTPS).  Phases: mid request line, mid
headers, mid body, right after the request, after the response head,
after the first body byte, mid stream, idle keep-alive, pipelined
requests then close.  Also the crash of the issue: curl | head -c 1000,
and Go's TestCopyError (read the head and a little, then hang up: the
container must go).

The kinds run side by side (a thread each), their cases one after the
other, so that a case's containers are its own route's.  The containers
use Network host: a network namespace of their own would only make each
of the ~150 starts slower, and networking is not what is tested here.  Needs the image
dcgi-test/busybox and openssl (tests/setup.sh)."""

import os
import socket
import ssl
import struct
import subprocess
import threading
import time

from dcgitest import PRESTART, Server, Tap, idle_prestarted, wait_until, sanitizer_report, time_limit

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
GRACE = 15 * SLOW
OVERALL = 600 * SLOW

time_limit(OVERALL, "t_abort.py")

# A body that trickles: five lines, 0.15 s apart.
SLOWBODY = ("/bin/sh -c \"printf 'Content-Type: text/plain\\n\\n'; "
            "for i in 1 2 3 4 5; do echo line $i; sleep 0.15; done\"")
CACHED = ("/bin/sh -c \"printf 'Content-Type: application/octet-stream\\n\\n'; "
          "sleep 0.3; head -c 300000 /dev/zero\"")

CONF = """Listen 127.0.0.1:{port}
Listen 127.0.0.1:{tls_port} tls
TLSCertificateFile {tmp}/cert.pem
TLSCertificateKeyFile {tmp}/key.pem
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog off
GracePeriod %ds
MaxContainers 64
MaxContainersPerClient 0
MaxConnectionsPerClient 0
HeaderTimeout 5s
<Route /fast>
    Image dcgi-test/busybox
    Network host
    Command /cgi/status
    MaxConcurrent 32
</Route>
<Route /big>
    Image dcgi-test/busybox
    Network host
    Command /cgi/big
    MaxConcurrent 32
</Route>
<Route /tlsbig>
    Image dcgi-test/busybox
    Network host
    Command /cgi/big
    MaxConcurrent 32
</Route>
<Route /slow>
    Image dcgi-test/busybox
    Network host
    Command %s
    MaxConcurrent 32
</Route>
<Route /post>
    Image dcgi-test/busybox
    Network host
    Command /cgi/echo
    MaxConcurrent 32
</Route>
<Route /chunked>
    Image dcgi-test/busybox
    Network host
    Command /cgi/echo
    MaxConcurrent 32
</Route>
<Route /pre>
    Image dcgi-test/busybox
    Network host
    Command /cgi/big
    Prestart 2
    MaxConcurrent 32
</Route>
<Route /cached>
    Image dcgi-test/busybox
    Network host
    Command %s
    Cache 2s
    MaxConcurrent 32
</Route>
""" % (GRACE, SLOWBODY, CACHED)

BODY = b"b" * 100000


def docker(*args):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    return p.stdout


def left(route):
    """Containers of a route that are not idle prestarted ones."""
    ids = docker("ps", "-aq", "--filter", "label=dcgi.route=" + route).split()
    if ids and (route == "/pre" or PRESTART):
        idle = idle_prestarted(ids)
        ids = [i for i in ids if i not in idle]
    return ids


class Kind:
    def __init__(self, name, path, method="GET", body=None, chunked=False, tls=False,
                 streams=True, mid=70000):
        self.name, self.path, self.method = name, path, method
        self.mid = mid              # body bytes read before "mid stream"
        self.body, self.chunked, self.tls, self.streams = body, chunked, tls, streams
        # The route whose containers are counted (None: a static file).
        self.route = None if path.endswith(".bin") else path

    def head(self):
        h = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (self.method, self.path)
        if self.body is not None and self.chunked:
            h += "Transfer-Encoding: chunked\r\n"
        elif self.body is not None:
            h += "Content-Length: %d\r\n" % len(self.body)
        return (h + "\r\n").encode()

    def payload(self):
        if self.body is None:
            return b""
        if not self.chunked:
            return self.body
        out, b = b"", self.body
        while b:
            out += b"%x\r\n" % len(b[:7000]) + b[:7000] + b"\r\n"
            b = b[7000:]
        return out + b"0\r\n\r\n"

    def request(self):
        return self.head() + self.payload()


def connect(port, tls):
    s = socket.create_connection(("127.0.0.1", port), 10 * SLOW)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.settimeout(20 * SLOW)
    return s


def hang_up(s, rst):
    try:
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except OSError:
        pass


def read_until(s, pred, limit=64 << 20):
    got = b""
    while not pred(got) and len(got) < limit:
        try:
            c = s.recv(65536)
        except (socket.timeout, ConnectionError, ssl.SSLError):
            break
        if not c:
            break
        got += c
    return got


def read_response(s):
    """One whole response (Content-Length or chunked); the bytes, or b""."""
    got = read_until(s, lambda g: b"\r\n\r\n" in g)
    if b"\r\n\r\n" not in got:
        return b""
    head, rest = got.split(b"\r\n\r\n", 1)
    lower = head.lower()
    if b"content-length:" in lower:
        n = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        rest += read_until(s, lambda g: len(rest) + len(g) >= n)
        return head + b"\r\n\r\n" + rest
    if b"transfer-encoding: chunked" in lower:
        rest += read_until(s, lambda g: (rest + g).endswith(b"0\r\n\r\n"))
        return head + b"\r\n\r\n" + rest
    return head + b"\r\n\r\n" + rest


PHASES = ["request-line", "headers", "body", "after-request", "after-head", "first-byte",
          "mid-stream", "keep-alive", "pipelined"]


def run_case(srv, k, phase, rst):
    """One client that goes away at `phase`; False when the phase does not
    apply to the kind."""
    port = srv.tls_port if k.tls else srv.port
    if phase == "body" and k.body is None:
        return False
    if phase == "mid-stream" and not k.streams:
        return False
    s = connect(port, k.tls)
    try:
        if phase == "request-line":
            s.sendall(k.head()[:7])
            time.sleep(0.05)
        elif phase == "headers":
            h = k.head()
            s.sendall(h[:h.index(b"\r\n") + 2] + b"Host: localhost\r\nX-Half: ab")
            time.sleep(0.05)
        elif phase == "body":
            p = k.payload()
            s.sendall(k.head() + p[:len(p) // 2])
            time.sleep(0.05)
        elif phase == "after-request":
            s.sendall(k.request())
        elif phase == "after-head":
            s.sendall(k.request())
            read_until(s, lambda g: b"\r\n\r\n" in g)
        elif phase == "first-byte":
            s.sendall(k.request())
            read_until(s, lambda g: b"\r\n\r\n" in g and not g.endswith(b"\r\n\r\n"))
        elif phase == "mid-stream":
            s.sendall(k.request())
            read_until(s, lambda g: b"\r\n\r\n" in g and
                       len(g.split(b"\r\n\r\n", 1)[1]) >= k.mid)
        elif phase == "keep-alive":
            s.sendall(k.request())
            r = read_response(s)
            if not r.startswith(b"HTTP/1.1 20"):
                raise AssertionError("keep-alive: first answer %r" % r[:60])
            time.sleep(0.05)
        elif phase == "pipelined":
            s.sendall(k.request() * 3)
            read_until(s, lambda g: b"\r\n\r\n" in g)
    except (ConnectionError, ssl.SSLError, socket.timeout):
        pass                    # the server may have cut first: fine
    hang_up(s, rst)
    return True


def check_alive(srv, k, label):
    """dcgid runs and answers a request on the same listener."""
    if srv.proc.poll() is not None:
        return "dcgid exited with %s" % srv.proc.returncode
    port = srv.tls_port if k.tls else srv.port
    try:
        s = connect(port, k.tls)
        s.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = read_response(s)
        s.close()
    except OSError as e:
        return "next request failed: %s" % e
    if not r.startswith(b"HTTP/1.1 200") or not r.endswith(b"fine\n"):
        return "next request answered %r" % r[:80]
    return None


def kind_worker(srv, k, results):
    for phase in PHASES:
        for rst in (False, True):
            label = "%s, %s, %s" % (k.name, phase, "RST" if rst else "FIN")
            try:
                if not run_case(srv, k, phase, rst):
                    continue
                err = check_alive(srv, k, label)
                if err is None and k.route is not None:
                    if not wait_until(lambda: not left(k.route), GRACE, 0.25):
                        err = "containers left: %s" % " ".join(left(k.route))
            except Exception as e:      # a failure of the test itself
                err = "%s: %s" % (type(e).__name__, e)
            results.append((label, err))


def dechunk(body):
    out = b""
    while body:
        size, rest = body.split(b"\r\n", 1)
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out


def get_whole(srv, k):
    s = connect(srv.tls_port if k.tls else srv.port, k.tls)
    s.sendall(k.request())
    r = read_response(s)
    s.close()
    return r


srv = Server(CONF, start=False)
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", os.path.join(srv.tmpdir, "key.pem"), "-out",
                os.path.join(srv.tmpdir, "cert.pem"), "-days", "2", "-subj", "/CN=localhost"],
               check=True, capture_output=True)
with open(os.path.join(srv.root, "ok.txt"), "w") as f:
    f.write("fine\n")
with open(os.path.join(srv.root, "big.bin"), "wb") as f:
    f.write(os.urandom(1 << 20) * 8)
srv.start(30 * SLOW)

kinds = [
    Kind("fast CGI", "/fast", streams=False),
    Kind("large stream", "/big"),
    Kind("slow CGI", "/slow", mid=16),
    Kind("POST with a body", "/post", "POST", BODY),
    Kind("chunked request body", "/chunked", "POST", BODY, chunked=True),
    Kind("prestarted", "/pre"),
    Kind("cached", "/cached"),
    Kind("static file", "/big.bin"),
    Kind("TLS stream", "/tlsbig", tls=True),
    Kind("TLS static file", "/big.bin", tls=True),
]

# The crash of the issue, first and alone: curl | head -c 1000.
p = subprocess.run("curl -s http://127.0.0.1:%d/big | head -c 1000 | wc -c" % srv.port,
                   shell=True, capture_output=True, text=True, timeout=60)
t.is_(p.stdout.strip(), "1000", "curl | head -c 1000 got its 1000 bytes")
err = check_alive(srv, kinds[1], "curl | head")
t.ok(err is None, "dcgid is alive after curl | head -c 1000" + (": " + err if err else ""))
t.ok(wait_until(lambda: not left("/big"), GRACE, 0.25), "and its container is gone")

# Go's TestCopyError: the head and a little of a large body, then gone;
# the function must not run on.
s = connect(srv.port, False)
s.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
got = read_until(s, lambda g: len(g) > 3000)
s.close()
t.ok(got.startswith(b"HTTP/1.1 200"), "copy error: the response started")
t.ok(wait_until(lambda: not left("/big"), GRACE, 0.25),
     "copy error: the container is removed once the client has hung up")

if PRESTART == 0:
    wait_until(lambda: len(idle_prestarted(docker("ps", "-aq", "--filter",
                                                   "label=dcgi.route=/pre").split(), True)) >= 2,
               60 * SLOW, 0.25)

results = []
threads = [threading.Thread(target=kind_worker, args=(srv, k, results)) for k in kinds]
for th in threads:
    th.start()
for th in threads:
    th.join()
for label, err in sorted(results):
    t.ok(err is None, label)
    if err:
        t.diag(err)

# The whole matrix went by: every kind still answers in full.
for k in kinds:
    r = get_whole(srv, k)
    ok = r.startswith(b"HTTP/1.1 20")
    if k.body is not None:
        head, body = r.split(b"\r\n\r\n", 1)
        ok = ok and b"chunked" in head and dechunk(body).endswith(b"---\n" + BODY)
    t.ok(ok, "%s: a whole request afterwards is answered in full" % k.name)
    if not ok:
        t.diag(repr(r[:200]))

code = srv.stop(timeout=60 * SLOW)
t.is_(code, 0, "dcgid exits 0")
report = sanitizer_report(srv.errors())
t.ok(not report, "no sanitizer report")
for l in report[:20]:
    t.diag(l)
t.ok(all(not left(k.route) for k in kinds if k.route), "no container of any case is left")
t.done()
