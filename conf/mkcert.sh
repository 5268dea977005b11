#!/bin/sh
#
# conf/mkcert.sh DIR: a self-signed certificate for localhost in
# DIR/cert.pem and its key in DIR/key.pem, for `make run`.  Does nothing
# when both exist.  The key never leaves this machine (conf/tls/ is not
# in git).
#
set -eu
dir=${1:-conf/tls}
if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
	exit 0
fi
if ! command -v openssl >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get install -y --no-install-recommends openssl </dev/null ||
		    { apt-get update </dev/null &&
		    apt-get install -y --no-install-recommends openssl </dev/null; }
	else
		echo "conf/mkcert.sh: needs openssl (Debian package openssl)" >&2
		exit 1
	fi
fi
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 365 \
    -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
chmod 644 "$dir/cert.pem"
echo "conf/mkcert.sh: made a self-signed certificate for localhost in $dir/"
