#!/usr/bin/env python3
"""Preload python MODULE...: a Python function's interpreter starts, and
imports the modules, before its request.

- A probe script (mounted into the dcgi/vote image, which has python3)
  reports what it sees: the preloaded module is already in sys.modules
  when the script starts under Preload, and not without it; under both,
  the request's environment (the CGI variables and the route's Env), its
  argv, __name__, sys.path[0] and the body on stdin are as when python3
  runs the script itself.
- Prestarted with Preload, the waiting container already runs the
  interpreter (dcgi-init's child is python3 /.dcgi/preload.py ...).
- A command that is not "python... SCRIPT" is run as without Preload, and
  the log says why once.
- A module that cannot be imported: the waiting container stays (what
  the import wrote is held back until the request, then logged with it).
- A container that fails right after it is ready is made again after a
  growing pause, not in a tight loop.
- The function's exit status and stderr come through as without it.
- A module of the script's own directory can be preloaded; when it is
  imported the environment holds the route's Env, not yet the request's
  (so it can get ready with it: the voting app's result connects to
  PostgreSQL ahead, see t_vote.py).

Needs the images dcgi/vote and dcgi/result (make images), dcgi-init,
redis-server and PostgreSQL."""

import json
import os
import re
import subprocess
import tempfile
import time

import voteapp
from dcgitest import Server, Tap, idle_prestarted, raw, time_limit, wait_until

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
time_limit(300 * SLOW, "t_preload.py")

if subprocess.run(["docker", "image", "inspect", "dcgi/vote"], capture_output=True).returncode:
    t.skip_all("no image dcgi/vote (make images)")

probe_dir = tempfile.mkdtemp(prefix="dcgi-preload.")
os.chmod(probe_dir, 0o755)
with open(os.path.join(probe_dir, "probe.py"), "w") as f:
    f.write('''import sys
seen = "email.mime" in sys.modules
early = sys.modules.get("early")
import json, os
body = sys.stdin.buffer.read().decode()
out = json.dumps({"preloaded": seen, "method": os.environ.get("REQUEST_METHOD"),
                  "query": os.environ.get("QUERY_STRING"), "greeting": os.environ.get("GREETING"),
                  "path_info": os.environ.get("PATH_INFO"), "argv": sys.argv, "name": __name__,
                  "path0": sys.path[0], "body": body,
                  "early": early.seen if early else None})
sys.stdout.write("Content-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s"
                 % (len(out), out))
sys.stdout.flush()
if os.environ.get("QUERY_STRING") == "fail":
    sys.stderr.write("probe: failing as asked\\n")
    sys.exit(3)
''')
# A module of the script's own directory, preloaded: what it saw of the
# environment when it was imported.
with open(os.path.join(probe_dir, "early.py"), "w") as f:
    f.write('import os\nseen = {"greeting": os.environ.get("GREETING"), '
            '"method": os.environ.get("REQUEST_METHOD")}\n')
with open(os.path.join(probe_dir, "quits.py"), "w") as f:
    f.write("import os, time\ntime.sleep(0.5)\nos._exit(3)\n")
os.chmod(os.path.join(probe_dir, "probe.py"), 0o644)
os.chmod(os.path.join(probe_dir, "quits.py"), 0o644)
os.chmod(os.path.join(probe_dir, "early.py"), 0o644)

ROUTE = """<Route /%s>
    Image dcgi/vote
    Command python3 /t/probe.py one two
    Mount %s /t ro
    Env GREETING=hello
%s</Route>
"""
CONF = ("Listen 127.0.0.1:{port}\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
        "ErrorLog {tmp}/error.log\nAccessLog off\n"
        + ROUTE % ("pre", probe_dir, "    Preload python email.mime json early\n")
        + ROUTE % ("plain", probe_dir, "")
        + ROUTE % ("pool", probe_dir, "    Preload python email.mime early\n    Prestart 1\n")
        + ROUTE % ("badmod", probe_dir, "    Preload python email.mime nosuchmod\n"
                   "    Prestart 1\n")
        + ROUTE % ("quits", probe_dir, "    Preload python quits\n    Prestart 1\n")
        + "<Route /shell>\n    Image dcgi/vote\n"
          "    Command /bin/sh -c \"printf 'Content-Type: text/plain\\\\r\\\\n\\\\r\\\\nshell'\"\n"
          "    Preload python json\n    Prestart 1\n</Route>\n")


def request(port, method, target, body=b""):
    """(status, headers text, body)."""
    data = raw(port, b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n" % (method.encode(), target.encode(), len(body))
               + body, 60 * SLOW)
    head, _, rest = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (int(m.group(1)) if m else None), head.decode(errors="replace"), rest


srv = Server(CONF)
errlog = os.path.join(srv.tmpdir, "error.log")


def log():
    with open(errlog, errors="replace") as f:
        return f.read()


want = {"method": "POST", "query": "x=1", "greeting": "hello", "path_info": "/extra",
        "argv": ["/t/probe.py", "one", "two"], "name": "__main__", "path0": "/t",
        "body": "the body"}
for route, preloaded in (("pre", True), ("plain", False)):
    st, head, body = request(srv.port, "POST", "/%s/extra?x=1" % route, b"the body")
    try:
        got = json.loads(body)
    except ValueError:
        got = {}
    t.is_(st, 200, "/%s: 200" % route)
    t.is_(got.get("preloaded"), preloaded,
          "/%s: email.mime %s in sys.modules when the script starts" %
          (route, "already" if preloaded else "not"))
    t.is_({k: got.get(k) for k in want}, want,
          "/%s: environment, argv, __name__, sys.path[0] and stdin as python3 SCRIPT gives them"
          % route)

    t.is_(got.get("early"), {"greeting": "hello", "method": None} if preloaded else None,
          "/%s: %s" % (route, "a module of the script's directory preloaded, which saw the "
                       "route's Env and not yet the request's" if preloaded else
                       "no module imported ahead"))

st, head, body = request(srv.port, "GET", "/pre?fail")
t.ok(st == 200 and b'"preloaded": true' in body, "/pre?fail: its complete response")
t.ok(wait_until(lambda: re.search(r"/pre stderr: probe: failing as asked", log()), 10 * SLOW),
     "its stderr reaches the log")


# ----- prestarted: the interpreter already runs -------------------------------------
def pool_ids():
    p = subprocess.run(["docker", "ps", "-q", "--filter", "label=dcgi.route=/pool"],
                       capture_output=True, text=True)
    return p.stdout.split()


def interpreter_waits():
    """The idle container's processes: dcgi-init, and its child python3
    running /.dcgi/preload.py."""
    for cid in pool_ids():
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", cid],
                             capture_output=True, text=True).stdout.strip()
        try:
            with open("/proc/%s/task/%s/children" % (pid, pid)) as f:
                kids = f.read().split()
            for k in kids:
                with open("/proc/%s/cmdline" % k, "rb") as f:
                    argv = f.read().split(b"\0")
                if argv[0].endswith(b"python3") and b"/.dcgi/preload.py" in argv:
                    return True
        except OSError:
            pass
    return False


t.ok(wait_until(interpreter_waits, 60 * SLOW, 0.25),
     "Prestart with Preload: the waiting container already runs python3 /.dcgi/preload.py")
t.ok(not idle_prestarted(pool_ids(), started=True),
     "(so it is no idle dcgi-init in the tests' sense)")
st, head, body = request(srv.port, "GET", "/pool")
t.ok(st == 200 and b'"preloaded": true' in body and "prestart;desc=hit" in head,
     "and a request to it is answered by the preloaded interpreter, prestarted")
t.ok(b'"early": {"greeting": "hello", "method": null}' in body,
     "whose preloaded module had the route's Env, before the request existed: %r" % body[-120:])

# ----- an import that fails: held back until the request -----------------------------
def pool_of(route):
    p = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter",
                        "label=dcgi.route=/" + route], capture_output=True, text=True)
    return p.stdout.split()


t.ok(wait_until(lambda: len(pool_of("badmod")) == 1, 60 * SLOW, 0.25),
     "Preload of a module that is not there: the pool fills")
first = pool_of("badmod")
time.sleep(4 * SLOW)
t.ok(pool_of("badmod") == first and "<Route /badmod>: prestarted container" not in log() and
     "<Route /badmod>: cannot prestart" not in log(),
     "and its container waits on: what the failed import wrote is held back, not taken for "
     "output before the request")
st, head, body = request(srv.port, "GET", "/badmod")
t.ok(st == 200 and b'"preloaded": true' in body and "prestart;desc=hit" in head,
     "a request to it is served, prestarted (%d)" % (st or 0))
t.ok(wait_until(lambda: re.search(r"/badmod stderr: dcgi-preload: import nosuchmod: ", log()),
                10 * SLOW),
     "and the import's error reaches the log with that request")

# ----- a prestarted container that fails at once: made again after a pause ----------
# (/quits preloads a module that ends the interpreter half a second after
# the container is ready.)  Without a pause between them the pool would
# make one after another as fast as the engine goes (one a second here).
since = time.time()
time.sleep(8)
ev = subprocess.run(["docker", "events", "--since", "%.3f" % since, "--until",
                     "%.3f" % time.time(), "--filter", "event=create", "--filter",
                     "label=dcgi.route=/quits", "--format", "{{.ID}}"],
                    capture_output=True, text=True, timeout=60)
made = len(ev.stdout.split())
t.ok(made <= 4, "a pool whose containers fail as they start makes them again with a "
     "growing pause: %d made in 8 s" % made)
t.ok("<Route /quits>: cannot prestart a container" in log(),
     "and the log says so")

# ----- not a python command -----------------------------------------------------------
st, head, body = request(srv.port, "GET", "/shell")
t.is_((st, body), (200, b"5\r\nshell\r\n0\r\n\r\n"),
      "Preload on a command that is not python: it runs as without")
t.ok(len(re.findall(r"<Route /shell>: Preload python: the command is not", log())) == 1,
     "and the log says why, once")
request(srv.port, "GET", "/shell")
time.sleep(6 * SLOW)    # the pool's image is looked at again every 5 s
t.ok(len(re.findall(r"<Route /shell>: Preload python: the command is not", log())) == 1,
     "(not again for the next request, nor at the pool's next look at the image)")
t.is_(srv.stop(timeout=60 * SLOW), 0, "clean exit")

# ----- the voting app's result: its PostgreSQL connection made ahead ----------------
app = voteapp.App(prestart="1", cache=None)
AHEAD = ("SELECT count(*) FROM pg_stat_activity WHERE usename = 'dcgi' "
         "AND pid <> pg_backend_pid()")
try:
    t.ok(wait_until(lambda: app.pg.query(AHEAD) == "1", 60 * SLOW, 0.25),
         "result (Preload ... db, Prestart 1): its waiting container is connected to "
         "PostgreSQL before any request")

    def result():
        data = raw(app.server.port, b"GET /result/votes HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n", 60 * SLOW)
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            return head.decode(errors="replace"), json.loads(body)
        except ValueError:
            return head.decode(errors="replace"), None

    head, got = result()
    t.ok(head.startswith("HTTP/1.1 200") and got and got.get("total") == 0 and
         "prestart;desc=hit" in head,
         "GET /result/votes: 200 from the prestarted container, on that connection: %r" % got)
    # The next waiting container connects too; then PostgreSQL restarts
    # under it: its connection is gone when its request comes.
    t.ok(wait_until(lambda: app.pg.query(AHEAD) == "1", 60 * SLOW, 0.25),
         "the pool's next container is connected ahead too")
    app.pg.stop()
    app.pg.start()
    head, got = result()
    t.ok(head.startswith("HTTP/1.1 200") and got and got.get("total") == 0 and
         "prestart;desc=hit" in head,
         "PostgreSQL restarted after it connected: the request connects again, 200: %r" % got)
finally:
    t.is_(app.stop(), 0, "the voting app's dcgid: clean exit")
t.done()
