#!/bin/sh
#
# conf/cluster.sh: the voting app on three dcgid nodes behind haproxy, all
# on this machine (Debian 12, as root), for `make run-cluster`:
#   - what `make run` needs (conf/demo-services.sh: dockerd, Redis on
#     127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432, the function images, a
#     certificate for localhost in conf/tls/), and haproxy (apt-get);
#   - three node configurations made from conf/httpd.conf in CLUSTER_DIR
#     (default /run/dcgi-cluster, never the source tree): node N listens
#     on 127.0.0.1:808N, plain (haproxy ends TLS), answers Health /healthz,
#     logs to CLUSTER_DIR/nodeN.error.log and nodeN.access.log, is the
#     consumer clusterN of the stream votes, and has the same routes and
#     <Queue votes>; they share Redis, PostgreSQL and the Docker engine;
#   - haproxy with conf/haproxy.cfg: 8080 plain, 8443 TLS (the same
#     certificate as `make run`), stats on 8404, its log in
#     CLUSTER_DIR/haproxy.log.
# It stays in the foreground.  Ctrl-C (or SIGTERM) stops the nodes, which
# drain (running containers finish within GracePeriod) while haproxy still
# carries their answers, then haproxy.  Try `kill -KILL $(cat
# CLUSTER_DIR/node2.pid)` meanwhile: haproxy takes node2 out within a few
# seconds (stats page) and votes keep going to the others.
#
set -eu
cd "$(dirname "$0")/.."

DIR=${CLUSTER_DIR:-/run/dcgi-cluster}
NODES="1 2 3"
PORTS="8080 8443 8404 8081 8082 8083"

say() { echo "cluster: $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "conf/cluster.sh: run it as root (it installs and starts services)" >&2
	exit 1
fi
if [ ! -x httpd/dcgid ]; then
	echo "conf/cluster.sh: no httpd/dcgid: run make first" >&2
	exit 1
fi

# Before anything is installed or started: the ports must be free (`make
# run` uses 8080 and 8443 too).
for p in $PORTS; do
	if ss -Hltn "( sport = :$p )" | grep -q .; then
		echo "conf/cluster.sh: port $p is in use:" >&2
		ss -Hltnp "( sport = :$p )" >&2
		exit 1
	fi
done

if ! dpkg-query -W -f='${Status}\n' haproxy 2>/dev/null |
    grep -q '^install ok installed$'; then
	say "installing haproxy"
	apt-get update </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    haproxy </dev/null
fi

sh conf/demo-services.sh

mkdir -p "$DIR"
# The nodes' server processes (User dcgi) read their configuration too.
chmod 755 "$DIR"

# Node N's configuration: conf/httpd.conf without the lines that must
# differ per node or behind haproxy (matched by directive name, so that a
# line added to conf/httpd.conf later is not repeated), then those.
for n in $NODES; do
	{
		echo "# $DIR/node$n.conf: made by conf/cluster.sh from conf/httpd.conf"
		echo "Listen 127.0.0.1:808$n"
		echo "ErrorLog $DIR/node$n.error.log"
		echo "AccessLog $DIR/node$n.access.log combined"
		echo "Health /healthz                # haproxy's httpchk"
		echo "Consumer cluster$n               # its name in the group of the stream votes"
		echo "# haproxy is every client here: it limits per address instead."
		echo "MaxConnectionsPerClient 0"
		echo "MaxContainersPerClient 0"
		awk 'BEGIN {
			split("listen tlscertificatefile tlscertificatekeyfile " \
			    "tlsprotocols tlsciphers tlssessiontickets httpsredirect " \
			    "hsts errorlog accesslog health consumer " \
			    "maxconnectionsperclient maxcontainersperclient", w, " ")
			for (i in w) drop[w[i]] = 1
		}
		tolower($1) in drop { next }
		{ print }' conf/httpd.conf
	} >"$DIR/node$n.conf.new"
	mv "$DIR/node$n.conf.new" "$DIR/node$n.conf"
	if ! out=$(./httpd/dcgid -t -f "$DIR/node$n.conf" 2>&1); then
		echo "$out" >&2
		exit 1
	fi
done

# haproxy reads the certificate and its key from one file.
(umask 077 && cat conf/tls/cert.pem conf/tls/key.pem >"$DIR/tls.pem")
sed -e "s|/etc/haproxy/dcgi.pem|$DIR/tls.pem|" \
    -e "s|/run/haproxy/dcgi.sock|$DIR/haproxy.sock|" \
    -e "s|^\([[:space:]]*log\) /dev/log |\1 stdout format raw |" \
    conf/haproxy.cfg >"$DIR/haproxy.cfg"
haproxy -c -f "$DIR/haproxy.cfg" >/dev/null

pids=
insts=
hapid=

# wait for one of our children, through signals that interrupt wait.
reap() {
	while kill -0 "$1" 2>/dev/null; do
		wait "$1" 2>/dev/null || true
	done
}

# Nodes first: they close their listeners at once (haproxy sends new
# requests to the others, or answers 503 when none is left) and finish
# what runs, whose answers still go out through haproxy; then haproxy.
stop() {
	# A second Ctrl-C while the nodes drain does not cut them short.
	trap 'say "still stopping: the nodes drain for up to GracePeriod"' INT TERM HUP
	say "stopping the nodes (they drain for up to GracePeriod), then haproxy"
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $pids; do
		reap "$p"
	done
	# SIGUSR1: haproxy's soft stop (closes its listeners, lets what it
	# carries end); after 5 s, SIGTERM ends it at once.
	if [ -n "$hapid" ]; then
		kill -USR1 "$hapid" 2>/dev/null || true
		i=0
		while [ $i -lt 50 ] && kill -0 "$hapid" 2>/dev/null; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -TERM "$hapid" 2>/dev/null || true
		reap "$hapid"
	fi
	rm -f "$DIR"/node*.pid "$DIR/haproxy.pid"
	# What the nodes left, known by their dcgi.instance label (PID:START
	# of the dcgid that made it): nothing after a drain, but a node killed
	# with SIGKILL leaves its prestarted containers (the next dcgid on
	# this engine would remove them).  Only these nodes' are removed.
	left=0
	for inst in $insts; do
		ids=$(docker ps -aq --filter "label=dcgi.instance=$inst" 2>/dev/null || true)
		if [ -n "$ids" ]; then
			docker rm -f $ids >/dev/null 2>&1 || true
			left=$((left + $(echo "$ids" | wc -l)))
		fi
	done
	say "stopped (containers a killed node had left, removed: $left)"
}
trap 'stop; exit 0' INT TERM HUP

# setsid: a Ctrl-C on the terminal reaches this script only, which then
# stops each process once (a second signal would stop dcgid at once).
for n in $NODES; do
	setsid ./httpd/dcgid -f "$DIR/node$n.conf" \
	    >"$DIR/node$n.out" 2>&1 </dev/null &
	pids="$pids $!"
	# dcgi.instance of its containers: its pid and start time (field 22).
	insts="$insts $!:$(awk '{ print $22 }' "/proc/$!/stat")"
	echo $! >"$DIR/node$n.pid"
done
for n in $NODES; do
	i=0
	until curl -fsS -o /dev/null "http://127.0.0.1:808$n/healthz" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			echo "conf/cluster.sh: node$n does not answer /healthz; see $DIR/node$n.error.log and $DIR/node$n.out" >&2
			stop
			exit 1
		fi
		sleep 0.2
	done
done

setsid haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 </dev/null &
hapid=$!
echo $hapid >"$DIR/haproxy.pid"

echo
echo "  vote:    http://127.0.0.1:8080/vote"
echo "  results: https://localhost:8443/result/  (self-signed certificate)"
echo "           http://127.0.0.1:8080/result/"
echo "  haproxy: http://127.0.0.1:8404/  (stats)  $DIR/haproxy.log"
echo "  nodes:   127.0.0.1:8081..8083, logs $DIR/node{1,2,3}.{error,access}.log"
echo "  Ctrl-C stops all of it"
echo

# Until a signal, or haproxy ends by itself (then the nodes are stopped
# too).  A node that dies is haproxy's business: the others go on.
rc=0
wait "$hapid" || rc=$?
say "haproxy exited ($rc); see $DIR/haproxy.log"
hapid=
stop
exit 1
