#!/usr/bin/env bash
#
# bench/latency.sh: latency of a trivial function run in a fresh container
# per request, three ways, same machine, same run, all with `Network none`:
#
#   a. dcgid      GET /fn on a <Route /fn> (Image dcgi-test/busybox,
#                 Command /cgi/status, Network none, MaxConcurrent 16)
#   b. apache     Apache httpd (mpm_event + mod_cgid, its own minimal config
#                 in the temp dir) running a CGI shell script that does
#                 `exec docker run -i --rm --network none dcgi-test/busybox
#                 /cgi/status`: what a user would set up instead (plus
#                 `--label dcgi.bench=latency-apache`, so that this script
#                 can tell its containers from anyone else's)
#   c. raw        the floor: the Docker Engine API sequence on raw AF_UNIX
#                 sockets, create (dcgid's spec) -> attach (101 upgrade) ->
#                 start -> read until EOF (-> delete, reported apart)
#
# /cgi/status prints a CGI header block (Status: 201, Content-Type, one
# custom header) and the body "created".  Every request is timed by the
# same client (bench/latency/client.py): first WARMUP unmeasured requests
# to each, then N_SEQ requests to each one after the other, then N_CONC
# requests to each over CONC concurrent workers (each worker one request at
# a time).  The machine may be shared and its speed drifts, so the three
# are interleaved: each phase is cut into ROUNDS blocks, and every round
# runs one block of each of the three, the order rotated from round to
# round; the samples of a target are pooled.  p50/p99 are nearest-rank.
#
# Needs: httpd/dcgid built (./configure && make), a Docker engine, the image
# dcgi-test/busybox (tests/images/build.sh), apache2 (apt-get install
# apache2), python3, curl.  Run as root (Apache starts as root and drops to
# www-data; see APACHE_GROUP).  Nothing under /etc is read or changed.
#
# Apache's CGI children must open the Docker socket: the temp config runs
# Apache as `User www-data` and `Group <the socket's group>` (docker), so no
# user is added to any group and nothing runs as root but Apache's parent.
#
# Then, for diagnosis, N_GAP sequential requests to each with GAP_MS (300)
# of unmeasured pause after each request (GAP_MS=0: skipped): dcgid removes
# a container after answering, so back to back its DELETE overlaps the
# next request's create and start, while the raw client removes before it
# begins the next; with the pause, neither overlaps.
#
# Settings (environment): N_SEQ=100 N_CONC=400 CONC=8 WARMUP=5 ROUNDS=5
# N_GAP=50 GAP_MS=300 DOCKER_SOCK=/var/run/docker.sock DCGID_PORT,
# APACHE_PORT (default: free ports) QUIET_WAIT=60 (before each block, wait
# up to that many seconds for the machine to fall below 10% of a core)
# KEEP=0 (KEEP=1 keeps the temp dir: configs, logs, every sample as JSON).
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DCGID=$REPO/httpd/dcgid
HERE=$REPO/bench/latency
CLIENT=$HERE/client.py

N_SEQ=${N_SEQ:-100}
N_CONC=${N_CONC:-400}
N_GAP=${N_GAP:-50}
ROUNDS=${ROUNDS:-5}
CONC=${CONC:-8}
WARMUP=${WARMUP:-5}
GAP_MS=${GAP_MS:-300}
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
DCGID_PORT=${DCGID_PORT:-}
APACHE_PORT=${APACHE_PORT:-}
QUIET_WAIT=${QUIET_WAIT:-60}
KEEP=${KEEP:-0}
IMAGE=dcgi-test/busybox
APACHE=${APACHE:-/usr/sbin/apache2}
APACHE_MODS=${APACHE_MODS:-/usr/lib/apache2/modules}
APACHE_USER=${APACHE_USER:-www-data}

die() { echo "latency.sh: $*" >&2; exit 1; }

# --- preconditions -------------------------------------------------------

[ -x "$DCGID" ] || die "$DCGID is missing: build it first (./configure && make)"
for t in python3 curl docker ss; do
	command -v "$t" >/dev/null || die "'$t' is not installed"
done
[ -x "$APACHE" ] || die "$APACHE is missing (apt-get install apache2)"
for m in mpm_event cgid alias authz_core; do
	[ -f "$APACHE_MODS/mod_$m.so" ] || die "$APACHE_MODS/mod_$m.so is missing"
done
[ "$(id -u)" = 0 ] || die "run as root (Apache starts as root, then drops to $APACHE_USER)"
id "$APACHE_USER" >/dev/null 2>&1 || die "no user $APACHE_USER for Apache"
[ -S "$DOCKER_SOCK" ] || die "$DOCKER_SOCK is not a socket"
export DOCKER_HOST=unix://$DOCKER_SOCK
docker info >/dev/null 2>&1 || die "no Docker engine answers on $DOCKER_SOCK"
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
	die "image $IMAGE is missing: sh tests/images/build.sh"
DOCKER_CLI=$(command -v docker)
APACHE_GROUP=${APACHE_GROUP:-$(stat -c %G "$DOCKER_SOCK")}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
[ -n "$DCGID_PORT" ] || DCGID_PORT=$(free_port)
while [ -z "$APACHE_PORT" ] || [ "$APACHE_PORT" = "$DCGID_PORT" ]; do APACHE_PORT=$(free_port); done
for p in "$DCGID_PORT" "$APACHE_PORT"; do
	[ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is in use (set DCGID_PORT/APACHE_PORT)"
done
HZ=$(getconf CLK_TCK)

# Containers this benchmark may leave: dcgid's (label dcgi.route=/fn), the
# raw client's (dcgi.bench=latency-raw), Apache's `docker run` ones
# (dcgi.bench=latency-apache).  Other containers (tests running at the same
# time, say) are not ours and are left alone.
leftovers() {
	{
		docker ps -aq "$@" --filter label=dcgi.route=/fn
		docker ps -aq "$@" --filter label=dcgi.bench=latency-raw
		docker ps -aq "$@" --filter label=dcgi.bench=latency-apache
	} | sort -u
}
leftovers_long() { leftovers --no-trunc; }
[ -z "$(leftovers)" ] ||
	die "containers of an earlier run exist (docker ps -a --filter label=dcgi.bench; label=dcgi.route=/fn): $(leftovers | tr '\n' ' ')"

# --- temp dir, configs -----------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-latency.XXXXXX")
chmod 755 "$TMP"	# Apache's children (www-data) run the CGI script from here
mkdir -p "$TMP/www" "$TMP/apache/cgi-bin" "$TMP/results" "$TMP/results-gap"
echo ok >"$TMP/www/index.html"
# Run a copy, so that a rebuild in the tree during the run changes nothing.
cp "$DCGID" "$TMP/dcgid"

cat >"$TMP/dcgid.conf" <<EOF
Listen 127.0.0.1:$DCGID_PORT
DocumentRoot $TMP/www
MimeTypes $REPO/conf/mime.types
ErrorLog $TMP/dcgid-error.log
AccessLog $TMP/dcgid-access.log combined
DockerHost unix://$DOCKER_SOCK

<Route /fn>
    Image $IMAGE
    Command /cgi/status
    Network none
    MaxConcurrent 16
</Route>
EOF
"$TMP/dcgid" -t -f "$TMP/dcgid.conf" >/dev/null || die "dcgid rejects $TMP/dcgid.conf"

cat >"$TMP/apache/cgi-bin/fn" <<EOF
#!/bin/sh
export DOCKER_HOST=unix://$DOCKER_SOCK
exec $DOCKER_CLI run -i --rm --network none --label dcgi.bench=latency-apache $IMAGE /cgi/status
EOF
chmod 755 "$TMP/apache" "$TMP/apache/cgi-bin" "$TMP/apache/cgi-bin/fn"

cat >"$TMP/apache/apache2.conf" <<EOF
# Minimal, self-contained: nothing from /etc/apache2.
ServerRoot $TMP/apache
ServerName 127.0.0.1
Listen 127.0.0.1:$APACHE_PORT
PidFile $TMP/apache/apache2.pid
DefaultRuntimeDir $TMP/apache
Mutex file:$TMP/apache default
ErrorLog $TMP/apache/error.log
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %b %D" timed
CustomLog $TMP/apache/access.log timed

LoadModule mpm_event_module $APACHE_MODS/mod_mpm_event.so
LoadModule authz_core_module $APACHE_MODS/mod_authz_core.so
LoadModule alias_module $APACHE_MODS/mod_alias.so
LoadModule cgid_module $APACHE_MODS/mod_cgid.so

# The CGI script must reach the Docker socket ($(stat -c '%U:%G %a' "$DOCKER_SOCK")).
User $APACHE_USER
Group $APACHE_GROUP
ScriptSock $TMP/apache/cgisock

StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 100
KeepAlive On
KeepAliveTimeout 60
MaxKeepAliveRequests 0
Timeout 60

<Directory />
    AllowOverride None
    Require all denied
</Directory>
ScriptAlias /fn $TMP/apache/cgi-bin/fn
<Directory $TMP/apache/cgi-bin>
    Require all granted
</Directory>
EOF
"$APACHE" -t -f "$TMP/apache/apache2.conf" >/dev/null 2>&1 ||
	die "apache2 rejects its config: $("$APACHE" -t -f "$TMP/apache/apache2.conf" 2>&1)"

# --- servers ---------------------------------------------------------------

DCGID_PID='' APACHE_PID='' CLIENT_PID=''
stop_servers() {
	if [ -n "$DCGID_PID" ] && kill "$DCGID_PID" 2>/dev/null; then
		wait "$DCGID_PID" 2>/dev/null || true
	fi
	if [ -n "$APACHE_PID" ] && kill -TERM "$APACHE_PID" 2>/dev/null; then
		wait "$APACHE_PID" 2>/dev/null || true
	fi
	DCGID_PID='' APACHE_PID=''
	return 0
}
cleanup() {
	set +e
	if [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null; then
		wait "$CLIENT_PID" 2>/dev/null
	fi
	stop_servers
	# An interrupted run may leave containers: remove only ours.
	local left
	left=$(leftovers)
	if [ -n "$left" ]; then
		echo "latency.sh: removing leftover containers: $(echo $left)" >&2
		docker rm -f $left >/dev/null 2>&1
	fi
	if [ "$KEEP" = 1 ]; then
		echo "kept: $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_fn() {	# port: until GET /fn answers 201 (the first run may be slow)
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$1/fn")" = 201 ] &&
			return 0
		sleep 0.2
	done
	return 1
}

"$TMP/dcgid" -f "$TMP/dcgid.conf" >"$TMP/dcgid-stdout.log" 2>"$TMP/dcgid-stderr.log" &
DCGID_PID=$!
"$APACHE" -DFOREGROUND -f "$TMP/apache/apache2.conf" 2>"$TMP/apache/stderr.log" &
APACHE_PID=$!
wait_fn "$DCGID_PORT" || die "dcgid does not answer 201 on /fn (see $TMP/dcgid-error.log; KEEP=1)"
wait_fn "$APACHE_PORT" || die "apache does not answer 201 on /fn: $(tail -n 5 "$TMP/apache/error.log")"

# --- the machine -------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:     $(nproc) CPUs, ${cpu:-unknown CPU}, $(awk '/^MemTotal:/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "kernel:      $(uname -sr)"
echo "docker:      engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), client $(docker version --format '{{.Client.Version}}'), storage $(docker info --format '{{.Driver}}'), cgroup $(docker info --format '{{.CgroupDriver}} v{{.CgroupVersion}}')"
echo "dcgid:       $("$DCGID" -v 2>&1), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- httpd 2>/dev/null || echo ' + uncommitted changes in httpd/'), binary built $(date -u -r "$DCGID" '+%Y-%m-%d %H:%M:%S')"
echo "apache:      $("$APACHE" -v | sed -n 's/^Server version: //p'), mpm_event + mod_cgid, User $APACHE_USER, Group $APACHE_GROUP"
echo "python:      $(python3 -V 2>&1)"
echo "load:        per target: WARMUP=$WARMUP, N_SEQ=$N_SEQ sequential, N_CONC=$N_CONC over CONC=$CONC workers, in ROUNDS=$ROUNDS interleaved blocks; diagnosis N_GAP=$N_GAP with GAP_MS=$GAP_MS"
echo

# --- runs ----------------------------------------------------------------------

busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wait_quiet() {
	local i b0 b1
	for i in $(seq "$QUIET_WAIT"); do
		b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
		[ $((b1 - b0)) -le $((HZ / 10)) ] && return 0
		[ "$i" = 1 ] && echo "   (machine busy: $(( (b1 - b0) * 100 / HZ ))% of a core; waiting up to ${QUIET_WAIT}s)"
	done
	echo "   WARNING: the machine never got quiet; this block is disturbed"
	DISTURBED=$((DISTURBED + 1))
}
DISTURBED=0 FOREIGN=0
# Containers running on the engine that are not this benchmark's (another
# workload sharing the engine makes every figure meaningless).
foreign() {
	local n
	n=$(comm -23 <(docker ps -q --no-trunc | sort) <(leftovers_long | sort) | grep -c . || true)
	if [ "$n" -gt 0 ]; then
		echo "   WARNING: $n other containers are running on the engine; this block is disturbed"
		FOREIGN=$((FOREIGN + 1))
	fi
}

gone() {	# name pid log... : die, saying how, if the server has exited
	local st=0 f
	kill -0 "$2" 2>/dev/null && return 0
	wait "$2" 2>/dev/null || st=$?
	[ "$1" = dcgid ] && DCGID_PID='' || APACHE_PID=''
	echo "latency.sh: $1 (pid $2) went away during the run, exit status $st$( [ "$st" -gt 128 ] && echo " (signal $((st - 128)))")" >&2
	for f in "${@:3}"; do
		echo "--- last lines of $f:" >&2
		tail -n 15 "$f" >&2 2>/dev/null
	done
	exit 1
}

run_one() {	# target mode round gap_ms n warmup
	local t=$1 m=$2 r=$3 gap=$4 n=$5 w=$6 dir=$TMP/results label c args rc=0
	if [ "$m" = seq ]; then c=1; else c=$CONC; fi
	case $t in
		dcgid)	args=(http "$DCGID_PORT" /fn) ;;
		apache)	args=(http "$APACHE_PORT" /fn) ;;
		raw)	args=(raw "$DOCKER_SOCK") ;;
	esac
	label="$t $m #$r"
	[ "$gap" = 0 ] || { dir=$TMP/results-gap; label="$label, ${gap} ms gap"; }
	wait_quiet
	foreign
	python3 "$CLIENT" "${args[@]}" -n "$n" -c "$c" -w "$w" --gap "$gap" \
		-o "$dir/$t-$m-$r.json" --label "$label" &
	CLIENT_PID=$!
	wait "$CLIENT_PID" || rc=$?
	CLIENT_PID=''
	[ "$rc" = 0 ] || echo "   WARNING: $t $m #$r: errors (above)"
	gone dcgid "$DCGID_PID" "$TMP/dcgid-error.log" "$TMP/dcgid-stderr.log"
	gone apache "$APACHE_PID" "$TMP/apache/error.log" "$TMP/apache/stderr.log"
}

order=(raw dcgid apache)
phase() {	# mode gap_ms n_per_target
	local m=$1 gap=$2 n=$3 r i w k
	for r in $(seq "$ROUNDS"); do
		# Block sizes: n spread over the rounds (the first ones get the rest).
		k=$(( n / ROUNDS + (r <= n % ROUNDS ? 1 : 0) ))
		[ "$k" -gt 0 ] || continue
		for i in 0 1 2; do
			w=0
			[ "$r" = 1 ] && [ "$m" = seq ] && [ "$gap" = 0 ] && w=$WARMUP
			run_one "${order[$(( (i + r - 1) % 3 ))]}" "$m" "$r" "$gap" "$k" "$w"
		done
	done
}
phase seq 0 "$N_SEQ"
phase conc 0 "$N_CONC"
if [ "$GAP_MS" != 0 ]; then
	echo "diagnosis: sequential again, ${GAP_MS} ms unmeasured pause after each request"
	phase seq "$GAP_MS" "$N_GAP"
fi
echo
echo "blocks that started on a machine that never got quiet: $DISTURBED;" \
	"with other containers running on the engine: $FOREIGN"

# --- after -----------------------------------------------------------------------

# dcgid removes containers after answering; give the engine a moment.
for _ in $(seq 50); do
	[ -z "$(leftovers)" ] && break
	sleep 0.2
done
echo
left=$(leftovers)
if [ -n "$left" ]; then
	echo "WARNING: containers left after the run: $(echo $left)"
else
	echo "containers left after the run: none"
fi
stop_servers
count() { grep -c "$@" 2>/dev/null || true; }	# prints 0 on no match
echo "dcgid error log: $(count . "$TMP/dcgid-error.log") lines," \
	"$(count -iE ' (error|warn|crit|alert|emerg)' "$TMP/dcgid-error.log") at warn or above"
grep -iE ' (error|warn|crit|alert|emerg)' "$TMP/dcgid-error.log" 2>/dev/null | head -n 10 | sed 's/^/   /' || true
echo "apache error log: $(count . "$TMP/apache/error.log") lines"
grep -vE 'resuming normal operations|Command line:|caught SIGTERM|shutting down' \
	"$TMP/apache/error.log" 2>/dev/null | head -n 10 | sed 's/^/   /' || true
echo
rc=0
python3 "$HERE/report.py" "$TMP/results" || rc=$?
[ "$rc" -le 2 ] || die "report.py failed"
if [ "$GAP_MS" != 0 ]; then
	echo
	echo "### Diagnosis: sequential, ${GAP_MS} ms unmeasured pause after each request"
	echo
	rc=0
	python3 "$HERE/report.py" "$TMP/results-gap" || rc=$?
	[ "$rc" -le 2 ] || die "report.py failed"
fi
exit 0
