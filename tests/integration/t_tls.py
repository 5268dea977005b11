#!/usr/bin/env python3
"""HTTPS end to end, against clients that are not ours: curl, openssl
s_client, sslscan and Python's ssl module.

A test PKI (root -> intermediate -> leaf, RSA 2048 and ECDSA P-256 leaves,
the cert file holding leaf + intermediate while clients trust only the
root: the server must send the chain); static files (a 5 MiB one, HEAD,
a range, a slow reader, parallel downloads), keep-alive, pipelining and
one-byte TLS records; a POST into a container route (HTTPS=on); ALPN;
the protocol floor (TLS 1.0/1.1 refused by the server, not by the
client); ECDHE + AEAD only (sslscan); resumption with a ticket; garbage,
plain HTTP and stalled handshakes on the TLS port (HeaderTimeout);
HTTPSRedirect and HSTS; SIGHUP with a new pair, a key that does not match
and a missing file (the old pair stays, a keep-alive connection lives
on), reloads under load without a failed request; -t and start-up errors;
an expired certificate.

Needs openssl, curl, sslscan, a Docker engine and the image
dcgi-test/busybox (tests/setup.sh provides them).  Talks to 127.0.0.1 only.
"""

import hashlib
import http.client
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from dcgitest import (Server, Tap, free_port, raw, status_of, wait_until as wait_for,
                      write_atomic as write)

t = Tap()

# A hang anywhere fails the test rather than blocking CI.
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 5 if WRAPPED else 1          # valgrind: handshakes take far longer
OVERALL = 240 * SLOW


def on_alarm(signum, frame):
    raise TimeoutError("t_tls.py ran for more than %ds" % OVERALL)


signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(OVERALL)

HT = 2 * SLOW                       # HeaderTimeout, which bounds the handshake
WORK = tempfile.mkdtemp(prefix="dcgitest.tls.")
PKI = os.path.join(WORK, "pki")
os.makedirs(PKI)

# No proxy may stand between the clients and 127.0.0.1.
ENV = {k: v for k, v in os.environ.items()
       if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}


# --- helpers ---------------------------------------------------------------------

def run(args, inp=b"", timeout=30, cwd=PKI):
    """Run a command (a list); (exit code, stdout, stderr), bytes.  A
    command that does not finish in time is killed and counts as rc 124."""
    try:
        p = subprocess.run(args, input=inp, capture_output=True, timeout=timeout * SLOW,
                           cwd=cwd, env=ENV)
    except subprocess.TimeoutExpired as e:
        return 124, e.stdout or b"", (e.stderr or b"") + b"\n(timed out)"
    except OSError as e:
        return 127, b"", str(e).encode()
    return p.returncode, p.stdout, p.stderr


def text(b):
    return b.decode("utf-8", "replace")


def openssl(*args):
    rc, out, err = run(["openssl", *args])
    if rc != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), text(err)))
    return text(out)


def pki(name):
    return os.path.join(PKI, name)


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return "" if mode == "r" else b""


def parse(resp):
    """(status, {lower-case name: [values]}, body) of one raw HTTP response."""
    head, _, body = resp.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status_of(resp), headers, body


def header(headers, name):
    v = headers.get(name.lower())
    return v[-1] if v else None


def docker(*args, timeout=30):
    rc, out, _ = run(["docker", *args], timeout=timeout, cwd=WORK)
    return rc, text(out)


PIDS = set()      # our dcgid processes


def containers():
    """Containers labelled dcgi.route that one of our dcgid made (the
    dcgi.instance label is "PID:STARTTIME"; other dcgid may share the
    engine), or None when docker ps failed."""
    rc, out = docker("ps", "-aq", "--filter", "label=dcgi.route",
                     "--format", '{{.ID}} {{.Label "dcgi.instance"}}')
    if rc != 0:
        return None
    ours = []
    for line in out.splitlines():
        cid, _, inst = line.partition(" ")
        if inst.split(":")[0] in {str(p) for p in PIDS}:
            ours.append(cid)
    return ours


# --- the test PKI: root -> intermediate -> leaves -----------------------------------

LEAF_EXT = ("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:false\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
INTER_EXT = ("basicConstraints=critical,CA:true,pathlen:0\n"
             "keyUsage=critical,keyCertSign,cRLSign\n")


def make_pki():
    write(pki("leaf.ext"), LEAF_EXT)
    write(pki("inter.ext"), INTER_EXT)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key",
            "-out", "root.pem", "-days", "30", "-subj", "/CN=dcgi test root",
            "-addext", "basicConstraints=critical,CA:true",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "inter.key",
            "-out", "inter.csr", "-subj", "/CN=dcgi test intermediate")
    openssl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-set_serial", "0x100", "-days", "30", "-extfile", "inter.ext", "-out", "inter.pem")


def make_leaf(name, kind, serial, cn):
    """A leaf for localhost/127.0.0.1 signed by the intermediate; returns
    (chain file: leaf + intermediate, key file)."""
    if kind == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    openssl("req", *newkey, "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "inter.pem", "-CAkey", "inter.key",
            "-set_serial", "0x%X" % serial, "-days", "30", "-extfile", "leaf.ext",
            "-out", name + ".crt")
    write(pki(name + ".chain.pem"), read(pki(name + ".crt")) + read(pki("inter.pem")))
    return pki(name + ".chain.pem"), pki(name + ".key")


def make_expired():
    """A leaf whose validity ended in 2020: `openssl x509 -not_after`
    (OpenSSL 3.4+), else `openssl ca` with an explicit start and end date."""
    rc, _, err = run(["openssl", "x509", "-req", "-in", "rsa.csr", "-CA", "inter.pem",
                      "-CAkey", "inter.key", "-set_serial", "0x77",
                      "-not_before", "20200101000000Z", "-not_after", "20200201000000Z",
                      "-extfile", "leaf.ext", "-out", "expired.crt"])
    if rc != 0:
        write(pki("ca.cnf"), "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\n"
              "new_certs_dir = .\nserial = serial.txt\ndefault_md = sha256\n"
              "policy = p\nunique_subject = no\n[p]\ncommonName = supplied\n")
        write(pki("index.txt"), "")
        write(pki("serial.txt"), "77\n")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "inter.pem", "-keyfile",
                "inter.key", "-in", "rsa.csr", "-startdate", "20200101000000Z",
                "-enddate", "20200201000000Z", "-extfile", "leaf.ext", "-notext",
                "-out", "expired.crt")
    write(pki("expired.chain.pem"), read(pki("expired.crt")) + read(pki("inter.pem")))
    return pki("expired.chain.pem")


def serial_of(path):
    m = re.search(r"serial=([0-9A-Fa-f]+)", openssl("x509", "-in", path, "-noout", "-serial"))
    return m.group(1).upper().lstrip("0") if m else None


# --- clients --------------------------------------------------------------------------

ROOT = pki("root.pem")


def client_ctx():
    """Trusts the test root only; checks the chain and the name."""
    return ssl.create_default_context(cafile=ROOT)


CTX = None          # client_ctx(), once the PKI exists


def tls_connect(port, timeout=10, ctx=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout * SLOW)
    try:
        return (ctx or CTX).wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def recv_until_close(sock, timeout=10):
    """All bytes until the peer closes (or timeout: then what came)."""
    got = b""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLEOFError, ConnectionResetError):
            break
        except ssl.SSLError as e:
            if "EOF" in str(e) or "closed" in str(e).lower():
                break
            raise
        if not chunk:
            break
        got += chunk
    return got


class Reader:
    """Reads responses one by one from a keep-alive connection (static
    responses, which all carry Content-Length)."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.buf = b""
        self.timeout = timeout * SLOW

    def _more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("response incomplete after %gs" % self.timeout)
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-response")
        self.buf += chunk

    def response(self, head_only=False):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            self._more(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, headers, _ = parse(head + b"\r\n\r\n")
        n = 0 if head_only else int(header(headers, "content-length") or 0)
        while len(self.buf) < n:
            self._more(deadline)
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body


def tls_get(port, path, extra=b"", method=b"GET", timeout=10):
    """One request with Connection: close over a new TLS connection:
    (status, headers, body, peer certificate serial)."""
    with tls_connect(port, timeout) as c:
        c.sendall(method + b" " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n" + extra +
                  b"Connection: close\r\n\r\n")
        serial = c.getpeercert().get("serialNumber")
        data = recv_until_close(c, timeout)
    st, hd, body = parse(data)
    return st, hd, body, serial


def curl(*args, timeout=30):
    """curl pinned to 127.0.0.1 (localhost resolves there, never to ::1),
    trusting only the test root."""
    resolve = []
    for p in PORTS:
        resolve += ["--resolve", "localhost:%d:127.0.0.1" % p]
    return run(["curl", "-sS", "--noproxy", "*", "-m", str(timeout * SLOW), "--cacert", ROOT,
                *resolve, *args], timeout=timeout + 5)


def s_client(port, *args, inp=b"", timeout=20):
    """openssl s_client against 127.0.0.1:port as localhost, trusting the
    root; (exit code, stdout + stderr as text)."""
    rc, out, err = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-CAfile", ROOT, *args],
                       inp=inp, timeout=timeout)
    return rc, text(out) + text(err)


def negotiated_cipher(out):
    m = re.search(r"Cipher is (\S+)", out)
    return m.group(1) if m and m.group(1) != "(NONE)" else None


def cgi_env(body):
    env_part, _, stdin = body.partition(b"\n---\n")
    env = {}
    for line in env_part.decode("latin-1").split("\n"):
        if "=" in line:
            k, _, v = line.partition("=")
            env[k] = v
    return env, stdin


def get_env_plain(port, path):
    """A plain HTTP GET of a route (chunked or not): (status, env)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    try:
        conn.request("GET", path, headers={"Host": "localhost:%d" % port})
        resp = conn.getresponse()
        return resp.status, cgi_env(resp.read())[0]
    finally:
        conn.close()


def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serial_now(port):
    """The serial (hex) of the certificate a new TLS connection gets, or None."""
    try:
        with tls_connect(port, 10) as c:
            return c.getpeercert().get("serialNumber", "").lstrip("0")
    except (OSError, ssl.SSLError) as e:
        t.diag("serial_now: %s" % e)
        return None


PORTS = []
servers = []


def new_server(name, conf, **subst):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    s = Server(conf, tmpdir=d, start=False, **subst)
    servers.append(s)
    PORTS.extend(p for p in (s.port, s.tls_port) if p)
    return s


def start(s):
    s.start(timeout=30 * SLOW)
    PIDS.add(s.proc.pid)


def elog(s):
    return read(os.path.join(s.tmpdir, "error.log"))


def stop(s, what):
    t.is_(s.stop(timeout=30 * SLOW), 0, "%s stops with exit code 0" % what)


def section(name, fn, *args):
    """Run one group of checks; an exception fails it without hiding the
    groups after it (the overall alarm still ends everything)."""
    try:
        fn(*args)
    except Exception as e:
        t.ok(False, "%s ran to the end (%s: %s)" % (name, type(e).__name__, e))
        if isinstance(e, TimeoutError) and "ran for more than" in str(e):
            raise


FILE = b"over tls\n"
BIG = random.Random(5).randbytes(5 << 20)


# --- the main server: chain + RSA, plain and tls listeners, a route ----------------------

def t_static(s):
    base = "https://localhost:%d" % s.tls_port
    rc, out, err = curl("-w", "\n%{http_code}", base + "/file.txt")
    if not t.is_((rc, out), (0, FILE + b"\n200"),
                 "curl trusting only the root: 200 and the body (the server sent the intermediate)"):
        t.diag(text(err))
    rc, out = s_client(s.tls_port, "-showcerts", "-verify_return_error")
    n = out.count("-----BEGIN CERTIFICATE-----")
    if not t.ok(rc == 0 and n == 2 and "Verify return code: 0 (ok)" in out,
                "s_client -showcerts: leaf + intermediate sent, verified against the root (%d certs)" % n):
        t.diag(out[-1500:])

    rc, out, err = curl(base + "/big.bin", timeout=60)
    t.ok(rc == 0 and hashlib.sha256(out).digest() == hashlib.sha256(BIG).digest(),
         "the 5 MiB file over TLS is intact (sha256; %d bytes)" % len(out))
    rc, out, err = curl("-I", base + "/big.bin")
    st, hd, _ = parse(out)
    t.ok(rc == 0 and st == 200 and header(hd, "content-length") == str(len(BIG)),
         "HEAD over TLS (curl -I): 200 with Content-Length %d" % len(BIG))
    st, hd, body, _ = tls_get(s.tls_port, "/big.bin", method=b"HEAD")
    t.ok(st == 200 and body == b"", "HEAD over TLS: nothing follows the head")
    st, hd, body, _ = tls_get(s.tls_port, "/big.bin", b"Range: bytes=1000000-1000999\r\n")
    t.ok(st == 206 and body == BIG[1000000:1001000], "a byte range over TLS: 206 and the right 1000 bytes")

    # A reader with a small window that is slow at first: the server has to
    # repeat TLS writes that the socket would not take.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(30 * SLOW)
    sock.connect(("127.0.0.1", s.tls_port))
    data = bytearray()
    with CTX.wrap_socket(sock, server_hostname="localhost") as c:
        c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        deadline = time.monotonic() + 60 * SLOW
        while time.monotonic() < deadline:
            try:
                chunk = c.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            if len(data) < (1 << 20):
                time.sleep(0.01)
    st, _, body = parse(bytes(data))
    t.ok(st == 200 and body == BIG, "a slow reader with a small window gets the 5 MiB intact")

    got = [None] * 4

    def fetch(i):
        try:
            got[i] = tls_get(s.tls_port, "/big.bin", timeout=60)[2]
        except Exception as e:
            got[i] = repr(e).encode()

    ths = [threading.Thread(target=fetch, args=(i,), daemon=True) for i in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(90 * SLOW)
    t.ok(all(g == BIG for g in got), "4 parallel TLS downloads of the 5 MiB file: all intact")


def t_keepalive(s):
    url = "https://localhost:%d/file.txt" % s.tls_port
    rc, out, err = curl("-w", "%{num_connects}\n", "-o", "/dev/null", url, "-o", "/dev/null", url,
                        "-o", "/dev/null", url)
    if not t.is_(out.split(), [b"1", b"0", b"0"],
                 "keep-alive over TLS: curl fetches 3 times on one connection (num_connects 1,0,0)"):
        t.diag(text(err))

    with tls_connect(s.tls_port) as c:
        rd = Reader(c)
        req = b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
        seq = []
        for _ in range(3):
            c.sendall(req)
            seq.append(rd.response())
        t.ok(all(st == 200 and b == FILE for st, _, b in seq),
             "python ssl: 3 requests one after another on one TLS connection")
        c.sendall(req * 2 + b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        pl = [rd.response() for _ in range(3)]
        t.is_([(st, b) for st, _, b in pl[:2]] + [pl[2][0]], [(200, FILE), (200, FILE), 404],
              "3 pipelined requests in one TLS write: 200, 200, 404 in order")
        # 400 pipelined requests in one write: more than one TLS record, so
        # requests wait in the server's buffer and in mbedtls's.
        c.sendall(req * 400)
        many = [rd.response() for _ in range(400)]
        t.ok(all(st == 200 and b == FILE for st, _, b in many),
             "400 pipelined requests in one write (%d bytes, two TLS records): 400 answers"
             % (len(req) * 400))
        # A 15 KiB head in three TLS records: served; one above MaxHeaderSize: 431.
        big = b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 15000 + b"\r\n\r\n"
        for i in range(0, len(big), 5200):
            c.sendall(big[i:i + 5200])
        st, _, b = rd.response()
        t.ok(st == 200 and b == FILE, "a 15 KiB request head spread over three TLS records: 200")
        # One TLS record per byte of the head.
        for ch in b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n":
            c.sendall(bytes([ch]))
        st, hd, b = rd.response()
        t.ok(st == 200 and b == FILE, "a request sent as one-byte TLS records is served")
        hsts = {header(h, "strict-transport-security") for _, h, _ in seq + pl + [(st, hd, b)]}
        t.is_(hsts, {"max-age=3600"}, "HSTS 1h: every TLS response (200 and 404) has "
              "Strict-Transport-Security: max-age=3600")
        c.settimeout(5 * SLOW)
        try:
            rest = c.recv(100)
        except (ssl.SSLEOFError, ConnectionResetError):
            rest = b""
        t.is_(rest, b"", "Connection: close over TLS: the server closes after the answer")

    r = raw(s.port, b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    st, hd, body = parse(r)
    t.ok(st == 200 and body == FILE and "strict-transport-security" not in hd,
         "plain HTTP (HTTPSRedirect off): served, without Strict-Transport-Security")
    r = raw(s.port, b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    t.ok(status_of(r) == 404 and b"Strict-Transport-Security" not in r,
         "a plain 404 has no Strict-Transport-Security either")


def t_route(s):
    body = os.urandom(100 * 1024)
    path = os.path.join(WORK, "post.bin")
    write(path, body)
    hfile = os.path.join(WORK, "post.head")
    rc, out, err = curl("--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream",
                        "-D", hfile, "https://localhost:%d/echo/x?q=1" % s.tls_port, timeout=60)
    env, stdin = cgi_env(out)
    heads = read(hfile).replace("\r\n", "\n").split("\n\n")
    last = [h for h in heads if h.startswith("HTTP/")][-1:] or [""]
    if not t.ok(rc == 0 and stdin == body,
                "POST of 100 KiB over TLS into a container route: echoed intact"):
        t.diag("rc %d, %d bytes back; %s" % (rc, len(stdin), text(err)))
    t.is_(env.get("HTTPS"), "on", "HTTPS=on in the route's CGI environment")
    t.is_((env.get("CONTENT_LENGTH"), env.get("SERVER_PORT"), env.get("REQUEST_URI")),
          (str(len(body)), str(s.tls_port), "/echo/x?q=1"),
          "CONTENT_LENGTH, SERVER_PORT (the TLS port) and REQUEST_URI over TLS")
    t.ok(last[0].startswith("HTTP/1.1 200") and "Strict-Transport-Security: max-age=3600" in last[0],
         "the container's answer over TLS carries HSTS too")
    st, env = get_env_plain(s.port, "/echo")
    t.ok(st == 200 and "HTTPS" not in env and env.get("GATEWAY_INTERFACE") == "CGI/1.1",
         "the same route over plain HTTP: no HTTPS variable")


def t_protocols(s):
    p = s.tls_port
    rc, out = s_client(p, "-alpn", "http/1.1")
    t.ok("ALPN protocol: http/1.1" in out, "ALPN: the client offers http/1.1, the server agrees")
    rc, out = s_client(p, "-alpn", "h2,http/1.1")
    t.ok("ALPN protocol: http/1.1" in out, "ALPN: offered h2 and http/1.1, http/1.1 is chosen")
    rc, out = s_client(p, "-alpn", "h2")
    t.ok("ALPN protocol: h2" not in out, "ALPN: h2 alone is never agreed to")

    for flag, ver in (("-tls1", "TLS 1.0"), ("-tls1_1", "TLS 1.1")):
        # SECLEVEL=0: OpenSSL 3 offers TLS 1.0/1.1 at all only so.
        rc, out = s_client(p, flag, "-cipher", "DEFAULT@SECLEVEL=0", "-msg")
        offered = re.search(r">>> %s, Handshake \[length [0-9a-f]+\], ClientHello" % ver, out)
        established = negotiated_cipher(out) or re.search(r"^New, TLSv", out, re.M)
        # the server answered with an alert: the refusal is the server's
        from_server = re.search(r"^<<< .*Alert", out, re.M)
        if not t.ok(offered and rc != 0 and not established and from_server,
                    "%s (s_client %s): offered by the client, refused by the server" % (ver, flag)):
            t.diag(out[-1500:])

    rc, out = s_client(p, "-tls1_2", "-verify_return_error")
    c = negotiated_cipher(out)
    t.ok(re.search(r"^Server Temp Key: X25519", out, re.M),
         "TLS 1.2 key exchange: X25519 is preferred (not secp521r1, mbedtls's own first)")
    rc2, out2 = s_client(p, "-tls1_2", "-curves", "P-384:P-256")
    t.ok(re.search(r"^Server Temp Key: ECDH, prime256v1", out2, re.M),
         "a client without X25519: P-256 before P-384")
    t.ok(rc == 0 and re.search(r"^New, TLSv1\.2, Cipher is", out, re.M) and c and "ECDHE" in c
         and ("GCM" in c or "CHACHA20" in c),
         "TLS 1.2 (s_client -tls1_2): established with an ECDHE AEAD suite (%s)" % c)
    for suite in ("ECDHE-RSA-AES128-SHA256", "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"):
        rc, out = s_client(p, "-tls1_2", "-cipher", suite + "@SECLEVEL=0")
        t.ok(rc != 0 and not negotiated_cipher(out),
             "TLS 1.2 with only %s offered: refused" % suite)

    sess = os.path.join(WORK, "sess.pem")
    rc1, out1 = s_client(p, "-tls1_2", "-sess_out", sess)
    rc2, out2 = s_client(p, "-tls1_2", "-sess_in", sess)
    if not t.ok(re.search(r"^New, TLSv1\.2", out1, re.M) and re.search(r"^Reused, TLSv1\.2", out2, re.M),
                "resumption: -sess_out then -sess_in shows Reused, TLSv1.2"):
        t.diag(out2[-1000:])
    rc, out = s_client(p, "-tls1_2", "-reconnect", timeout=30)
    n = len(re.findall(r"^Reused, TLSv1\.2", out, re.M))
    t.ok(n >= 5, "resumption: s_client -reconnect resumes its 5 reconnections (%d Reused)" % n)
    ctx12 = client_ctx()
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(p, ctx=ctx12) as c1:
        sess = c1.session
    sock = socket.create_connection(("127.0.0.1", p), 10 * SLOW)
    with ctx12.wrap_socket(sock, server_hostname="localhost", session=sess) as c2:
        t.ok(c2.session_reused, "resumption: Python's ssl reuses a ticket")


def t_sslscan(s):
    rc, out, err = run(["sslscan", "--no-colour", "127.0.0.1:%d" % s.tls_port], timeout=120)
    out = text(out)
    accepted = re.findall(r"^(Accepted|Preferred)\s+(\S+)\s+(\d+) bits\s+(\S+)", out, re.M)
    if not t.ok(rc == 0 and accepted, "sslscan lists the accepted suites (%d)" % len(accepted)):
        t.diag(out[-2000:] + text(err))
    t.ok(re.search(r"^TLSv1\.2\s+enabled", out, re.M), "sslscan: TLSv1.2 enabled")
    t.ok(not re.search(r"^(SSLv2|SSLv3|TLSv1\.0|TLSv1\.1)\s+enabled", out, re.M),
         "sslscan: SSLv2, SSLv3, TLSv1.0 and TLSv1.1 not enabled")
    low = sorted({v for _, v, _, _ in accepted if v not in ("TLSv1.2", "TLSv1.3")})
    t.is_(low, [], "sslscan: no suite accepted below TLS 1.2")

    def good(v, c):
        if v == "TLSv1.3":
            return True
        return (c.startswith("ECDHE-") and any(a in c for a in ("GCM", "CHACHA20", "CCM"))
                and not any(x in c for x in ("CBC", "RC4", "NULL", "DES", "EXP", "anon", "PSK")))

    bad = ["%s %s" % (v, c) for _, v, _, c in accepted if not good(v, c)]
    t.is_(bad, [], "sslscan: every accepted suite is ECDHE with an AEAD cipher "
          "(no CBC, RC4, NULL, no static RSA key exchange)")
    names = " ".join(c for _, _, _, c in accepted)
    t.ok("GCM" in names and "CHACHA20" in names,
         "sslscan: the defaults include AES-GCM and ChaCha20-Poly1305 (%s)" % names)
    t.ok(not re.search(r"(?<!not )vulnerable to heartbleed", out)
         and "Compression enabled" not in out,
         "sslscan: no heartbleed, no TLS compression")


def t_bad_clients(s):
    p = s.tls_port
    rng = random.Random(7)
    garbage = bytes([0x47]) + bytes(rng.getrandbits(8) for _ in range(1023))
    t0 = time.monotonic()
    r = raw(p, garbage, timeout=HT + 4)
    el = time.monotonic() - t0
    t.ok(not r.startswith(b"HTTP/") and el < HT,
         "1 KiB of random bytes on the TLS port: no HTTP answer, closed at once (%.2f s)" % el)
    t0 = time.monotonic()
    r = raw(p, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=HT + 4)
    el = time.monotonic() - t0
    t.ok(not r.startswith(b"HTTP/1.1 200") and el < HT,
         "plain HTTP on the TLS port: not served, closed at once (%.2f s)" % el)

    # Three stalled clients at once: a TLS record header and nothing more
    # (mid-handshake), a finished handshake and no request, half a head.
    results = {}

    def stall(name, opener, payload):
        t0 = time.monotonic()
        try:
            c = opener()
            c.sendall(payload)
            results[name + ".sent"] = time.monotonic()
            data = recv_until_close(c, HT + 12)
            left = time.monotonic() - t0
            c.close()
            results[name] = (left, data)
        except Exception as e:
            results[name] = (None, repr(e).encode())

    def plain():
        return socket.create_connection(("127.0.0.1", p), 10 * SLOW)

    def tls():
        return tls_connect(p)

    ths = [threading.Thread(target=stall, args=a, daemon=True) for a in (
        ("header", plain, b"\x16\x03\x01\x02\x00"),
        ("idle", tls, b""),
        ("half", tls, b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n"))]
    for th in ths:
        th.start()
    wait_for(lambda: all(k + ".sent" in results for k in ("header", "idle", "half")), 10)
    time.sleep(0.3)
    rc, out, err = curl("https://localhost:%d/file.txt" % p, timeout=10)
    t.ok(rc == 0 and out == FILE, "served over TLS while three stalled clients hold connections")
    t.ok(status_of(raw(s.port, b"GET /file.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
         == 200, "and over plain HTTP")
    for th in ths:
        th.join(HT + 20)
    lo, hi = HT - 0.5, HT + 4 * SLOW
    for name, what in (("header", "5 bytes of a TLS record header, then nothing (a stalled handshake)"),
                       ("idle", "a finished handshake and no request"),
                       ("half", "half a request head over TLS")):
        el, data = results.get(name, (None, b"no result"))
        if not t.ok(el is not None and lo <= el <= hi,
                    "%s: closed by the server after HeaderTimeout %ds (%s s)"
                    % (what, HT, "%.2f" % el if el is not None else "-")):
            t.diag(repr(data[:200]))
    el, data = results.get("half", (None, b""))
    t.ok(status_of(data) in (408, None) and not (data and status_of(data) != 408),
         "half a head over TLS: a 408 (or a bare close), never anything else (%r)" % data[:40])
    with tls_connect(p) as c:
        c.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * (20 << 10) +
                  b"\r\n\r\n")
        data = recv_until_close(c, 10)
    t.is_(status_of(data), 431, "a 20 KiB head over TLS (MaxHeaderSize 16k): 431")

    # Client-initiated renegotiation is refused, and the connection is not
    # left spinning.
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % p, "-servername", "localhost",
           "-CAfile", ROOT, "-tls1_2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=ENV)
    try:
        proc.stdin.write(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        proc.stdin.flush()
        time.sleep(0.5 * SLOW)
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        time.sleep(1 * SLOW)
        out = proc.communicate(timeout=10 * SLOW)[0]    # closes stdin: s_client ends
    except (subprocess.TimeoutExpired, OSError, ValueError):
        proc.kill()
        out = proc.communicate(timeout=10)[0]
    out = text(out)
    if not t.ok("200 OK" in out and "RENEGOTIATING" in out and "no renegotiation" in out,
                "client-initiated renegotiation is refused (no_renegotiation)"):
        t.diag(out[-1500:])

    t.ok(s.proc.poll() is None, "the server is still running after the bad clients")
    c0 = cpu_seconds(s.proc.pid)
    time.sleep(1)
    used = cpu_seconds(s.proc.pid) - c0
    t.ok(used < 0.25, "and idle again: no busy loop left behind (%.2f s of CPU in 1 s)" % used)
    rc, out, err = curl("https://localhost:%d/file.txt" % p, timeout=10)
    t.ok(rc == 0 and out == FILE, "and still serves over TLS")


def t_reload(s):
    p = s.tls_port
    ka = tls_connect(p, 30)
    rd = Reader(ka, 30)
    req = b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
    try:
        ka.sendall(req)
        first = rd.response()
        t.is_(ka.getpeercert().get("serialNumber", "").lstrip("0"), "1001",
              "before the reload: the RSA leaf (serial 1001)")
        nrel = elog(s).count("configuration reloaded")
        write(KEY, read(new_key))
        write(CERT, read(new_chain))
        s.proc.send_signal(signal.SIGHUP)
        t.ok(wait_for(lambda: elog(s).count("configuration reloaded") > nrel, 10 * SLOW),
             "SIGHUP with a new pair: configuration reloaded")
        t.is_(serial_now(p), "2002", "new connections get the new certificate (serial 2002)")
        rc, out = s_client(p, "-showcerts")
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        info = ""
        if pem:
            rc, o, _ = run(["openssl", "x509", "-noout", "-serial", "-subject"], inp=pem.group(0).encode())
            info = text(o)
        t.ok("serial=2002" in info and "dcgi reloaded leaf" in info,
             "openssl s_client -showcerts | openssl x509: serial 2002, CN dcgi reloaded leaf")
        rc, out, err = curl("https://localhost:%d/file.txt" % p)
        t.ok(rc == 0 and out == FILE, "curl verifies the new certificate against the same root")
        ka.sendall(req)
        second = rd.response()
        t.ok(first[0] == 200 and second[0] == 200 and second[2] == FILE,
             "a keep-alive TLS connection opened before the reload still works after it")

        # A key that does not match the certificate: logged, the old pair stays.
        before = len(elog(s))
        write(KEY, read(ec_key))
        s.proc.send_signal(signal.SIGHUP)
        t.ok(wait_for(lambda: "keeping the old configuration" in elog(s)[before:], 5),
             "SIGHUP with a key that does not match: logged")
        new = elog(s)[before:]
        line = [l for l in new.splitlines() if "keeping the old configuration" in l]
        if not t.ok(line and "does not match" in line[0] and KEY in line[0],
                    "the log line names the key, says it does not match and that the old "
                    "configuration stays"):
            t.diag(new)
        t.is_(serial_now(p), "2002", "still serving with the previous certificate")
        t.ok(s.proc.poll() is None, "and still running")

        # A missing certificate file: the same.
        write(KEY, read(new_key))
        os.unlink(CERT)
        before = len(elog(s))
        s.proc.send_signal(signal.SIGHUP)
        t.ok(wait_for(lambda: "keeping the old configuration" in elog(s)[before:], 5),
             "SIGHUP with the certificate file missing: logged, old configuration kept")
        new = elog(s)[before:]
        if not t.ok(CERT in new, "the log names the missing certificate file"):
            t.diag(new)
        t.is_(serial_now(p), "2002", "still serving with the previous certificate")

        write(CERT, read(new_chain))
        nrel = elog(s).count("configuration reloaded")
        s.proc.send_signal(signal.SIGHUP)
        t.ok(wait_for(lambda: elog(s).count("configuration reloaded") > nrel, 10 * SLOW),
             "the pair restored: SIGHUP reloads again")
        # The connection opened before the first reload belongs to the
        # server process that reload replaced: it answered its next
        # request with Connection: close (as nginx's old workers do).
        t.ok(second[0] == 200 and (header(second[1], "connection") or "").lower() == "close",
             "the replaced server process answered it with Connection: close")
        ka2 = tls_connect(p, 30)
        rd2 = Reader(ka2, 30)
        ka2.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        third = rd2.response()
        ka2.close()
        t.ok(third[0] == 200 and third[2] == FILE,
             "after all four reloads a new connection is served")
    finally:
        ka.close()


def t_reload_load(s):
    p = s.tls_port
    results = []
    halt = threading.Event()

    def loader():
        while not halt.is_set():
            t0 = time.monotonic()
            conn = http.client.HTTPSConnection("127.0.0.1", p, context=CTX, timeout=10 * SLOW)
            try:
                conn.connect()
                serial = conn.sock.getpeercert().get("serialNumber", "").lstrip("0")
                conn.request("GET", "/file.txt", headers={"Connection": "close"})
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200 and body == FILE
                results.append((ok, "" if ok else "%d %r" % (resp.status, body[:60]), serial))
            except Exception as e:
                results.append((False, "%s: %s" % (type(e).__name__, e), None))
            finally:
                conn.close()
            halt.wait(max(0.0, 0.1 - (time.monotonic() - t0)))

    nrel = elog(s).count("configuration reloaded")
    ths = [threading.Thread(target=loader, daemon=True) for _ in range(2)]
    for th in ths:
        th.start()
    time.sleep(0.5)
    ready = lambda: len(re.findall(r"server process \d+ ready", elog(s)))
    nready = ready()
    for i, (chain, key) in enumerate(((ec_chain, ec_key), (rsa_chain, rsa_key),
                                      (new_chain, new_key))):
        # The pair is two files, read by the process that takes the SIGHUP
        # and again by the server process it starts: replace it only once
        # the previous reload's server process is ready, or that reload
        # may read the new key beside the old certificate.  (dcgid takes
        # a SIGHUP that comes during a reload once that reload is done;
        # under valgrind that is later than 0.5 s.)
        wait_for(lambda: ready() >= nready + i, 10 * SLOW)
        write(KEY, read(key))
        write(CERT, read(chain))
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
    # A reload is complete when its server process is ready (slower under
    # valgrind): keep the load on until the last one is.
    wait_for(lambda: elog(s).count("configuration reloaded") >= nrel + 3, 10 * SLOW)
    time.sleep(0.5)
    halt.set()
    for th in ths:
        th.join(30 * SLOW)
    fails = [r[1] for r in results if not r[0]]
    if not t.ok(len(results) >= (20 if not WRAPPED else 3) and not fails,
                "3 SIGHUPs 0.5 s apart under ~20 new HTTPS connections a second: "
                "%d requests, %d failed" % (len(results), len(fails))):
        t.diag("\n".join(fails[:5]))
    seen = sorted({r[2] for r in results if r[0]})
    # Under valgrind each reload's server process needs about a second to
    # start and serves for half of one: the load may see only the ends.
    t.ok(len(seen) >= (1 if WRAPPED else 2),
         "the load saw the certificate change (serials %s)" % ", ".join(seen))
    t.ok(wait_for(lambda: elog(s).count("configuration reloaded") >= nrel + 3, 5),
         "three reloads logged")
    t.is_(serial_now(p), "2002", "after the last reload its pair is in force")


def t_ecdsa_redirect(b):
    p, tp = b.port, b.tls_port
    rc, out, err = curl("-w", "\n%{http_code}", "https://localhost:%d/file.txt" % tp)
    if not t.is_((rc, out), (0, FILE + b"\n200"), "ECDSA P-256 leaf: curl trusting the root gets the file"):
        t.diag(text(err))
    with tls_connect(tp) as c:
        name, version, _ = c.cipher()
        serial = c.getpeercert().get("serialNumber", "").lstrip("0")
    t.ok(name.startswith("ECDHE-ECDSA-") and ("GCM" in name or "CHACHA20" in name) and serial == "1002",
         "ECDSA: the suite is ECDHE-ECDSA with AEAD (%s, %s), serial 1002" % (name, version))
    rc, out = s_client(tp, "-tls1_2")
    c = negotiated_cipher(out)
    t.ok(c and c.startswith("ECDHE-ECDSA-"), "ECDSA: s_client -tls1_2 negotiates %s" % c)
    rc, out = s_client(tp, "-tls1_2", "-reconnect", timeout=30)
    t.is_((rc, len(re.findall(r"^Reused,", out, re.M)), len(re.findall(r"^New, TLSv1\.2", out, re.M))),
          (0, 0, 6), "TLSSessionTickets off: s_client -reconnect does 6 full handshakes, none resumed")

    def plain(target, host="localhost:%d" % p, first=None):
        line = first or b"GET " + target + b" HTTP/1.1"
        return raw(p, line + b"\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n",
                   timeout=10 * SLOW)

    st, hd, _ = parse(plain(b"/file.txt?x=1"))
    t.is_((st, header(hd, "location")), (301, "https://localhost:%d/file.txt?x=1" % tp),
          "HTTPSRedirect on: plain GET /file.txt?x=1 -> 301 https://localhost:TLSPORT/file.txt?x=1")
    t.ok("strict-transport-security" not in hd, "the plain 301 has no Strict-Transport-Security")
    st, hd, _ = parse(plain(b"/a%20b/c.txt?q=%2F&r=%41"))
    t.is_(header(hd, "location"), "https://localhost:%d/a%%20b/c.txt?q=%%2F&r=%%41" % tp,
          "the redirect keeps the target byte for byte (percent-encodings)")
    q = b"q=" + b"x" * 6000
    st, hd, _ = parse(plain(b"/file.txt?" + q))
    t.is_((st, header(hd, "location")), (301, "https://localhost:%d/file.txt?%s" % (tp, q.decode())),
          "a 6000-byte query: the redirect carries it whole")
    st, hd, _ = parse(plain(b"", host="localhost",
                            first=b"GET http://localhost/file.txt?y=2 HTTP/1.1"))
    t.is_(header(hd, "location"), "https://localhost:%d/file.txt?y=2" % tp,
          "an absolute-form target: Location is https:// with the path and query only")
    st, hd, _ = parse(plain(b"/file.txt", host="127.0.0.1:%d" % p))
    t.is_(header(hd, "location"), "https://127.0.0.1:%d/file.txt" % tp,
          "Host 127.0.0.1:PORT: the redirect keeps the host, swaps the port")
    st, hd, body, _ = tls_get(tp, "/file.txt")
    t.ok(st == 200 and body == FILE and header(hd, "strict-transport-security") == "max-age=3600",
         "the HTTPS answer: 200 with Strict-Transport-Security: max-age=3600")


def t_config_errors(s):
    d = os.path.join(WORK, "conf")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "httpd.conf")
    port = free_port()
    tail = "DocumentRoot %s\nMimeTypes %s/conf/mime.types\nErrorLog %s/error.log\n" % (
        d, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), d)

    def dcgid(*args, conf_text, timeout=20):
        write(conf, conf_text)
        rc, out, err = run(s.command(*args, "-f", conf), timeout=timeout, cwd=d)
        return rc, text(out), text(err)

    good = "Listen 127.0.0.1:%d tls\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n" % (
        port, rsa_chain, rsa_key) + tail
    rc, out, err = dcgid("-t", conf_text=good)
    t.is_((rc, out.strip()), (0, "Syntax OK"), "-t: a tls listener with its pair: Syntax OK")
    rc, out, err = dcgid("-t", conf_text="Listen 127.0.0.1:%d tls\n" % port + tail)
    if not t.ok(rc == 1 and re.search(r"^%s:1: .*TLSCertificateFile" % re.escape(conf), err, re.M),
                "-t: a tls listener without TLSCertificateFile: exit 1, FILE:1: message"):
        t.diag(err)
    for ver in ("TLSv1.0", "TLSv1.1", "SSLv3"):
        rc, out, err = dcgid("-t", conf_text="Listen 127.0.0.1:%d\nTLSProtocols %s\n" % (port, ver) + tail)
        if not t.ok(rc == 1 and re.search(r"^%s:2: .*%s" % (re.escape(conf), re.escape(ver)), err, re.M),
                    "-t: TLSProtocols %s: exit 1, FILE:2: message naming it" % ver):
            t.diag(err)
    rc, out, err = dcgid("-t", conf_text="Listen 127.0.0.1:%d tls\nTLSCertificateFile %s\n" % (
        port, rsa_chain) + tail)
    t.ok(rc == 1 and "TLSCertificateKeyFile" in err, "-t: a certificate without a key: exit 1")
    nocert = os.path.join(d, "tls", "cert.pem")
    rc, out, err = dcgid("-t", conf_text=good.replace(rsa_chain, nocert))
    if not t.ok(rc == 1 and nocert in err and "no such file" in err and
                "sh conf/mkcert.sh %s" % os.path.join(d, "tls") in err,
                "-t: a missing certificate: exit 1, names the file and how to make one "
                "(conf/mkcert.sh)"):
        t.diag(err)

    bad_pair = "Listen 127.0.0.1:%d tls\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n" % (
        port, rsa_chain, ec_key) + tail
    rc, out, err = dcgid(conf_text=bad_pair, timeout=15)
    if not t.ok(rc not in (0, 124) and ec_key in err and "does not match" in err,
                "a key that does not match the certificate: the server refuses to start, "
                "naming the key file (exit %d)" % rc):
        t.diag(err)
    notpem = os.path.join(d, "junk.pem")
    write(notpem, "this is not a certificate\n")
    rc, out, err = dcgid(conf_text=good.replace(rsa_chain, notpem), timeout=15)
    t.ok(rc not in (0, 124) and notpem in err,
         "a certificate file that is no PEM: the server refuses to start, naming it (exit %d)" % rc)


def t_expired(e):
    t.ok(wait_for(lambda: re.search(r" warn\S* .*expired", elog(e)), 3),
         "an expired certificate: the server starts and logs a warning with \"expired\"")
    rc, out, err = curl("https://localhost:%d/file.txt" % e.tls_port)
    t.ok(rc == 60 and "expired" in text(err),
         "and serves it: curl refuses it as expired (exit %d)" % rc)
    rc, out = s_client(e.tls_port, "-tls1_2")
    t.ok(negotiated_cipher(out), "the handshake itself works (s_client ignores the date)")


# --- the run ----------------------------------------------------------------------------

BASE = ("DocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
        "AccessLog {tmp}/access.log\nErrorLog {tmp}/error.log\n")
TLS = ("Listen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port} tls\n"
       "TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\nHeaderTimeout {ht}s\n")

missing = [c for c in ("openssl", "curl", "sslscan", "docker") if shutil.which(c) is None]
ready = t.ok(not missing, "the tools are there (openssl, curl, sslscan, docker)")
if not ready:
    t.diag("missing: %s (tests/setup.sh installs them)" % " ".join(missing))
else:
    rc, out = docker("info", "--format", "{{.ServerVersion}}")
    ready = t.ok(rc == 0 and out.strip(), "a Docker engine answers")
    ready = ready and t.ok(docker("image", "inspect", "dcgi-test/busybox")[0] == 0,
                           "the image dcgi-test/busybox exists (tests/images/build.sh)")
if not ready:
    shutil.rmtree(WORK, ignore_errors=True)
    t.done()

try:
    # 1. the PKI
    make_pki()
    rsa_chain, rsa_key = make_leaf("rsa", "rsa", 0x1001, "dcgi rsa leaf")
    ec_chain, ec_key = make_leaf("ec", "ec", 0x1002, "dcgi ecdsa leaf")
    new_chain, new_key = make_leaf("rsa2", "rsa", 0x2002, "dcgi reloaded leaf")
    CTX = client_ctx()
    for name in ("rsa", "ec", "rsa2"):
        rc, out, _ = run(["openssl", "verify", "-CAfile", ROOT, "-untrusted", pki("inter.pem"),
                          pki(name + ".crt")])
        t.ok(rc == 0 and b": OK" in out, "PKI: the %s leaf verifies through the intermediate" % name)
    rc, _, _ = run(["openssl", "verify", "-CAfile", ROOT, pki("rsa.crt")])
    t.ok(rc != 0, "PKI: without the intermediate the leaf does not verify (the chain matters)")
    t.ok(serial_of(rsa_chain) == "1001" and read(rsa_chain).count("BEGIN CERTIFICATE") == 2,
         "PKI: the chain file holds the leaf, then the intermediate")
    ectext = openssl("x509", "-in", pki("ec.crt"), "-noout", "-text")
    t.ok("id-ecPublicKey" in ectext and "prime256v1" in ectext, "PKI: the ECDSA leaf is P-256")

    # The main server's pair lives at these paths; the reload tests rewrite them.
    CERT, KEY = os.path.join(WORK, "server.pem"), os.path.join(WORK, "server.key")
    write(CERT, read(rsa_chain))
    write(KEY, read(rsa_key))

    # 2. the main server
    s = new_server("main", TLS + "HSTS 1h\n" + BASE +
                   "<Route /echo>\n    Image dcgi-test/busybox\n    Command /cgi/echo\n</Route>\n",
                   cert=CERT, key=KEY, ht=HT)
    write(os.path.join(s.root, "file.txt"), FILE)
    write(os.path.join(s.root, "big.bin"), BIG)
    start(s)
    section("static files over TLS", t_static, s)
    section("keep-alive over TLS", t_keepalive, s)
    section("a container route over TLS", t_route, s)
    section("ALPN, protocols, ciphers, resumption", t_protocols, s)
    section("sslscan", t_sslscan, s)
    section("bad clients on the TLS port", t_bad_clients, s)
    section("certificate reload", t_reload, s)
    section("reload under load", t_reload_load, s)
    t.ok("TLS handshake failed" in elog(s), "failed handshakes are in the error log")
    stop(s, "the main server")

    # ECDSA, HTTPSRedirect and HSTS
    b = new_server("ecdsa", TLS + "HTTPSRedirect on\nHSTS 1h\nTLSSessionTickets off\n" + BASE,
                   cert=ec_chain, key=ec_key, ht=HT)
    write(os.path.join(b.root, "file.txt"), FILE)
    start(b)
    section("ECDSA, HTTPSRedirect, HSTS", t_ecdsa_redirect, b)
    stop(b, "the ECDSA server")

    section("configuration errors", t_config_errors, s)

    expired = make_expired()
    e = new_server("expired", TLS + BASE, cert=expired, key=rsa_key, ht=HT)
    write(os.path.join(e.root, "file.txt"), FILE)
    start(e)
    section("an expired certificate", t_expired, e)
    stop(e, "the server with the expired certificate")

    if not t.ok(wait_for(lambda: containers() == [], 15),
                "no container labelled dcgi.route by our dcgid is left (docker ps)"):
        t.diag("left: %s" % " ".join(containers() or ["?"]))
except Exception as ex:
    t.ok(False, "the test ran to the end (%s: %s)" % (type(ex).__name__, ex))
finally:
    signal.alarm(0)
    for srv in servers:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            try:
                srv.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    if t.failed:
        t.diag("files (certificates, configs, logs) are in %s" % WORK)
        for srv in servers:
            tail = elog(srv)[-2500:]
            if tail:
                t.diag("%s error log (end):\n%s" % (os.path.basename(srv.tmpdir), tail))
    else:
        shutil.rmtree(WORK, ignore_errors=True)
t.done()
