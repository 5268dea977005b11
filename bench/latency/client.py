#!/usr/bin/env python3
"""Latency client for bench/latency.sh: one "request" at a time per worker,
its wall time measured, p50/p99 computed over all of them.

    client.py http PORT PATH   [options]   GET http://127.0.0.1:PORT/PATH
    client.py raw  SOCKET      [options]   the Docker Engine API sequence
    client.py warm SOCKET INIT [options]   write to a container that waits

Options: -n N (requests measured), -c C (concurrent workers), -w W (warm-up
requests, sequential, not measured), -o FILE (JSON: every sample and the
summary), --label TEXT, --gap MS (an unmeasured pause after each
request, per worker: 0 by default; for diagnosis, e.g. to let the engine
finish removing the previous container before the next one is created).

http: each worker keeps one HTTP/1.1 keep-alive connection (a new one after
an error or a close); a request counts from sending it to having read the
whole response.  A response is an error unless its status is 201 and its
body is "created" (what /cgi/status prints).  Server-Timing headers (dcgid)
are kept per request; with dcgid's `Prestart` one of them says
prestart;desc=hit (a ready one) or miss (started cold), and the summary
counts them.

raw: the floor, what any program serving a request with a fresh container
must do at least, on raw AF_UNIX sockets to the engine (API 1.41):

    POST /containers/create   (the same spec as dcgid's: OpenStdin,
                               StdinOnce, Attach*, NetworkMode none, the
                               same HostConfig, a CGI-sized Env, labels)
    POST /containers/ID/attach?stream=1&stdin=1&stdout=1&stderr=1
                              (a second connection, Upgrade: tcp, 101)
    POST /containers/ID/start (204)
    shutdown(SHUT_WR)         (stdin EOF, as dcgid does after the body)
    read the multiplexed stream until EOF      -> "eof" time
    DELETE /containers/ID?force=true (204)     -> "total" time

The measured latency is the "eof" time: that is when the response could be
complete (dcgid answers at EOF and removes the container afterwards, off the
client's clock).  The time including the DELETE is kept too ("total").
Each worker keeps one keep-alive control connection for create, start and
delete, and opens a new connection per attach, as dcgid does.

warm: the floor of a prestarted container (dcgid's `Prestart N`), what is
left of a request once a container is created, attached, started and
waiting on stdin in dcgi-init (httpd/init/dcgi-init.c).  Per request,
untimed: create with the spec dcgid's pool sends (Image by ID, Entrypoint
["/.dcgi/init"], Cmd ["/cgi/status"], no Env, the raw kind's HostConfig
plus the bind INIT:/.dcgi/init:ro; label dcgi.bench=latency-warm), attach
(101), start, then a pause (50 ms; --idle S to change it) so that dcgi-init
waits in read().
Timed: write the 4-byte big-endian length and the NUL-ended NAME=value
strings (the raw kind's CGI-sized Env), shutdown(SHUT_WR), read the
multiplexed stream until dcgi-init's END frame (the function has exited:
where dcgid ends the response).  Untimed: DELETE ?force=true.  Phases:
"setup" (create+attach+start), "fb" (write to the first byte), "eof" (the
measured latency), "delete".  The output is checked as for raw.

Everything goes to 127.0.0.1 or the local Docker socket only.
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time

IMAGE = "dcgi-test/busybox"
COMMAND = ["/cgi/status"]
API = "/v1.41"


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(1, -(-len(v) * p // 100))     # ceil(n * p / 100), at least 1
    return v[int(k) - 1]


# --- http ----------------------------------------------------------------------

class HttpTarget:
    def __init__(self, port, path):
        self.port, self.path = port, path

    def worker(self):
        return HttpWorker(self)


class HttpWorker:
    def __init__(self, target):
        self.t = target
        self.conn = None

    def once(self):
        """(seconds, error or None, extra dict)"""
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.t.port,
                                                       timeout=60)
            self.conn.request("GET", self.t.path)
            r = self.conn.getresponse()
            t_head = time.perf_counter()
            body = r.read()
            dt = time.perf_counter() - t0
            # ttfb: to the response head, which dcgid sends once the
            # function's header block is complete.
            extra = {"ttfb": t_head - t0}
            st = r.getheader("Server-Timing")
            if st:
                extra["server_timing"] = st
            if r.getheader("Connection", "").lower() == "close" or r.will_close:
                self.conn.close()
                self.conn = None
            if r.status != 201 or body.strip() != b"created":
                return dt, "status %d body %r" % (r.status, body[:80]), extra
            return dt, None, extra
        except Exception as e:          # noqa: BLE001 - count every failure
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            return time.perf_counter() - t0, "%s: %s" % (type(e).__name__, e), {}

    def close(self):
        if self.conn is not None:
            self.conn.close()


# --- raw -------------------------------------------------------------------------

class ApiConn:
    """A minimal HTTP/1.1 client on an AF_UNIX socket to the engine."""

    def __init__(self, path):
        self.path = path
        self.s = None
        self.buf = b""

    def connect(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(self.path)
        self.buf = b""

    def close(self):
        if self.s is not None:
            self.s.close()
        self.s = None

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise ConnectionError("engine closed the connection")
        self.buf += d

    def _head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs

    def _body(self, hdrs):
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
            return body
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, self.buf = self.buf.split(b"\r\n", 1)
                n = int(line.split(b";")[0], 16)
                while len(self.buf) < n + 2:
                    self._fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    return body
        return b""

    def request(self, method, path, body=None, upgrade=False):
        if self.s is None:
            self.connect()
        data = b""
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        req = "%s %s%s HTTP/1.1\r\nHost: docker\r\n" % (method, API, path)
        if data or method == "POST":
            req += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        if upgrade:
            req += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        self.s.sendall(req.encode() + b"\r\n" + data)
        status, hdrs = self._head()
        if upgrade:
            return status, b""
        out = self._body(hdrs)
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, out


def cgi_env():
    """About what dcgid sends for GET /fn from python's http.client."""
    return ["GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
            "SERVER_SOFTWARE=dcgid/bench", "SERVER_NAME=127.0.0.1",
            "SERVER_PORT=8080", "REQUEST_METHOD=GET", "REQUEST_URI=/fn",
            "SCRIPT_NAME=/fn", "PATH_INFO=", "QUERY_STRING=",
            "REMOTE_ADDR=127.0.0.1", "REMOTE_PORT=40000",
            "HTTP_HOST=127.0.0.1:8080", "HTTP_ACCEPT_ENCODING=identity"]


def host_config():
    """dcgid's HostConfig for a route with Network none, the defaults."""
    return {
        "NetworkMode": "none",
        "Memory": 256 << 20, "MemorySwap": 256 << 20,
        "PidsLimit": 128, "ReadonlyRootfs": True,
        "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
        "Tmpfs": {"/tmp": "rw,nosuid,nodev,noexec,size=64m"},
        "LogConfig": {"Type": "none"},
    }


def remove_quietly(sock, cid):
    """After a failure: never leave a container behind (cid None: none)."""
    if cid is None:
        return
    try:
        c = ApiConn(sock)
        c.request("DELETE", "/containers/%s?force=true" % cid)
        c.close()
    except Exception:       # noqa: BLE001
        pass


def read_to_eof(att):
    """Read an attach stream (ApiConn) until EOF: (bytes, time of the first
    byte or None, time of EOF).  Decode with demux()."""
    raw, t_fb = att.buf, None
    while True:
        d = att.s.recv(65536)
        if not d:
            break
        if t_fb is None:
            t_fb = time.perf_counter()
        raw += d
    return raw, t_fb, time.perf_counter()


def unframe(out):
    """dcgi-init's frames (httpd/envblock.h) in a container's stdout: (the
    function's stdout, its exit status from END or None)."""
    o, i = b"", 0
    while i + 4 <= len(out):
        typ, n = out[i], int.from_bytes(out[i + 1:i + 4], "big")
        if i + 4 + n > len(out):
            break
        if typ == 1:
            o += out[i + 4:i + 4 + n]
        elif typ == 3:
            return o, out[i + 4]
        i += 4 + n
    return o, None


def read_to_end_frame(att):
    """Read an attach stream from dcgi-init until its END frame (where
    dcgid ends the response), or EOF: (stdout of the function, time of the
    first byte or None, time of END)."""
    raw, t_fb = att.buf, None
    while True:
        out, code = unframe(demux(raw))
        if code is not None:
            return out, t_fb, time.perf_counter()
        d = att.s.recv(65536)
        if not d:
            return out, t_fb, time.perf_counter()
        if t_fb is None:
            t_fb = time.perf_counter()
        raw += d


def demux(raw):
    """stdout of a multiplexed attach stream (8-byte frame headers)."""
    out = b""
    while len(raw) >= 8:
        n = int.from_bytes(raw[4:8], "big")
        if raw[0] == 1:
            out += raw[8:8 + n]
        raw = raw[8 + n:]
    return out


class RawTarget:
    def __init__(self, sock):
        self.sock = sock
        self.seq = 0
        self.lock = threading.Lock()

    def worker(self):
        return RawWorker(self)

    def spec(self):
        with self.lock:
            self.seq += 1
            n = self.seq
        return {
            "Image": IMAGE, "Cmd": COMMAND, "Env": cgi_env(),
            "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
            "AttachStdout": True, "AttachStderr": True, "Tty": False,
            "Labels": {"dcgi.bench": "latency-raw",
                       "dcgi.request": "raw-%d" % n},
            "HostConfig": host_config(),
        }


class RawWorker:
    def __init__(self, target):
        self.t = target
        self.ctl = ApiConn(target.sock)

    def once(self):
        t0 = time.perf_counter()
        cid = None
        att = None
        extra = {}
        try:
            st, body = self.ctl.request("POST", "/containers/create", self.t.spec())
            if st != 201:
                raise RuntimeError("create: %d %r" % (st, body[:200]))
            cid = json.loads(body)["Id"]
            t_cr = time.perf_counter()
            att = ApiConn(self.t.sock)
            st, _ = att.request("POST", "/containers/%s/attach?stream=1&stdin=1"
                                "&stdout=1&stderr=1" % cid, upgrade=True)
            if st != 101:
                raise RuntimeError("attach: %d" % st)
            t_at = time.perf_counter()
            st, body = self.ctl.request("POST", "/containers/%s/start" % cid)
            if st not in (204, 304):
                raise RuntimeError("start: %d %r" % (st, body[:200]))
            t_st = time.perf_counter()
            att.s.shutdown(socket.SHUT_WR)
            raw, t_fb, t_eof = read_to_eof(att)
            out = demux(raw)
            att.close()
            att = None
            st, body = self.ctl.request("DELETE", "/containers/%s?force=true" % cid)
            cid = None
            t_del = time.perf_counter()
            if st != 204:
                raise RuntimeError("delete: %d %r" % (st, body[:200]))
            extra = {"create": t_cr - t0, "attach": t_at - t_cr,
                     "start": t_st - t_at,
                     "fb": (t_fb or t_eof) - t_st, "eof": t_eof - t0,
                     "delete": t_del - t_eof, "total": t_del - t0}
            if b"Status: 201" not in out or not out.endswith(b"created"):
                return t_eof - t0, "output %r" % out[:120], extra
            return t_eof - t0, None, extra
        except Exception as e:          # noqa: BLE001 - count every failure
            self.ctl.close()
            if att is not None:
                att.close()
            remove_quietly(self.t.sock, cid)
            return time.perf_counter() - t0, "%s: %s" % (type(e).__name__, e), extra

    def close(self):
        self.ctl.close()


# --- warm ------------------------------------------------------------------------

INIT_PATH = "/.dcgi/init"       # where dcgid binds dcgi-init (DCGI_INIT_PATH)
WARM_PAUSE = 0.05               # after start, before the clock: init waits


class WarmTarget:
    def __init__(self, sock, init, idle=WARM_PAUSE):
        self.sock, self.init, self.idle = sock, init, idle
        self.seq = 0
        self.lock = threading.Lock()
        # dcgid's pool creates from the image ID the name led to.
        c = ApiConn(sock)
        st, body = c.request("GET", "/images/%s/json" % IMAGE)
        c.close()
        if st != 200:
            raise RuntimeError("image %s: %d %r" % (IMAGE, st, body[:200]))
        self.image_id = json.loads(body)["Id"]
        env = b"".join(e.encode() + b"\0" for e in cgi_env())
        self.stdin = len(env).to_bytes(4, "big") + env

    def worker(self):
        return WarmWorker(self)

    def spec(self):
        with self.lock:
            self.seq += 1
            n = self.seq
        hc = host_config()
        hc["Binds"] = ["%s:%s:ro" % (self.init, INIT_PATH)]
        return {
            "Image": self.image_id, "Entrypoint": [INIT_PATH],
            "Cmd": COMMAND,
            "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
            "AttachStdout": True, "AttachStderr": True, "Tty": False,
            "Labels": {"dcgi.bench": "latency-warm",
                       "dcgi.request": "warm-%d" % n},
            "HostConfig": hc,
        }


class WarmWorker:
    def __init__(self, target):
        self.t = target
        self.ctl = ApiConn(target.sock)

    def once(self):
        """(seconds, error or None, extra dict): only the write to EOF."""
        cid = None
        att = None
        extra = {}
        t0 = time.perf_counter()
        t_w = None
        try:
            # Untimed: what dcgid's pool did before the request came.
            st, body = self.ctl.request("POST", "/containers/create", self.t.spec())
            if st != 201:
                raise RuntimeError("create: %d %r" % (st, body[:200]))
            cid = json.loads(body)["Id"]
            att = ApiConn(self.t.sock)
            st, _ = att.request("POST", "/containers/%s/attach?stream=1&stdin=1"
                                "&stdout=1&stderr=1" % cid, upgrade=True)
            if st != 101:
                raise RuntimeError("attach: %d" % st)
            st, body = self.ctl.request("POST", "/containers/%s/start" % cid)
            if st not in (204, 304):
                raise RuntimeError("start: %d %r" % (st, body[:200]))
            t_st = time.perf_counter()
            time.sleep(self.t.idle)
            if att.buf:
                raise RuntimeError("output before the request: %r" % att.buf[:120])
            # Timed: the request, as dcgid hands it to a prestarted one.
            t_w = time.perf_counter()
            att.s.sendall(self.t.stdin)
            att.s.shutdown(socket.SHUT_WR)
            # dcgi-init frames the function's output and ends with END
            # when it exits: where dcgid ends the response.
            out, t_fb, t_eof = read_to_end_frame(att)
            att.close()
            att = None
            # Untimed: removal, as dcgid does after answering.
            st, body = self.ctl.request("DELETE", "/containers/%s?force=true" % cid)
            cid = None
            t_del = time.perf_counter()
            if st != 204:
                raise RuntimeError("delete: %d %r" % (st, body[:200]))
            extra = {"setup": t_st - t0, "fb": (t_fb or t_eof) - t_w,
                     "eof": t_eof - t_w, "delete": t_del - t_eof}
            if b"Status: 201" not in out or not out.endswith(b"created"):
                return t_eof - t_w, "output %r" % out[:120], extra
            return t_eof - t_w, None, extra
        except Exception as e:          # noqa: BLE001 - count every failure
            self.ctl.close()
            if att is not None:
                att.close()
            remove_quietly(self.t.sock, cid)
            return (time.perf_counter() - (t_w or t0),
                    "%s: %s" % (type(e).__name__, e), extra)

    def close(self):
        self.ctl.close()


# --- driver ------------------------------------------------------------------

def run(target, n, conc, gap=0.0):
    """n requests over conc workers, each worker one request at a time."""
    samples = []
    lock = threading.Lock()
    left = [n]

    def work():
        w = target.worker()
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                dt, err, extra = w.once()
                with lock:
                    samples.append({"t": dt, "err": err, **extra})
                if gap > 0:
                    time.sleep(gap)
        finally:
            w.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(conc)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return samples, time.perf_counter() - t0


def parse_server_timing(v):
    out = {}
    for part in v.split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out


def summarize(samples, wall):
    ok = [s["t"] * 1000 for s in samples if s["err"] is None]
    errs = [s["err"] for s in samples if s["err"] is not None]
    summ = {"n": len(samples), "ok": len(ok), "errors": len(errs),
            "first_errors": errs[:5], "wall_s": wall,
            "rps": len(samples) / wall if wall > 0 else 0,
            "p50_ms": pct(ok, 50), "p99_ms": pct(ok, 99),
            "min_ms": min(ok) if ok else float("nan"),
            "max_ms": max(ok) if ok else float("nan")}
    # Where the time went: dcgid's Server-Timing, or the raw phases.
    phases = {}
    for s in samples:
        if s["err"] is not None:
            continue
        if "server_timing" in s:
            for k, v in parse_server_timing(s["server_timing"]).items():
                phases.setdefault(k, []).append(v)
        for k in ("setup", "ttfb", "create", "attach", "start", "fb", "eof", "delete",
                  "total"):
            if k in s:
                phases.setdefault(k, []).append(s[k] * 1000)
    # dcgid's Prestart: did the request take a prestarted container?
    st = [s.get("server_timing", "") for s in samples]
    if any("prestart;desc=" in x for x in st):
        summ["prestart_hits"] = sum("prestart;desc=hit" in x for x in st)
        summ["prestart_misses"] = sum("prestart;desc=miss" in x for x in st)
    summ["phases_p50_ms"] = {k: pct(v, 50) for k, v in phases.items()}
    summ["phases_p99_ms"] = {k: pct(v, 99) for k, v in phases.items()}
    return summ


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=("http", "raw", "warm"))
    ap.add_argument("where", nargs="+")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("-c", type=int, default=1)
    ap.add_argument("-w", type=int, default=3)
    ap.add_argument("-o")
    ap.add_argument("--label", default="")
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--idle", type=float, default=WARM_PAUSE)
    a = ap.parse_args()
    if a.kind == "http":
        target = HttpTarget(int(a.where[0]), a.where[1])
    elif a.kind == "warm":
        if len(a.where) != 2:
            ap.error("warm SOCKET INIT: INIT, the path of dcgi-init on the host")
        target = WarmTarget(a.where[0], a.where[1], a.idle)
    else:
        target = RawTarget(a.where[0])

    warm, _ = run(target, a.w, 1)
    werr = [s["err"] for s in warm if s["err"]]
    samples, wall = run(target, a.n, a.c, a.gap / 1000.0)
    summ = summarize(samples, wall)
    summ.update(label=a.label, kind=a.kind, concurrency=a.c, gap_ms=a.gap,
                warmup=a.w, warmup_errors=werr)
    if a.o:
        with open(a.o, "w") as f:
            json.dump({"summary": summ, "samples": samples}, f, indent=1)
    print("%-28s n=%d c=%d  p50 %7.1f ms  p99 %7.1f ms  min %6.1f  max %7.1f"
          "  errors %d  %.2f req/s" % (a.label, summ["n"], a.c, summ["p50_ms"],
                                       summ["p99_ms"], summ["min_ms"],
                                       summ["max_ms"], summ["errors"], summ["rps"]))
    if summ["errors"] or werr:
        for e in (werr + summ["first_errors"])[:5]:
            print("    error: %s" % e)
    if "prestart_hits" in summ:
        print("    prestart: %d hit, %d miss of %d" % (
            summ["prestart_hits"], summ["prestart_misses"], summ["n"]))
    if summ["phases_p50_ms"]:
        print("    phases p50 (ms): " + ", ".join(
            "%s %.1f" % kv for kv in summ["phases_p50_ms"].items()))
    return 0 if summ["errors"] == 0 and summ["ok"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
