#!/usr/bin/env bash
#
# bench/sustained.sh: sustained load on a prestarted route, against the
# engine's own best start rate, same machine, same run.
#
#   1. the ceiling: bench/engine.sh (docker run of the trivial function at
#      parallelism 1, 2, 4, 8; containers per second), its best rate
#   2. dcgid, <Route /pre> (Command /cgi/status, Network none,
#      Prestart 1 8: a pool that sizes itself), the default MaxStarting
#      (4): wrk, 8 connections, DURATION, a 10 s client timeout; every
#      request takes one container, so requests per second are containers
#      per second; responses counted by status (a wrk script)
#   3. the same with MaxStarting 1000 (no limit: what dcgid did before)
#
# Goal: dcgid's rate / the engine's best >= 0.9, and no error but 503
# (with Retry-After, after a bounded wait) above the rate.
#
# Needs: httpd/dcgid and httpd/dcgi-init built, a Docker engine, the image
# dcgi-test/busybox, wrk, python3.  Settings: DURATION=60s N=40 (per
# engine.sh step) KEEP=0.
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-60s}
KEEP=${KEEP:-0}
IMAGE=dcgi-test/busybox

die() { echo "sustained.sh: $*" >&2; exit 1; }
[ -x "$REPO/httpd/dcgid" ] && [ -x "$REPO/httpd/dcgi-init" ] ||
	die "build first (./configure && make)"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-sustained.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www"
cp "$REPO/httpd/dcgid" "$REPO/httpd/dcgi-init" "$TMP/"
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then echo "kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

cat >"$TMP/count.lua" <<'EOF'
-- Responses by status, summed over wrk's threads.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for s, n in pairs(t:get("codes")) do all[s] = (all[s] or 0) + n end
	end
	local line = "status:"
	for s, n in pairs(all) do line = line .. " " .. s .. "=" .. n end
	print(line)
	print(string.format("latency p50 %.0f ms, p99 %.0f ms", latency:percentile(50) / 1000,
	    latency:percentile(99) / 1000))
	print(string.format("errors: connect %d, read %d, write %d, timeout %d",
	    summary.errors.connect, summary.errors.read, summary.errors.write,
	    summary.errors.timeout))
end
EOF

echo "# bench/sustained.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) CPUs  $(uname -r)" \
    " engine $(docker version -f '{{.Server.Version}}')  dcgid $(git -C "$REPO" rev-parse --short HEAD)"
echo "## 1. the engine: docker run at parallelism P"
"$REPO/bench/engine.sh" | tee "$TMP/engine.txt"
best=$(awk '/^best:/{print $2}' "$TMP/engine.txt")

run() {   # run NAME TITLE EXTRA-CONFIG
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$TMP/$1.conf" <<EOF
Listen 127.0.0.1:$port
DocumentRoot $TMP/www
MimeTypes $REPO/conf/mime.types
ErrorLog $TMP/$1-error.log
AccessLog off
$3
<Route /pre>
    Image $IMAGE
    Command /cgi/status
    Prestart 1 8
</Route>
EOF
	"$TMP/dcgid" -f "$TMP/$1.conf" >"$TMP/$1.out" 2>&1 &
	DPID=$!
	sleep 3
	echo "## $2: wrk -t2 -c8 -d$DURATION --timeout 10s"
	wrk -t2 -c8 -d"$DURATION" --timeout 10s -s "$TMP/count.lua" \
	    "http://127.0.0.1:$port/pre" | tee "$TMP/$1.wrk" |
	    grep -E 'Requests/sec|^status|^latency|^errors'
	rate=$(awk '/Requests\/sec/{print $2}' "$TMP/$1.wrk")
	echo "containers/s $rate, / engine best $best = $(awk -v a="$rate" -v b="$best" 'BEGIN{printf "%.2f", a/b}')"
	echo "503s logged: $(grep -c ': 503' "$TMP/$1-error.log" || true)"
	kill "$DPID"
	wait "$DPID" || true
	DPID=
	sleep 3
}
run limited "2. dcgid, MaxStarting 4 (the default)" ""
run unlimited "3. dcgid, MaxStarting 1000" "MaxStarting 1000"
