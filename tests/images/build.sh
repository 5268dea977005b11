#!/bin/sh
#
# tests/images/build.sh: build the images the integration tests run, offline.
#
#   dcgi-test/busybox  Debian's static busybox, its applets as symbolic links
#                      in /bin, an empty /tmp, and the CGI scripts of
#                      tests/images/busybox/cgi/ in /cgi/ (mode 755), made
#                      with `docker import` from a tree built here.
#   dcgi-test/perl     tests/images/perl/Dockerfile (FROM debian:bookworm-slim,
#                      which cgi-bin/base-image.sh makes when it is missing).
#
# Idempotent and quick when nothing changed: the busybox image carries a
# label with a hash of everything it is made of and is rebuilt only when
# that differs; `docker build` keeps its own layer cache for the other.
# Run from anywhere; needs the docker client ($DOCKER, default docker on
# PATH) and an engine.  FORCE=1 rebuilds the busybox image regardless.
#
set -eu

DOCKER=${DOCKER:-docker}
export DOCKER
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

say() { printf 'test-images: %s\n' "$*"; }
die() { printf 'test-images: error: %s\n' "$*" >&2; exit 1; }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed)"

# --- dcgi-test/busybox -------------------------------------------------------

image=dcgi-test/busybox:latest
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
if command -v ldd >/dev/null 2>&1 && ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked (apt-get install busybox-static)"
fi

# Everything the image is made of: this script, the CGI scripts (names,
# modes, contents) and the busybox binary.
hash=$(
	cd "$here"
	{
		sha256sum build.sh "$busybox"
		find busybox -type f | LC_ALL=C sort | while read -r f; do
			printf '%s %s\n' "$(stat -c %a "$f")" "$(sha256sum <"$f")"
			printf '%s\n' "$f"
		done
	} | sha256sum | cut -c1-32
)
have=$("$DOCKER" image inspect -f '{{ index .Config.Labels "dcgi.test.hash" }}' \
    "$image" 2>/dev/null || true)

start=$(date +%s)
if [ "$have" = "$hash" ] && [ -z "${FORCE:-}" ]; then
	say "$image is up to date"
else
	say "building $image"
	old=$("$DOCKER" image inspect -f '{{ .Id }}' "$image" 2>/dev/null || true)
	tree=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-busybox.XXXXXX")
	trap 'rm -rf "$tree"' EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$tree/bin" "$tree/usr/bin" "$tree/cgi" "$tree/etc" \
	    "$tree/dev" "$tree/proc" "$tree/sys" "$tree/root"
	mkdir -m 1777 "$tree/tmp"
	cp "$busybox" "$tree/bin/busybox"
	chmod 755 "$tree/bin/busybox"
	# Every applet as a link in /bin (sh, cat, env, sleep, head, dd, hostname,
	# printf, tr, sed, wc, yes, seq, ...), and /usr/bin/env for #! lines.
	"$busybox" --list | while read -r applet; do
		case $applet in
			busybox|*/*|'') continue ;;
		esac
		ln -sf busybox "$tree/bin/$applet"
	done
	for a in sh cat echo env sleep head dd hostname printf tr sed wc yes seq sort; do
		[ -e "$tree/bin/$a" ] || die "busybox has no applet $a"
	done
	ln -sf ../../bin/env "$tree/usr/bin/env"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
	    >"$tree/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
	for f in "$here"/busybox/cgi/*; do
		install -m 755 "$f" "$tree/cgi/$(basename "$f")"
	done
	# The tree's top is the image's /: mktemp made it 0700, which Docker
	# ignores and rootless Podman's vfs storage keeps (then a User other
	# than root cannot exec anything).
	chmod 755 "$tree"
	tar --numeric-owner --owner=0 --group=0 -C "$tree" -c . |
	    "$DOCKER" import \
		--change 'ENV PATH=/bin:/usr/bin' \
		--change 'WORKDIR /' \
		--change 'CMD ["/cgi/echo"]' \
		--change "LABEL dcgi.test.hash=$hash" \
		--message "dcgi test image (tests/images/build.sh)" \
		- "$image" >/dev/null
	rm -rf "$tree"
	trap - EXIT
	# The previous build, now untagged (kept if a container still uses it).
	[ -z "$old" ] || "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
	say "built $image in $(($(date +%s) - start))s"
fi

# Does every script at least run and write something (crash excepted)?
out=$("$DOCKER" run --rm -i --network none "$image" /cgi/status </dev/null) ||
    die "$image: /cgi/status failed"
case $out in
	*'Status: 201'*) ;;
	*) die "$image: /cgi/status printed: $out" ;;
esac

# --- dcgi-test/perl -----------------------------------------------------------

sh "$repo/cgi-bin/base-image.sh"

start=$(date +%s)
say "docker build dcgi-test/perl (layer cache: quick when unchanged)"
# The legacy builder: docker.io 20.10 has no buildx, and a newer client
# without the plugin falls back to it as well (its deprecation notice is
# kept out of the output unless the build fails).
log=$(mktemp "${TMPDIR:-/tmp}/dcgi-build.XXXXXX")
if ! DOCKER_BUILDKIT=0 "$DOCKER" build --network host -t dcgi-test/perl:latest \
    "$here/perl" >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	die "docker build of dcgi-test/perl failed"
fi
rm -f "$log"
out=$("$DOCKER" run --rm -i --network none dcgi-test/perl </dev/null) ||
    die "dcgi-test/perl did not run"
case $out in
	'Content-Type: application/json'*) ;;
	*) die "dcgi-test/perl printed: $out" ;;
esac
say "dcgi-test/perl is ready ($(($(date +%s) - start))s)"
