#!/usr/bin/env python3
"""The voting app through haproxy on three dcgid nodes, one of them killed:
haproxy runs conf/haproxy.cfg (its ports, paths and check timings
replaced: checks every 500 ms here, down after 2, up after 1), the nodes
the app's configuration with `Health /healthz`, behind them a throwaway
Redis and PostgreSQL.

- haproxy sees the three nodes up (its stats socket) and spreads requests
  over them;
- one node is killed with SIGKILL: requests sent at once still answer 200
  (a refused connection is tried on another node), haproxy marks the node
  down within inter x fall and a second, and every one of N requests to
  /vote after that answers 200;
- the browser test (tests/browser/vote.mjs, chromium) passes through
  haproxy: vote page on its plain port, the result page on its TLS port
  (haproxy ends TLS), the vote stored once;
- the node started again is up in haproxy again, and takes over what the
  dead one left on the engine;
- everything stops cleanly: no container of these nodes is left.

Needs haproxy, chromium and playwright-core (tests/setup.sh), the voting
app's images and PostgreSQL 15."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

from dcgitest import REPO, Server, Tap, free_port, sanitizer_report, time_limit, wait_until
from voteapp import Postgres, Redis, conf, images_present, make_cert

t = Tap()
WRAPPED = bool(os.environ.get("DCGI_WRAP", "").strip())
SLOW = 4 if WRAPPED else 1
INTER, FALL = 0.5, 2
N = 20
time_limit(600 * SLOW, "t_cluster_browser.py")

if not os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
    t.skip_all("PostgreSQL 15 is not here")
missing = images_present()
if missing:
    t.ok(False, "image %s is missing: run make images" % missing)
    t.done()
if not shutil.which("haproxy"):
    t.ok(False, "haproxy is installed (tests/setup.sh)")
    t.done()
browser_dir = os.path.join(REPO, "tests", "browser")
if not (os.access("/usr/bin/chromium", os.X_OK) and
        os.path.isdir(os.path.join(browser_dir, "node_modules", "playwright-core"))):
    t.ok(False, "chromium and playwright-core are installed (tests/setup.sh)")
    t.done()


def node_conf(redis, pg):
    """The app's configuration (voteapp.conf) as one node behind haproxy:
    plain HTTP only (haproxy ends TLS), Health, no per-client limits
    (every request comes from haproxy's address)."""
    text = conf(redis, pg)
    text, n = re.subn(r"(?m)^(Listen \S+ tls|TLSCertificateFile .*|TLSCertificateKeyFile .*)\n",
                      "", text)
    assert n == 3, "voteapp.conf() changed: %d TLS lines" % n
    return ("Health /healthz\nMaxConnectionsPerClient 0\nMaxContainersPerClient 0\n"
            + text)


def haproxy_conf(sample, port, tls_port, stats_port, pem, sock, nodes):
    """conf/haproxy.cfg with this test's ports and paths and fast checks.
    Each replacement must apply exactly once, so that the test fails
    rather than silently testing something else when the sample changes."""
    subs = [
        (r"bind 127\.0\.0\.1:8080\n", "bind 127.0.0.1:%d\n" % port),
        (r"bind 127\.0\.0\.1:8443 ssl crt /etc/haproxy/dcgi\.pem",
         "bind 127.0.0.1:%d ssl crt %s" % (tls_port, pem)),
        (r"bind 127\.0\.0\.1:8404\n", "bind 127.0.0.1:%d\n" % stats_port),
        (r"stats socket /run/haproxy/dcgi\.sock", "stats socket %s" % sock),
        (r"(?m)^(\s*log) /dev/log ", r"\1 stdout format raw "),
        (r"(default-server check) inter 2s fastinter 500ms (.*)fall 2 rise 2 ",
         r"\1 inter %dms fastinter 250ms \2fall %d rise 1 " % (INTER * 1000, FALL)),
    ]
    for i, p in enumerate(nodes, 1):
        subs.append((r"server node%d 127\.0\.0\.1:808%d\n" % (i, i),
                     "server node%d 127.0.0.1:%d\n" % (i, p)))
    for pat, rep in subs:
        sample, n = re.subn(pat, rep, sample)
        assert n == 1, "conf/haproxy.cfg: %r matched %d times" % (pat, n)
    return sample


def haproxy_status():
    """{server name: status} of the backend dcgid, from `show stat`."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(sock)
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return {}
    lines = data.decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    head = lines[0][2:].split(",")
    col = head.index("status")
    out = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > col and f[0] == "dcgid" and f[1] != "BACKEND":
            out[f[1]] = f[col]
    return out


def get(path, port=None, timeout=20):
    """Status of GET path through haproxy (plain), 0 on a connection error."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port or hp_port, path),
                                    timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def served(node):
    """Requests for /vote in a node's access log."""
    try:
        with open(os.path.join(node.tmpdir, "access.log"), errors="replace") as f:
            return sum(1 for line in f if '"GET /vote ' in line)
    except OSError:
        return 0


def containers_of(pids):
    """Containers on the engine made by dcgid processes pids (the
    dcgi.instance label is PID:START)."""
    p = subprocess.run(["docker", "ps", "-a", "--filter", "label=dcgi.route",
                        "--format", '{{.ID}} {{.Label "dcgi.instance"}}'],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return [l.split()[0] for l in p.stdout.splitlines()
            if len(l.split()) == 2 and l.split()[1].split(":")[0] in pids]


tmp = tempfile.mkdtemp(prefix="dcgi-cluster-browser.")
os.chmod(tmp, 0o755)
redis = pg = haproxy = None
nodes = []
pids = set()
try:
    redis = Redis(tmp)
    pg = Postgres(tmp)
    make_cert(tmp)
    pem = os.path.join(tmp, "haproxy.pem")
    with open(os.path.join(tmp, "cert.pem")) as c, open(os.path.join(tmp, "key.pem")) as k:
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(c.read() + k.read())

    text = node_conf(redis, pg)
    for i in range(3):
        d = os.path.join(tmp, "node%d" % (i + 1))
        os.makedirs(d)
        os.chmod(d, 0o755)
        nodes.append(Server(text, tmpdir=d, timeout=20 * SLOW))
        pids.add(str(nodes[-1].proc.pid))

    hp_port, hps_port, stats_port = free_port(), free_port(), free_port()
    sock = os.path.join(tmp, "haproxy.sock")
    with open(os.path.join(REPO, "conf", "haproxy.cfg")) as f:
        cfg = haproxy_conf(f.read(), hp_port, hps_port, stats_port, pem, sock,
                           [n.port for n in nodes])
    cfg_path = os.path.join(tmp, "haproxy.cfg")
    with open(cfg_path, "w") as f:
        f.write(cfg)
    chk = subprocess.run(["haproxy", "-c", "-f", cfg_path], capture_output=True, text=True,
                         timeout=60)
    t.is_(chk.returncode, 0, "conf/haproxy.cfg, with this test's ports, is valid")
    if chk.returncode:
        t.diag(chk.stdout + chk.stderr)
    hlog = open(os.path.join(tmp, "haproxy.log"), "wb")
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", cfg_path], stdout=hlog,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    hlog.close()
    names = ["node1", "node2", "node3"]
    t.ok(wait_until(lambda: [haproxy_status().get(n) for n in names] == ["UP"] * 3,
                    15 * SLOW, 0.1),
         "haproxy checks /healthz and sees the three nodes up: %s" % haproxy_status())

    # Sequential requests: leastconn rotates over nodes that hold none.
    codes = [get("/vote") for _ in range(6)]
    t.is_(codes, [200] * 6, "GET /vote through haproxy")
    t.ok(sum(1 for n in nodes if served(n) > 0) >= 2,
         "the requests went to more than one node: %s" % [served(n) for n in nodes])

    # SIGKILL one node: no drain, no 503 on /healthz; its port refuses.
    victim = nodes[1]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    victim.proc = None
    killed_at = time.monotonic()
    # Meanwhile, from the kill on, before a check has failed: a refused
    # connection is tried again on another node (retries, redispatch),
    # never seen by a client.
    codes = []
    sender = threading.Thread(target=lambda: codes.extend(get("/vote") for _ in range(6)))
    sender.start()
    down = wait_until(lambda: haproxy_status().get("node2") == "DOWN",
                      (INTER * FALL + 1) * SLOW, 0.02)
    took = time.monotonic() - killed_at
    sender.join()
    t.ok(down, "haproxy marks the killed node down within inter x fall + 1s: %.2fs "
         "(inter %gs, fall %d)" % (took, INTER, FALL))
    t.is_(codes, [200] * 6, "requests sent from the kill on all answer 200")
    t.is_([haproxy_status().get(n) for n in ("node1", "node3")], ["UP", "UP"],
          "the other two stay up")
    codes = [get("/vote") for _ in range(N)]
    t.is_(codes.count(200), N, "%d requests to /vote after the kill all answer 200 (%s)"
          % (N, sorted(set(codes))))

    # The browser: vote page over plain HTTP, result page over haproxy's TLS.
    cert = os.path.join(tmp, "cert.pem")
    spki = subprocess.run(
        "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
        "openssl dgst -sha256 -binary | base64" % cert, shell=True, capture_output=True,
        text=True, check=True).stdout.strip()
    shot = os.path.join(tempfile.gettempdir(), "dcgi-cluster-result-page.png")
    p = subprocess.run(["node", os.path.join(browser_dir, "vote.mjs"),
                        "http://127.0.0.1:%d/vote" % hp_port,
                        "https://localhost:%d/result/" % hps_port, spki, shot],
                       capture_output=True, text=True, timeout=180 * SLOW, cwd=browser_dir)
    try:
        seen = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        seen = {"ok": False, "error": p.stdout + p.stderr}
    t.ok(seen.get("ok"), "the browser went through haproxy: %s" % seen.get("error", "ok"))
    t.is_(seen.get("options"), ["Cats", "Dogs"], "the vote page shows both options")
    t.ok("You voted for Cats" in (seen.get("you") or ""), "after the click it shows the choice")
    t.is_(seen.get("total"), "1 vote", "the result page, over haproxy's TLS, shows the vote live")
    t.is_((seen.get("nameA"), seen.get("pctA"), seen.get("pctB")), ("Cats", "100%", "0%"),
          "with the percentages")
    t.ok(seen.get("statusHidden"), "and no connection-lost note")
    t.is_(pg.query("SELECT count(*) || ' ' || min(vote) FROM votes"), "1 a",
          "PostgreSQL holds the one vote")
    t.is_(haproxy_status().get("node2"), "DOWN", "the killed node stayed down meanwhile")

    # The node comes back (the same configuration): up again in haproxy,
    # and it removes what the dead one left on the engine.
    victim.start(20 * SLOW)
    pids.add(str(victim.proc.pid))
    t.ok(wait_until(lambda: haproxy_status().get("node2") == "UP", 10 * SLOW, 0.1),
         "the node started again is up in haproxy again")
finally:
    if haproxy is not None and haproxy.poll() is None:
        haproxy.send_signal(signal.SIGUSR1)     # soft stop: exit 0 (SIGTERM: killed)
        try:
            haproxy.wait(20)
        except subprocess.TimeoutExpired:
            haproxy.kill()
            haproxy.wait()
    codes = []
    for n in nodes:
        try:
            codes.append(n.stop(timeout=60 * SLOW))
        except RuntimeError as e:
            codes.append(str(e)[:2000])
    if redis:
        redis.stop()
    if pg:
        try:
            pg.stop()
        except Exception:
            pass

t.is_(haproxy.returncode if haproxy else None, 0, "haproxy stops with exit 0")
t.is_(codes, [0, 0, 0], "the nodes stop cleanly")
t.ok(wait_until(lambda: not containers_of(pids), 30 * SLOW, 0.5),
     "no container of these nodes is left, the killed one's included (%s)"
     % containers_of(pids))
t.ok(not any(sanitizer_report(n.errors()) for n in nodes), "no sanitizer report")
if not t.failed:
    shutil.rmtree(tmp, ignore_errors=True)
else:
    t.diag("kept for its logs: %s" % tmp)
t.done()
