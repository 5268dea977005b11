#!/bin/sh
#
# cgi-bin/build-images.sh: build the function images (`make images`).
#
#   sh cgi-bin/build-images.sh [NAME...]
#
# Each folder cgi-bin/NAME/ that holds a Dockerfile becomes the image
# dcgi/NAME (the voting app's dcgi/vote, dcgi/result, dcgi/record-vote-task,
# and any other function added there); NAMEs given on the command line
# build only those.  Every Dockerfile starts FROM debian:bookworm-slim,
# which base-image.sh makes offline (debootstrap) when it cannot be pulled;
# `--network host` lets the Dockerfiles' apt-get reach the machine's
# Debian mirror.  The classic builder (DOCKER_BUILDKIT=0): no buildx needed.
#
# Quiet: one line per image with the time it took; a build that fails
# shows its whole output and stops with exit 1.  Environment:
#   DOCKER        the docker client (default: docker on PATH)
#   BUILD_FLAGS   more `docker build` options, e.g. --no-cache or --pull=false
#
set -eu

DOCKER=${DOCKER:-docker}
export DOCKER
here=$(cd "$(dirname "$0")" && pwd)

say() { printf 'images: %s\n' "$*"; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }

# Milliseconds since the epoch where date(1) knows %N (GNU), else seconds.
now_ms() {
	t=$(date +%s%N 2>/dev/null)
	case $t in
		*N|'') echo $(( $(date +%s) * 1000 )) ;;
		*) echo $(( t / 1000000 )) ;;
	esac
}
elapsed() { ms=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed)"

if [ $# -gt 0 ]; then
	names=$*
else
	names=
	for f in "$here"/*/Dockerfile; do
		[ -f "$f" ] || continue
		d=${f%/Dockerfile}
		names="$names ${d##*/}"
	done
fi
[ -n "$names" ] || die "no cgi-bin/*/Dockerfile found"
for n in $names; do
	[ -f "$here/$n/Dockerfile" ] || die "cgi-bin/$n/Dockerfile does not exist"
done

all=$(now_ms)
sh "$here/base-image.sh"

log=$(mktemp "${TMPDIR:-/tmp}/dcgi-images.XXXXXX")
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM HUP

for n in $names; do
	start=$(now_ms)
	# shellcheck disable=SC2086  # BUILD_FLAGS is a list of words
	if ! DOCKER_BUILDKIT=0 "$DOCKER" build --network host ${BUILD_FLAGS:-} \
	    -t "dcgi/$n" "$here/$n" >"$log" 2>&1 </dev/null; then
		cat "$log" >&2
		die "building dcgi/$n from cgi-bin/$n failed (output above)"
	fi
	say "dcgi/$n ready ($(elapsed "$start"))"
done
say "done in $(elapsed "$all")"
