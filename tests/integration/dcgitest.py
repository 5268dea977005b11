"""dcgitest: what the integration tests share (Python 3 standard library only).

A test is a script tests/integration/t_NAME.py that prints TAP:

    from dcgitest import Server, Tap, raw, status_of
    t = Tap()
    with Server("Listen {port}\\nDocumentRoot {root}\\n") as s:
        r = raw(s.port, b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        t.is_(status_of(r), 200, "GET /")
    t.done()

`make check` sets DCGID (the binary to test) and DCGI_WRAP (a command to
run it under, e.g. valgrind; empty by default).  DCGI_TEST_PRESTART=N
(set by the t_*_prestart.py tests) gives every <Route> of every Server
`Prestart N`, so that a suite of the container routes runs again with
prestarted containers; idle_prestarted() tells its idle ones apart.
"""

import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# valgrind --error-exitcode=99, as .ci/run and `make check VALGRIND=...` use it
VALGRIND_ERROR = 99

PRESTART = int(os.environ.get("DCGI_TEST_PRESTART") or 0)

# The engine's unix socket: $DOCKER_HOST's when it names one (as dcgid's
# DockerHost defaults to it), else Docker's own.
_host = os.environ.get("DOCKER_HOST", "")
DOCKER_SOCK = _host[len("unix://"):] if _host.startswith("unix://") else "/var/run/docker.sock"


def dockerd_pid():
    """The pid of the dockerd that listens on DOCKER_SOCK, or None: the
    one whose -H/--host names it, or the one without -H for the default."""
    want = "unix://" + DOCKER_SOCK
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if not args or os.path.basename(args[0]) != "dockerd":
            continue
        hosts = [a.split("=", 1)[1] for a in args if a.startswith("--host=")]
        hosts += [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-H", "--host")]
        if want in hosts or (not hosts and DOCKER_SOCK == "/var/run/docker.sock"):
            return int(pid)
    return None


def with_prestart(conf_text, n=None):
    """conf_text with `Prestart n` (default DCGI_TEST_PRESTART) in every
    <Route> block that does not set Prestart itself."""
    n = PRESTART if n is None else n
    if not n:
        return conf_text
    out, in_route, has = [], False, False
    for line in conf_text.splitlines(keepends=True):
        word = line.strip().split(None, 1)[0].lower() if line.strip() else ""
        if word.startswith("<route"):
            in_route, has = True, False
        elif in_route and word == "prestart":
            has = True
        elif in_route and word == "</route>":
            if not has:
                out.append("    Prestart %d\n" % n)
            in_route = False
        out.append(line)
    return "".join(out)


def _cmd0(pid):
    with open("/proc/%s/cmdline" % pid, "rb") as c:
        return c.read().split(b"\0", 1)[0]


def idle_prestarted(ids, started=False):
    """Of the container ids, those that are prestarted and still wait for
    their request: labelled dcgi.request=prestarted, created or running,
    and (when running) with no process but dcgi-init: the first process
    and its child, forked ahead, that waits for the request and then execs
    the function.  With started=True, only the running ones (ready for a
    request)."""
    idle = set()
    if not ids:
        return idle
    p = subprocess.run(["docker", "inspect", "-f",
                        '{{.Id}} {{index .Config.Labels "dcgi.request"}} '
                        '{{.State.Status}} {{.State.Pid}}', *ids],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    for line in p.stdout.split("\n"):
        f = line.split()
        if len(f) != 4 or f[1] != "prestarted":
            continue
        cid, status, pid = f[0], f[2], f[3]
        if status == "created" and not started:
            idle.add(cid)
        elif status == "running":
            try:
                with open("/proc/%s/task/%s/children" % (pid, pid)) as k:
                    procs = [pid] + k.read().split()
                if all(_cmd0(p) == b"/.dcgi/init" for p in procs):
                    idle.add(cid)
            except OSError:
                pass
    return {i for i in ids if any(full.startswith(i) for full in idle)}


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """dcgid running on a config made from conf_text, in tmpdir.

    In conf_text these are replaced: {port} and {tls_port} (free loopback
    ports), {root} (tmpdir/www, created empty), {tmp} (tmpdir) and {repo}
    (the source tree), plus any keyword argument given as NAME=value.
    Without tmpdir, a new directory is made (and removed by a clean with).
    The server's stdout and stderr go to tmpdir/dcgid.stdout and .stderr.
    """

    def __init__(self, conf_text, tmpdir=None, start=True, timeout=10, **subst):
        # A directory of our own is removed after a clean stop in a with
        # block, and kept (for its logs) when anything failed.
        self.own_tmpdir = tmpdir is None
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="dcgitest.")
        self.port = free_port()
        self.tls_port = free_port() if "{tls_port}" in conf_text else None
        self.root = os.path.join(self.tmpdir, "www")
        os.makedirs(self.root, exist_ok=True)
        values = {"port": self.port, "tls_port": self.tls_port,
                  "root": self.root, "tmp": self.tmpdir, "repo": REPO}
        values.update(subst)
        conf_text = with_prestart(conf_text)
        # Plain replacement, not str.format: a config may hold braces.
        for k, v in values.items():
            conf_text = conf_text.replace("{%s}" % k, str(v))
        self.conf = os.path.join(self.tmpdir, "httpd.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.stdout = os.path.join(self.tmpdir, "dcgid.stdout")
        self.stderr = os.path.join(self.tmpdir, "dcgid.stderr")
        self.wrapped = bool(os.environ.get("DCGI_WRAP", "").strip())
        self.proc = None
        if start:
            self.start(timeout)

    def command(self, *args):
        """The command line that runs dcgid (under DCGI_WRAP) with args."""
        dcgid = os.environ.get("DCGID") or os.path.join(REPO, "httpd", "dcgid")
        return shlex.split(os.environ.get("DCGI_WRAP", "")) + [dcgid, *args]

    def start(self, timeout=10):
        """Start dcgid -f httpd.conf; return once {port} accepts."""
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(self.command("-f", self.conf),
                                         cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        # A test that dies on an exception must not leave dcgid running
        # (its prestarted containers would outlive the test).
        atexit.register(self._reap, self.proc)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("dcgid exited with %d before listening:\n%s"
                                   % (self.proc.returncode, self.errors()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("dcgid did not listen on port %d within %gs:\n%s"
                                   % (self.port, timeout, self.errors()))
            time.sleep(0.05)

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Send sig, wait, and return dcgid's exit code.  Raises when it
        does not exit in time, or when valgrind (DCGI_WRAP) found errors."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        proc, self.proc = self.proc, None
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError("dcgid did not exit within %gs of signal %d:\n%s"
                               % (timeout, sig, self.errors()))
        if self.wrapped and code == VALGRIND_ERROR:
            raise RuntimeError("valgrind found errors (exit %d):\n%s"
                               % (code, self.errors()))
        report = sanitizer_report(self.errors())
        if report:
            raise RuntimeError("the sanitizers found errors (exit %d):\n%s"
                               % (code, "\n".join(report[:40])))
        return code

    def errors(self):
        """What dcgid wrote to stderr so far."""
        try:
            with open(self.stderr, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if self.own_tmpdir and exc_type is None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return False


def rss_kib(pid):
    """VmRSS in KiB of dcgid: the engine (pid) and its server processes
    together, or None."""
    total, seen = 0, False
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids = [pid] + [int(x) for x in f.read().split()]
    except OSError:
        pids = [pid]
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        seen = True
        except (OSError, ValueError):
            pass
    return total if seen else None


def time_limit(seconds, name):
    """Fail the test (a TimeoutError) when it runs longer than seconds:
    a hang anywhere must fail CI, not block it."""
    def on_alarm(signum, frame):
        raise TimeoutError("%s ran for more than %ds" % (name, seconds))
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)


def sanitizer_report(text):
    """The lines of an ASan, LSan or UBSan report in text (dcgid's stderr
    under ./configure --enable-sanitizers), [] when there is none."""
    # valgrind -q (DCGI_WRAP) prints only its findings, "==PID== ...": the
    # server processes' too (--trace-children), which exit codes of the
    # engine's would not show.
    return [l for l in text.splitlines()
            if "Sanitizer" in l or "runtime error:" in l or l.startswith("    #")
            or re.match(r"==\d+== ", l)]


def write_atomic(path, data):
    """Write a file whole: written beside it, then renamed over it, so that
    a reload reading it at any moment sees the old or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def pools_full(errlog, routes, n):
    """With Prestart n: the last "prestarted containers ready:" line in a
    dcgid's error log says each of routes ("/echo", ...) holds n of n."""
    try:
        with open(errlog, errors="replace") as f:
            lines = [l for l in f if "prestarted containers ready:" in l]
    except OSError:
        return False
    return bool(lines) and all("%s %d/%d" % (r, n, n) in lines[-1] for r in routes)


def docker_ids(label, running=False):
    """The ids of the containers (running ones only, if asked) that carry
    `label` ("name" or "name=value")."""
    p = subprocess.run(["docker", "ps", "-q" if running else "-aq", "--filter", "label=" + label]
                       + (["--filter", "status=running"] if running else []),
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.stdout.split()


def wait_until(cond, timeout, step=0.1):
    """Poll cond() until it holds or timeout seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def splice(a, b):
    """Pipe two connected sockets into each other, a thread each way (the
    fake engines and Redis that pass through to the real one).  An end
    read passes on as a half-close (a container's stdin EOF must get
    through); an error closes both."""
    def copy(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(d)
        except OSError:
            for x in (src, dst):
                try:
                    x.close()
                except OSError:
                    pass
    for src, dst in ((a, b), (b, a)):
        threading.Thread(target=copy, args=(src, dst), daemon=True).start()


def read_to_close(sock, timeout=5):
    """All bytes sock receives until the peer closes or resets, or timeout
    seconds have passed (then what came).  Works for ssl sockets too.
    A bytearray: bytes += would copy all of it on every read, quadratic
    (a 20 MiB body took the client 15 s and tripped a route's Timeout)."""
    got = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        got += chunk
    return bytes(got)


def raw(port, data, timeout=5, host="127.0.0.1", half_close=False):
    """Send data on a new connection; return all bytes received until the
    server closes or timeout seconds have passed."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_to_close(s, deadline - time.monotonic())


def dechunk(body):
    """The data of a chunked body (RFC 9112 §7.1), trailers dropped; None
    when it ends before its last chunk (a response cut short)."""
    out = bytearray()
    while True:
        size, sep, body = body.partition(b"\r\n")
        try:
            n = int(size.split(b";")[0], 16)
        except ValueError:
            return None
        if not sep or len(body) < n + 2 * (n > 0):
            return None
        if n == 0:
            return bytes(out)
        out += body[:n]
        body = body[n + 2:]


def http(port, method="GET", path="/", body=b"", timeout=5, headers="", host="127.0.0.1"):
    """One request on a connection of its own to host: (status, head as
    text, body), the body de-chunked (None when a chunked one was cut
    short).  headers: more header lines, each ending in CRLF."""
    extra = b"Content-Length: %d\r\n" % len(body) if body else b""
    r = raw(port, b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s\r\n%s"
            % (method.encode(), path.encode(), headers.encode(), extra, body),
            timeout=timeout, host=host)
    head, _, rest = r.partition(b"\r\n\r\n")
    if re.search(rb"\r\nTransfer-Encoding: chunked\r\n", head + b"\r\n", re.I):
        rest = dechunk(rest)
    return status_of(r), head.decode("latin-1"), rest


class Redis:
    """A throwaway redis-server on a free loopback port, its data in dir
    (none kept unless appendonly, then every write is on disk before its
    answer): start() again after stop() is the same Redis, with its data
    only when appendonly.  start() returns once it answers PING."""

    def __init__(self, dir, appendonly=False):
        self.dir, self.appendonly, self.port, self.proc = dir, appendonly, free_port(), None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.up, 10, 0.05):
            raise RuntimeError("redis-server did not start on port %d" % self.port)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None

    def cli(self, *args):
        """redis-cli's answer, "" when it takes longer than 10 s."""
        try:
            p = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                               text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return ""
        return p.stdout.strip()

    def up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return self.cli("PING") == "PONG"
        except OSError:
            return False


def status_of(response):
    """The status code of an HTTP response ("HTTP/1.1 200 OK" -> 200), or None."""
    line = response.split(b"\r\n", 1)[0].split(b" ")
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        return None
    return int(line[1])


class Tap:
    """Test Anything Protocol: ok()/is_() print test points, done() the plan."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            # as Test::More: on stderr, which prove shows without -v
            print("#   Failed test %d: %s" % (self.n, name), file=sys.stderr, flush=True)
        return bool(cond)

    def is_(self, got, want, name):
        if not self.ok(got == want, name):
            self.diag("got %r, want %r" % (got, want))
        return got == want

    def diag(self, msg):
        """A comment on stderr (prove shows it without -v)."""
        for line in str(msg).splitlines():
            print("# " + line, file=sys.stderr, flush=True)

    def skip_all(self, reason):
        print("1..0 # SKIP " + reason, flush=True)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)
