#!/usr/bin/env bash
#
# bench/privsep.sh: what privilege separation costs.  Two dcgid from the
# same build, same configuration, same run, on 127.0.0.1:
#   sep   the default: an engine process and a server process that gets
#         each container's attach stream as a descriptor (docs/privsep.md)
#   one   the same with `PrivilegeSeparation off`: everything in one process
# and four paths through each:
#   cold      GET /cold, a fresh container per request (dcgi-test/busybox,
#             /cgi/status, Network none): bench/latency/client.py, one at a
#             time, N requests in ROUNDS blocks, the targets interleaved and
#             rotated from round to round; p50/p99 of the pooled samples
#   pre       GET /pre, the same route with Prestart 4 (the same client)
#   static    wrk -t1 -c50 keep-alive, a 1 KiB file: req/s, median of REPS
#   tls       the same over HTTPS (keep-alive; a self-signed ECDSA P-256
#             pair, the same for both)
# Ratios are sep/one (latency: >1 is slower; req/s: <1 is slower).
# Servers run on CPU 0, the clients on CPU 1 (PIN=0: no pinning).
#
# Settings: N=200 ROUNDS=4 DURATION=10s REPS=3 PIN=1 KEEP=0 LAT=1 (0: only
# static and tls).  Needs
# httpd/dcgid built, wrk, openssl, python3, taskset; run as root (the user
# dcgi must exist: tests/setup.sh makes it).
#
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DCGID=$REPO/httpd/dcgid
CLIENT=$REPO/bench/latency/client.py
N=${N:-200}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10s}
REPS=${REPS:-3}
PIN=${PIN:-1}
KEEP=${KEEP:-0}

cli_pin() { if [ "$PIN" = 1 ]; then taskset -c 1 "$@"; else "$@"; fi; }

tmp=$(mktemp -d /tmp/dcgi-bench-privsep.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$KEEP" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$tmp/www" "$tmp/tls"
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 > "$tmp/www/1k.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" 2>/dev/null
chmod 644 "$tmp/tls/key.pem"

declare -A PORT TPORT
for k in sep one; do
	PORT[$k]=$(free_port)
	TPORT[$k]=$(free_port)
	mkdir -p "$tmp/$k"
	{
		echo "Listen 127.0.0.1:${PORT[$k]}"
		echo "Listen 127.0.0.1:${TPORT[$k]} tls"
		echo "TLSCertificateFile $tmp/tls/cert.pem"
		echo "TLSCertificateKeyFile $tmp/tls/key.pem"
		echo "DocumentRoot $tmp/www"
		echo "MimeTypes $REPO/conf/mime.types"
		echo "ErrorLog $tmp/$k/error.log"
		echo "AccessLog off"
		[ "$k" = one ] && echo "PrivilegeSeparation off"
		cat <<'EOF'
<Route /cold>
    Image dcgi-test/busybox
    Command /cgi/status
    MaxConcurrent 16
</Route>
<Route /pre>
    Image dcgi-test/busybox
    Command /cgi/status
    MaxConcurrent 16
    Prestart 4
</Route>
EOF
	} > "$tmp/$k/httpd.conf"
done
pids=()
for k in sep one; do
	if [ "$PIN" = 1 ]; then
		(cd "$tmp/$k" && exec taskset -c 0 "$DCGID" -f httpd.conf) 2>"$tmp/$k/stderr" &
	else
		(cd "$tmp/$k" && exec "$DCGID" -f httpd.conf) 2>"$tmp/$k/stderr" &
	fi
	pids+=($!)
done
for k in sep one; do
	for _ in $(seq 100); do
		grep -q "/pre 4/4" "$tmp/$k/error.log" 2>/dev/null && break
		sleep 0.2
	done
done

echo "dcgid privilege separation benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(docker version -f '{{.Server.Version}}' 2>/dev/null | sed 's/^/Docker /')"
echo

# Latency: interleaved, rotated (LAT=0 skips it).
if [ "${LAT:-1}" = 1 ]; then
per=$((N / ROUNDS))
targets=("sep cold" "one cold" "sep pre" "one pre")
for r in $(seq "$ROUNDS"); do
	for i in 0 1 2 3; do
		t=${targets[$(( (i + r) % 4 ))]}
		set -- $t
		cli_pin python3 "$CLIENT" http "${PORT[$1]}" "/$2" -n "$per" -c 1 -w 2 \
		    -o "$tmp/lat-$1-$2-$r.json" --label "$1 $2 round $r" >/dev/null
	done
done
python3 - "$tmp" <<'EOF' > "$tmp/lat.txt"
import glob, json, math, sys
tmp = sys.argv[1]
def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)] if v else float("nan")
res = {}
for k in ("sep", "one"):
    for path in ("cold", "pre"):
        ok, err = [], 0
        for f in glob.glob("%s/lat-%s-%s-*.json" % (tmp, k, path)):
            for s in json.load(open(f))["samples"]:
                if s["err"] is None:
                    ok.append(s["t"] * 1000)
                else:
                    err += 1
        res[k, path] = (pct(ok, 50), pct(ok, 99), len(ok), err)
for path in ("cold", "pre"):
    s, o = res["sep", path], res["one", path]
    print("%-7s p50 sep %7.1f ms  one %7.1f ms  ratio %.3f | p99 sep %7.1f  one %7.1f  ratio %.3f | n %d/%d errors %d/%d"
          % (path, s[0], o[0], s[0] / o[0], s[1], o[1], s[1] / o[1], s[2], o[2], s[3], o[3]))
EOF
cat "$tmp/lat.txt"
fi

# Throughput: wrk, the two alternating, median of REPS.  Beside req/s,
# the CPU time the dcgid processes (the engine and its server process, or
# the one process) used per request: on a machine whose load from outside
# moves req/s by 25% from run to run, that is the steadier measure of what
# a request costs.
declare -A DPID
DPID[sep]=${pids[0]}
DPID[one]=${pids[1]}
tree_ticks() {	# utime + stime of PID and its descendants, in clock ticks
	python3 - "$1" <<'EOF'
import os, sys
def kids(p):
    out = []
    for t in os.listdir("/proc/%d/task" % p):
        with open("/proc/%d/task/%s/children" % (p, t)) as f:
            out += [int(x) for x in f.read().split()]
    return out
todo, n = [int(sys.argv[1])], 0
while todo:
    p = todo.pop()
    try:
        with open("/proc/%d/stat" % p) as f:
            a = f.read().rsplit(")", 1)[1].split()
        n += int(a[11]) + int(a[12])
        todo += kids(p)
    except OSError:
        pass
print(n)
EOF
}
HZ=$(getconf CLK_TCK)
wrk_run() {	# req/s and CPU microseconds per request
	local before after rps
	before=$(tree_ticks "$2")
	rps=$(cli_pin wrk -t1 -c50 -d"$DURATION" "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
	after=$(tree_ticks "$2")
	python3 -c "print('%s %.2f' % ($rps, ($after - $before) / $HZ * 1e6 / ($rps * ${DURATION%s})))"
}
for what in static tls; do
	declare -a S=() O=() SC=() OC=()
	for _ in $(seq "$REPS"); do
		for k in sep one; do
			if [ "$what" = static ]; then url="http://127.0.0.1:${PORT[$k]}/1k.txt"
			else url="https://127.0.0.1:${TPORT[$k]}/1k.txt"; fi
			read -r v cpu < <(wrk_run "$url" "${DPID[$k]}")
			if [ "$k" = sep ]; then S+=("$v"); SC+=("$cpu"); else O+=("$v"); OC+=("$cpu"); fi
		done
	done
	python3 - "$what" "${S[*]}" "${O[*]}" "${SC[*]}" "${OC[*]}" <<'EOF'
import statistics, sys
what = sys.argv[1]
s, o, sc, oc = ([float(x) for x in a.split()] for a in sys.argv[2:6])
ms, mo = statistics.median(s), statistics.median(o)
cs, co = statistics.median(sc), statistics.median(oc)
print("%-7s req/s sep %9.0f  one %9.0f  ratio %.3f   (runs: sep %s, one %s)" % (
    what, ms, mo, ms / mo, " ".join("%.0f" % x for x in s), " ".join("%.0f" % x for x in o)))
print("%-7s CPU per request sep %.2f us  one %.2f us  ratio %.3f   (runs: sep %s, one %s)" % (
    what, cs, co, cs / co, " ".join("%.2f" % x for x in sc), " ".join("%.2f" % x for x in oc)))
EOF
done
