#!/usr/bin/env python3
"""HTTPS: a chain from a test CA, RSA and ECDSA keys, keep-alive and a POST
into a container route over TLS, protocol floor and AEAD-only ciphers
(openssl s_client, sslscan), resumption, ALPN, bad clients on the TLS
port, HTTPSRedirect and HSTS, certificate reload (also under load and
with a bad pair), config errors and an expired certificate."""

import hashlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from dcgitest import Server, Tap, free_port, raw, status_of

t = Tap()
pki = tempfile.mkdtemp(prefix="dcgi-pki.")


def sh(cmd, inp=None, timeout=30):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, input=inp,
                       timeout=timeout, cwd=pki)
    return p.returncode, p.stdout + p.stderr


def openssl(args):
    rc, out = sh("openssl " + args)
    if rc != 0:
        raise RuntimeError("openssl %s: %s" % (args, out))


EXT = "subjectAltName=DNS:localhost,IP:127.0.0.1"
CA_EXT = "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"


def make_pki():
    with open(os.path.join(pki, "ca.ext"), "w") as f:
        f.write(CA_EXT)
    with open(os.path.join(pki, "leaf.ext"), "w") as f:
        f.write(EXT + "\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth\n")
    openssl("req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 "
            "-subj /CN=dcgi-test-root -addext basicConstraints=critical,CA:true "
            "-addext keyUsage=critical,keyCertSign,cRLSign")
    openssl("req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj /CN=dcgi-test-inter")
    openssl("x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 "
            "-extfile ca.ext -out inter.pem")


def make_leaf(name, kind="rsa", serial=None, extra=""):
    key = "-newkey rsa:2048" if kind == "rsa" else "-newkey ec -pkeyopt ec_paramgen_curve:P-256"
    openssl("req %s -nodes -keyout %s.key -out %s.csr -subj /CN=localhost" % (key, name, name))
    openssl("x509 -req -in %s.csr -CA inter.pem -CAkey inter.key %s -days 30 -extfile leaf.ext "
            "-out %s.crt %s" % (name, "-set_serial %d" % serial if serial else "-CAcreateserial",
                                name, extra))
    with open(os.path.join(pki, name + ".pem"), "w") as f:   # leaf, then the intermediate
        f.write(open(os.path.join(pki, name + ".crt")).read())
        f.write(open(os.path.join(pki, "inter.pem")).read())
    return os.path.join(pki, name + ".pem"), os.path.join(pki, name + ".key")


make_pki()
rsa_cert, rsa_key = make_leaf("rsa", serial=1001)
ec_cert, ec_key = make_leaf("ec", kind="ec", serial=1002)
ROOT = os.path.join(pki, "root.pem")
cert_path = os.path.join(pki, "server.pem")
key_path = os.path.join(pki, "server.key")
shutil.copy(rsa_cert, cert_path)
shutil.copy(rsa_key, key_path)

# Under valgrind a handshake takes seconds: give it room.
SLOW = bool(os.environ.get("DCGI_WRAP", "").strip())
HT = 10 if SLOW else 2
CONF = ("Listen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port} tls\n"
        "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n"
        "DocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\nAccessLog off\n"
        "ErrorLog {tmp}/error.log\nHeaderTimeout %ds\nHTTPSRedirect on\nHSTS 1h\n"
        "<Route /echo>\n Image dcgi-test/busybox\n Command /cgi/echo\n</Route>\n")
s = Server(CONF % (cert_path, key_path, HT))
with open(os.path.join(s.root, "file.txt"), "w") as f:
    f.write("over tls\n")
big = os.urandom(5 << 20)
with open(os.path.join(s.root, "big.bin"), "wb") as f:
    f.write(big)
base = "https://localhost:%d" % s.tls_port


def curl(*args, timeout=30):
    p = subprocess.run(["curl", "-s", "-S", "--cacert", ROOT, *args], capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


rc, out, err = curl(base + "/file.txt")
t.ok(rc == 0 and out == b"over tls\n", "HTTPS GET, the chain verifies against the root only (%s)" % err.strip())
rc, out, _ = curl(base + "/big.bin")
t.is_(hashlib.sha256(out).hexdigest(), hashlib.sha256(big).hexdigest(), "5 MiB file intact over TLS")
rc, out, _ = curl("-I", base + "/file.txt")
t.ok(b"200 OK" in out and b"Strict-Transport-Security: max-age=3600" in out, "HEAD, with HSTS")
rc, out, _ = curl("-w", "%{num_connects}\\n", "-o", "/dev/null", base + "/file.txt",
                  "-o", "/dev/null", base + "/file.txt", "-o", "/dev/null", base + "/file.txt")
t.is_(out.split(), [b"1", b"0", b"0"], "keep-alive over TLS: three requests, one connection")
body = os.urandom(50000).hex().encode()[:100000]
p = subprocess.run(["curl", "-s", "--cacert", ROOT, "--data-binary", "@-", "-H",
                    "Content-Type: application/octet-stream", base + "/echo"],
                   input=body, capture_output=True, timeout=60)
t.ok(p.stdout.endswith(b"---\n" + body), "a 100 KB POST into a container route over TLS")
t.ok(b"\nHTTPS=on\n" in p.stdout, "HTTPS=on in the CGI environment")
plain = raw(s.port, b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t.ok(status_of(plain) == 301, "plain GET with HTTPSRedirect on: 301")

# HTTPSRedirect and HSTS
r = raw(s.port, b"GET /file.txt?x=1 HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n"
        % s.port)
t.ok(b"\r\nLocation: https://localhost:%d/file.txt?x=1\r\n" % s.tls_port in r,
     "the redirect names the TLS port and keeps the target")
t.ok(b"Strict-Transport-Security" not in r, "no HSTS on plain responses")


def s_client(args, inp="", timeout=20):
    return sh("openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s %s"
              % (s.tls_port, ROOT, args), inp=inp, timeout=timeout)


rc, out = s_client("-alpn http/1.1")
t.ok("ALPN protocol: http/1.1" in out, "ALPN http/1.1")
for proto in ("-tls1", "-tls1_1"):
    rc, out = s_client(proto + " -cipher DEFAULT@SECLEVEL=0")
    t.ok(rc != 0 and not re.search(r"Cipher is (?!\(NONE\))", out),
         "%s is refused" % proto)
rc, out = s_client("-tls1_2")
m = re.search(r"Cipher is (\S+)", out)
t.ok(rc == 0 and m and "ECDHE" in m.group(1) and ("GCM" in m.group(1) or "CHACHA20" in m.group(1)),
     "TLS 1.2 with an ECDHE AEAD suite (%s)" % (m.group(1) if m else "none"))
sess = os.path.join(pki, "sess.pem")
s_client("-tls1_2 -sess_out " + sess)
rc, out = s_client("-tls1_2 -sess_in " + sess)
t.ok("Reused, TLSv1.2" in out, "session resumption (ticket)")

rc, out = sh("sslscan --no-colour --no-heartbleed 127.0.0.1:%d" % s.tls_port, timeout=120)
accepted = re.findall(r"^(?:Accepted|Preferred)\s+(\S+)\s+\d+ bits\s+(\S+)", out, re.M)
t.ok(accepted, "sslscan lists accepted suites (%d)" % len(accepted))
t.ok(all(v in ("TLSv1.2", "TLSv1.3") for v, _ in accepted), "sslscan: nothing below TLS 1.2")
bad = [c for v, c in accepted if not (v == "TLSv1.3" or ("ECDHE" in c and
       ("GCM" in c or "CHACHA20" in c)))]
t.is_(bad, [], "sslscan: every suite has forward secrecy and AEAD")
t.ok(re.search(r"SSLv3\s+disabled", out) and re.search(r"TLSv1\.0\s+disabled", out) and
     re.search(r"TLSv1\.1\s+disabled", out) and re.search(r"TLSv1\.2\s+enabled", out),
     "sslscan: SSLv3, TLS 1.0, 1.1 disabled; TLS 1.2 enabled")

# Bad clients on the TLS port.
r = raw(s.tls_port, bytes(random.getrandbits(8) for _ in range(1024)), timeout=5)
t.ok(not r.startswith(b"HTTP/"), "garbage on the TLS port: no HTTP answer")
r = raw(s.tls_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
t.ok(not r.startswith(b"HTTP/1.1 200"), "plain HTTP on the TLS port is not served")
stalled = socket.create_connection(("127.0.0.1", s.tls_port))
stalled.sendall(b"\x16\x03\x01\x02")
rc, out, _ = curl(base + "/file.txt")
t.ok(out == b"over tls\n", "served while a handshake is stalled")
stalled.settimeout(HT + 8)
t0 = time.monotonic()
try:
    gone = stalled.recv(100) == b""
except OSError:
    gone = True
t.ok(gone and time.monotonic() - t0 < HT + 6, "the stalled handshake is closed by HeaderTimeout")
stalled.close()

# ECDSA
shutil.copy(ec_cert, cert_path)
shutil.copy(ec_key, key_path)
s.proc.send_signal(signal.SIGHUP)
time.sleep(1)
rc, out = s_client("-tls1_2")
m = re.search(r"Cipher is (\S+)", out)
t.ok(m and "ECDSA" in m.group(1), "reloaded with an ECDSA key: ECDHE-ECDSA (%s)" % (m.group(1) if m else "-"))
t.ok("serial=03EA" in sh("openssl s_client -connect 127.0.0.1:%d -showcerts </dev/null 2>/dev/null"
                          " | openssl x509 -noout -serial" % s.tls_port)[1],
     "SIGHUP: new connections see the new certificate")

# A keep-alive connection made before a reload keeps working after it.
ctx = ssl.create_default_context(cafile=ROOT)
ka = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.tls_port), 10),
                     server_hostname="localhost")
ka.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
first = ka.recv(4096)

# A key that does not match: logged, the old pair stays.
with open(key_path, "w") as f:
    f.write(open(rsa_key).read())
s.proc.send_signal(signal.SIGHUP)
time.sleep(1)
elog = open(os.path.join(s.tmpdir, "error.log")).read()
t.ok("does not match" in elog and "keeping the old configuration" in elog,
     "a key that does not match the certificate: logged, old pair kept")
rc, out, _ = curl(base + "/file.txt")
t.is_(out, b"over tls\n", "still serving with the old pair")
os.unlink(cert_path)
s.proc.send_signal(signal.SIGHUP)
time.sleep(1)
rc, out, _ = curl(base + "/file.txt")
t.is_(out, b"over tls\n", "a missing certificate file on reload: still serving")
ka.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
second = b""
while True:
    chunk = ka.recv(4096)
    if not chunk:
        break
    second += chunk
ka.close()
t.ok(status_of(first) == 200 and status_of(second) == 200, "a keep-alive TLS connection lives through reloads")

# Reload with a new certificate under load: no failed request.
shutil.copy(rsa_cert, cert_path)
shutil.copy(rsa_key, key_path)
fails, oks, stop = [], [], threading.Event()


def load():
    while not stop.is_set():
        try:
            c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.tls_port), 5),
                                server_hostname="localhost")
            c.sendall(b"GET /file.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            c.close()
            (oks if status_of(data) == 200 else fails).append(1)
        except Exception as e:
            fails.append(str(e))
        time.sleep(0.02)


threads = [threading.Thread(target=load) for _ in range(3)]
for th in threads:
    th.start()
for i in range(3):
    time.sleep(0.5)
    shutil.copy(ec_cert if i % 2 == 0 else rsa_cert, cert_path)
    shutil.copy(ec_key if i % 2 == 0 else rsa_key, key_path)
    s.proc.send_signal(signal.SIGHUP)
time.sleep(0.5)
stop.set()
for th in threads:
    th.join(20)
t.ok(len(oks) >= (3 if SLOW else 20) and not fails, "3 certificate reloads under load: %d requests, %d failed %s"
     % (len(oks), len(fails), fails[:2]))
t.is_(s.stop(), 0, "clean exit")

# Config errors and an expired certificate.
tmp = tempfile.mkdtemp(prefix="dcgitest.")
conf = os.path.join(tmp, "httpd.conf")


def check(text):
    with open(conf, "w") as f:
        f.write(text)
    p = subprocess.run(s.command("-t", "-f", conf), capture_output=True, text=True, cwd=tmp)
    return p.returncode, p.stderr


p0 = free_port()
rc, err = check("Listen 127.0.0.1:%d tls\nDocumentRoot %s\n" % (p0, tmp))
t.ok(rc == 1 and conf + ":" in err, "-t: a tls listener without a certificate is an error")
rc, err = check("Listen 127.0.0.1:%d\nTLSProtocols TLSv1.0\nDocumentRoot %s\n" % (p0, tmp))
t.ok(rc == 1 and conf + ":2:" in err, "-t: TLSProtocols TLSv1.0 is an error")
with open(conf, "w") as f:
    f.write("Listen 127.0.0.1:%d tls\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n"
            "DocumentRoot %s\nMimeTypes %s/conf/mime.types\n" % (p0, rsa_cert, ec_key, tmp,
                                                                 os.path.dirname(os.path.dirname(
                                                                     os.path.dirname(os.path.abspath(__file__))))))
p = subprocess.run(s.command("-f", conf), capture_output=True, text=True, cwd=tmp, timeout=20)
t.ok(p.returncode != 0 and "does not match" in p.stderr and ec_key in p.stderr,
     "a key that does not match: the server refuses to start and names the key")

rc, out = sh("openssl x509 -req -in rsa.csr -CA inter.pem -CAkey inter.key -set_serial 77 "
             "-not_before 20200101000000Z -not_after 20200201000000Z -extfile leaf.ext -out old.crt")
if rc != 0:   # OpenSSL before 3.1 has no -not_after: sign with "openssl ca" and an end date
    with open(os.path.join(pki, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
                "default_md=sha256\npolicy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n")
    open(os.path.join(pki, "index.txt"), "w").close()
    with open(os.path.join(pki, "serial"), "w") as f:
        f.write("4D\n")
    rc, out = sh("openssl ca -batch -config ca.cnf -cert inter.pem -keyfile inter.key -in rsa.csr "
                 "-startdate 20200101000000Z -enddate 20200201000000Z -out old.crt -notext")
t.is_(rc, 0, "made an expired certificate")
es = Server("Listen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port} tls\nTLSCertificateFile %s\n"
            "TLSCertificateKeyFile %s\nDocumentRoot {root}\nMimeTypes {repo}/conf/mime.types\n"
            "ErrorLog {tmp}/error.log\n" % (os.path.join(pki, "old.crt"), rsa_key))
t.ok("expired" in open(os.path.join(es.tmpdir, "error.log")).read(),
     "an expired certificate: the server starts with a warning")
t.is_(es.stop(), 0, "clean exit")
shutil.rmtree(pki, ignore_errors=True)
shutil.rmtree(tmp, ignore_errors=True)
t.done()
