#!/bin/sh
#
# cgi-bin/base-image.sh: make sure the image debian:bookworm-slim exists
# in the local Docker engine, which every Dockerfile here starts FROM.
#
#   1. `docker image inspect` finds it: done.
#   2. else `docker pull` (with a short timeout; fails at once offline).
#   3. else build it: debootstrap --variant=minbase bookworm into a temporary
#      directory from the Debian mirror this machine's apt already uses
#      (read from /etc/apt/sources.list and /etc/apt/sources.list.d/, both the
#      one-line and the deb822 format; never written into the repository),
#      drop apt's lists and caches, and `docker import` the tree.
#
# Idempotent; needs root for debootstrap.  Environment:
#   DOCKER             the docker client (default: docker on PATH)
#   BASE_IMAGE         the tag to make (default: debian:bookworm-slim)
#   DEBIAN_MIRROR      a mirror URL, instead of reading the apt sources
#   PULL_TIMEOUT       seconds allowed for `docker pull` (default: 20)
#
set -eu

DOCKER=${DOCKER:-docker}
image=${BASE_IMAGE:-debian:bookworm-slim}
suite=bookworm

say() { printf 'base-image: %s\n' "$*"; }
die() { printf 'base-image: error: %s\n' "$*" >&2; exit 1; }

if "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
	say "$image is present"
	exit 0
fi

say "$image is missing; trying docker pull (${PULL_TIMEOUT:-20}s at most)"
if command -v timeout >/dev/null 2>&1; then
	pull() { timeout "${PULL_TIMEOUT:-20}" "$DOCKER" pull "$image"; }
else
	pull() { "$DOCKER" pull "$image"; }
fi
if pull >/dev/null 2>&1 && "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
	say "pulled $image"
	exit 0
fi
say "docker pull failed; building $image with debootstrap"

# mirror: print the first "deb" URI of the apt sources that carries the
# suite $suite (not bookworm-updates or -security), else the first "deb"
# URI at all.
mirror() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		# deb [option=value ...] URI SUITE [COMPONENT...]
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
		    awk -v want="$suite" '$1 == "deb" && NF >= 3 { print ($3 == want ? "1 " : "2 ") $2 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822 stanzas separated by blank lines; fields Types, URIs,
		# Suites, Enabled (continuation lines are not needed here).
		# (comment lines are dropped, not blanked: a blank line ends a stanza)
		sed -e '/^[[:space:]]*#/d' -e 's/#.*//' "$f" | awk -v want="$suite" '
		    function flush() {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
				n = split(uris, u, " ")
				rank = (" " suites " " ~ (" " want " ")) ? "1 " : "2 "
				for (i = 1; i <= n; i++) print rank u[i]
			}
			types = uris = suites = enabled = ""
		    }
		    /^[ \t]*$/ { flush(); next }
		    {
			field = tolower($1); sub(/:$/, "", field)
			value = $0; sub(/^[^:]*:[ \t]*/, "", value)
			if (field == "types") types = value
			else if (field == "uris") uris = value
			else if (field == "suites") suites = value
			else if (field == "enabled") enabled = tolower(value)
		    }
		    END { flush() }'
	done
}

if [ -n "${DEBIAN_MIRROR:-}" ]; then
	url=$DEBIAN_MIRROR
else
	# stable sort: rank 1 (carries the suite) first, file order otherwise
	url=$(mirror | sort -s -k1,1 | awk 'NR == 1 { print $2 }')
fi
[ -n "$url" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d} (set DEBIAN_MIRROR)"
case $url in
	mirror+*|file:*|cdrom:*) die "cannot use apt source $url for debootstrap (set DEBIAN_MIRROR)" ;;
esac
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (apt-get install debootstrap)"
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

# An HTTP proxy that apt is configured with applies to debootstrap too.
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null 2>&1; then
	proxy=
	eval "$(apt-config shell proxy Acquire::http::Proxy)" 2>/dev/null || true
	case $proxy in
		http://*|https://*) http_proxy=$proxy; export http_proxy; say "using apt's proxy $proxy" ;;
	esac
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/dcgi-rootfs.XXXXXX")
cleanup() { rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "debootstrap --variant=minbase --components=main $suite $dir $url"
start=$(date +%s)
if ! debootstrap --variant=minbase --components=main "$suite" "$dir" "$url" \
    >"$dir.log" 2>&1; then
	tail -n 30 "$dir.log" >&2
	rm -f "$dir.log"
	die "debootstrap failed"
fi
rm -f "$dir.log"

# As the official slim image: no package lists, caches, logs or docs.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
    "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/archives/partial/* \
    "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old \
    "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/debootstrap \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/tmp/* "$dir"/var/tmp/*
mkdir -p "$dir"/var/lib/apt/lists/partial
# Not the build machine's name and resolver inside every container.
: >"$dir"/etc/hostname
: >"$dir"/etc/resolv.conf

say "importing $dir as $image"
# The top of the tree is the image's /: 0755, not mktemp's 0700 (Docker
# ignores it; rootless Podman's vfs storage keeps it, and then a User other
# than root cannot exec anything).
chmod 755 "$dir"
tar --numeric-owner -C "$dir" -c . |
    "$DOCKER" import \
	--change 'CMD ["bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--message "debootstrap --variant=minbase $suite" \
	- "$image" >/dev/null
"$DOCKER" image inspect "$image" >/dev/null 2>&1 || die "docker import did not make $image"
say "built $image in $(($(date +%s) - start))s"
