#!/bin/sh
#
# tests/setup.sh: make this machine ready for `make check`, which runs it
# first.  Idempotent and quick when all is there:
#   - installs the test dependencies that are missing (as root, apt-get);
#   - starts a Docker engine when none answers (dockerd --bridge=none
#     --iptables=false: test machines have no outside network, and test
#     containers use Network none or host);
#   - builds the test images offline (tests/images/build.sh) and the
#     voting app's images (cgi-bin/build-images.sh);
#   - installs playwright-core for the browser test (npm).
# SETUP_LOG names a directory for dockerd's log (default /tmp).
#
set -eu
cd "$(dirname "$0")/.."

packages="curl python3 perl openssl sslscan slowhttptest redis-server redis-tools postgresql mandoc systemd
    chromium docker.io busybox-static debootstrap procps gdb iproute2 haproxy prometheus apache2-utils
    podman uidmap"
# Node.js may come from elsewhere than Debian: only ask for it when absent.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    packages="$packages nodejs npm"
logdir=${SETUP_LOG:-/tmp}

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "tests/setup.sh: missing Debian packages:$missing (install them as root)" >&2
		exit 1
	fi
	echo "tests/setup.sh: installing$missing"
	apt-get update </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    $missing </dev/null
fi

# The unprivileged user of dcgid's server processes (User, default dcgi;
# make install makes it with systemd-sysusers).
if [ "$(id -u)" = 0 ] && ! getent passwd dcgi >/dev/null; then
	echo "tests/setup.sh: adding the system user dcgi"
	useradd --system --no-create-home --shell /usr/sbin/nologin dcgi
fi

# docker.io provides /usr/bin/docker; use whichever client is on PATH.
# With DOCKER_HOST set, only whether that engine answers counts.
if ! { { [ -n "${DOCKER_HOST:-}" ] || [ -S /var/run/docker.sock ]; } &&
    docker info >/dev/null 2>&1; }; then
	if [ "$(id -u)" != 0 ]; then
		echo "tests/setup.sh: no Docker engine answers; start one (as root: dockerd --bridge=none --iptables=false)" >&2
		exit 1
	fi
	echo "tests/setup.sh: starting dockerd (log: $logdir/dockerd.log)"
	nohup dockerd --bridge=none --iptables=false >"$logdir/dockerd.log" 2>&1 </dev/null &
	i=0
	while [ $i -lt 60 ] && ! docker info >/dev/null 2>&1; do
		sleep 1
		i=$((i + 1))
	done
	if ! docker info >/dev/null 2>&1; then
		echo "tests/setup.sh: no Docker engine answered within 60s; dockerd's log:" >&2
		tail -n 50 "$logdir/dockerd.log" >&2 || true
		exit 1
	fi
fi

sh tests/images/build.sh
# The voting app's function images (quick when they are built).
sh cgi-bin/build-images.sh

# playwright-core for the browser test; it drives Debian's chromium and
# downloads no browser of its own.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
	echo "tests/setup.sh: npm install in tests/browser"
	(cd tests/browser && npm install --no-audit --no-fund </dev/null)
fi
