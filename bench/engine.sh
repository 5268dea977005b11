#!/usr/bin/env bash
#
# bench/engine.sh: the engine's own container start rate, the ceiling of
# every per-request container server on this machine.  N runs of the
# trivial function (`docker run -i --rm --network MODE dcgi-test/busybox
# /cgi/status`, what a user would script) at each parallelism P in PARS,
# one `xargs -P P` per step; containers per second = N / wall time.
# The table and an ASCII plot go to stdout.
#
# Needs: a Docker engine, the image dcgi-test/busybox (tests/images/build.sh).
# Settings (environment): N=40 PARS="1 2 4 8" MODE=none QUIET_WAIT=60.
# Nothing under /etc is read or changed; every container is --rm, and the
# script removes what a failed run left (label dcgi.bench=engine).
#
set -euo pipefail

N=${N:-40}
PARS=${PARS:-"1 2 4 8"}
MODE=${MODE:-none}
QUIET_WAIT=${QUIET_WAIT:-60}
IMAGE=dcgi-test/busybox

cleanup() {
	docker ps -aq --filter label=dcgi.bench=engine | xargs -r docker rm -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Wait (at most QUIET_WAIT s) until the machine's other work is below 10%
# of a core over a second.
quiet() {
	local i a b
	for ((i = 0; i < QUIET_WAIT; i++)); do
		a=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
		sleep 1
		b=$(awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat)
		(((b - a) < 10)) && return 0
	done
	echo "# the machine did not get quiet within ${QUIET_WAIT}s" >&2
}

docker image inspect "$IMAGE" >/dev/null 2>&1 ||
	{ echo "bench/engine.sh: no image $IMAGE (sh tests/images/build.sh)" >&2; exit 1; }

echo "# bench/engine.sh  $(date -u '+%Y-%m-%d %H:%M UTC')  $(nproc) CPUs  $(uname -r)"
echo "# engine $(docker version -f '{{.Server.Version}}' 2>/dev/null), network $MODE, N=$N per step"
printf '%-4s %8s %10s %12s\n' P wall_s containers/s "ms/container"
best=0 bestp=0
declare -A rate
for p in $PARS; do
	quiet
	start=$(date +%s%N)
	seq "$N" | xargs -P "$p" -I{} docker run -i --rm --network "$MODE" \
	    --label dcgi.bench=engine "$IMAGE" /cgi/status >/dev/null
	end=$(date +%s%N)
	ms=$(((end - start) / 1000000))
	r=$(awk -v n="$N" -v ms="$ms" 'BEGIN{printf "%.2f", n * 1000 / ms}')
	rate[$p]=$r
	printf '%-4s %8.1f %10s %12.0f\n' "$p" "$(awk -v ms="$ms" 'BEGIN{print ms/1000}')" "$r" \
	    "$(awk -v n="$N" -v ms="$ms" 'BEGIN{print ms/n}')"
	if awk -v a="$r" -v b="$best" 'BEGIN{exit !(a > b)}'; then best=$r bestp=$p; fi
done
echo
echo "# containers/s by parallelism (each # is 0.25/s)"
for p in $PARS; do
	printf 'P=%-2s |%s %s\n' "$p" "$(awk -v r="${rate[$p]}" 'BEGIN{n=int(r*4+0.5); s=""; for(i=0;i<n;i++) s=s "#"; print s}')" "${rate[$p]}"
done
echo "best: $best containers/s at P=$bestp"
