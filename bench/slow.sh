#!/usr/bin/env bash
#
# bench/slow.sh: slow clients (slowhttptest, Debian's) against dcgid and
# nginx, same machine, same run, loopback.  For each attack: the server's
# VmRSS before, at most during, and after; how many of a second client's
# probes (curl from 127.0.0.2, one every 0.5 s, 5 s timeout) were answered.
#
#   slowloris   -H: C connections whose headers never end (GET /ok.txt)
#   slow read   -X: C connections reading a 1 MiB file 32 bytes a second
#               with a 256-512 byte window
#   slow POST   -B: C bodies of 64 KiB that trickle (dcgid: into a
#               container route, /post; nginx: /ok.txt, which it refuses)
#   slow read   -X on a container route (dcgid only): /big, 20 MiB out,
#               Timeout 10s
#
# Both servers with their defaults but what the comparison needs: dcgid
# with MaxConnectionsPerClient 0 (one attacker address: the limit would
# refuse most of the attack, which is the point of it but not of this
# measure; a second run shows it at its default), nginx with
# worker_processes 1, worker_connections 4096.
#
# Needs: httpd/dcgid built without sanitizers, nginx-light, slowhttptest,
# curl, a Docker engine and dcgi-test/busybox.  As root (ulimit -n).
# Settings: C=500 SECONDS=20 KEEP=0.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
C=${C:-500} SECS=${SECONDS_EACH:-20} KEEP=${KEEP:-0}
[ -x "$REPO/httpd/dcgid" ] || { echo "slow.sh: build first (./configure && make)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
tmp=$(mktemp -d /tmp/dcgi-slow.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$KEEP" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"     # nginx workers run as www-data
mkdir -p "$tmp/www"
echo fine >"$tmp/www/ok.txt"
head -c 1048576 /dev/urandom >"$tmp/www/big.bin"
cp "$REPO/httpd/dcgid" "$REPO/httpd/dcgi-init" "$tmp/"
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), Debian $(cat /etc/debian_version)"
echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2); slowhttptest $(slowhttptest -h 2>&1 | grep -o 'version [0-9.]*' | head -1)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); C=$C, $SECS s each"

# attack NAME PID URL ARGS...: one line of results
attack() {
	local name=$1 pid=$2 url=$3; shift 3
	local before peak after ok=0 all=0 r
	before=$(rss "$pid"); peak=$before
	slowhttptest -l "$SECS" -c "$C" -r 200 -p 3 -u "$url" "$@" >/dev/null 2>&1 &
	local sp=$!
	local end=$(( $(date +%s) + SECS ))
	while [ "$(date +%s)" -lt "$end" ]; do
		r=$(rss "$pid"); [ "$r" -gt "$peak" ] && peak=$r
		all=$((all + 1))
		curl -s -o /dev/null --interface 127.0.0.2 -m 5 -w '%{http_code}' "${url%/*}/ok.txt" |
		    grep -q 200 && ok=$((ok + 1))
		sleep 0.5
	done
	wait "$sp" || true
	sleep 2
	after=$(rss "$pid")
	printf '%-44s RSS %6d KiB before, %6d at most (+%d), %6d after; probes %d/%d\n' \
	    "$name" "$before" "$peak" $((peak - before)) "$after" "$ok" "$all"
}

dport=$(freeport); nport=$(freeport)
for limit in 0 256; do
	cat >"$tmp/httpd.conf" <<EOF
Listen 127.0.0.1:$dport
DocumentRoot $tmp/www
MimeTypes $REPO/conf/mime.types
ErrorLog $tmp/error.log
AccessLog off
MaxConnections 4096
MaxConnectionsPerClient $limit
<Route /post>
    Image dcgi-test/busybox
    Command /cgi/echo
</Route>
<Route /big>
    Image dcgi-test/busybox
    Command /cgi/big
    Timeout 10s
</Route>
EOF
	"$tmp/dcgid" -f "$tmp/httpd.conf" >/dev/null 2>&1 &
	dp=$!; pids+=("$dp")
	sleep 1
	curl -s -o /dev/null "http://127.0.0.1:$dport/ok.txt"
	attack "dcgid (PerClient $limit) slowloris" "$dp" "http://127.0.0.1:$dport/ok.txt" -H -i 5 -x 24
	attack "dcgid (PerClient $limit) slow read, static" "$dp" "http://127.0.0.1:$dport/big.bin" \
	    -X -w 256 -y 512 -n 1 -z 32
	attack "dcgid (PerClient $limit) slow POST, container route" "$dp" \
	    "http://127.0.0.1:$dport/post" -B -i 5 -s 65536 -x 24
	attack "dcgid (PerClient $limit) slow read, container route" "$dp" \
	    "http://127.0.0.1:$dport/big" -X -w 256 -y 512 -n 1 -z 32
	left=$(docker ps -aq --filter label=dcgi.route=/big | wc -l)
	echo "  /big containers left after the slow read: $left"
	kill "$dp"; wait "$dp" 2>/dev/null || true
done

cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    types { text/plain txt; application/octet-stream bin; }
    server { listen 127.0.0.1:$nport; root $tmp/www; }
}
EOF
nginx -c "$tmp/nginx.conf" &
pids+=("$!")
sleep 1
np=$(pgrep -f "nginx: worker process" | while read -r p; do grep -q "$tmp" "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/cmdline" 2>/dev/null && echo "$p"; done | head -1)
attack "nginx slowloris" "$np" "http://127.0.0.1:$nport/ok.txt" -H -i 5 -x 24
attack "nginx slow read, static" "$np" "http://127.0.0.1:$nport/big.bin" -X -w 256 -y 512 -n 1 -z 32
attack "nginx slow POST (refused: static)" "$np" "http://127.0.0.1:$nport/ok.txt" -B -i 5 -s 65536 -x 24
