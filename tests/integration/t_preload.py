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
import socket
import subprocess
import tempfile

import voteapp
from dcgitest import Server, Tap, idle_prestarted, time_limit, wait_until

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
os.chmod(os.path.join(probe_dir, "probe.py"), 0o644)
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
        + "<Route /shell>\n    Image dcgi/vote\n"
          "    Command /bin/sh -c \"printf 'Content-Type: text/plain\\\\r\\\\n\\\\r\\\\nshell'\"\n"
          "    Preload python json\n</Route>\n")


def request(port, method, target, body=b""):
    """(status, headers text, body)."""
    with socket.create_connection(("127.0.0.1", port), 60 * SLOW) as s:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                  % (method.encode(), target.encode(), len(body)) + body)
        data = bytearray()
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
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

# ----- not a python command -----------------------------------------------------------
st, head, body = request(srv.port, "GET", "/shell")
t.is_((st, body), (200, b"5\r\nshell\r\n0\r\n\r\n"),
      "Preload on a command that is not python: it runs as without")
t.ok(len(re.findall(r"<Route /shell>: Preload python: the command is not", log())) == 1,
     "and the log says why, once")
request(srv.port, "GET", "/shell")
t.ok(len(re.findall(r"<Route /shell>: Preload python: the command is not", log())) == 1,
     "(not again for the next request)")
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
        with socket.create_connection(("127.0.0.1", app.server.port), 60 * SLOW) as c:
            c.sendall(b"GET /result/votes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = bytearray()
            while (got := c.recv(65536)):
                data += got
        head, _, body = bytes(data).partition(b"\r\n\r\n")
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
