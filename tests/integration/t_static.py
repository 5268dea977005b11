#!/usr/bin/env python3
"""Static files: types, conditional requests, ranges, directories,
containment, keep-alive and pipelining, HEAD, IPv6, with curl and raw sockets."""

import hashlib
import os
import re
import socket
import subprocess

from dcgitest import Server, Tap, raw, status_of

t = Tap()


def curl(*args):
    """Run curl; return (status, headers dict (lower-case names), body)."""
    p = subprocess.run(["curl", "-s", "-S", "-D", "-", "-o", "/dev/stderr", *args],
                       capture_output=True, timeout=30)
    head = p.stdout.decode("latin-1")
    blocks = [b for b in head.split("\r\n\r\n") if b.strip()]
    last = blocks[-1] if blocks else ""
    lines = last.split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, p.stderr


def split(resp):
    """Split one raw response into (status, headers, body)."""
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status_of(resp), hdrs, body


s = Server("Listen 127.0.0.1:{port}\nListen [::1]:{port}\nDocumentRoot {root}\n"
           "MimeTypes {repo}/conf/mime.types\nAccessLog {tmp}/access.log\n")
root = s.root
with open(os.path.join(root, "index.html"), "w") as f:
    f.write("<h1>home</h1>\n")
os.makedirs(os.path.join(root, "sub", "deeper"))
with open(os.path.join(root, "sub", "index.html"), "w") as f:
    f.write("sub index\n")
with open(os.path.join(root, "style.css"), "w") as f:
    f.write("body{}\n")
with open(os.path.join(root, "app.js"), "w") as f:
    f.write("1;\n")
with open(os.path.join(root, "data.bin"), "wb") as f:
    f.write(bytes(range(256)) * 4)
big = os.urandom(3 * 1024 * 1024 + 17)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(big)
with open(os.path.join(root, "noext"), "w") as f:
    f.write("x")
secret_dir = os.path.join(s.tmpdir, "secret")
os.makedirs(secret_dir)
with open(os.path.join(secret_dir, "passwd"), "w") as f:
    f.write("root:secret\n")
os.symlink(os.path.join(secret_dir, "passwd"), os.path.join(root, "escape"))
os.symlink(secret_dir, os.path.join(root, "escapedir"))
os.symlink("style.css", os.path.join(root, "inside-link.css"))
os.mkfifo(os.path.join(root, "fifo"))

base = "http://127.0.0.1:%d" % s.port

st, h, body = curl(base + "/")
t.is_(st, 200, "GET / serves index.html")
t.is_(body, b"<h1>home</h1>\n", "index body")
t.is_(h.get("content-type"), "text/html; charset=utf-8", "html type with charset")
t.ok(h.get("server", "").startswith("dcgid/"), "Server header")
t.ok(re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", h.get("date", "")), "Date header")
t.ok(h.get("etag", "").startswith('"'), "strong ETag")
t.ok(h.get("last-modified", "").endswith("GMT"), "Last-Modified")
t.is_(h.get("content-length"), "14", "Content-Length")

t.is_(curl(base + "/style.css")[1].get("content-type"), "text/css; charset=utf-8", "css type")
t.is_(curl(base + "/app.js")[1].get("content-type"),
      "text/javascript; charset=utf-8", "js type (RFC 9239)")
t.is_(curl(base + "/noext")[1].get("content-type"), "application/octet-stream", "unknown type")
t.is_(curl(base + "/data.bin")[2], bytes(range(256)) * 4, "binary body intact")

# Large file: sendfile, the whole of it, byte for byte.
st, h, body = curl(base + "/big.bin")
t.is_(st, 200, "3 MiB file")
t.is_(hashlib.sha256(body).hexdigest(), hashlib.sha256(big).hexdigest(), "3 MiB body intact")

# Directories.
st, h, _ = curl(base + "/sub")
t.is_(st, 301, "directory without slash: 301")
t.is_(h.get("location"), "/sub/", "redirected to the slash")
st, h, _ = curl(base + "/sub?x=1")
t.is_(h.get("location"), "/sub/?x=1", "redirect keeps the query")
t.is_(curl(base + "/sub/")[2], b"sub index\n", "directory index")
t.is_(curl(base + "/sub/deeper/")[0], 403, "no index: 403, no listing")
st, h, body = curl(base + "/missing")
t.is_(st, 404, "missing file: 404")
t.is_(h.get("content-type"), "text/html; charset=utf-8", "an error page says it is HTML")
t.is_(h.get("content-length"), str(len(body)), "and how long it is")
t.is_(curl(base + "/index.html/x")[0], 404, "file as a directory: 404")

# Containment.
t.is_(curl(base + "/escape")[0], 403, "symlink out of DocumentRoot: 403")
t.is_(curl(base + "/escapedir/passwd")[0], 403, "symlinked directory out: 403")
t.is_(curl(base + "/inside-link.css")[2], b"body{}\n", "symlink inside DocumentRoot works")
t.is_(curl(base + "/fifo")[0], 403, "a FIFO is not served (and does not hang)")
for path in [b"/../secret/passwd", b"/%2e%2e/secret/passwd", b"/sub/..%2f..%2fsecret/passwd",
             b"/%2E%2E/secret/passwd", b"/sub/../../secret/passwd"]:
    r = raw(s.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.ok(status_of(r) in (400, 403, 404) and b"root:secret" not in r,
         "traversal %s refused (%s)" % (path.decode(), status_of(r)))

# Conditional requests.
st, h, _ = curl(base + "/style.css")
etag, lm = h["etag"], h["last-modified"]
t.is_(curl("-H", "If-None-Match: " + etag, base + "/style.css")[0], 304, "If-None-Match: 304")
t.is_(curl("-H", 'If-None-Match: "x", W/' + etag, base + "/style.css")[0], 304,
      "If-None-Match list with a weak match: 304")
t.is_(curl("-H", 'If-None-Match: "other"', base + "/style.css")[0], 200, "other ETag: 200")
t.is_(curl("-H", "If-Modified-Since: " + lm, base + "/style.css")[0], 304, "If-Modified-Since: 304")
t.is_(curl("-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT", base + "/style.css")[0], 200,
      "modified since 1970: 200")
t.is_(curl("-H", 'If-Match: "nope"', base + "/style.css")[0], 412, "If-Match mismatch: 412")
r = raw(s.port, b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-None-Match: "
        + etag.encode() + b"\r\n\r\n")
t.ok(status_of(r) == 304 and r.endswith(b"\r\n\r\n"), "304 has no body")

# Ranges.
st, h, body = curl("-H", "Range: bytes=10-19", base + "/data.bin")
t.is_(st, 206, "Range: 206")
t.is_(body, (bytes(range(256)) * 4)[10:20], "range body")
t.is_(h.get("content-range"), "bytes 10-19/1024", "Content-Range")
st, h, body = curl("-H", "Range: bytes=-4", base + "/data.bin")
t.is_(body, bytes([252, 253, 254, 255]), "suffix range")
st, h, body = curl("-H", "Range: bytes=3000000-", base + "/big.bin")
t.is_(body, big[3000000:], "open range of a large file (sendfile with offset)")
st, h, _ = curl("-H", "Range: bytes=5000-", base + "/data.bin")
t.is_(st, 416, "unsatisfiable range: 416")
t.is_(h.get("content-range"), "bytes */1024", "416 Content-Range")
t.is_(curl("-H", "Range: bytes=0-1,4-5", base + "/data.bin")[0], 200, "several ranges: whole file")
t.is_(curl("-H", "Range: bytes=0-1", "-H", 'If-Range: "stale"', base + "/data.bin")[0], 200,
      "stale If-Range: whole file")

# Methods.
st, h, body = curl("-I", base + "/style.css")
t.is_(st, 200, "HEAD 200")
t.is_(h.get("content-length"), "7", "HEAD has the length")
r = raw(s.port, b"HEAD /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.ok(r.endswith(b"\r\n\r\n"), "HEAD sends no body")
st, h, _ = curl("-X", "POST", "-d", "x=1", base + "/style.css")
t.is_(st, 405, "POST to a file: 405")
t.is_(h.get("allow"), "GET, HEAD", "405 names what is allowed")
t.is_(curl("-X", "DELETE", base + "/style.css")[0], 405, "DELETE: 405")
t.is_(curl("-X", "BREW", base + "/style.css")[0], 501, "unknown method: 501")
r = raw(s.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.is_(status_of(r), 200, "OPTIONS *")

# Keep-alive and pipelining: three requests in one write, three answers in order.
req = (b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"
       b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
       b"GET /noext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
r = raw(s.port, req)
t.is_(r.count(b"HTTP/1.1 200 OK"), 3, "three pipelined requests, three responses")
t.ok(r.index(b"body{}") < r.index(b"1;\n") < r.rindex(b"x"), "responses in request order")
with socket.create_connection(("127.0.0.1", s.port)) as c:
    got = []
    for i in range(5):
        c.sendall(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"body{}\n"):
            data += c.recv(4096)
        got.append(status_of(data))
    t.is_(got, [200] * 5, "five requests on one keep-alive connection")
# HTTP/1.0 closes unless asked.
r = raw(s.port, b"GET /noext HTTP/1.0\r\n\r\n", timeout=5)
t.ok(status_of(r) == 200 and b"Connection: close" in r, "HTTP/1.0 without keep-alive closes")
# absolute-form
r = raw(s.port, b"GET http://example.org/style.css HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n")
t.ok(status_of(r) == 200 and r.endswith(b"body{}\n"), "absolute-form target")
# Leading empty lines are ignored (RFC 9112 section 2.2).
r = raw(s.port, b"\r\n\r\nGET /noext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.is_(status_of(r), 200, "empty lines before the request line")
# A request split into single bytes.
with socket.create_connection(("127.0.0.1", s.port)) as c:
    for b in b"GET /noext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
        c.sendall(bytes([b]))
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    t.is_(status_of(data), 200, "a request sent byte by byte")

# Small files stay open between requests (the open-file cache): every
# change on disk must still show at once.
def put(name, data):
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)


def nfds():
    return len(os.listdir("/proc/%d/fd" % s.proc.pid))


put("c.txt", b"one\n")
st1, h1, b1 = curl(base + "/c.txt")
st2, h2, b2 = curl(base + "/c.txt")
t.is_((st1, b1, st2, b2), (200, b"one\n", 200, b"one\n"), "cache: a small file twice")
with open(os.path.join(root, "c.txt"), "r+b") as f:    # same inode, new bytes
    f.write(b"two, longer\n")
st, h, body = curl(base + "/c.txt")
t.is_((st, body), (200, b"two, longer\n"), "cache: an edit in place is served at once")
t.ok(h.get("etag") != h1.get("etag") and h.get("content-length") == "12",
     "cache: with a new ETag and length")
tmpname = os.path.join(root, ".c.new")
with open(tmpname, "wb") as f:
    f.write(b"three\n")
os.rename(tmpname, os.path.join(root, "c.txt"))
t.is_(curl(base + "/c.txt")[2], b"three\n", "cache: a file renamed over it is served at once")
os.chmod(os.path.join(root, "c.txt"), 0o444)
t.is_(curl(base + "/c.txt")[0], 200, "cache: a mode change is a miss, the file reopened")
# The server process runs as User (dcgi), not root: a file only root may
# read is not served.
os.chmod(os.path.join(root, "c.txt"), 0o600)
t.is_(curl(base + "/c.txt")[0], 403, "cache: and a file the server's user may not read is 403")
os.unlink(os.path.join(root, "c.txt"))
t.is_(curl(base + "/c.txt")[0], 404, "cache: a removed file is 404 at once")
put("c.txt", b"four\n")
curl(base + "/c.txt")
os.unlink(os.path.join(root, "c.txt"))
os.symlink(os.path.join(secret_dir, "passwd"), os.path.join(root, "c.txt"))
st, _, body = curl(base + "/c.txt")
t.ok(st == 403 and b"secret" not in body, "cache: a cached file replaced by a link out of the root: 403")
big_small = os.urandom(20000)
put("grow.bin", b"x" * 100)
curl(base + "/grow.bin")
put("grow.bin", big_small)                                  # same inode, now > 16 KiB
st, _, body = curl(base + "/grow.bin")
t.ok(st == 200 and body == big_small, "cache: a file that grew past the small size is served whole")
before = nfds()
for i in range(200):
    put("many%d.txt" % i, b"%d\n" % i)
got = [curl(base + "/many%d.txt" % i)[2] for i in range(200)]
t.ok(got == [b"%d\n" % i for i in range(200)], "cache: 200 different small files, each right")
t.ok(nfds() <= before + 64, "cache: at most 64 files kept open (%d fds, %d before)" % (nfds(), before))

# IPv6
st, _, body = curl("-g", "http://[::1]:%d/style.css" % s.port)
t.is_((st, body), (200, b"body{}\n"), "IPv6 listener")

# A body on a GET is read and the connection stays usable.
r = raw(s.port, b"GET /noext HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /noext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.is_(r.count(b"HTTP/1.1 200"), 2, "Content-Length body skipped, next request served")
r = raw(s.port, b"GET /noext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\nGET /noext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.is_(r.count(b"HTTP/1.1 200"), 2, "chunked body skipped, next request served")
# Expect: 100-continue gets the interim response before the body is sent.
with socket.create_connection(("127.0.0.1", s.port), 5) as c:
    c.sendall(b"POST /noext HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    first = c.recv(4096)
    t.ok(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "100 Continue before the body")
    c.sendall(b"abc")
    data = first
    while b"405" not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    t.ok(b"HTTP/1.1 405" in data, "then the final response")

code = s.stop()
t.is_(code, 0, "clean exit")
with open(os.path.join(s.tmpdir, "access.log")) as f:
    log = f.read().splitlines()
line = [l for l in log if '"GET /style.css HTTP/1.1" 200 7' in l]
t.ok(line, "access log has the request")
if line:
    t.ok(re.match(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                  r'"GET /style\.css HTTP/1\.1" 200 7 "-" "curl/[^"]+" \d+\.\d{3} [0-9a-f]{16}$',
                  line[0]), "combined format with duration and request id: " + line[0])
t.ok(any('" 404 ' in l for l in log), "404 logged")
t.done()
