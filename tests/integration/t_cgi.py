#!/usr/bin/env python3
"""Container routes: each request to a <Route> runs a fresh container of the
test images (tests/images/build.sh) as a CGI/1.1 program.  The CGI
environment, request bodies (Content-Length and chunked), the response
header block (Status, Location local and absolute, Content-Length, bad or
missing headers), streaming a large body in bounded memory, stderr to the
error log with the request id, timeouts, client aborts, MaxConcurrent,
Server-Timing, a missing image, an unreachable engine, and that no
container is left behind.

Needs a Docker engine (.ci/run starts one): without it the test fails.
The docker CLI is used only to look at state (docker ps), never to run."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from dcgitest import (PRESTART, Server, Tap, idle_prestarted, pools_full, raw, rss_kib, status_of,
                      wait_until as wait_for)

t = Tap()

# A hang anywhere fails the test rather than blocking CI.
OVERALL = 600


def on_alarm(signum, frame):
    raise TimeoutError("t_cgi.py ran for more than %ds" % OVERALL)


signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(OVERALL)

WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 3 if WRAPPED else 1          # valgrind: allow more time

BUSYBOX_ROUTES = ["echo", "status", "local-redirect", "client-redirect", "big",
                  "length", "stderr", "crash", "noheaders", "badheader",
                  "hugeheader", "nocontenttype", "hostname", "slowbody", "linger"]

CONF = """Listen 127.0.0.1:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
AccessLog {tmp}/access.log
ErrorLog {tmp}/error.log
"""
for name in BUSYBOX_ROUTES:
    CONF += "<Route /%s>\n    Image dcgi-test/busybox\n    Command /cgi/%s\n" % (name, name)
    if name == "echo":
        CONF += "    Env GREETING=hello\n"
    if name == "linger":
        CONF += "    Env LINGER=%d\n" % (8 * SLOW)
    CONF += "</Route>\n"
CONF += """<Route /sleep>
    Image dcgi-test/busybox
    Command /cgi/sleep
    Timeout 2s
</Route>
<Route /one>
    Image dcgi-test/busybox
    Command /cgi/sleep
    MaxConcurrent 1
    Timeout 20s
</Route>
<Route /perl>
    Image dcgi-test/perl
</Route>
<Route /missing>
    Image dcgi-test/no-such-image
</Route>
<Route /dir/>
    Image dcgi-test/busybox
    Command /cgi/echo
</Route>
"""


# --- helpers -------------------------------------------------------------------

def docker(*args, timeout=30):
    """Run the docker CLI (for looking at state only); (exit code, stdout)."""
    try:
        p = subprocess.run(["docker", *args], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return p.returncode, p.stdout


def containers(route=None, idle=False):
    """IDs of the containers (running or not) dcgid labelled for route
    (any route when None); None when docker ps itself failed.  Prestarted
    ones that still wait for a request count only with idle=True."""
    label = "dcgi.route" if route is None else "dcgi.route=" + route
    code, out = docker("ps", "-aq", "--filter", "label=" + label)
    if code != 0:
        return None
    ids = out.split()
    if PRESTART and not idle:
        waiting = idle_prestarted(ids)
        ids = [i for i in ids if i not in waiting]
    return ids


def dechunk(data):
    """Decode a chunked body: (payload, complete)."""
    out = []
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            return b"".join(out), False
        size = data[i:j].split(b";", 1)[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            return b"".join(out), False
        i = j + 2
        if n == 0:
            return b"".join(out), data.find(b"\r\n\r\n", j) >= 0 or data[i:i + 2] == b"\r\n"
        if len(data) < i + n + 2:
            out.append(data[i:i + n])
            return b"".join(out), False
        out.append(data[i:i + n])
        i += n + 2


class Response:
    def __init__(self, data, head_only=False, elapsed=0.0):
        self.raw = data
        self.elapsed = elapsed
        self.status = status_of(data)
        head, sep, rest = data.partition(b"\r\n\r\n")
        self.complete_head = bool(sep)
        self.headers = []
        for line in head.decode("latin-1").split("\r\n")[1:]:
            k, _, v = line.partition(":")
            self.headers.append((k.strip().lower(), v.strip()))
        self.chunked = "chunked" in self.get("transfer-encoding", "").lower()
        self.raw_body = rest
        if head_only:
            self.body = rest
        elif self.chunked:
            self.body, self.complete = dechunk(rest)
        else:
            self.body = rest

    def get(self, name, default=None):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return default

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return repr(self.raw[:600])


def read_response(sock, timeout):
    """One response with a Content-Length from a kept connection: a
    Response, or None when it did not come whole within timeout seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if m and len(rest) >= int(m.group(1)):
                return Response(data)
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got = sock.recv(65536)
        except OSError:
            return None
        if not got:
            return None
        data += got
    return None


def request(port, method, target, headers=(), body=b"", timeout=20, chunks=None,
            host=None):
    """One request on a new connection (Connection: close): a Response.
    chunks: send the body with Transfer-Encoding: chunked, one chunk each."""
    lines = ["%s %s HTTP/1.1" % (method, target),
             "Host: %s" % (host or "localhost:%d" % port)]
    lines += ["%s: %s" % h for h in headers]
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    elif body:
        lines.append("Content-Length: %d" % len(body))
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    start = time.monotonic()
    try:
        got = raw(port, data, timeout=timeout * SLOW)
    except OSError as e:
        t.diag("%s %s: %s" % (method, target, e))
        got = b""
    return Response(got, head_only=(method == "HEAD"), elapsed=time.monotonic() - start)


def cgi_env(resp):
    """The environment /cgi/echo printed: (dict, request body it read)."""
    env_part, _, body = resp.body.partition(b"\n---\n")
    env = {}
    for line in env_part.decode("latin-1").split("\n"):
        if "=" in line:
            k, _, v = line.partition("=")
            env[k] = v
    return env, body


def uses_asan(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def read_file(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# Responses a container produced, for the Server-Timing check at the end.
timed = []


def container_response(name, resp):
    timed.append((name, resp))
    return resp


# --- preconditions: an engine and the test images ------------------------------

code, out = docker("info", "--format", "{{.ServerVersion}}")
if not t.ok(code == 0 and out.strip(), "a Docker engine answers (docker info)"):
    t.diag("no Docker engine: start dockerd (.ci/run does) and build the images "
           "with sh tests/images/build.sh")
    t.done()
missing = [i for i in ("dcgi-test/busybox", "dcgi-test/perl")
           if docker("image", "inspect", i)[0] != 0]
if not t.ok(not missing, "the test images exist"):
    t.diag("missing %s: run sh tests/images/build.sh" % ", ".join(missing))
    t.done()

s = Server(CONF, start=False)
p = subprocess.run(s.command("-t", "-f", s.conf), capture_output=True, text=True,
                   cwd=s.tmpdir, timeout=30 * SLOW)
t.is_((p.returncode, p.stdout.strip()), (0, "Syntax OK"), "the config with routes is valid")
p = subprocess.run(s.command("-v"), capture_output=True, text=True, timeout=30 * SLOW)
m = re.search(r"dcgid (\S+)", p.stdout)
version = m.group(1) if m else "?"

with open(os.path.join(s.root, "static.txt"), "w") as f:
    f.write("static file\n")
errlog = os.path.join(s.tmpdir, "error.log")
acclog = os.path.join(s.tmpdir, "access.log")

try:
    s.start(timeout=30 * SLOW)
    port = s.port
    if PRESTART:
        # Every route but /missing fills its pool before the first request,
        # so that the checks below run on prestarted containers.
        routes = ["/" + n for n in BUSYBOX_ROUTES] + ["/sleep", "/one", "/perl"]
        t.ok(wait_for(lambda: pools_full(errlog, routes, PRESTART), 90 * SLOW, 0.5),
             "Prestart %d: every route's pool is full (the log says so)" % PRESTART)

    # --- the CGI environment ------------------------------------------------------

    r = container_response("GET /echo/a/b", request(
        port, "GET", "/echo/a/b?x=1&y=2", [("User-Agent", "dcgitest/1")]))
    t.is_(r.status, 200, "GET /echo/a/b?x=1&y=2: 200")
    t.ok((r.get("content-type") or "").startswith("text/plain"),
         "the script's Content-Type: text/plain")
    env, _ = cgi_env(r)
    want = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/echo",
        "PATH_INFO": "/a/b",
        "QUERY_STRING": "x=1&y=2",
        "REQUEST_URI": "/echo/a/b?x=1&y=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "dcgid/" + version,
        "SERVER_PORT": str(port),
        "SERVER_NAME": "localhost",
        "REMOTE_ADDR": "127.0.0.1",
        "GREETING": "hello",
        "HTTP_HOST": "localhost:%d" % port,
        "HTTP_USER_AGENT": "dcgitest/1",
    }
    for k, v in want.items():
        t.is_(env.get(k), v, "%s=%s" % (k, v))
    t.ok(re.fullmatch(r"[0-9]+", env.get("REMOTE_PORT", "")), "REMOTE_PORT is a number")
    t.ok("HTTPS" not in env, "no HTTPS on a plain listener")
    t.ok("CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0"),
         "no CONTENT_LENGTH for a GET without a body")
    if t.failed:
        t.diag("environment: %r" % env)

    r = container_response("GET /echo (headers)", request(port, "GET", "/echo", [
        ("Proxy", "evil"), ("Cookie", "a=1"), ("Cookie", "b=2"),
        ("X-Multi", "one"), ("X-Multi", "two"), ("X_Under", "1")]))
    t.is_(r.status, 200, "GET /echo with repeated and odd headers: 200")
    env, _ = cgi_env(r)
    t.ok("HTTP_PROXY" not in env, "no HTTP_PROXY from a Proxy header (httpoxy)")
    t.is_(env.get("HTTP_COOKIE"), "a=1; b=2", "two Cookie headers joined with '; '")
    t.is_(env.get("HTTP_X_MULTI"), "one, two", "two X-Multi headers joined with ', '")
    t.ok("HTTP_X_UNDER" not in env, "a header with an underscore in its name is not passed")
    t.is_(env.get("PATH_INFO"), "", "GET /echo: PATH_INFO set, and empty")
    t.is_(env.get("SCRIPT_NAME"), "/echo", "GET /echo: SCRIPT_NAME=/echo")
    t.is_(env.get("QUERY_STRING"), "", "GET /echo: QUERY_STRING empty")

    # <Route /dir/>: a prefix with a trailing slash, mounted as nginx and
    # Go's cgi host mount it.
    for path, info in (("/dir/", "/"), ("/dir/a/b", "/a/b")):
        r = container_response("GET " + path, request(port, "GET", path + "?q=1", []))
        env, _ = cgi_env(r)
        t.ok(r.status == 200 and env.get("SCRIPT_NAME") == "/dir" and
             env.get("PATH_INFO") == info and env.get("QUERY_STRING") == "q=1",
             "<Route /dir/>: GET %s: 200, SCRIPT_NAME=/dir, PATH_INFO=%s" % (path, info))
        if r.status != 200 or env.get("PATH_INFO") != info:
            t.diag("%r %r" % (r.status, env))
    resp = raw(port, b"GET /dir?q=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    t.ok(status_of(resp) == 301 and b"\r\nLocation: /dir/?q=1\r\n" in resp,
         "<Route /dir/>: GET /dir answers 301 to /dir/?q=1")
    t.ok(status_of(raw(port, b"GET /dirx HTTP/1.1\r\nHost: localhost\r\n\r\n")) == 404,
         "<Route /dir/> does not take /dirx")

    # --- request bodies -----------------------------------------------------------

    r = container_response("POST /echo", request(
        port, "POST", "/echo", [("Content-Type", "application/x-www-form-urlencoded")],
        body=b"a=1&b=2"))
    t.is_(r.status, 200, "POST /echo: 200")
    env, body = cgi_env(r)
    t.is_(body, b"a=1&b=2", "POST /echo: the script read the request body from stdin")
    t.is_(env.get("REQUEST_METHOD"), "POST", "REQUEST_METHOD=POST")
    t.is_(env.get("CONTENT_LENGTH"), "7", "CONTENT_LENGTH=7")
    t.is_(env.get("CONTENT_TYPE"), "application/x-www-form-urlencoded", "CONTENT_TYPE set")
    t.ok("HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env,
         "no HTTP_CONTENT_LENGTH or HTTP_CONTENT_TYPE")

    chunks = [b"first-", b"second-", b"third"]
    r = container_response("POST /echo (chunked)", request(
        port, "POST", "/echo", [("Content-Type", "text/plain")], chunks=chunks))
    t.is_(r.status, 200, "chunked POST /echo: 200")
    env, body = cgi_env(r)
    t.is_(body, b"".join(chunks), "chunked POST: the de-chunked body on stdin")
    t.is_(env.get("CONTENT_LENGTH"), str(len(b"".join(chunks))),
          "chunked POST: CONTENT_LENGTH is the total")
    t.ok("HTTP_TRANSFER_ENCODING" not in env, "no HTTP_TRANSFER_ENCODING")

    # --- the CGI response ---------------------------------------------------------

    r = container_response("GET /status", request(port, "GET", "/status"))
    t.is_(r.status, 201, "Status: 201 from the script")
    t.is_(r.get("x-custom"), "yes", "the script's X-Custom header passes through")
    t.is_(r.body, b"created", "/status body")
    st = r.get("server-timing") or ""
    t.ok("create" in st and "start" in st,
         "Server-Timing names create and start (%s)" % st)

    r = request(port, "HEAD", "/status")
    t.is_(r.status, 201, "HEAD /status: 201")
    t.ok(r.complete_head and r.raw_body == b"", "HEAD /status: headers only, no body")

    r = request(port, "GET", "/local-redirect")
    t.is_((r.status, r.body), (200, b"static file\n"),
          "Location: /static.txt is an internal redirect to the static file")

    r = container_response("GET /client-redirect", request(port, "GET", "/client-redirect"))
    t.is_(r.status, 302, "Location: http://... gives 302")
    t.is_(r.get("location"), "http://example.org/elsewhere", "with the script's Location")

    r = container_response("GET /length", request(port, "GET", "/length"))
    t.is_((r.status, r.get("content-length"), r.body), (200, "5", b"hello"),
          "the script's Content-Length: 5 and its body")
    t.ok(not r.chunked, "no chunked encoding with the script's Content-Length")

    # --- the response ends at its Content-Length, not at the function's exit ---------
    # /linger sends all of its Content-Length: 5 and then sleeps 8 s: the
    # response is complete at once, the connection stays open for the next
    # request, and the container runs on (its slot held) until it exits.
    with socket.create_connection(("127.0.0.1", port), 60) as c:
        t0 = time.monotonic()
        c.sendall(b"GET /linger HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(c, 30)
        took = time.monotonic() - t0
        t.ok(first is not None and first.status == 200 and first.body == b"hello" and
             not first.chunked and took < 7 * SLOW,
             "/linger: its Content-Length: 5 ends the response while the function still "
             "runs (%.1f s, the function takes %d s)" % (took, 8 * SLOW))
        c.sendall(b"GET /length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = read_response(c, 30)
        t.ok(second is not None and second.status == 200 and second.body == b"hello",
             "the connection is kept: a second request on it is answered")
    t.ok(len(containers("/linger")) == 1,
         "the /linger container still runs after its response (it is not cut off)")

    # --- a 20 MiB body, streamed in bounded memory ---------------------------------

    BIG = 20 * 1024 * 1024
    pid = s.proc.pid
    asan = uses_asan(pid)
    base = rss_kib(pid) or 0
    peak = base
    got = bytearray()
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.settimeout(30 * SLOW)
    try:
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /big HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        deadline = time.monotonic() + 120 * SLOW
        while time.monotonic() < deadline:
            chunk = c.recv(65536)
            if not chunk:
                break
            got += chunk
            # read slowly, so that a server that does not stream would
            # have to hold the body
            time.sleep(0.004)
            now = rss_kib(pid)
            if now:
                peak = max(peak, now)
    except OSError as e:
        t.diag("GET /big: %s" % e)
    finally:
        c.close()
    r = container_response("GET /big", Response(bytes(got)))
    del got
    t.is_(r.status, 200, "GET /big: 200")
    t.ok(r.chunked, "GET /big (HTTP/1.1, no Content-Length): Transfer-Encoding: chunked")
    t.is_(len(r.body), BIG, "GET /big: exactly 20 MiB of body")
    t.ok(r.body.count(0) == len(r.body), "GET /big: the bytes are the script's (zeros)")
    r = None
    t.diag("dcgid VmRSS while streaming /big: %d KiB before, %d KiB at most%s"
           % (base, peak, " (ASan)" if asan else " (wrapped)" if WRAPPED else ""))
    if WRAPPED or asan:
        # valgrind and ASan have their own overhead (ASan's quarantine keeps
        # freed buffers): only the growth counts.
        t.ok(peak - base < 64 * 1024, "VmRSS grew by less than 64 MiB while streaming")
    else:
        t.ok(peak < 64 * 1024, "VmRSS stayed under 64 MiB while streaming 20 MiB")
        t.ok(peak - base < 16 * 1024, "VmRSS grew by less than 16 MiB (the body is not held)")

    # --- stderr to the error log ---------------------------------------------------

    r = container_response("GET /stderr", request(port, "GET", "/stderr"))
    t.is_(r.status, 200, "GET /stderr: 200")

    def stderr_lines():
        text = read_file(errlog)
        return ([l for l in text.splitlines() if "first error line" in l],
                [l for l in text.splitlines() if "second error line" in l])

    wait_for(lambda: all(stderr_lines()), 5 * SLOW)
    first, second = stderr_lines()
    reqids = set()
    for what, lines in (("first", first), ("second", second)):
        ok = False
        for line in lines:
            m = re.search(r"\[req ([0-9a-f]{16})\]", line)
            if m and "/stderr" in line:
                reqids.add(m.group(1))
                ok = True
        if not t.ok(ok, "the %s stderr line is in the error log with [req ID] and /stderr"
                    % what):
            t.diag("error log lines: %r" % lines)
    t.ok(len(reqids) == 1, "both stderr lines carry the same request id")
    if len(reqids) == 1:
        rid = reqids.pop()
        wait_for(lambda: rid in read_file(acclog), 5 * SLOW)
        t.ok(any("/stderr" in l and rid in l for l in read_file(acclog).splitlines()),
             "the access log line for /stderr has the same request id")

    # --- what makes a 502 -----------------------------------------------------------

    for path, why in (("/crash", "exits 1 with no output"),
                      ("/noheaders", "no header block"),
                      ("/badheader", "a line that is not a header"),
                      ("/hugeheader", "a 100 KiB header line"),
                      ("/nocontenttype", "no Content-Type, Location or Status"),
                      ("/missing", "the image does not exist")):
        r = request(port, "GET", path)
        t.is_(r.status, 502, "%s (%s): 502" % (path, why))
    t.ok(re.search(r"/crash: the function exited \(exit status 1\) without any output",
                   read_file(errlog)),
         "cold or prestarted, the container runs dcgi-init, whose END frame gives the "
         "exit status for the log")
    wait_for(lambda: "dcgi-test/no-such-image" in read_file(errlog), 5 * SLOW)
    t.ok("dcgi-test/no-such-image" in read_file(errlog),
         "the error log names the missing image")

    # --- Timeout: 504, and the container is gone -------------------------------------

    r = request(port, "GET", "/sleep", timeout=15)
    t.is_(r.status, 504, "/sleep beyond its Timeout 2s: 504")
    t.ok(1.5 <= r.elapsed <= 6.5 * SLOW, "504 after about 2 s (%.2f s)" % r.elapsed)
    t.ok(wait_for(lambda: containers("/sleep") == [], 10),
         "no /sleep container remains after the timeout")

    # --- the client goes away ---------------------------------------------------------

    c = socket.create_connection(("127.0.0.1", port), 10 * SLOW)
    c.settimeout(10 * SLOW)
    first_bytes = b""
    try:
        c.sendall(b"GET /slowbody HTTP/1.1\r\nHost: localhost\r\n\r\n")
        while b"line 1" not in first_bytes:
            chunk = c.recv(4096)
            if not chunk:
                break
            first_bytes += chunk
    except OSError as e:
        t.diag("GET /slowbody: %s" % e)
    finally:
        c.close()
    t.ok(status_of(first_bytes) == 200 and b"line 1" in first_bytes,
         "/slowbody: the first lines arrive as they are written")
    t.ok(wait_for(lambda: containers("/slowbody") == [], 10),
         "client closed mid-body: no /slowbody container remains")

    # --- MaxConcurrent 1: a second request gets 503 + Retry-After ----------------------

    holder = socket.create_connection(("127.0.0.1", port), 10 * SLOW)
    try:
        holder.sendall(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n")
        running = wait_for(lambda: bool(containers("/one")), 10 * SLOW)
        t.ok(running, "a /one container runs, labelled dcgi.route=/one")
        if running:
            code, out = docker("inspect", "-f", '{{ index .Config.Labels "dcgi.instance" }}',
                               containers("/one")[0])
            t.ok(code == 0 and out.strip(), "it has a dcgi.instance label")
        r = request(port, "GET", "/one", timeout=15)
        t.is_(r.status, 503, "a second /one request while the first holds the slot: 503")
        t.ok(r.get("retry-after") is not None, "the 503 has Retry-After")
        t.ok(r.elapsed < 10 * SLOW, "and comes within a few seconds (%.2f s)" % r.elapsed)
    finally:
        holder.close()
    t.ok(wait_for(lambda: containers("/one") == [], 10),
         "the first client went away: its /one container is gone (before its 20 s Timeout)")

    # --- a fresh container per request ---------------------------------------------------

    a = container_response("GET /hostname", request(port, "GET", "/hostname"))
    b = container_response("GET /hostname", request(port, "GET", "/hostname"))
    ha, hb = a.body.strip(), b.body.strip()
    t.ok(a.status == 200 and b.status == 200 and ha and hb and ha != hb,
         "two requests, two containers (%r, %r)" % (ha, hb))

    # --- an image from a Dockerfile: a Perl CGI program --------------------------------

    r = container_response("GET /perl", request(port, "GET", "/perl/x/y?q=1"))
    t.is_(r.status, 200, "GET /perl/x/y?q=1: 200")
    t.ok((r.get("content-type") or "").startswith("application/json"), "application/json")
    try:
        j = json.loads(r.body)
    except ValueError:
        j = {}
        t.diag("body: %r" % r.body[:300])
    t.is_((j.get("method"), j.get("path_info"), j.get("query_string")),
          ("GET", "/x/y", "q=1"), "perl sees method, PATH_INFO and QUERY_STRING")
    r = container_response("POST /perl", request(port, "POST", "/perl", body=b"0123456789"))
    try:
        j = json.loads(r.body)
    except ValueError:
        j = {}
        t.diag("body: %r" % r.body[:300])
    t.is_((r.status, j.get("method"), j.get("body_length")), (200, "POST", 10),
          "POST /perl with 10 bytes: perl read 10 bytes")

    # --- Server-Timing on every container response ------------------------------------------

    lacking = [n for n, resp in timed
               if "create" not in (resp.get("server-timing") or "")
               or "start" not in (resp.get("server-timing") or "")]
    if not t.ok(not lacking, "Server-Timing with create and start on every container response"):
        t.diag("without: %s" % ", ".join(lacking))

    if PRESTART:
        hits = [n for n, resp in timed
                if "prestart;desc=hit" in (resp.get("server-timing") or "")]
        t.diag("%d of %d container responses came from prestarted containers"
               % (len(hits), len(timed)))
        t.ok(len(hits) >= len(timed) * 3 // 4,
             "Prestart: at least 3 in 4 container responses (%d of %d) came from "
             "a prestarted container (Server-Timing: prestart;desc=hit)"
             % (len(hits), len(timed)))

    # --- nothing left behind, a clean stop ------------------------------------------------

    if not t.ok(wait_for(lambda: containers() == [], 15),
                "no container labelled dcgi.route is left"):
        t.diag("left: %s" % " ".join(containers() or ["?"]))
    t.is_(s.stop(timeout=30 * SLOW), 0, "dcgid stops with exit code 0")
    if not t.ok(wait_for(lambda: containers(idle=True) == [], 15),
                "after the stop, no container of dcgid's is left at all"):
        t.diag("left: %s" % " ".join(containers(idle=True) or ["?"]))
except Exception as e:  # a hang (TimeoutError) or a crash of the test itself
    t.ok(False, "the test ran to the end (%s: %s)" % (type(e).__name__, e))
    try:
        if s.proc is not None:
            s.proc.kill()
            s.proc.wait(10)
            s.proc = None
    except Exception:
        pass
finally:
    if t.failed:
        t.diag("dcgid's files are in %s" % s.tmpdir)
        tail = read_file(errlog)[-3000:]
        if tail:
            t.diag("error log (end):\n" + tail)
    elif s.proc is None:
        shutil.rmtree(s.tmpdir, ignore_errors=True)

# --- Docker unreachable: 503 at once -------------------------------------------------

try:
    u = Server("Listen 127.0.0.1:{port}\nDocumentRoot {root}\n"
               "MimeTypes {repo}/conf/mime.types\nAccessLog off\n"
               "ErrorLog {tmp}/error.log\nDockerHost unix://{tmp}/no-docker.sock\n"
               "<Route /echo>\n    Image dcgi-test/busybox\n    Command /cgi/echo\n</Route>\n",
               start=False)
    u.start(timeout=30 * SLOW)
    r = request(u.port, "GET", "/echo", timeout=10)
    t.is_(r.status, 503, "Docker unreachable: 503")
    t.ok(r.elapsed < 2 * SLOW, "and at once (%.2f s)" % r.elapsed)
    failed = t.failed
    t.is_(u.stop(timeout=30 * SLOW), 0, "that dcgid stops with exit code 0 too")
    if t.failed == failed:
        shutil.rmtree(u.tmpdir, ignore_errors=True)
    else:
        t.diag("that dcgid's files are in %s" % u.tmpdir)
except Exception as e:
    t.ok(False, "the unreachable-engine case ran (%s: %s)" % (type(e).__name__, e))

signal.alarm(0)
t.done()
