#!/usr/bin/env bash
#
# bench/cold.sh: a cold request (a fresh container per request, no
# prestarting) against what a user would script instead, same machine, same
# run, the same trivial function (/cgi/status of dcgi-test/busybox):
#
#   docker run    docker run -i --rm --network none dcgi-test/busybox /cgi/status
#                 (the CLI: create, attach, start, wait, the --rm removal)
#   none          dcgid, GET /none on a <Route> with Network none (the default)
#   isolated      dcgid, GET /iso on a <Route> with Network isolated (the
#                 route's containers join one namespace held by a holder)
#   none+host     for reference: dcgid, Network host (no namespace at all)
#
# N rounds; each round runs one request of each, in a rotated order, with a
# PAUSE between requests (so that each starts on an idle engine); p50/p90
# over the rounds, and each p50 as a ratio of docker run's.
#
# Another engine: DOCKER_HOST names it (dcgid and the docker CLI use it),
# RUN_CLI the command a user of it would run instead of `docker` (bench/
# podman.sh: "podman --remote --url $DOCKER_HOST"), ROUTES which of none,
# isolated and host to measure.
#
# Needs: httpd/dcgid and httpd/dcgi-init built, a Docker engine, the image
# dcgi-test/busybox (tests/images/build.sh), python3.  Settings
# (environment): N=30 PAUSE=0.3 KEEP=0 RUN_CLI=docker
# ROUTES="none isolated host".
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-30}
PAUSE=${PAUSE:-0.3}
KEEP=${KEEP:-0}
RUN_CLI=${RUN_CLI:-docker}
ROUTES=${ROUTES:-none isolated host}
IMAGE=dcgi-test/busybox

die() { echo "cold.sh: $*" >&2; exit 1; }
[ -x "$REPO/httpd/dcgid" ] && [ -x "$REPO/httpd/dcgi-init" ] ||
	die "build first (./configure && make)"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE (sh tests/images/build.sh)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-cold.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www"
cp "$REPO/httpd/dcgid" "$REPO/httpd/dcgi-init" "$TMP/"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TMP/dcgid.conf" <<EOF
Listen 127.0.0.1:$PORT
DocumentRoot $TMP/www
MimeTypes $REPO/conf/mime.types
ErrorLog $TMP/error.log
AccessLog off
<Route /none>
    Image $IMAGE
    Command /cgi/status
</Route>
<Route /iso>
    Image $IMAGE
    Command /cgi/status
    Network isolated
</Route>
<Route /host>
    Image $IMAGE
    Command /cgi/status
    Network host
</Route>
EOF
"$TMP/dcgid" -f "$TMP/dcgid.conf" >"$TMP/dcgid.out" 2>&1 &
DPID=$!
cleanup() {
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
	docker ps -aq --filter label=dcgi.bench=cold | xargs -r docker rm -f >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then echo "kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
	sleep 0.1
done

echo "# bench/cold.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) CPUs  $(uname -r)" \
    " engine $(docker version -f '{{.Server.Version}}')  dcgid $(git -C "$REPO" rev-parse --short HEAD)"
python3 - "$PORT" "$N" "$PAUSE" "$IMAGE" "$RUN_CLI" "$ROUTES" <<'EOF'
import subprocess, sys, time, urllib.request

port, n, pause, image = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
cli, routes = sys.argv[5].split(), sys.argv[6].split()


def http(path):
    t0 = time.perf_counter()
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        body = r.read()
        if r.status != 201 or body != b"created":
            raise RuntimeError("%s: %d %r" % (path, r.status, body[:80]))
    return time.perf_counter() - t0


def docker_run():
    t0 = time.perf_counter()
    p = subprocess.run(cli + ["run", "-i", "--rm", "--network", "none",
                        "--label", "dcgi.bench=cold", image, "/cgi/status"],
                       stdin=subprocess.DEVNULL, capture_output=True)
    if p.returncode != 0 or not p.stdout.endswith(b"created"):
        raise RuntimeError("%s run: %d %r" % (cli[0], p.returncode, p.stderr[:200]))
    return time.perf_counter() - t0


paths = {"none": "/none", "isolated": "/iso", "host": "/host"}
run = cli[0] + " run"
kinds = [(run, docker_run)] + [(r, lambda p=paths[r]: http(p)) for r in routes]
for _, f in kinds:                       # warm-up: the looks at the image, the holder
    f()
    time.sleep(pause)
samples = {k: [] for k, _ in kinds}
for r in range(n):
    order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
    for k, f in order:
        time.sleep(pause)
        samples[k].append(f() * 1000)


def pct(v, p):
    v = sorted(v)
    return v[max(1, -(-len(v) * p // 100)) - 1]


base = pct(samples[run], 50)
print("%-12s %8s %8s %8s %8s" % ("", "p50 ms", "p90 ms", "min ms", "/ " + run))
for k, _ in kinds:
    v = samples[k]
    print("%-12s %8.1f %8.1f %8.1f %8.2f" % (k, pct(v, 50), pct(v, 90), min(v), pct(v, 50) / base))
EOF
