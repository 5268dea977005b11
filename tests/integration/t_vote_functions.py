#!/usr/bin/env python3
"""The voting app's three functions on their own, without dcgid: each one
is run as `docker run -i --rm --network host -e ...` with a CGI request
(or a queue item) on stdin, against a Redis and a PostgreSQL of this
test's own (free loopback ports, a throwaway cluster with a password
user), under the restrictions dcgid puts on containers (read-only root,
no capabilities, no-new-privileges).

  vote               GET shows both options (escaped) and the voter's
                     choice; POST vote=a pushes one JSON item onto the Redis
                     stream "votes" and answers 303 with the voter_id cookie;
                     a bad choice is 400; Redis away is 503.
  record-vote-task   a valid item is stored (exit 0); the same voter's new
                     vote replaces it, an older one does not; malformed
                     items exit 2; database errors (a wrong password,
                     PostgreSQL stopped) exit 1.
  result             the counts as JSON under PATH_INFO /votes and empty,
                     zero before the table exists, 404 elsewhere, 503 while
                     PostgreSQL is down.

Builds nothing: the images come from `make images`."""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

from dcgitest import Tap, free_port, wait_until

PGBIN = "/usr/lib/postgresql/15/bin"
IMAGES = ("dcgi/vote", "dcgi/result", "dcgi/record-vote-task")
# Every container of this test carries it, so that one left by a timeout
# can be found and removed.
LABEL = "dcgi-test.t_vote_functions=%d" % os.getpid()
OVERALL = 600       # seconds for the whole test, then it stops and cleans up

t = Tap()


class Abort(Exception):
    pass


def on_signal(signum, frame):
    raise Abort("signal %d" % signum)


for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGALRM):
    signal.signal(s, on_signal)


def run(cmd, timeout=30, **kw):
    """subprocess.run with a timeout; never raises for the exit code."""
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -1, e.stdout or b"",
                                           (e.stderr or b"") + b"\n(timed out)")
    except OSError as e:
        return subprocess.CompletedProcess(cmd, -1, b"", str(e).encode())




class Redis:
    def __init__(self, tmp):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", tmp],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self.cli("PING") == "PONG", 15):
            raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def cli(self, *args):
        p = run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args], timeout=10)
        return p.stdout.decode(errors="replace").strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Postgres:
    """A cluster of its own in tmp, run as the postgres user: the superuser
    over its Unix socket (trust), the role "voter" with a password over TCP
    on 127.0.0.1 (scram-sha-256), owning the database "votes"."""

    def __init__(self, tmp):
        self.port = free_port()
        self.dir = os.path.join(tmp, "pg")
        self.user, self.db, self.password = "voter", "votes", secrets.token_hex(12)
        self.running = False
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        self.su(PGBIN + "/initdb", "-D", self.dir, "-U", "postgres", "--auth-local=trust",
                "--auth-host=scram-sha-256", "--no-sync", timeout=120)
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\nfsync = off\n" % (self.port, self.dir))
        self.start()
        self.su(PGBIN + "/psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-X",
                "-q", "-v", "ON_ERROR_STOP=1",
                "-c", "CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.user, self.password),
                "-c", "CREATE DATABASE %s OWNER %s" % (self.db, self.user))

    @staticmethod
    def su(*cmd, timeout=60):
        p = run(["runuser", "-u", "postgres", "--", *cmd], timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd[:2]),
                                                  p.stderr.decode(errors="replace")))
        return p.stdout.decode()

    def start(self):
        self.su(PGBIN + "/pg_ctl", "-D", self.dir, "-l", os.path.join(self.dir, "log"), "-w",
                "-t", "60", "start", timeout=90)
        self.running = True

    def stop(self):
        if self.running:
            self.running = False
            self.su(PGBIN + "/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "-t", "60", "stop",
                    timeout=90)

    def kill(self):
        """The last resort: SIGKILL the postmaster named in postmaster.pid."""
        try:
            with open(os.path.join(self.dir, "postmaster.pid")) as f:
                os.kill(int(f.readline()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def env(self, **override):
        e = {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": self.user,
             "PGPASSWORD": self.password, "PGDATABASE": self.db}
        e.update(override)
        return e

    def query(self, sql):
        """One value or rows (|-separated) from psql over TCP as the password user."""
        p = run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
                timeout=30, env=dict(os.environ, **self.env()))
        return p.stdout.decode().strip() if p.returncode == 0 else \
            "ERROR: " + p.stderr.decode(errors="replace").strip()


def docker_run(image, env, stdin=b"", timeout=60):
    """Run image once as dcgid would (read-only root, a /tmp tmpfs, no
    capabilities, host network); return (exit code, stdout, stderr)."""
    cmd = ["docker", "run", "-i", "--rm", "--network", "host", "--label", LABEL,
           "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--memory", "256m", "--pids-limit", "128"]
    for k, v in env.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    cmd.append(image)
    p = run(cmd, timeout=timeout, input=stdin)
    if p.returncode == -1:
        remove_containers()
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def remove_containers():
    ids = run(["docker", "ps", "-aq", "--filter", "label=" + LABEL], timeout=30)
    ids = ids.stdout.decode().split()
    if ids:
        run(["docker", "rm", "-f", *ids], timeout=60)


def cgi_env(method="GET", script="", path_info="", body=b"", cookie=None, **extra):
    """The CGI request meta-variables dcgid would pass (RFC 3875)."""
    e = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
         "SERVER_SOFTWARE": "t_vote_functions", "SERVER_NAME": "127.0.0.1",
         "SERVER_PORT": "8080", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
         "REQUEST_METHOD": method, "SCRIPT_NAME": script, "PATH_INFO": path_info,
         "QUERY_STRING": "", "REQUEST_URI": script + path_info, "HTTP_HOST": "127.0.0.1:8080"}
    if method == "POST":
        e["CONTENT_LENGTH"] = str(len(body))
        e["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    if cookie:
        e["HTTP_COOKIE"] = cookie
    e.update(extra)
    return e


class Cgi:
    """A CGI response: status, headers (lower-case names, in order), body."""

    def __init__(self, code, out, err):
        self.code, self.err, self.raw = code, err, out
        self.headers, self.body, self.status = [], b"", None
        ends = [i for i in (out.find(b"\r\n\r\n"), out.find(b"\n\n")) if i >= 0]
        if not ends:
            return
        end = min(ends)
        head, self.body = out[:end], out[end:].lstrip(b"\r\n")
        for line in head.replace(b"\r\n", b"\n").split(b"\n"):
            name, _, value = line.decode(errors="replace").partition(":")
            self.headers.append((name.strip().lower(), value.strip()))
        st = self.header("status")
        if st:
            self.status = int(st.split()[0]) if st.split()[0].isdigit() else None
        elif self.header("location"):
            self.status = 302
        elif self.header("content-type"):
            self.status = 200

    def header(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def all(self, name):
        return [v for n, v in self.headers if n == name]

    def text(self):
        return self.body.decode(errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def why(self):
        return "exit %s, stdout %r, stderr %r" % (self.code, self.raw[:400], self.err[-400:])


def cgi(image, env, body=b"", timeout=60):
    return Cgi(*docker_run(image, env, body, timeout))


def cookie_attrs(setcookie):
    """'a=b; Path=/; HttpOnly' -> ('a', 'b', {'path': '/', 'httponly': ''})"""
    parts = [p.strip() for p in setcookie.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.lower()] = v
    return name, value, attrs


def main(redis, pg):
    venv = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port)}

    # --- vote: GET ------------------------------------------------------------
    r = cgi("dcgi/vote", cgi_env("GET", "/vote", **venv))
    t.ok(r.code == 0 and r.status == 200, "vote GET: 200") or t.diag(r.why())
    t.ok((r.header("content-type") or "").startswith("text/html"), "vote GET: text/html")
    page = r.text()
    t.ok("Cats" in page and "Dogs" in page, "vote GET shows both default options")
    t.ok(re.search(r'<form[^>]*method="post"[^>]*action="/vote"', page) and
         page.count('name="vote"') == 2, "with a form of two choices posting to /vote")
    t.ok(not r.all("set-cookie"), "a GET sets no cookie")
    t.ok(not re.search(r'(src|href|action)\s*=\s*"?(https?:)?//', page, re.I),
         "and loads nothing from other hosts")

    r = cgi("dcgi/vote", cgi_env("GET", "/vote", OPTION_A="Tea & <Scones>", OPTION_B="Coffee",
                                 **venv))
    page = r.text()
    t.ok("Tea &amp; &lt;Scones&gt;" in page and "<Scones>" not in page and "Coffee" in page,
         "options come from OPTION_A/OPTION_B, escaped") or t.diag(page[:600])

    r = cgi("dcgi/vote", cgi_env("GET", "/vote", cookie="voter_id=abc123; vote=b", **venv))
    t.ok("You voted for <b>Dogs</b>" in r.text(), "with the vote cookie it shows this voter's "
         "choice") or t.diag(r.why())

    # --- vote: POST -----------------------------------------------------------
    r = cgi("dcgi/vote", cgi_env("POST", "/vote", body=b"vote=a", **venv), b"vote=a")
    t.is_(r.status, 303, "vote POST vote=a: 303 See Other") or t.diag(r.why())
    t.is_(r.header("location"), "/vote", "back to /vote")
    cookies = {cookie_attrs(c)[0]: cookie_attrs(c) for c in r.all("set-cookie")}
    voter = cookies.get("voter_id", ("", "", {}))
    t.ok(re.fullmatch(r"[0-9a-f]{16}", voter[1]), "a new voter_id cookie: %r" % voter[1])
    t.ok("httponly" in voter[2] and voter[2].get("samesite", "").lower() == "lax" and
         voter[2].get("path") == "/", "HttpOnly, SameSite=Lax, Path=/: %r" % (voter[2],))
    t.is_(cookies.get("vote", ("", ""))[1], "a", "and the vote cookie")
    t.is_(redis.cli("XLEN", "votes"), "1", "one entry on the Redis stream votes")
    entries = lambda: [x for x in redis.cli("XRANGE", "votes", "-", "+").splitlines()
                       if x.startswith("{")]
    first = entries()[0] if entries() else ""
    item = json.loads(first) if first.startswith("{") else {}
    t.ok(item.get("voter_id") == voter[1] and item.get("vote") == "a" and
         set(item) <= {"voter_id", "vote", "ts"}, "the item: %s" % first)

    r = cgi("dcgi/vote", cgi_env("POST", "/vote", body=b"vote=b",
                                 cookie="voter_id=%s; vote=a" % voter[1], **venv), b"vote=b")
    second = entries()[1] if len(entries()) > 1 else ""
    item2 = json.loads(second) if second.startswith("{") else {}
    t.ok(r.status == 303 and item2.get("voter_id") == voter[1] and item2.get("vote") == "b",
         "the same voter votes b: the cookie's voter_id is kept") or t.diag(r.why())

    for body in (b"vote=x", b"", b"vote=ab", b"other=a"):
        r = cgi("dcgi/vote", cgi_env("POST", "/vote", body=body, **venv), body)
        t.ok(r.status == 400, "vote POST %r: 400" % body) or t.diag(r.why())
    t.is_(redis.cli("XLEN", "votes"), "2", "nothing added for bad votes")

    dead = dict(venv, REDIS_PORT=str(free_port()))
    r = cgi("dcgi/vote", cgi_env("POST", "/vote", body=b"vote=a", **dead), b"vote=a", timeout=60)
    t.ok(r.status == 503 and not r.all("set-cookie"), "Redis away: 503, no cookie") or \
        t.diag(r.why())

    # --- result before any vote is stored -------------------------------------
    r = cgi("dcgi/result", cgi_env("GET", "/result", "/votes", **pg.env()))
    t.ok(r.status == 200 and r.json() == {"options": {"a": "Cats", "b": "Dogs"},
                                          "counts": {"a": 0, "b": 0}, "total": 0},
         "result GET /votes without a votes table: zero counts") or t.diag(r.why())
    t.ok((r.header("content-type") or "").startswith("application/json"),
         "result: application/json")
    cc = (r.header("cache-control") or "").replace(" ", "")
    t.ok("public" in cc and "max-age=1" in cc, "result: Cache-Control public, max-age=1: %r" % cc)

    # --- record-vote-task -----------------------------------------------------
    task_env = dict(pg.env(), DCGI_QUEUE="votes", DCGI_ITEM_ID="1", DCGI_ATTEMPT="1")

    def task(data, env=task_env, timeout=60):
        if not isinstance(data, bytes):
            data = json.dumps(data).encode()
        return docker_run("dcgi/record-vote-task", env, data, timeout)

    def row(v):
        return pg.query("SELECT vote FROM votes WHERE voter_id = '%s'" % v)

    code, out, err = task(first.encode())
    t.ok(code == 0, "record-vote-task with the vote function's item: exit 0") or t.diag(err)
    t.is_(out, b"", "nothing on stdout")
    t.is_(row(voter[1]), "a", "the vote is in PostgreSQL")
    code, out, err = task(second.encode())
    t.ok(code == 0, "the same voter's vote b: exit 0") or t.diag(err)
    t.is_(pg.query("SELECT count(*) || ' ' || string_agg(vote, ',') FROM votes "
                   "WHERE voter_id = '%s'" % voter[1]), "1 b", "still one row, now b")
    code, out, err = task(first.encode())
    t.ok(code == 0 and row(voter[1]) == "b",
         "the older vote a run again (items out of order): exit %d, still b" % code)

    code, _, err = task({"voter_id": "v-2", "vote": "a"})
    code2, _, err2 = task({"voter_id": "v-2", "vote": "b"})
    t.ok(code == 0 and code2 == 0 and
         pg.query("SELECT count(*) || ' ' || string_agg(vote, ',') FROM votes "
                  "WHERE voter_id = 'v-2'") == "1 b",
         "items without ts: the later one wins, one row") or t.diag(err + err2)
    code, _, err = task({"voter_id": "Voter_3", "vote": "a", "ts": 1})
    t.ok(code == 0 and row("Voter_3") == "a", "another voter votes a") or t.diag(err)

    bad = [b"", b"not json", b"[1, 2]", b'"a"', {"voter_id": "x y", "vote": "a"},
           {"voter_id": "v", "vote": "c"}, {"voter_id": "v", "vote": "A"}, {"vote": "a"},
           {"voter_id": "v"}, {"voter_id": "", "vote": "a"}, {"voter_id": "v" * 65, "vote": "a"},
           {"voter_id": ["v"], "vote": "a"}, {"voter_id": "v", "vote": "a", "ts": -1},
           {"voter_id": "v", "vote": "a", "ts": "9223372036854775808"},
           {"voter_id": "v\n", "vote": "a"}, {"voter_id": "v", "vote": "a\n"}]
    before = pg.query("SELECT count(*) FROM votes")
    for b in bad:
        code, out, err = task(b)
        t.ok(code == 2 and err.strip(), "invalid item %s: exit 2 with a reason" %
             (b if isinstance(b, bytes) else json.dumps(b))) or t.diag("exit %d: %s" % (code, err))
    t.is_(pg.query("SELECT count(*) FROM votes"), before, "and none is stored")

    code, _, err = task({"voter_id": "v-4", "vote": "a"}, dict(task_env, PGPASSWORD="wrong"))
    t.ok(code == 1 and "database" in err, "a wrong password: exit 1 (a database error): %s"
         % err.strip())

    # --- result ---------------------------------------------------------------
    want = {"options": {"a": "Cats", "b": "Dogs"}, "counts": {"a": 1, "b": 2}, "total": 3}
    r = cgi("dcgi/result", cgi_env("GET", "/result", "/votes", **pg.env()))
    t.ok(r.status == 200 and r.json() == want, "result GET /votes: %s" % r.text().strip()) or \
        t.diag(r.why())
    r = cgi("dcgi/result", cgi_env("GET", "/result/votes", "", OPTION_A="Tea", OPTION_B="Coffee",
                                   **pg.env()))
    t.ok(r.status == 200 and r.json() == dict(want, options={"a": "Tea", "b": "Coffee"}),
         "under the route /result/votes (empty PATH_INFO), with OPTION_A/B: %s"
         % r.text().strip()) or t.diag(r.why())
    r = cgi("dcgi/result", cgi_env("GET", "/result", "/nope", **pg.env()))
    t.ok(r.status == 404 and (r.header("content-type") or "").startswith("application/json"),
         "result /nope: 404") or t.diag(r.why())

    # --- PostgreSQL stopped ---------------------------------------------------
    pg.stop()
    t0 = time.monotonic()
    code, _, err = task({"voter_id": "v-5", "vote": "b"})
    t.ok(code == 1 and "database" in err, "PostgreSQL stopped: record-vote-task exits 1 "
         "(%.1fs): %s" % (time.monotonic() - t0, err.strip()))
    t0 = time.monotonic()
    r = cgi("dcgi/result", cgi_env("GET", "/result", "/votes", **pg.env()))
    t.ok(r.status == 503 and isinstance(r.json(), dict) and "error" in r.json(),
         "and result answers 503 with a JSON error (%.1fs)" % (time.monotonic() - t0)) or \
        t.diag(r.why())
    pg.start()
    code, _, err = task({"voter_id": "v-5", "vote": "b"})
    t.ok(code == 0 and row("v-5") == "b", "PostgreSQL back: the retried item is stored") or \
        t.diag(err)


def preconditions():
    if os.geteuid() != 0:
        return "runs as root (PostgreSQL as the postgres user, Docker)"
    for tool in ("redis-server", "redis-cli", "psql", "runuser", PGBIN + "/initdb"):
        if not shutil.which(tool):
            return "%s is missing (tests/setup.sh installs it)" % tool
    if run(["docker", "info"], timeout=30).returncode != 0:
        return "no Docker engine answers"
    for img in IMAGES:
        if run(["docker", "image", "inspect", img], timeout=30).returncode != 0:
            return "image %s is missing: run make images" % img
    return None


missing = preconditions()
if missing:
    t.ok(False, missing)
    t.done()

signal.alarm(OVERALL)
tmp = tempfile.mkdtemp(prefix="dcgi-vote-functions.")
os.chmod(tmp, 0o755)
redis = pg = None
try:
    redis = Redis(tmp)
    pg = Postgres(tmp)
    main(redis, pg)
except Exception as e:     # Abort (a signal, the overall alarm) included
    t.ok(False, "the test ran to its end: %s: %s" % (type(e).__name__, e))
finally:
    signal.alarm(0)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    remove_containers()
    if redis:
        redis.stop()
    if pg:
        try:
            pg.stop()
        except Exception as e:
            t.diag("stopping PostgreSQL: %s" % e)
            pg.kill()
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
