#!/usr/bin/env bash
#
# bench/queue.sh: <Queue> throughput on a Redis stream with 1, 2 and 3
# dcgid nodes on this machine (one engine shared), against the engine's
# own container start rate as the ceiling, same run.
#
#   1. the ceiling: bench/engine.sh (docker run of the trivial function at
#      parallelism 1, 2, 4, 8), its best rate in containers per second
#   2. for NODES in 1 2 3: NODES dcgid, each a consumer of the stream
#      `bench` (group dcgi; Command /cgi/status, Network none, Concurrency
#      4, the default MaxStarting 4); ITEMS entries added at once (one
#      EVAL); items/s = ITEMS / the time until every entry is acknowledged
#      and deleted (XLEN 0, XPENDING 0), measured from the add
#   3. the same for NODES 3 with MaxStarting 2 per node (6 in flight on
#      the engine, near its best parallelism)
#
# Needs: httpd/dcgid and httpd/dcgi-init built, a Docker engine, the image
# dcgi-test/busybox, redis-server, python3.  Settings: ITEMS=120 N=40 (per
# engine.sh step) KEEP=0.
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ITEMS=${ITEMS:-120}
KEEP=${KEEP:-0}
IMAGE=dcgi-test/busybox

die() { echo "queue.sh: $*" >&2; exit 1; }
[ -x "$REPO/httpd/dcgid" ] && [ -x "$REPO/httpd/dcgi-init" ] ||
	die "build first (./configure && make)"
command -v redis-server >/dev/null || die "redis-server is not installed"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-queue.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www"
cp "$REPO/httpd/dcgid" "$REPO/httpd/dcgi-init" "$TMP/"
RPORT=$(free_port)
PIDS=()
RPID=
stop_nodes() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
cleanup() {
	stop_nodes
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then echo "kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    >"$TMP/redis.log" 2>&1 &
RPID=$!
R() { redis-cli -p "$RPORT" "$@"; }
for _ in $(seq 50); do [ "$(R PING 2>/dev/null)" = PONG ] && break; sleep 0.1; done

echo "# bench/queue.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) CPUs  $(uname -r)" \
    " engine $(docker version -f '{{.Server.Version}}')  redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}')" \
    " dcgid $(git -C "$REPO" rev-parse --short HEAD)"
echo "## 1. the engine: docker run at parallelism P"
"$REPO/bench/engine.sh" | tee "$TMP/engine.txt"
best=$(awk '/^best:/{print $2}' "$TMP/engine.txt")

now() { date +%s.%N; }

run() {   # run NODES TITLE EXTRA-CONFIG
	local i port start end rate
	R DEL bench bench:dead >/dev/null
	for ((i = 1; i <= $1; i++)); do
		port=$(free_port)
		cat >"$TMP/node$i.conf" <<EOF
Listen 127.0.0.1:$port
DocumentRoot $TMP/www
MimeTypes $REPO/conf/mime.types
ErrorLog $TMP/node$i-error.log
AccessLog off
Redis 127.0.0.1:$RPORT
Consumer bench-node$i
$3
<Queue bench>
    Image $IMAGE
    Command /cgi/status
    Concurrency 4
    Retries 3
</Queue>
EOF
		: >"$TMP/node$i-error.log"
		"$TMP/dcgid" -f "$TMP/node$i.conf" >"$TMP/node$i.out" 2>&1 &
		PIDS+=($!)
	done
	sleep 3
	start=$(now)
	R EVAL "for i = 1, tonumber(ARGV[1]) do redis.call('XADD', KEYS[1], '*', 'item', 'x' .. i) end" \
	    1 bench "$ITEMS" >/dev/null
	while [ "$(R XLEN bench)" != 0 ] || [ "$(R XPENDING bench dcgi | head -1)" != 0 ]; do
		sleep 0.05
	done
	end=$(now)
	rate=$(awk -v n="$ITEMS" -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", n / (b - a)}')
	printf '%-44s %4d items in %6.1f s: %5s items/s = %s x the engine best (%s/s); dead %s\n' \
	    "$2" "$ITEMS" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b - a}')" "$rate" \
	    "$(awk -v a="$rate" -v b="$best" 'BEGIN{printf "%.2f", a / b}')" "$best" "$(R XLEN bench:dead)"
	stop_nodes
	sleep 3
}
echo "## 2. dcgid nodes on one stream (Concurrency 4 each)"
run 1 "1 node, MaxStarting 4" ""
run 2 "2 nodes, MaxStarting 4 each" ""
run 3 "3 nodes, MaxStarting 4 each" ""
echo "## 3. three nodes sharing the engine's best parallelism"
run 3 "3 nodes, MaxStarting 2 each" "MaxStarting 2"
