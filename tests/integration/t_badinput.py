#!/usr/bin/env python3
"""Bad input: each gets its status, and the server answers the next client.
Slow clients: header, body and keep-alive timeouts; the connection cap."""

import os
import socket
import time

from dcgitest import Server, Tap, raw, status_of

t = Tap()

s = Server("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
           "AccessLog off\nMaxRequestLine 1k\nMaxHeaderSize 4k\nMaxHeaders 20\nMaxBody 1k\n"
           "HeaderTimeout 1s\nBodyTimeout 1s\nKeepAliveTimeout 1s\nMaxConnections 20\n")
with open(os.path.join(s.root, "ok.txt"), "w") as f:
    f.write("ok\n")

H = b"Host: x\r\n"
cases = [
    ("missing Host on 1.1", b"GET /ok.txt HTTP/1.1\r\n\r\n", 400),
    ("two Host headers", b"GET /ok.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("obs-fold", b"GET /ok.txt HTTP/1.1\r\n" + H + b"X-A: 1\r\n  more\r\n\r\n", 400),
    ("space before colon", b"GET /ok.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("bad method token", b"G(T /ok.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("garbage", b"\x00\x01\x02\xff\xfe garbage\r\n\r\n", 400),
    ("TLS hello on plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("HTTP/0.9 request line", b"GET /ok.txt\r\n\r\n", 400),
    ("CL and TE together", b"POST /ok.txt HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("conflicting Content-Lengths", b"POST /ok.txt HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nhello", 400),
    ("negative Content-Length", b"POST /ok.txt HTTP/1.1\r\n" + H + b"Content-Length: -5\r\n\r\n", 400),
    ("unknown Transfer-Encoding", b"POST /ok.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("TE in HTTP/1.0", b"POST /ok.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("bad chunk size", b"POST /ok.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("body over MaxBody (declared)", b"POST /ok.txt HTTP/1.1\r\n" + H + b"Content-Length: 2048\r\n\r\n", 413),
    ("chunked body over MaxBody", b"POST /ok.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     + (b"400\r\n" + b"a" * 1024 + b"\r\n") * 2 + b"0\r\n\r\n", 413),
    ("URI too long", b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("head too large", b"GET /ok.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 5000 + b"\r\n\r\n", 431),
    ("too many headers", b"GET /ok.txt HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(30)) + b"\r\n", 431),
    ("unsupported version", b"GET /ok.txt HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("control byte in a header", b"GET /ok.txt HTTP/1.1\r\n" + H + b"X-A: a\x07b\r\n\r\n", 400),
    ("NUL in the path", b"GET /ok%00.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bad percent escape", b"GET /ok%zz HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("path above the root", b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("fragment in the target", b"GET /ok.txt#x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("unknown Expect", b"GET /ok.txt HTTP/1.1\r\n" + H + b"Expect: magic\r\n\r\n", 417),
    ("CONNECT", b"CONNECT example.org:443 HTTP/1.1\r\n" + H + b"\r\n", 501),
    ("method not allowed", b"PUT /ok.txt HTTP/1.1\r\n" + H + b"Connection: close\r\nContent-Length: 0\r\n\r\n", 405),
    ("userinfo in absolute-form", b"GET http://u@h/ok.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
]


def still_alive():
    r = raw(s.port, b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return status_of(r) == 200 and r.endswith(b"ok\n")


for name, data, want in cases:
    r = raw(s.port, data, timeout=5)
    t.is_(status_of(r), want, "%s: %d" % (name, want))
    if want != 405:
        t.ok(b"Connection: close" in r, "%s: the connection is closed" % name)
    t.ok(still_alive(), "%s: the server still answers" % name)

# A smuggling attempt must not yield a second, hidden request.
r = raw(s.port, b"POST /ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
t.is_(r.count(b"HTTP/1.1 "), 1, "CL+TE: one response only, nothing smuggled")

# Header timeout: a slowloris gets 408, then the connection is closed.
t0 = time.monotonic()
with socket.create_connection(("127.0.0.1", s.port), 10) as c:
    c.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n")
    try:
        for _ in range(8):
            time.sleep(0.3)
            c.sendall(b"X-Slow: 1\r\n")
    except OSError:
        pass
    data = b""
    while True:
        try:
            chunk = c.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
t.is_(status_of(data), 408, "slow head: 408 although bytes keep trickling in")
t.ok(time.monotonic() - t0 < 5, "within about HeaderTimeout")

# An idle new connection gets 408 too.
r = raw(s.port, b"", timeout=5)
t.is_(status_of(r), 408, "silent connection: 408")

# Body timeout.
r = raw(s.port, b"POST /ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", timeout=5)
t.is_(status_of(r), 408, "stalled body: 408")

# Keep-alive idle timeout: the connection is closed quietly.
with socket.create_connection(("127.0.0.1", s.port), 10) as c:
    c.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while not data.endswith(b"ok\n"):
        data += c.recv(4096)
    t0 = time.monotonic()
    rest = c.recv(4096)
    t.is_(rest, b"", "idle keep-alive connection closed without a response")
    t.ok(0.5 < time.monotonic() - t0 < 5, "after KeepAliveTimeout")

# MaxConnections: the 21st waits in the backlog until one closes.
held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(20)]
time.sleep(0.2)
extra = socket.create_connection(("127.0.0.1", s.port), 5)
extra.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
extra.settimeout(0.5)
try:
    early = extra.recv(4096)
except socket.timeout:
    early = None
t.is_(early, None, "over MaxConnections: not served while the others are open")
for c in held:
    c.close()
extra.settimeout(5)
data = b""
while True:
    chunk = extra.recv(4096)
    if not chunk:
        break
    data += chunk
extra.close()
t.is_(status_of(data), 200, "served once connections were freed")

# Many clients that connect and vanish.
for _ in range(200):
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(b"GET /ok.txt HTTP/1.1\r\nHo")
    c.close()
t.ok(still_alive(), "after 200 aborted requests the server still answers")

# A client that resets mid-response of a large file.
with open(os.path.join(s.root, "big"), "wb") as f:
    f.write(b"z" * (8 << 20))
for _ in range(5):
    c = socket.create_connection(("127.0.0.1", s.port))
    c.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    c.recv(1000)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
t.ok(still_alive(), "after clients reset mid-download the server still answers")

t.is_(s.stop(), 0, "clean exit")
t.done()
