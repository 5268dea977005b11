#!/bin/sh
#
# cgi-bin/build-images.sh: build the voting app's function images
# (`make images`): dcgi/vote, dcgi/result, dcgi/record-vote-task, each from
# the standard Dockerfile in its folder, on debian:bookworm-slim (made
# offline by base-image.sh when it cannot be pulled).  `--network host`
# lets the Dockerfiles' apt-get reach the machine's Debian mirror.
#
set -eu
cd "$(dirname "$0")"
sh ./base-image.sh
for f in vote result record-vote-task; do
	start=$(date +%s)
	log=$(mktemp)
	if ! DOCKER_BUILDKIT=0 docker build --network host -t "dcgi/$f" "$f" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "images: building dcgi/$f failed" >&2
		exit 1
	fi
	rm -f "$log"
	echo "images: dcgi/$f ready ($(( $(date +%s) - start ))s)"
done
