#!/usr/bin/env bash
#
# bench/fairness.sh: per-client limits.  A second client's latency while a
# first one holds all it may, against the same on an idle server, with the
# limit on and, for comparison, off (the alternative: no per-client limit).
#
# dcgid with MaxContainers 8 and two routes:
#   /slow  a function that sleeps HOLD seconds (the hog's)
#   /cold  /cgi/status, cold (create, attach, start per request)
#   /pre   /cgi/status with Prestart 2
# Client A (127.0.0.1) keeps HOG=12 requests to /slow open at all times;
# client B (127.0.0.2) sends N=30 sequential requests to /cold, then to
# /pre, GAP_MS=700 apart (long enough for /pre's pool to refill), idle
# first, then with A at its limit (bench/fairness.py).  Twice: with
# MaxContainersPerClient 4 (A holds 4 of the 8) and with 0 (A takes all 8).
#
# Needs httpd/dcgid and httpd/dcgi-init built without sanitizers
# (./configure && make), a Docker engine, dcgi-test/busybox.
# Settings: N=30 GAP_MS=700 HOG=12 HOLD=4 LIMIT=4 KEEP=0.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-30} GAP_MS=${GAP_MS:-700} HOG=${HOG:-12} HOLD=${HOLD:-4} LIMIT=${LIMIT:-4}
KEEP=${KEEP:-0}
[ -x "$REPO/httpd/dcgid" ] || { echo "fairness.sh: build first (./configure && make)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/dcgi-fairness.XXXXXX)
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	[ "$KEEP" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www"
cp "$REPO/httpd/dcgid" "$REPO/httpd/dcgi-init" "$tmp/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), Debian $(cat /etc/debian_version)"
echo "docker: $(docker version -f '{{.Server.Version}}')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"

for limit in "$LIMIT" 0; do
	cat >"$tmp/httpd.conf" <<EOF
Listen 127.0.0.1:$port
DocumentRoot $tmp/www
MimeTypes $REPO/conf/mime.types
ErrorLog $tmp/error-$limit.log
AccessLog off
MaxContainers 8
MaxContainersPerClient $limit
<Route /slow>
    Image dcgi-test/busybox
    Command /bin/sh -c "sleep $HOLD; printf 'Content-Type: text/plain\\\\n\\\\nslow\\\\n'"
    MaxConcurrent 16
</Route>
<Route /cold>
    Image dcgi-test/busybox
    Command /cgi/status
    MaxConcurrent 16
</Route>
<Route /pre>
    Image dcgi-test/busybox
    Command /cgi/status
    Prestart 2
    MaxConcurrent 16
</Route>
EOF
	"$tmp/dcgid" -f "$tmp/httpd.conf" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q "/pre 2/2" "$tmp/error-$limit.log" 2>/dev/null && break
		sleep 0.2
	done
	for path in /cold /pre; do
		printf 'MaxContainersPerClient %s, B on %s: ' "$limit" "$path"
		python3 "$REPO/bench/fairness.py" "$port" "$path" "$N" "$GAP_MS" "$HOG" /slow
		sleep "$HOLD"
	done
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	sleep 2
done
