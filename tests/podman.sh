#!/bin/sh
#
# tests/podman.sh: a subset of the integration tests against Podman's
# Docker-compatible API instead of Docker, rootful and rootless: the cold
# path (t_cgi), prestarted containers (t_prestart), a queue (t_queue) and
# the cleanup (t_lifecycle); rootless all but t_cgi, and Secret files
# (t_secret: the copies' directory is given to the engine's user).  For each it
# starts `podman system service` on a socket of its own (rootless: as the
# user dcgi-podman, made here, with its own image store), loads the test
# images from Docker into it, and runs the tests with DOCKER_HOST naming
# that socket: dcgid (DockerHost defaults to $DOCKER_HOST) and the tests'
# docker commands both talk to Podman.  As root, after tests/setup.sh
# (which installs podman); prints prove's summaries and exits non-zero
# when either failed.  PODMAN_RUN: a shell command run against each instead
# of the tests, with DOCKER_HOST set and "rootful" or "rootless" as $1
# (bench/podman.sh).
#
# Podman's settings for the test (CONTAINERS_CONF, a file of ours): runc,
# as Docker uses (crun refuses a hybrid cgroup layout), and explicit
# ulimits.  Podman sets RLIMIT_NOFILE and RLIMIT_NPROC for each rootful
# container (1048576 and more by default); where the host's hard limits
# are lower and root may not raise them (a container or VM without
# CAP_SYS_RESOURCE, as CI's machines are), every start fails with
# "setrlimit ... Operation not permitted".  docs/podman.md says more.
#
set -eu
cd "$(dirname "$0")/.."

command -v podman >/dev/null || { echo "tests/podman.sh: no podman (tests/setup.sh installs it)" >&2; exit 1; }
dir=$(mktemp -d /tmp/dcgi-podman.XXXXXX)
chmod 755 "$dir"
cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
chmod 644 "$dir/containers.conf"
export CONTAINERS_CONF="$dir/containers.conf"
docker save dcgi-test/busybox dcgi-test/perl >"$dir/images.tar"
chmod 644 "$dir/images.tar"

svc=
cleanup() {
	[ -z "$svc" ] || { kill "$svc" 2>/dev/null || true; wait "$svc" 2>/dev/null || true; }
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# up SOCKET: wait until the service answers on it.
up() {
	i=0
	until curl -sf --unix-socket "$1" http://d/_ping >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 150 ]; then
			cat "$dir"/*.log >&2
			echo "podman system service did not answer on $1" >&2
			exit 1
		fi
		sleep 0.1
	done
}

rc=0

# against KIND TEST...: the tests (or PODMAN_RUN) against $sock.
against() {
	kind=$1
	shift
	if [ -n "${PODMAN_RUN:-}" ]; then
		DOCKER_HOST="unix://$sock" sh -c "$PODMAN_RUN" podman.sh "$kind"
	else
		DOCKER_HOST="unix://$sock" prove ${PROVE_FLAGS:-} "$@"
	fi
}

# made PODMAN...: that the tests' containers were Podman's (its own event
# log counts their creates since $t0), and that none is left.
made() {
	n=$("$@" events --stream=false --since "$t0" --filter type=container \
	    --filter event=create --format '{{.ID}}' | wc -l)
	left=$("$@" ps -aq --filter label=dcgi.instance | wc -l)
	echo "tests/podman.sh: Podman created $n containers for the tests; $left left"
	[ "$n" -gt 0 ] && [ "$left" -eq 0 ]
}

# Rootful.
sock=$dir/root.sock
podman load -q -i "$dir/images.tar" >/dev/null
podman system service --time=0 "unix://$sock" >"$dir/root.log" 2>&1 &
svc=$!
up "$sock"
echo "tests/podman.sh: rootful Podman $(podman version --format '{{.Server.Version}}') on $sock"
t0=$(date -u +%Y-%m-%dT%H:%M:%SZ)
against rootful tests/integration/t_cgi.py tests/integration/t_prestart.py \
    tests/integration/t_queue.py tests/integration/t_lifecycle.py || rc=1
made podman || rc=1
kill "$svc"
wait "$svc" 2>/dev/null || true
svc=

# Rootless: the user dcgi-podman (subordinate ids from useradd), its
# runtime directory in $dir.  dcgid (root here) reaches its socket.
user=dcgi-podman
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin "$user"
home=$(getent passwd "$user" | cut -d: -f6)
run=$dir/rootless
mkdir -m 700 "$run"
chown "$user:" "$run"
as_user() {
	setpriv --reuid="$user" --regid="$user" --init-groups \
	    env -i HOME="$home" USER="$user" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    XDG_RUNTIME_DIR="$run" CONTAINERS_CONF="$CONTAINERS_CONF" "$@"
}
# dcgid binds httpd/dcgi-init into every container: the engine's user must
# reach it (no parent directory 0700, as mktemp -d makes them).
if ! as_user test -x "$PWD/httpd/dcgi-init"; then
	echo "tests/podman.sh: the user $user cannot reach $PWD/httpd/dcgi-init" \
	    "(a directory above it is closed to others): rootless Podman could" \
	    "not bind it; run from a tree it can reach" >&2
	exit 1
fi
(cd / && as_user podman load -q -i "$dir/images.tar") >/dev/null
sock=$run/podman.sock
(cd / && exec setpriv --reuid="$user" --regid="$user" --init-groups \
    env -i HOME="$home" USER="$user" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    XDG_RUNTIME_DIR="$run" CONTAINERS_CONF="$CONTAINERS_CONF" \
    podman system service --time=0 "unix://$sock") >"$dir/rootless.log" 2>&1 &
svc=$!
up "$sock"
echo "tests/podman.sh: rootless Podman (user $user) on $sock"
t0=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Without t_cgi (its cold path is rootful's; CI time).  DCGI_SLOW: vfs
# storage (a copy of the image per container) fills pools more slowly.
export DCGI_SLOW=3
against rootless tests/integration/t_prestart.py tests/integration/t_queue.py \
    tests/integration/t_lifecycle.py tests/integration/t_secret.py || rc=1
(cd / && made as_user podman) || rc=1
exit $rc
