#!/usr/bin/env bash
#
# bench/static.sh: static-file benchmark, dcgid against nginx (one worker).
#
# Same files, same machine, same run, all traffic on 127.0.0.1:
#   1. memory: VmRSS of dcgid and of the nginx worker right after start, and
#      again with IDLE_CONNS (10,000) idle keep-alive connections open, each
#      having done one GET of the 1 KiB file (bench/idle_conns.py);
#   2. throughput: wrk with keep-alive against each server for a 1 KiB and a
#      1 MiB file, REPS (3) runs each, servers alternating, median reported.
#
# It builds nothing: build dcgid first (./configure && make).  It needs wrk,
# nginx (nginx-light is enough), python3, taskset, ss and curl.  Run it as
# root, or with a hard open-file limit above IDLE_CONNS + 1000.
#
# Pinning (on a machine with 2 or more CPUs): both servers run on CPU
# SERVER_CPU (0) and the load generators (wrk, idle_conns.py) on CPU
# CLIENT_CPU (1).  Only one server is under load at any time, so each one gets
# a whole core to itself and never competes with wrk.  PIN=0 turns this off.
#
# Settings (environment): DURATION=15s CONNS=50 THREADS=1 REPS=3 WARMUP=3s
# IDLE_CONNS=10000 DCGID_PORT, NGINX_PORT (default: free ports) SERVER_CPU=0
# CLIENT_CPU=1 PIN=1 QUIET_WAIT=120 MAX_OTHER=15 TRIES=3 KEEP=0 (KEEP=1 keeps
# the temp dir: configs, raw wrk output, logs).
#
# On a shared machine: before each wrk run the script waits up to QUIET_WAIT
# seconds for the rest of the machine to fall below 10% of a core, and a run
# during which other programs (or the hypervisor, as steal) took more than
# MAX_OTHER% of a core is marked DISTURBED and repeated, up to TRIES times; the
# last try counts either way and the summary says how many such runs remain.
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DCGID=$REPO/httpd/dcgid
CLIENT=$REPO/bench/idle_conns.py

DURATION=${DURATION:-15s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1}
REPS=${REPS:-3}
WARMUP=${WARMUP:-3s}
IDLE_CONNS=${IDLE_CONNS:-10000}
DCGID_PORT=${DCGID_PORT:-}		# default: a free port
NGINX_PORT=${NGINX_PORT:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIN=${PIN:-1}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-120}
MAX_OTHER=${MAX_OTHER:-15}
TRIES=${TRIES:-3}

die() { echo "static.sh: $*" >&2; exit 1; }

# --- preconditions -------------------------------------------------------

[ -x "$DCGID" ] || die "$DCGID is missing: build it first (./configure && make)"
for t in wrk nginx python3 taskset ss curl; do
	command -v "$t" >/dev/null || die "'$t' is not installed"
done
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
[ -n "$DCGID_PORT" ] || DCGID_PORT=$(free_port)
while [ -z "$NGINX_PORT" ] || [ "$NGINX_PORT" = "$DCGID_PORT" ]; do NGINX_PORT=$(free_port); done
for p in "$DCGID_PORT" "$NGINX_PORT"; do
	[ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is in use (set DCGID_PORT/NGINX_PORT)"
done

# Every idle connection costs the client one descriptor and the server one.
want_fds=$((IDLE_CONNS + 1000))
[ "$want_fds" -lt 30000 ] && want_fds=30000
if [ "$(ulimit -n)" -lt "$want_fds" ]; then
	ulimit -Hn "$want_fds" 2>/dev/null || true
	ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
[ "$(ulimit -n)" -ge $((IDLE_CONNS + 100)) ] ||
	die "open-file limit $(ulimit -n) is too low for $IDLE_CONNS connections (run as root)"

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
	ON_CLIENT_CPU=(taskset -c "$CLIENT_CPU")
	pinning="servers on CPU $SERVER_CPU, wrk and idle_conns.py on CPU $CLIENT_CPU (taskset)"
else
	ON_SERVER_CPU=()
	ON_CLIENT_CPU=()
	pinning="none"
fi
HZ=$(getconf CLK_TCK)

# --- servers ---------------------------------------------------------------

status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }	# pid field
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }	# utime + stime
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

wait_http() {	# port

	for _ in $(seq 50); do
		curl -sf -o /dev/null "http://127.0.0.1:$1/1k.txt" && return 0
		sleep 0.1
	done
	return 1
}

start_servers() {
	"${ON_SERVER_CPU[@]}" "$DCGID" -f "$TMP/dcgid.conf" &
	DCGID_PID=$!
	"${ON_SERVER_CPU[@]}" nginx -p "$TMP/" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" &
	NGINX_PID=$!
	wait_http "$DCGID_PORT" || die "dcgid does not answer on port $DCGID_PORT (see $TMP/dcgid-error.log)"
	wait_http "$NGINX_PORT" || die "nginx does not answer on port $NGINX_PORT (see $TMP/nginx-error.log)"
	NGINX_WORKER=$(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ' | head -1)
	[ -n "$NGINX_WORKER" ] || die "cannot find the nginx worker process"
	sleep 1		# let both settle before anyone reads their RSS
}

stop_servers() {
	if [ -n "$DCGID_PID" ] && kill "$DCGID_PID" 2>/dev/null; then
		wait "$DCGID_PID" 2>/dev/null || true
	fi
	if [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null; then
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	DCGID_PID='' NGINX_PID=''
	return 0
}

server_pid() { [ "$1" = dcgid ] && echo "$DCGID_PID" || echo "$NGINX_WORKER"; }
server_port() { [ "$1" = dcgid ] && echo "$DCGID_PORT" || echo "$NGINX_PORT"; }

# --- temp dir, files, configs ----------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-bench.XXXXXX")
chmod 755 "$TMP"	# the nginx worker may run as an unprivileged user
mkdir -p "$TMP/www" "$TMP/nginx-tmp"
head -c 1024 /dev/zero | tr '\0' x >"$TMP/www/1k.txt"
head -c 1048576 /dev/urandom >"$TMP/www/1m.bin"
chmod 644 "$TMP/www/"*
# Run a copy, so that a rebuild in the tree during the run changes nothing.
cp "$DCGID" "$TMP/dcgid"
DCGID_SRC=$DCGID
DCGID=$TMP/dcgid

DCGID_PID='' NGINX_PID='' NGINX_WORKER='' CLIENT_PID=''
cleanup() {
	set +e
	[ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null && wait "$CLIENT_PID" 2>/dev/null
	stop_servers
	if [ "$KEEP" = 1 ]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$TMP/dcgid.conf" <<EOF
Listen 127.0.0.1:$DCGID_PORT
DocumentRoot "$TMP/www"
MimeTypes "$REPO/conf/mime.types"
AccessLog off
ErrorLog "$TMP/dcgid-error.log"
MaxConnections 20000
KeepAliveRequests 1000000
KeepAliveTimeout 120s
EOF

cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $TMP/nginx-error.log;
pid $TMP/nginx.pid;
events {
    worker_connections 20000;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $TMP/nginx-tmp/body;
    proxy_temp_path $TMP/nginx-tmp/proxy;
    fastcgi_temp_path $TMP/nginx-tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx-tmp/uwsgi;
    scgi_temp_path $TMP/nginx-tmp/scgi;
    types {
        text/plain txt;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
    }
}
EOF

"$DCGID" -t -f "$TMP/dcgid.conf" >/dev/null || die "dcgid rejects $TMP/dcgid.conf"
nginx -t -q -p "$TMP/" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" ||
	die "nginx rejects $TMP/nginx.conf"

# --- report header -----------------------------------------------------------

echo "== dcgi static-file benchmark"
echo "date (UTC):  $(date -u '+%Y-%m-%d %H:%M:%S')"
echo "dcgid:       $("$DCGID" -v 2>&1), $DCGID_SRC, commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- httpd 2>/dev/null || echo ' + uncommitted changes in httpd/'), binary built $(date -u -r "$DCGID_SRC" '+%Y-%m-%d %H:%M:%S')"
echo "nginx:       $(nginx -v 2>&1 | sed 's/^nginx version: //'), worker_processes 1"
echo "wrk:         $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
echo "CPU:         $(nproc) x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "kernel:      $(uname -sr)"
echo "OS:          $( . /etc/os-release && echo "$PRETTY_NAME") (debian_version $(cat /etc/debian_version 2>/dev/null || echo '?'))"
echo "pinning:     $pinning"
echo "load:        wrk -t$THREADS -c$CONNS -d$DURATION --latency, keep-alive; $REPS runs per cell, median shown"
echo "files:       $TMP/www/1k.txt (1024 B, text/plain), $TMP/www/1m.bin (1048576 B, application/octet-stream)"
echo

start_servers

# Both must serve the same bytes; show what each sends in front of them.
for s in dcgid nginx; do
	for f in 1k.txt 1m.bin; do
		curl -sf -o "$TMP/check" "http://127.0.0.1:$(server_port $s)/$f" ||
			die "$s: GET /$f failed"
		cmp -s "$TMP/check" "$TMP/www/$f" || die "$s: /$f is served wrong"
	done
	echo "-- $s response head for /1k.txt:"
	curl -s -D - -o /dev/null "http://127.0.0.1:$(server_port $s)/1k.txt" | tr -d '\r' | sed '/^$/d; s/^/   /'
done
echo

# --- 1. memory ---------------------------------------------------------------

echo "== memory (from /proc/PID/status; nginx: its worker process)"
# VmRSS is what the brief asks for; RssAnon is the part that is the process's
# own (heap, stacks), without the pages of shared libraries it has touched.
mem() { echo "$(status_kb "$1" VmRSS) $(status_kb "$1" RssAnon)"; }
read -r idle_dcgid idle_dcgid_anon < <(mem "$DCGID_PID")
read -r idle_nginx idle_nginx_anon < <(mem "$NGINX_WORKER")
idle_master=$(status_kb "$NGINX_PID" VmRSS)

hold_rss() {	# server -> HELD, HELD_ANON (KiB) and EST (connections seen ESTABLISHED)
	local s=$1 port pid ready=$TMP/ready-$1
	port=$(server_port "$s")
	pid=$(server_pid "$s")
	"${ON_CLIENT_CPU[@]}" python3 "$CLIENT" "$port" /1k.txt "$IDLE_CONNS" "$ready" &
	CLIENT_PID=$!
	for _ in $(seq 1200); do
		[ -s "$ready" ] && break
		kill -0 "$CLIENT_PID" 2>/dev/null || die "idle_conns.py failed against $s"
		sleep 0.1
	done
	[ -s "$ready" ] || die "idle_conns.py did not finish against $s in 120 s"
	sleep 2
	EST=$(ss -Htn state established "( sport = :$port )" | wc -l)
	read -r HELD HELD_ANON < <(mem "$pid")
	echo "   $s: idle_conns.py: $(cat "$ready"); server side ESTABLISHED: $EST"
	kill "$CLIENT_PID"
	wait "$CLIENT_PID" || echo "   $s: idle_conns.py reported failed requests"
	CLIENT_PID=''
	for _ in $(seq 100); do		# wait for the server to see them close
		[ -z "$(ss -Htn state established "( sport = :$port )" | head -1)" ] && break
		sleep 0.1
	done
}

hold_rss dcgid; held_dcgid=$HELD held_dcgid_anon=$HELD_ANON est_dcgid=$EST
hold_rss nginx; held_nginx=$HELD held_nginx_anon=$HELD_ANON est_nginx=$EST
sleep 1
read -r after_dcgid after_dcgid_anon < <(mem "$DCGID_PID")
read -r after_nginx after_nginx_anon < <(mem "$NGINX_WORKER")

per_conn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.2f", n ? (b - a) / n : 0}'; }
row() {	# label unit dcgid-rss dcgid-anon nginx-rss nginx-anon
	printf '   %-30s %9s %9s %3s   %9s %9s %3s\n' "$1" "$3" "$4" "$2" "$5" "$6" "$2"
}
echo
printf '   %-30s %23s   %23s\n' "" "dcgid" "nginx worker"
printf '   %-30s %9s %9s %3s   %9s %9s %3s\n' "" VmRSS RssAnon "" VmRSS RssAnon ""
row "idle, after start" MiB "$(mib "$idle_dcgid")" "$(mib "$idle_dcgid_anon")" \
	"$(mib "$idle_nginx")" "$(mib "$idle_nginx_anon")"
row "$IDLE_CONNS idle keep-alive conns" MiB "$(mib "$held_dcgid")" "$(mib "$held_dcgid_anon")" \
	"$(mib "$held_nginx")" "$(mib "$held_nginx_anon")"
row "growth per connection" KiB \
	"$(per_conn "$idle_dcgid" "$held_dcgid" "$est_dcgid")" \
	"$(per_conn "$idle_dcgid_anon" "$held_dcgid_anon" "$est_dcgid")" \
	"$(per_conn "$idle_nginx" "$held_nginx" "$est_nginx")" \
	"$(per_conn "$idle_nginx_anon" "$held_nginx_anon" "$est_nginx")"
row "after they closed" MiB "$(mib "$after_dcgid")" "$(mib "$after_dcgid_anon")" \
	"$(mib "$after_nginx")" "$(mib "$after_nginx_anon")"
printf '   (nginx master, idle: VmRSS %s MiB, not included above; kernel socket\n' "$(mib "$idle_master")"
printf '   buffers are not in any process RSS)\n\n'

# Fresh processes for the throughput runs.
stop_servers
start_servers

# --- 2. throughput -------------------------------------------------------------

to_ms() {	# wrk latency ("812.00us", "1.20ms", "1.01s", "2.00m") -> ms
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
		else if (u == "m") n *= 60000;
		printf "%.3f", n }'
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

# CPU accounting, in ticks of 1/HZ s.  The kernel charges softirq work (the
# loopback TCP path) to the task it interrupts, so "other" below is CPU used
# by everything but the server and wrk: other programs, kernel threads.
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
steal_ticks() { awk '$1 == "cpu" {print $9}' /proc/stat; }

# Wait (up to QUIET_WAIT s) until the rest of the machine uses less than 10%
# of one core; a benchmark on a shared machine is otherwise meaningless.
wait_quiet() {
	local i b0 b1
	for i in $(seq "$QUIET_WAIT"); do
		b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
		[ $((b1 - b0)) -le $((HZ / 10)) ] && return 0
		[ "$i" = 1 ] && echo "   (machine busy: $(( (b1 - b0) * 100 / HZ ))% of a core; waiting up to ${QUIET_WAIT}s)"
	done
	echo "   WARNING: the machine never got quiet; this run is disturbed"
}

declare -A RPS P50 P99 SCPU WCPU OTHER STEAL USREQ
DISTURBED=0
run_wrk() {	# server file label [duration]
	local s=$1 f=$2 out=$TMP/wrk-$1-$2-$3.txt tf=$TMP/time pid try mark
	local t0 t1 b0 b1 st0 st1 rps p50 p99 scpu wcpu other steal usreq
	pid=$(server_pid "$s")
	for try in $(seq "$TRIES"); do
		wait_quiet
		t0=$(cpu_ticks "$pid") b0=$(busy_ticks) st0=$(steal_ticks)
		{ TIMEFORMAT='%U %S %R'; time "${ON_CLIENT_CPU[@]}" wrk -t"$THREADS" -c"$CONNS" \
			-d"${4:-$DURATION}" --latency "http://127.0.0.1:$(server_port "$s")/$f" >"$out"; } 2>"$tf"
		kill -0 "$pid" 2>/dev/null || die "$s (pid $pid) went away during the run"
		t1=$(cpu_ticks "$pid") b1=$(busy_ticks) st1=$(steal_ticks)
		grep -q '^Requests/sec:' "$out" || die "wrk failed against $s: $(cat "$out")"
		if grep -qE 'Socket errors|Non-2xx' "$out"; then
			echo "   WARNING: $s /$f run $3: $(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ')"
		fi
		[ "$3" = warmup ] && return 0
		rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
		p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
		p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
		# The server's own CPU time per request served, in microseconds.
		usreq=$(awk -v n="$(awk '/ requests in / {print $1}' "$out")" -v t=$((t1 - t0)) \
			-v hz="$HZ" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
		# Shares of one core during the run (wrk: user + sys from `time`).
		read -r scpu wcpu other steal < <(awk -v t="$(tail -n 1 "$tf")" -v hz="$HZ" \
			-v srv=$((t1 - t0)) -v busy=$((b1 - b0)) -v st=$((st1 - st0)) 'BEGIN {
			split(t, x, " "); w = x[1] + x[2]; r = x[3]; o = (busy - srv) / hz - w
			printf "%.0f %.0f %.0f %.0f\n", srv / hz / r * 100, w / r * 100,
			    (o > 0 ? o : 0) / r * 100, st / hz / r * 100 }')
		mark=''
		if [ "$other" -gt "$MAX_OTHER" ] || [ "$steal" -gt "$MAX_OTHER" ]; then
			mark=' DISTURBED'
		fi
		printf '   %-5s /%-6s run %s: %7s req/s  p50 %6s ms  p99 %7s ms  server %5s us/req  CPU%%: server %3s wrk %3s other %3s steal %3s%s\n' \
			"$s" "$f" "$3" "$rps" "$p50" "$p99" "$usreq" "$scpu" "$wcpu" "$other" "$steal" "$mark"
		[ -z "$mark" ] && break
		if [ "$try" -lt "$TRIES" ]; then
			echo "   (other programs used more than $MAX_OTHER% of a core: repeating this run)"
		else
			DISTURBED=$((DISTURBED + 1))
		fi
	done
	local k="$s $f"
	RPS[$k]+="$rps " P50[$k]+="$p50 " P99[$k]+="$p99 "
	SCPU[$k]+="$scpu " WCPU[$k]+="$wcpu " OTHER[$k]+="$other " STEAL[$k]+="$steal "
	USREQ[$k]+="$usreq "
}

echo "== throughput (raw runs; servers alternate, order flips each run)"
for f in 1k.txt 1m.bin; do
	run_wrk dcgid "$f" warmup "$WARMUP"
	run_wrk nginx "$f" warmup "$WARMUP"
	for r in $(seq "$REPS"); do
		if [ $((r % 2)) = 1 ]; then order="dcgid nginx"; else order="nginx dcgid"; fi
		for s in $order; do
			run_wrk "$s" "$f" "$r"
		done
	done
done

# shellcheck disable=SC2086
med() { local -n a=$1; median ${a["$2"]}; }

echo
echo "== results: median of $REPS runs of wrk -t$THREADS -c$CONNS -d$DURATION"
echo "   us/req: the server's own CPU time per request.  CPU columns: share of one core during"
echo "   the run used by the server, by wrk, by anything else on the machine, and taken by the"
echo "   hypervisor (steal)"
printf '%-8s %-6s %9s %8s %8s %7s %6s %6s %6s %6s   %s\n' file server req/s p50_ms p99_ms us/req server wrk other steal "req/s of each run"
for f in 1k.txt 1m.bin; do
	for s in dcgid nginx; do
		k="$s $f"
		printf '%-8s %-6s %9s %8s %8s %7s %5s%% %5s%% %5s%% %5s%%   %s\n' "$f" "$s" "$(med RPS "$k")" \
			"$(med P50 "$k")" "$(med P99 "$k")" "$(med USREQ "$k")" "$(med SCPU "$k")" "$(med WCPU "$k")" \
			"$(med OTHER "$k")" "$(med STEAL "$k")" "${RPS[$k]}"
	done
	printf '%-8s %-6s %9s %8s %8s %7s\n' "$f" ratio \
		"$(awk -v a="$(med RPS "dcgid $f")" -v b="$(med RPS "nginx $f")" 'BEGIN {printf "%.3f", a / b}')" \
		"$(awk -v a="$(med P50 "dcgid $f")" -v b="$(med P50 "nginx $f")" 'BEGIN {printf "%.2f", a / b}')" \
		"$(awk -v a="$(med P99 "dcgid $f")" -v b="$(med P99 "nginx $f")" 'BEGIN {printf "%.2f", a / b}')" \
		"$(awk -v a="$(med USREQ "dcgid $f")" -v b="$(med USREQ "nginx $f")" 'BEGIN {printf "%.2f", a / b}')"
done
echo "(ratio = dcgid / nginx; for req/s above 1 favours dcgid, for latency and us/req below 1 does)"
awk -v a="$(med RPS "dcgid 1m.bin")" -v b="$(med RPS "nginx 1m.bin")" \
	'BEGIN {printf "1 MiB payload rate: dcgid %.2f GiB/s, nginx %.2f GiB/s\n", a / 1024, b / 1024}'
echo "peak RSS during the throughput runs (VmHWM): dcgid $(mib "$(status_kb "$DCGID_PID" VmHWM)") MiB, nginx worker $(mib "$(status_kb "$NGINX_WORKER" VmHWM)") MiB"

if [ "$DISTURBED" -gt 0 ]; then
	echo "WARNING: $DISTURBED of the runs above stayed DISTURBED by other load after $TRIES tries"
fi
ratio1k=$(awk -v a="$(med RPS "dcgid 1k.txt")" -v b="$(med RPS "nginx 1k.txt")" 'BEGIN {printf "%.3f", a / b}')
if awk -v r="$ratio1k" 'BEGIN {exit !(r >= 1)}'; then
	echo "goal (dcgid req/s >= nginx on 1 KiB): MET (ratio $ratio1k)"
else
	echo "goal (dcgid req/s >= nginx on 1 KiB): NOT MET (ratio $ratio1k)"
fi

for l in "$TMP/dcgid-error.log" "$TMP/nginx-error.log"; do
	if [ -s "$l" ]; then
		echo "-- $(basename "$l") (last lines):"
		tail -n 5 "$l" | sed 's/^/   /'
	fi
done
