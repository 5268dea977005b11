#!/usr/bin/env python3
"""Require and Basic authentication (AuthUserFile, htpasswd -B files).

dcgid listens on 127.0.0.1 and ::1, with PrivilegeSeparation on and off:

- `<Location /metrics> Require ip 127.0.0.1`: 200 over 127.0.0.1, 403
  over ::1, with the reason and the config line in the error log;
- a `<Location>` with `Require valid-user` on static files: 401 with
  `WWW-Authenticate: Basic realm=..., charset="UTF-8"` without
  credentials, with a wrong password, an unknown user or a malformed
  header; 200 with the right ones, the user in the access log, the
  password nowhere in a log;
- a route with `Require user alice`: alice's function sees REMOTE_USER
  and AUTH_TYPE and not the Authorization header (nor the password);
  bob, whose password is right, gets 401; no container is started for a
  refused request (dcgi_containers_started_total);
- a route with `Require ip 192.0.2.0/24`: 403, also for a POST with a
  body, which closes the connection; no container;
- a CGI local redirect to a guarded path is checked again;
- a reload with alice's password changed: the old one is refused at
  once (the cache of checked credentials is per file load);
- clients that vanish at a 401 or 403 (a reset after the request, a
  body never sent, pipelined requests never read, a half-close) leave
  dcgid up and holding none of their connections; an Authorization
  header with a 5000-byte user, 6000 bytes that are not base64 or a NUL:
  401; one over MaxHeaderSize: 431; two of them: 400;
- an unknown user costs as much time as a wrong password (a dummy
  bcrypt), and many wrong passwords in a second get 429 with
  Retry-After while remembered credentials still get in.

Needs the image dcgi-test/busybox and htpasswd (Debian: apache2-utils)."""

import base64
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import time

from dcgitest import Server, Tap, http, raw, status_of, time_limit, wait_until

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(300 * SLOW, "t_access.py")

if shutil.which("htpasswd") is None:
    t.skip_all("no htpasswd (Debian: apache2-utils; tests/setup.sh installs it)")
try:
    socket.create_connection(("::1", 9), 0.2).close()
except ConnectionRefusedError:
    pass
except OSError:
    t.skip_all("no IPv6 loopback")


def basic(user, password):
    return "Authorization: Basic %s\r\n" % base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


def htpasswd(path, user, password, cost=5, create=False):
    subprocess.run(["htpasswd", "-b", "-B", "-C", str(cost)] + (["-c"] if create else []) +
                   [path, user, password], check=True, capture_output=True)


CONF = """Listen 127.0.0.1:{port}
Listen [::1]:{port}
DocumentRoot {root}
MimeTypes {repo}/conf/mime.types
ErrorLog {tmp}/error.log
AccessLog {tmp}/access.log
PrivilegeSeparation %(privsep)s
Metrics /metrics
<Location /metrics>
    Require ip 127.0.0.1
</Location>
<Location /private>
    Require valid-user
    AuthUserFile {tmp}/users
    AuthName "dcgi test"
</Location>
<Location /static.txt>
    Require valid-user
    AuthUserFile {tmp}/users
</Location>
<Route /whoami>
    Image dcgi-test/busybox
    Command /cgi/echo
    Require user alice
    AuthUserFile {tmp}/users
    Prestart 0
</Route>
<Route /denied>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Require ip 192.0.2.0/24
    Prestart 0
</Route>
<Route /local>
    Image dcgi-test/busybox
    Command /cgi/local-redirect
    Prestart 0
</Route>
<Route /brute>
    Image dcgi-test/busybox
    Command /cgi/hostname
    Require valid-user
    AuthUserFile {tmp}/slow-users
    Prestart 0
</Route>
"""

PASSWORDS = ("s3cret-alice", "bobs-pw")


def started(port, route):
    """dcgi_containers_started_total of a route, as /metrics says."""
    st, _, body = http(port, path="/metrics", timeout=30 * SLOW)
    m = re.search(r'^dcgi_containers_started_total\{route="%s"\} (\d+)$' % re.escape(route),
                  (body or b"").decode(), re.M)
    return int(m.group(1)) if m else 0


def log_of(s, name):
    try:
        with open(os.path.join(s.tmpdir, name), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


for privsep in ("on", "off"):
    name = "privsep %s" % privsep
    s = Server(CONF % {"privsep": privsep}, start=False)
    users = os.path.join(s.tmpdir, "users")
    htpasswd(users, "alice", PASSWORDS[0], create=True)
    htpasswd(users, "bob", PASSWORDS[1])
    htpasswd(os.path.join(s.tmpdir, "slow-users"), "carol", "carols-pw", cost=10, create=True)
    os.makedirs(os.path.join(s.root, "private"))
    with open(os.path.join(s.root, "private", "f.txt"), "w") as f:
        f.write("private file\n")
    with open(os.path.join(s.root, "static.txt"), "w") as f:
        f.write("static file\n")
    s.start()
    port = s.port

    def get(path, headers="", host="127.0.0.1", method="GET", body=b""):
        return http(port, method, path, body, 30 * SLOW, headers, host)

    # Require ip on /metrics.
    st, _, body = get("/metrics")
    t.is_(st, 200, "%s: /metrics over 127.0.0.1: 200" % name)
    st, head, _ = get("/metrics", host="::1")
    t.is_(st, 403, "%s: /metrics over ::1: 403" % name)
    t.ok("WWW-Authenticate" not in head, "%s:   no challenge with a 403" % name)

    # Basic authentication on static files.
    st, head, _ = get("/private/f.txt")
    t.is_(st, 401, "%s: a guarded file without credentials: 401" % name)
    t.ok('WWW-Authenticate: Basic realm="dcgi test", charset="UTF-8"\r\n' in head + "\r\n",
         "%s:   with a Basic challenge and its realm" % name)
    for what, hdr in (("a wrong password", basic("alice", "wrong")),
                      ("an unknown user", basic("mallory", PASSWORDS[0])),
                      ("an empty password", basic("alice", "")),
                      ("a malformed header", "Authorization: Basic %%%%\r\n"),
                      ("another scheme", "Authorization: Bearer abc\r\n")):
        st, head, _ = get("/private/f.txt", hdr)
        t.ok(st == 401 and "WWW-Authenticate: Basic" in head,
             "%s:   %s: 401 with the challenge (%s)" % (name, what, st))
    st, _, body = get("/private/f.txt", basic("alice", PASSWORDS[0]))
    t.is_((st, body), (200, b"private file\n"), "%s:   alice's password: 200" % name)
    st, _, body = get("/private/f.txt", basic("bob", PASSWORDS[1]))
    t.is_(st, 200, "%s:   bob's (valid-user): 200" % name)
    st, _, _ = get("/private/f.txt", basic("alice", PASSWORDS[0]), host="::1")
    t.is_(st, 200, "%s:   over ::1 too" % name)
    st, _, _ = get("/other.txt")
    t.is_(st, 404, "%s: an unguarded path is not asked (404 here)" % name)

    # A route with Require user.
    before = started(port, "/whoami")
    st, _, _ = get("/whoami")
    t.is_(st, 401, "%s: Require user alice, no credentials: 401" % name)
    st, _, _ = get("/whoami", basic("bob", PASSWORDS[1]))
    t.is_(st, 401, "%s:   bob, right password, not alice: 401" % name)
    time.sleep(1.5)
    t.is_(started(port, "/whoami"), before, "%s:   no container for either" % name)
    st, _, body = get("/whoami/x?y=1", basic("alice", PASSWORDS[0]))
    env = (body or b"").decode(errors="replace")
    t.is_(st, 200, "%s:   alice: 200 from her function" % name)
    t.ok("REMOTE_USER=alice\n" in env and "AUTH_TYPE=Basic\n" in env,
         "%s:   it sees REMOTE_USER=alice and AUTH_TYPE=Basic" % name)
    t.ok("HTTP_AUTHORIZATION" not in env and PASSWORDS[0] not in env,
         "%s:   and neither the Authorization header nor the password" % name)
    # The engine's counts reach a server process once a second.
    t.ok(wait_until(lambda: started(port, "/whoami") == before + 1, 10 * SLOW, 0.3),
         "%s:   one container started" % name)

    # Require ip on a route: 403, a body is not read.
    before = started(port, "/denied")
    st, _, _ = get("/denied")
    t.is_(st, 403, "%s: Require ip 192.0.2.0/24 from 127.0.0.1: 403" % name)
    r = raw(port, b"POST /denied HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
            b"x" * 1000, timeout=10 * SLOW)
    t.ok(status_of(r) == 403 and b"Connection: close\r\n" in r,
         "%s:   a POST with a body not read: 403 and the connection closed" % name)
    time.sleep(1.5)
    t.is_(started(port, "/denied"), before, "%s:   no container" % name)

    # Clients that vanish at a refusal (RST right after the request, a
    # body never sent, pipelined requests never read, a half-close) and
    # headers built to hurt (a user name of 5000 bytes, base64 of 6000
    # bytes that is not base64, one over MaxHeaderSize, two Authorization
    # headers): each gets its answer or is dropped, and costs nothing.
    def connect():
        c = socket.create_connection(("127.0.0.1", port), 10 * SLOW)
        return c

    def reset(c):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    socks = []
    for i in range(30):
        c = connect()
        c.sendall(b"GET /private/f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        reset(c)
        c = connect()
        c.sendall(b"POST /denied HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                  b"x" * 1000)
        reset(c)
        c = connect()
        c.sendall(b"GET /private/f.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        socks.append(c)
        c = connect()
        c.sendall(("GET /private/f.txt HTTP/1.1\r\nHost: x\r\n%s\r\n" %
                   basic("alice", "wrong-%d" % i)).encode())
        c.shutdown(socket.SHUT_WR)
        socks.append(c)
    time.sleep(0.5)
    for c in socks:
        reset(c)
    t.ok(s.proc.poll() is None, "%s: 120 clients vanished at a 401 or 403: dcgid is up" % name)

    def open_conns():
        m = re.search(rb"^dcgi_connections_open (\d+)$", get("/metrics")[2] or b"", re.M)
        return int(m.group(1)) if m else -1
    t.ok(wait_until(lambda: open_conns() == 1, 10 * SLOW, 0.3),
         "%s:   and holds no connection of theirs (%d open, this one)" % (name, open_conns()))
    st, _, body = get("/private/f.txt", basic("alice", PASSWORDS[0]))
    t.is_((st, body), (200, b"private file\n"), "%s:   alice still gets in" % name)

    long_user = "Authorization: Basic %s\r\n" % base64.b64encode(
        b"u" * 5000 + b":pw").decode()
    st, head, _ = get("/private/f.txt", long_user)
    t.ok(st == 401 and "WWW-Authenticate" in head,
         "%s: a user name of 5000 bytes: 401 (an unknown user)" % name)
    st, _, _ = get("/private/f.txt", "Authorization: Basic %s\r\n" % ("*" * 6000))
    t.is_(st, 401, "%s: 6000 bytes that are not base64: 401" % name)
    st, _, _ = get("/private/f.txt", "Authorization: Basic %s\r\n" %
                   base64.b64encode(b"alice\0:" + PASSWORDS[0].encode()).decode())
    t.is_(st, 401, "%s: a NUL in the user name: 401" % name)
    r = raw(port, ("GET /private/f.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n" %
                   ("A" * 70000)).encode(), timeout=10 * SLOW)
    t.ok(status_of(r) == 431 and b"Connection: close\r\n" in r,
         "%s: an Authorization header over MaxHeaderSize: 431, closed" % name)
    r = raw(port, ("GET /private/f.txt HTTP/1.1\r\nHost: x\r\n%s%s\r\n" %
                   (basic("alice", PASSWORDS[0]), basic("bob", "x"))).encode(), timeout=10 * SLOW)
    t.is_(status_of(r), 400, "%s: two Authorization headers: 400" % name)
    t.ok(s.proc.poll() is None and len(log_of(s, "error.log").splitlines()[-1]) < 1000,
         "%s:   dcgid is up, its log lines short" % name)

    # A local redirect lands on a guarded path: checked again.
    st, _, _ = get("/local")
    t.is_(st, 401, "%s: a local redirect to a guarded file, no credentials: 401" % name)
    st, _, body = get("/local", basic("bob", PASSWORDS[1]))
    t.is_((st, body), (200, b"static file\n"), "%s:   with credentials: the file" % name)

    # The logs.
    err, acc = log_of(s, "error.log"), log_of(s, "access.log")
    t.ok(re.search(r"/metrics: 403 for ::1: the address is not one Require ip allows "
                   r"\(Require at \S*httpd\.conf:10\)", err),
         "%s: the error log says why a 403, and where the rule is" % name)
    t.ok(re.search(r"/private/f\.txt: 401 for 127\.0\.0\.1: wrong password", err) and
         "unknown user" in err, "%s: and why a 401" % name)
    t.ok(re.search(r'^127\.0\.0\.1 - alice \[[^]]+\] "GET /private/f\.txt HTTP/1\.1" 200 ', acc, re.M),
         "%s: the access log names the user" % name)
    t.ok(re.search(r'^127\.0\.0\.1 - - \[[^]]+\] "GET /private/f\.txt HTTP/1\.1" 401 ', acc, re.M),
         "%s: and a refused request has none" % name)
    t.ok(not any(p in err + acc for p in PASSWORDS) and "mallory" not in acc,
         "%s: no password in any log, no unchecked name in the access log" % name)

    # A reload with alice's password changed.
    htpasswd(users, "alice", "new-pw")
    s.proc.send_signal(signal.SIGHUP)
    t.ok(wait_until(lambda: "configuration reloaded" in log_of(s, "error.log") and
                    get("/private/f.txt", basic("alice", "new-pw"))[0] == 200, 30 * SLOW, 0.2),
         "%s: after a reload alice's new password lets her in" % name)
    st, _, _ = get("/private/f.txt", basic("alice", PASSWORDS[0]))
    t.is_(st, 401, "%s:   and the old one, checked before, no longer does" % name)

    if privsep == "on":
        # Timing: an unknown user costs a bcrypt, as a wrong password does.
        def took(hdr):
            t0 = time.monotonic()
            st, _, _ = get("/brute", hdr)
            return st, time.monotonic() - t0

        # Each bcrypt gets a second of its own: bcrypt may use 250 ms of
        # each second, and under valgrind on a busy machine one hash can
        # take that alone, so two in the same second would meet a 429.
        # More than a second between checks means a fresh budget.
        def took_alone(hdr):
            time.sleep(1.05)
            return took(hdr)

        wrong, unknown, none = [], [], []
        for i in range(5):
            st1, d1 = took_alone(basic("carol", "wrong-%d" % i))
            st2, d2 = took_alone(basic("nobody-%d" % i, "wrong"))
            st3, d3 = took("")
            if (st1, st2, st3) == (401, 401, 401):
                wrong.append(d1)
                unknown.append(d2)
                none.append(d3)
        if wrong and unknown:
            w, u, n = (statistics.median(x) for x in (wrong, unknown, none))
            t.ok(0.5 < u / w < 2 and w > 3 * n,
                 "an unknown user takes as long as a wrong password (median %.1f ms, "
                 "%.1f ms; %.1f ms without credentials)" % (u * 1000, w * 1000, n * 1000))
        else:
            t.ok(False, "timing: the refusals came (%s)" % [wrong, unknown])

        # Many wrong passwords in a second: 429, remembered ones still in.
        # Bob first, once bcrypt has room again (the timing loop may have
        # used this second's share: slow under valgrind).
        t.ok(wait_until(lambda: get("/private/f.txt", basic("bob", PASSWORDS[1]))[0] == 200,
                        10 * SLOW, 0.3), "bob gets in (and is remembered)")
        codes, retry = [], False
        for i in range(40):
            st, head, _ = get("/brute", basic("carol", "guess-%d" % i))
            codes.append(st)
            retry = retry or (st == 429 and "Retry-After: 1\r\n" in head + "\r\n")
        t.ok(429 in codes and set(codes) <= {401, 429} and retry,
             "40 wrong passwords at once: some get 429 with Retry-After: 1 "
             "(%d of them)" % codes.count(429))
        st, _, _ = get("/private/f.txt", basic("bob", PASSWORDS[1]))
        t.is_(st, 200, "  meanwhile bob, checked before, still gets in")
        t.ok("too many password checks this second" in log_of(s, "error.log"),
             "  the error log says why")

    t.is_(s.stop(), 0, "%s: dcgid stops cleanly" % name)
    if t.failed == 0:
        shutil.rmtree(s.tmpdir, ignore_errors=True)
t.done()
