#!/bin/sh
#
# bench/podman.sh: bench/cold.sh (a cold request: a fresh container per
# request) against Docker, rootful Podman and rootless Podman, in one run
# on this machine.  For each engine the alternative a user would pick is
# that engine's own CLI: `docker run -i --rm` for Docker, `podman --remote
# run -i --rm` (the same service dcgid talks to) for Podman.  The Podman
# services are tests/podman.sh's (its containers.conf, the test images
# loaded, rootless as the user dcgi-podman), with PODMAN_RUN naming this
# measurement instead of the tests.  Only Network none: the default, and
# what rootless Podman does without slirp.
#
# Needs what bench/cold.sh and tests/podman.sh need; as root.  Settings:
# N (rounds, default 20), PAUSE (as bench/cold.sh).
#
set -eu
cd "$(dirname "$0")/.."
export N=${N:-20} ROUTES=none

echo "=== Docker"
bash bench/cold.sh
echo
PODMAN_RUN='echo "=== Podman, $1"; RUN_CLI="podman --remote --url $DOCKER_HOST" bash bench/cold.sh' \
    sh tests/podman.sh
