#!/usr/bin/env bash
#
# bench/prestart.sh: what `Prestart N` buys.  The latency of a trivial
# function run in a fresh container per request, three ways, same machine,
# same run, all with `Network none`:
#
#   a. cold       dcgid, GET /cold on a <Route /cold> (Image
#                 dcgi-test/busybox, Command /cgi/status, Network none,
#                 MaxConcurrent 16): create, attach, start per request
#   b. pre        dcgid, GET /pre on an identical route with `Prestart 4`
#                 (both routes in the same dcgid): a request takes a
#                 container that is created, attached, started and waits in
#                 dcgi-init (httpd/init/dcgi-init.c) on stdin; its
#                 Server-Timing says prestart;desc=hit, or miss when none was
#                 ready and it started cold
#   c. warm       the floor of writing to a waiting container, on raw
#                 AF_UNIX sockets to the engine (bench/latency/client.py
#                 warm): per request, untimed, create with the spec dcgid's
#                 pool sends (Entrypoint /.dcgi/init, the same dcgi-init
#                 bind-mounted read-only, Cmd /cgi/status, no Env), attach,
#                 start, 50 ms pause; timed, write the length-prefixed CGI
#                 environment, half-close stdin, read the stream until EOF;
#                 untimed, DELETE
#
# Every request is timed by the same client as bench/latency.sh's: first
# WARMUP unmeasured requests to each, then N_SEQ requests to each one after
# the other, then N_CONC requests to each over CONC concurrent workers.  The
# three are interleaved: each phase is cut into ROUNDS blocks, every round
# runs one block of each, the order rotated from round to round; the
# samples of a target are pooled; p50/p99 are nearest-rank.  Before each
# block of `pre` the script lets the pool refill (until dcgid's log says
# "prestarted containers ready: /pre 4/4" at a status tick after the last
# block, at most POOL_WAIT seconds), then it waits for the machine to fall
# below 10% of a core (at most QUIET_WAIT seconds).
#
# Back to back, requests drain a pool of 4 faster than its replacements
# start (each one is a cold start, ~300 ms here, more under load), so after
# the first 4 most `pre` requests miss.  The same two phases therefore run
# again with an unmeasured pause after each request, per client: GAP_MS
# (500) sequentially, GAP_CONC_MS (1500) with CONC clients, long enough for
# the pool to keep up (with fewer requests, N_GAP_SEQ and N_GAP_CONC, to
# keep the run near 10 minutes).  Hit rates are reported for every phase.
#
# Needs: httpd/dcgid and httpd/dcgi-init built (./configure && make), a
# Docker engine, the image dcgi-test/busybox (tests/images/build.sh),
# python3, curl.  No Apache.  Nothing under /etc is read or changed.
#
# Settings (environment): N_SEQ=100 N_CONC=200 CONC=4 WARMUP=5 ROUNDS=5
# PRESTART=4 GAP_MS=500 GAP_CONC_MS=1500 (0: skip that phase) N_GAP_SEQ
# (N_SEQ / 2) N_GAP_CONC (N_CONC / 2) DOCKER_SOCK=/var/run/docker.sock DCGID_PORT
# (default: a free port) POOL_WAIT=30 QUIET_WAIT=60 KEEP=0 (KEEP=1 keeps the
# temp dir: config, logs, every sample as JSON).
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DCGID=$REPO/httpd/dcgid
INIT=$REPO/httpd/dcgi-init
HERE=$REPO/bench/latency
CLIENT=$HERE/client.py

N_SEQ=${N_SEQ:-100}
N_CONC=${N_CONC:-200}
CONC=${CONC:-4}
WARMUP=${WARMUP:-5}
ROUNDS=${ROUNDS:-5}
PRESTART=${PRESTART:-4}
GAP_MS=${GAP_MS:-500}
GAP_CONC_MS=${GAP_CONC_MS:-1500}
N_GAP_SEQ=${N_GAP_SEQ:-$((N_SEQ / 2))}
N_GAP_CONC=${N_GAP_CONC:-$((N_CONC / 2))}
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
DCGID_PORT=${DCGID_PORT:-}
POOL_WAIT=${POOL_WAIT:-30}
QUIET_WAIT=${QUIET_WAIT:-60}
KEEP=${KEEP:-0}
IMAGE=dcgi-test/busybox

die() { echo "prestart.sh: $*" >&2; exit 1; }

# --- preconditions -------------------------------------------------------

[ -x "$DCGID" ] || die "$DCGID is missing: build it first (./configure && make)"
[ -x "$INIT" ] || die "$INIT is missing: build it first (make)"
for t in python3 curl docker ss; do
	command -v "$t" >/dev/null || die "'$t' is not installed"
done
[ "$PRESTART" -gt 0 ] || die "PRESTART must be at least 1"
[ -S "$DOCKER_SOCK" ] || die "$DOCKER_SOCK is not a socket"
export DOCKER_HOST=unix://$DOCKER_SOCK
docker info >/dev/null 2>&1 || die "no Docker engine answers on $DOCKER_SOCK"
docker image inspect "$IMAGE" >/dev/null 2>&1 ||
	die "image $IMAGE is missing: sh tests/images/build.sh"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
[ -n "$DCGID_PORT" ] || DCGID_PORT=$(free_port)
[ -z "$(ss -Hltn "sport = :$DCGID_PORT")" ] || die "port $DCGID_PORT is in use (set DCGID_PORT)"
HZ=$(getconf CLK_TCK)

# Containers this benchmark may leave: dcgid's (labels dcgi.route=/cold and
# dcgi.route=/pre, the pool's included), the warm client's
# (dcgi.bench=latency-warm).  Anyone else's are left alone.
leftovers() {
	{
		docker ps -aq "$@" --filter label=dcgi.route=/cold
		docker ps -aq "$@" --filter label=dcgi.route=/pre
		docker ps -aq "$@" --filter label=dcgi.bench=latency-warm
	} | sort -u
}
leftovers_long() { leftovers --no-trunc; }
[ -z "$(leftovers)" ] ||
	die "containers of an earlier run exist (docker ps -a --filter label=dcgi.bench=latency-warm; label=dcgi.route=/pre; label=dcgi.route=/cold): $(leftovers | tr '\n' ' ')"

# --- temp dir, config ------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-prestart.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/results"
echo ok >"$TMP/www/index.html"
# Run copies, so that a rebuild in the tree during the run changes nothing.
# dcgid looks for dcgi-init next to its own binary: the copy finds the copy,
# and the warm client binds that same file.
cp "$DCGID" "$TMP/dcgid"
cp "$INIT" "$TMP/dcgi-init"

cat >"$TMP/dcgid.conf" <<EOF
Listen 127.0.0.1:$DCGID_PORT
DocumentRoot $TMP/www
MimeTypes $REPO/conf/mime.types
ErrorLog $TMP/dcgid-error.log
AccessLog $TMP/dcgid-access.log combined
DockerHost unix://$DOCKER_SOCK

<Route /cold>
    Image $IMAGE
    Command /cgi/status
    Network none
    MaxConcurrent 16
</Route>

<Route /pre>
    Image $IMAGE
    Command /cgi/status
    Network none
    MaxConcurrent 16
    Prestart $PRESTART
</Route>
EOF
"$TMP/dcgid" -t -f "$TMP/dcgid.conf" >/dev/null || die "dcgid rejects $TMP/dcgid.conf"

# --- server ------------------------------------------------------------------

DCGID_PID='' CLIENT_PID=''
stop_server() {
	if [ -n "$DCGID_PID" ] && kill "$DCGID_PID" 2>/dev/null; then
		wait "$DCGID_PID" 2>/dev/null || true
	fi
	DCGID_PID=''
	return 0
}
cleanup() {
	set +e
	if [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null; then
		wait "$CLIENT_PID" 2>/dev/null
	fi
	stop_server
	# An interrupted run may leave containers: remove only ours.
	local left
	left=$(leftovers)
	if [ -n "$left" ]; then
		echo "prestart.sh: removing leftover containers: $(echo $left)" >&2
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

wait_201() {	# path: until GET answers 201 (the first run may be slow)
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$DCGID_PORT$1")" = 201 ] &&
			return 0
		sleep 0.2
	done
	return 1
}

# dcgid logs "prestarted containers ready: /pre 3/4" when the count changed
# at its status tick (every 2 s).  The last such line says 4/4 after a tick
# that came after `since` (epoch seconds): the pool was full then.
POOL_RE="prestarted containers ready: .*/pre $PRESTART/$PRESTART(,|\$)"
pool_full() {
	grep 'prestarted containers ready:' "$TMP/dcgid-error.log" 2>/dev/null |
		tail -n 1 | grep -qE "$POOL_RE"
}
POOL_SHORT=0
wait_pool() {	# [quiet]: until the pool is full again, at most POOL_WAIT s
	local i
	sleep 2.2	# one status tick after the last request
	for i in $(seq $((POOL_WAIT * 5))); do
		pool_full && return 0
		sleep 0.2
	done
	[ "${1:-}" = quiet ] && return 1
	echo "   WARNING: the /pre pool did not refill within ${POOL_WAIT}s: $(grep 'prestarted containers ready:' "$TMP/dcgid-error.log" | tail -n 1)"
	POOL_SHORT=$((POOL_SHORT + 1))
}

"$TMP/dcgid" -f "$TMP/dcgid.conf" >"$TMP/dcgid-stdout.log" 2>"$TMP/dcgid-stderr.log" &
DCGID_PID=$!
wait_201 /cold || die "dcgid does not answer 201 on /cold (see $TMP/dcgid-error.log; KEEP=1)"
wait_201 /pre || die "dcgid does not answer 201 on /pre (see $TMP/dcgid-error.log; KEEP=1)"
wait_pool quiet ||
	die "the /pre pool never got to $PRESTART/$PRESTART: $(grep -E 'prestart|dcgi-init' "$TMP/dcgid-error.log" | tail -n 5)"

# --- the machine -------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:     $(nproc) CPUs, ${cpu:-unknown CPU}, $(awk '/^MemTotal:/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "kernel:      $(uname -sr)"
echo "docker:      engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), client $(docker version --format '{{.Client.Version}}'), storage $(docker info --format '{{.Driver}}'), cgroup $(docker info --format '{{.CgroupDriver}} v{{.CgroupVersion}}')"
echo "dcgid:       $("$DCGID" -v 2>&1), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- httpd 2>/dev/null && [ -z "$(git -C "$REPO" ls-files -o --exclude-standard httpd 2>/dev/null)" ] || echo ' + uncommitted changes in httpd/'), binary built $(date -u -r "$DCGID" '+%Y-%m-%d %H:%M:%S')"
echo "dcgi-init:   $(stat -c %s "$INIT") bytes, built $(date -u -r "$INIT" '+%Y-%m-%d %H:%M:%S'); run as a copy, $TMP/dcgi-init"
pc=$(docker ps -q --filter label=dcgi.route=/pre | head -n 1)
[ -n "$pc" ] &&
	echo "pool spec:   $(docker inspect --format 'Image {{.Image}}, Entrypoint {{json .Config.Entrypoint}}, Cmd {{json .Config.Cmd}}, Env {{json .Config.Env}}, Binds {{json .HostConfig.Binds}}' "$pc" | cut -c1-400)"
echo "python:      $(python3 -V 2>&1)"
echo "load:        per target: WARMUP=$WARMUP, N_SEQ=$N_SEQ sequential, N_CONC=$N_CONC over CONC=$CONC clients, in ROUNDS=$ROUNDS interleaved blocks; again with pauses: N_GAP_SEQ=$N_GAP_SEQ with GAP_MS=$GAP_MS, N_GAP_CONC=$N_GAP_CONC with GAP_CONC_MS=$GAP_CONC_MS; Prestart $PRESTART"
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
# Containers running on the engine that are not this benchmark's.
foreign() {
	local n
	n=$(comm -23 <(docker ps -q --no-trunc | sort) <(leftovers_long | sort) | grep -c . || true)
	if [ "$n" -gt 0 ]; then
		echo "   WARNING: $n other containers are running on the engine; this block is disturbed"
		FOREIGN=$((FOREIGN + 1))
	fi
}

gone() {	# die, saying how, if dcgid has exited
	local st=0 f
	kill -0 "$DCGID_PID" 2>/dev/null && return 0
	wait "$DCGID_PID" 2>/dev/null || st=$?
	echo "prestart.sh: dcgid (pid $DCGID_PID) went away during the run, exit status $st$( [ "$st" -gt 128 ] && echo " (signal $((st - 128)))")" >&2
	DCGID_PID=''
	for f in "$TMP/dcgid-error.log" "$TMP/dcgid-stderr.log"; do
		echo "--- last lines of $f:" >&2
		tail -n 15 "$f" >&2 2>/dev/null
	done
	exit 1
}

args_of() {	# target -> the client's arguments
	case $1 in
		cold)	echo "http $DCGID_PORT /cold" ;;
		pre)	echo "http $DCGID_PORT /pre" ;;
		warm)	echo "warm $DOCKER_SOCK $TMP/dcgi-init" ;;
	esac
}

run_one() {	# target mode round gap_ms n
	local t=$1 m=$2 r=$3 gap=$4 n=$5 label c rc=0
	if [ "$m" = seq ]; then c=1; else c=$CONC; fi
	label="$t $m #$r"
	[ "$gap" = 0 ] || label="$label, ${gap} ms gap"
	[ "$t" = pre ] && wait_pool
	wait_quiet
	foreign
	# shellcheck disable=SC2046
	python3 -B "$CLIENT" $(args_of "$t") -n "$n" -c "$c" -w 0 --gap "$gap" \
		-o "$TMP/results/$t-$m-$gap-$r.json" --label "$label" &
	CLIENT_PID=$!
	wait "$CLIENT_PID" || rc=$?
	CLIENT_PID=''
	[ "$rc" = 0 ] || echo "   WARNING: $label: errors (above)"
	gone
}

order=(warm pre cold)
phase() {	# mode gap_ms n_per_target
	local m=$1 gap=$2 n=$3 r i k
	if [ "$gap" = 0 ]; then
		echo "$m, back to back:"
	else
		echo "$m, ${gap} ms unmeasured pause after each request per client:"
	fi
	for r in $(seq "$ROUNDS"); do
		# Block sizes: n spread over the rounds (the first ones get the rest).
		k=$(( n / ROUNDS + (r <= n % ROUNDS ? 1 : 0) ))
		[ "$k" -gt 0 ] || continue
		for i in 0 1 2; do
			run_one "${order[$(( (i + r - 1) % 3 ))]}" "$m" "$r" "$gap" "$k"
		done
	done
}

if [ "$WARMUP" -gt 0 ]; then
	echo "warm-up ($WARMUP sequential requests each, not measured):"
	for t in warm pre cold; do
		# shellcheck disable=SC2046
		python3 -B "$CLIENT" $(args_of "$t") -n "$WARMUP" -c 1 -w 0 \
			--label "warm-up $t" || echo "   WARNING: warm-up $t: errors (above)"
		gone
	done
fi
phase seq 0 "$N_SEQ"
phase conc 0 "$N_CONC"
[ "$GAP_MS" = 0 ] || phase seq "$GAP_MS" "$N_GAP_SEQ"
[ "$GAP_CONC_MS" = 0 ] || phase conc "$GAP_CONC_MS" "$N_GAP_CONC"
echo
echo "blocks that started on a machine that never got quiet: $DISTURBED;" \
	"with other containers running on the engine: $FOREIGN;" \
	"pre blocks that started with the pool not full: $POOL_SHORT"

# --- after -----------------------------------------------------------------------

# A stop removes the pool; dcgid removes the others after answering.
stop_server
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
count() { grep -c "$@" 2>/dev/null || true; }	# prints 0 on no match
echo "dcgid error log: $(count . "$TMP/dcgid-error.log") lines," \
	"$(count -iE ' (error|warn|crit|alert|emerg)' "$TMP/dcgid-error.log") at warn or above"
grep -iE ' (error|warn|crit|alert|emerg)' "$TMP/dcgid-error.log" 2>/dev/null | head -n 10 | sed 's/^/   /' || true
echo "dcgid's pool, as its log said it (first and last 3 status lines, $(count 'prestarted containers ready:' "$TMP/dcgid-error.log") in all):"
grep 'prestarted containers ready:' "$TMP/dcgid-error.log" 2>/dev/null | sed -n '1,3p' | sed 's/^/   /' || true
grep 'prestarted containers ready:' "$TMP/dcgid-error.log" 2>/dev/null | tail -n 3 | sed 's/^/   /' || true
echo
rc=0
python3 -B "$HERE/prestart_report.py" "$TMP/results" || rc=$?
[ "$rc" -le 2 ] || die "prestart_report.py failed"
exit 0
