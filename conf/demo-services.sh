#!/bin/sh
#
# conf/demo-services.sh: what the voting app needs besides dcgid, made
# ready on this machine (Debian 12, as root), for `make run`:
#   - the Debian packages: docker.io, redis-server, postgresql, and what
#     the offline image build uses (debootstrap);
#   - a Docker engine (dockerd --bridge=none --iptables=false when none
#     answers: the functions use Network host to reach Redis and
#     PostgreSQL on loopback);
#   - Redis on 127.0.0.1:6379 with an append-only file, so that a restart
#     loses no vote;
#   - PostgreSQL on 127.0.0.1:5432 with a role "dcgi" and a database
#     "votes", reachable from loopback only, with a password (scram):
#     made once into conf/secrets/pg-password (root only), which the
#     functions get as the dcgi Secret /run/secrets/pg-password;
#   - the function images (make images) and a certificate for localhost.
# Each step is skipped when it is done already.  Logs: /var/log/dcgi-*.log
#
set -eu
cd "$(dirname "$0")/.."

say() { echo "demo: $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "conf/demo-services.sh: run it as root (it installs and starts services)" >&2
	exit 1
fi

missing=
for p in docker.io redis-server redis-tools postgresql busybox-static \
    debootstrap openssl curl; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	apt-get update </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    $missing </dev/null
fi

# The user dcgid's server processes run as (User in httpd.conf).
if ! getent passwd dcgi >/dev/null; then
	say "adding the system user dcgi"
	useradd --system --no-create-home --shell /usr/sbin/nologin dcgi
fi

# Docker
if ! docker info >/dev/null 2>&1; then
	say "starting dockerd (log: /var/log/dcgi-dockerd.log)"
	nohup dockerd --bridge=none --iptables=false \
	    >/var/log/dcgi-dockerd.log 2>&1 </dev/null &
	i=0
	while [ $i -lt 60 ] && ! docker info >/dev/null 2>&1; do
		sleep 1
		i=$((i + 1))
	done
	docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dcgi-dockerd.log" >&2; exit 1; }
fi

# Redis
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
	say "starting redis-server on 127.0.0.1:6379 (log: /var/log/dcgi-redis.log)"
	mkdir -p /var/lib/dcgi-redis
	redis-server --bind 127.0.0.1 --port 6379 --dir /var/lib/dcgi-redis \
	    --appendonly yes --daemonize yes --logfile /var/log/dcgi-redis.log
	i=0
	while [ $i -lt 20 ] && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; do
		sleep 0.5
		i=$((i + 1))
	done
fi
# Votes queued by an earlier dcgi went onto the list "votes" (and
# votes:processing); the queue is a stream now: they move onto it.  Its
# dead letters were a list too: kept, renamed votes:dead:list, as the
# stream's dead letters go to the stream votes:dead.
n=$(redis-cli -h 127.0.0.1 -p 6379 EVAL "
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'list' and t ~= 'none' then return 0 end
if redis.call('TYPE', KEYS[4]).ok == 'list' then
	redis.call('RENAME', KEYS[4], KEYS[4] .. ':list')
end
if t == 'list' then redis.call('RENAME', KEYS[1], KEYS[3]) end
local n = 0
for _, k in ipairs({KEYS[2], KEYS[3]}) do
	local v = redis.call('LPOP', k)
	while v do
		redis.call('XADD', KEYS[1], '*', 'item', v)
		n = n + 1
		v = redis.call('LPOP', k)
	end
end
return n" 4 votes votes:processing votes:migrating votes:dead)
[ "${n:-0}" = 0 ] || say "moved $n queued votes from the list votes onto the stream votes"

# PostgreSQL: Debian's cluster 15/main listens on localhost:5432.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
	say "starting PostgreSQL"
	if ! pg_lsclusters -h | grep -q .; then
		pg_createcluster 15 main >/dev/null
	fi
	pg_ctlcluster 15 main start || true
	i=0
	while [ $i -lt 30 ] && ! pg_isready -q -h 127.0.0.1 -p 5432; do
		sleep 0.5
		i=$((i + 1))
	done
fi
psql_su() { su postgres -c "psql -X -q -t -A $*" </dev/null; }
if [ "$(psql_su "-c \"SELECT 1 FROM pg_roles WHERE rolname='dcgi'\"")" != 1 ]; then
	say "creating the PostgreSQL role dcgi"
	psql_su "-c 'CREATE ROLE dcgi LOGIN'"
fi
if [ "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname='votes'\"")" != 1 ]; then
	say "creating the database votes"
	psql_su "-c 'CREATE DATABASE votes OWNER dcgi'"
fi
# The role's password: made once, kept root-only in conf/secrets/, set on
# the role every time (so a new file, or a new cluster, takes effect).
if [ ! -s conf/secrets/pg-password ]; then
	say "making a password for the PostgreSQL role dcgi (conf/secrets/pg-password)"
	mkdir -p conf/secrets
	chmod 700 conf/secrets
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >conf/secrets/pg-password)
fi
pw=$(cat conf/secrets/pg-password)
case $pw in *[!0-9a-zA-Z]*|'') echo "conf/secrets/pg-password: letters and digits only" >&2; exit 1;; esac
# On standard input, not the command line: ps would show it there.
printf "ALTER ROLE dcgi PASSWORD '%s';\n" "$pw" | su postgres -c "psql -X -q" >/dev/null
hba=$(psql_su "-c 'SHOW hba_file'")
if ! grep -q '^host[[:space:]]\+votes[[:space:]]\+dcgi[[:space:]]\+127.0.0.1/32[[:space:]]\+scram-sha-256' "$hba"; then
	say "letting dcgi reach votes from 127.0.0.1 with its password ($hba)"
	# First match wins in pg_hba.conf: put the line on top, instead of the
	# trust line of an earlier dcgi.
	{ echo "host votes dcgi 127.0.0.1/32 scram-sha-256   # dcgi voting demo"
	  grep -v '^host[[:space:]]\+votes[[:space:]]\+dcgi[[:space:]]\+127.0.0.1/32[[:space:]]\+trust' "$hba"; } >"$hba.new"
	chown postgres:postgres "$hba.new"
	mv "$hba.new" "$hba"
	psql_su "-c 'SELECT pg_reload_conf()'" >/dev/null
fi

say "building the function images"
sh cgi-bin/build-images.sh
sh conf/mkcert.sh conf/tls
