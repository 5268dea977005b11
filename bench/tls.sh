#!/usr/bin/env bash
#
# bench/tls.sh: HTTPS, dcgid (mbedtls) against nginx (OpenSSL, one worker),
# same certificate (ECDSA P-256), same 1 KiB file, same machine, same run,
# everything on 127.0.0.1:
#   - keep-alive: wrk -t1 -c50 -dDURATION over HTTPS;
#   - full handshakes: the same with "Connection: close", so that every
#     request is a new connection and a new TLS 1.2 handshake (session
#     tickets and caches are off on both sides: wrk would resume otherwise).
# Besides req/s, the server's CPU time per request (utime + stime from
# /proc over the run): less disturbed by a noisy machine than req/s.
# Both servers offer TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 only (what
# dcgid built with Debian's mbedtls 2.28 negotiates), so that the same work
# is compared.  Servers run on CPU SERVER_CPU, wrk on CPU CLIENT_CPU.
# REPS runs per cell, servers alternating; the median is printed.
#
# Needs: httpd/dcgid built, nginx, wrk, openssl, taskset.  Run as root.
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
REPS=${REPS:-3}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for c in nginx wrk openssl taskset python3; do
	command -v "$c" >/dev/null || { echo "tls.sh: needs $c" >&2; exit 1; }
done
[ -x "$REPO/httpd/dcgid" ] || { echo "tls.sh: build dcgid first (./configure && make)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/dcgi-tls-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DPORT=$(free_port)
NPORT=$(free_port)

mkdir -p "$tmp/www" "$tmp/nginx"
chmod 755 "$tmp" "$tmp/www"	# nginx's worker reads as its own user
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$tmp/www/1k.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
chmod 644 "$tmp/www/1k.txt"

cat >"$tmp/dcgid.conf" <<EOF
Listen 127.0.0.1:$DPORT tls
TLSCertificateFile $tmp/cert.pem
TLSCertificateKeyFile $tmp/key.pem
TLSCiphers TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256
DocumentRoot $tmp/www
MimeTypes $REPO/conf/mime.types
AccessLog off
ErrorLog $tmp/dcgid.err
MaxConnections 20000
KeepAliveRequests 1000000
TLSSessionTickets off
EOF
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    types { text/plain txt; }
    client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx;
    fastcgi_temp_path $tmp/nginx; uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
    server {
        listen 127.0.0.1:$NPORT ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        ssl_session_tickets off;
        root $tmp/www;
    }
}
EOF

taskset -c "$SERVER_CPU" "$REPO/httpd/dcgid" -f "$tmp/dcgid.conf" &
pids+=($!)
taskset -c "$SERVER_CPU" nginx -c "$tmp/nginx.conf" -p "$tmp" &
pids+=($!)
sleep 1
DPID=${pids[0]}
NPID=$(pgrep -P "${pids[1]}" -f "nginx: worker")
for p in $DPORT $NPORT; do
	curl -sk -o /dev/null "https://127.0.0.1:$p/1k.txt" || { echo "tls.sh: server on $p does not answer" >&2; exit 1; }
done

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {	# run NAME PORT EXTRA...: prints "req/s p50 p99 cpu_us_per_req"
	local port=$2 pid before
	pid=$DPID
	[ "$1" = nginx ] && pid=$NPID
	shift 2
	before=$(cputicks "$pid")
	taskset -c "$CLIENT_CPU" wrk -t1 -c50 -d"$DURATION" --latency "$@" \
	    "https://127.0.0.1:$port/1k.txt" >"$tmp/wrk.out"
	TICKS=$(( $(cputicks "$pid") - before )) HZ=$(getconf CLK_TCK) python3 -c '
import os, re, sys
out = open(sys.argv[1]).read()
n = int(re.search(r"(\d+) requests in", out).group(1))
cpu = int(os.environ["TICKS"]) / int(os.environ["HZ"]) * 1e6 / n
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
def ms(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\b" % p, out, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
print("%.0f %.3f %.3f %.1f %s" % (float(rps), ms(50), ms(99), cpu, "errors:" + errs.group(0).replace(" ", "_") if errs else ""))' "$tmp/wrk.out"
}

median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

declare -A res
echo "== dcgi TLS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "   $("$REPO/httpd/dcgid" -v), $(nginx -v 2>&1), $(openssl version), wrk -t1 -c50 -d$DURATION"
for mode in keepalive handshake; do
	for name in dcgid nginx; do res[$mode-$name]=""; done
	for ((i = 1; i <= REPS; i++)); do
		order="dcgid nginx"
		((i % 2 == 0)) && order="nginx dcgid"
		for name in $order; do
			port=$DPORT
			[ "$name" = nginx ] && port=$NPORT
			if [ $mode = keepalive ]; then
				line=$(run "$name" "$port")
			else
				line=$(run "$name" "$port" -H "Connection: close")
			fi
			echo "   $mode $name run $i: $line"
			res[$mode-$name]+="$line"$'\n'
		done
	done
done
echo
printf '%-10s %-6s %10s %8s %8s %10s\n' mode server req/s p50_ms p99_ms cpu_us/req
for mode in keepalive handshake; do
	for name in dcgid nginx; do
		med=$(printf '%s' "${res[$mode-$name]}" | median)
		cpu=$(printf '%s' "${res[$mode-$name]}" | cut -d' ' -f4 | median)
		printf '%-10s %-6s %10s %8s %8s %10s\n' "$mode" "$name" $(echo "$med" | cut -d' ' -f1-3) "$cpu"
		eval "${mode}_${name}=$(echo "$med" | cut -d' ' -f1)"
		eval "${mode}_${name}_cpu=$cpu"
	done
	python3 -c "print('%-10s ratio  %10.3f   (dcgid / nginx, req/s);  %.3f (nginx / dcgid, CPU per request)' % ('$mode', $(eval echo \$${mode}_dcgid) / $(eval echo \$${mode}_nginx), $(eval echo \$${mode}_nginx_cpu) / $(eval echo \$${mode}_dcgid_cpu)))"
done
