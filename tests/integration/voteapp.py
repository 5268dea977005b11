"""voteapp: the voting app on this machine for a test: its own Redis and
PostgreSQL (throwaway, on free loopback ports) and dcgid with the app's
routes and queue, as conf/httpd.conf has them."""

import os
import secrets
import shutil
import subprocess
import tempfile

import dcgitest
from dcgitest import Server, free_port

PGBIN = "/usr/lib/postgresql/15/bin"


def Redis(tmp):
    """The app's Redis: a restart keeps every queued vote."""
    return dcgitest.Redis(tmp, appendonly=True)


class Postgres:
    """A cluster of its own, run as the postgres user.  As conf/demo-services.sh
    has it, the role dcgi logs in over 127.0.0.1 with a password (scram)
    that only a file in tmp holds (root only): the functions get it as the
    Secret pg-password (run_lines())."""

    def __init__(self, tmp):
        self.port = free_port()
        self.dir = os.path.join(tmp, "pg")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        self.su([PGBIN + "/initdb", "-D", self.dir, "-A", "trust", "-U", "postgres"])
        with open(os.path.join(self.dir, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "fsync = off\n" % (self.port, self.dir))
        with open(os.path.join(self.dir, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n"
                    "host votes dcgi 127.0.0.1/32 scram-sha-256\n")
        self.password = secrets.token_hex(16)
        self.password_file = os.path.join(tmp, "pg-password")
        with open(self.password_file, "w") as f:
            f.write(self.password + "\n")
        os.chmod(self.password_file, 0o600)
        self.start()
        self.su([PGBIN + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                 "-q", "-c", "CREATE ROLE dcgi LOGIN PASSWORD '%s'" % self.password,
                 "-c", "CREATE DATABASE votes OWNER dcgi"])

    def run_lines(self):
        """A route's or queue's lines that reach the database: libpq's
        Env, and the password as a Secret (never in the Env)."""
        return ("    Env PGHOST=127.0.0.1\n    Env PGPORT=%d\n    Env PGUSER=dcgi\n"
                "    Env PGDATABASE=votes\n    Env PGPASSWORD_FILE=/run/secrets/pg-password\n"
                "    Secret pg-password %s\n" % (self.port, self.password_file))

    @staticmethod
    def su(cmd):
        p = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (cmd[0], p.stderr))
        return p.stdout

    def start(self):
        self.su([PGBIN + "/pg_ctl", "-D", self.dir, "-l", os.path.join(self.dir, "log"), "-w",
                 "start"])

    def stop(self):
        self.su([PGBIN + "/pg_ctl", "-D", self.dir, "-m", "fast", "-w", "stop"])

    def query(self, sql):
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "dcgi", "-d",
                            "votes", "-X", "-q", "-t", "-A", "-c", sql], capture_output=True,
                           text=True, timeout=30,
                           env=dict(os.environ, PGPASSWORD=self.password))
        return p.stdout.strip()


def conf(redis, pg, concurrency=8, retries=4, cache="1s", prestart=None, preload=True):
    """The app's config; prestart (e.g. "2 8") adds Prestart to /vote and
    /result/votes, preload=False leaves their Preload out, cache=None the
    Cache of /result/votes (bench/vote.py)."""
    pre = "    Prestart %s\n" % prestart if prestart else ""
    vote_pl = "    Preload python redis\n" if preload else ""
    result_pl = "    Preload python psycopg2 json db\n" if preload else ""
    cache_line = "    Cache %s\n" % cache if cache else ""
    env_pg = pg.run_lines()
    return ("Listen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port} tls\n"
            "TLSCertificateFile {tmp}/cert.pem\nTLSCertificateKeyFile {tmp}/key.pem\n"
            "DocumentRoot {repo}/www\nMimeTypes {repo}/conf/mime.types\n"
            "AccessLog {tmp}/access.log\nErrorLog {tmp}/error.log\n"
            "Redis 127.0.0.1:%d\nMaxContainers 96\n"
            "<Route /vote>\n    Image dcgi/vote\n    Network host\n    Env OPTION_A=Cats\n"
            "    Env OPTION_B=Dogs\n    Env REDIS_HOST=127.0.0.1\n    Env REDIS_PORT=%d\n"
            "    MaxConcurrent 16\n    Timeout 60s\n%s%s</Route>\n"
            "<Route /result/votes>\n    Image dcgi/result\n    Network host\n"
            "    Env OPTION_A=Cats\n    Env OPTION_B=Dogs\n%s%s    Timeout 20s\n"
            "    MaxConcurrent 64\n%s%s</Route>\n"
            "<Queue votes>\n    Image dcgi/record-vote-task\n    Network host\n%s"
            "    Concurrency %d\n    Retries %d\n    Timeout 30s\n</Queue>\n"
            % (redis.port, redis.port, pre, vote_pl, env_pg, cache_line, pre, result_pl, env_pg,
               concurrency, retries))


def make_cert(tmp):
    subprocess.run(["sh", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                       "conf", "mkcert.sh"), tmp], check=True,
                   capture_output=True, timeout=60)


def images_present():
    for img in ("dcgi/vote", "dcgi/result", "dcgi/record-vote-task"):
        if subprocess.run(["docker", "image", "inspect", img], capture_output=True,
                          timeout=30).returncode != 0:
            return img
    return None


class App:
    """Redis, PostgreSQL and dcgid; stop() takes all of it down."""

    def __init__(self, **kw):
        self.tmp = tempfile.mkdtemp(prefix="dcgi-vote.")
        os.chmod(self.tmp, 0o755)
        self.redis = Redis(self.tmp)
        self.pg = Postgres(self.tmp)
        make_cert(self.tmp)
        self.server = Server(conf(self.redis, self.pg, **kw), tmpdir=self.tmp)

    def log(self):
        with open(os.path.join(self.tmp, "error.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        code = None
        try:
            code = self.server.stop()
        finally:
            self.redis.stop()
            try:
                self.pg.stop()
            except Exception:
                pass
        return code
