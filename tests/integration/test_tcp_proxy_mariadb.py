#!/usr/bin/env python3
"""The TCP proxy in front of a real MariaDB server (the Debian package
mariadb-server), started here in a temporary directory on a free loopback
port: 10,000 `SELECT 1` through herd over 4 connections (PyMySQL, the
Debian package python3-pymysql), every one answered 1, and a value written
through herd read back directly.

The server's data directory is made by mariadb-install-db; the server runs
with --skip-grant-tables (any user, no password: it listens on 127.0.0.1
only, for this test). As root it needs --user=root, which mariadbd
otherwise refuses."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

try:
    import pymysql
except ImportError:
    # A Python of its own (pyenv, a venv) does not see Debian's packages;
    # PyMySQL is pure Python, so Debian's copy serves any Python 3.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import pymysql
    except ImportError:     # said by setUp, as a failure
        pymysql = None

CONNECTIONS = 4
QUERIES = 10000

CONF = herdtest.top(2) + """
upstreams = ( { name = "db"; servers = ( { address = "127.0.0.1:%d"; } );
                connect_timeout = "2s"; } );
servers = (
  { listen = [ "127.0.0.1:$port" ]; protocol = "tcp_proxy"; upstream = "db"; }
);
"""


def find(tool):
    for d in ("", "/usr/sbin/", "/usr/bin/"):
        path = shutil.which(tool) if not d else d + tool
        if path and os.access(path, os.X_OK):
            return path
    return None


class MariaDBTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        self.mariadbd = find("mariadbd")
        install_db = find("mariadb-install-db")
        if pymysql is None or self.mariadbd is None or install_db is None:
            self.fail("mariadbd, mariadb-install-db or PyMySQL missing: install the Debian "
                      "packages mariadb-server and python3-pymysql (.ci/run, ./bootstrap and "
                      "debian/control name them)")
        self.dir = tempfile.mkdtemp(prefix="herdtest-mariadb-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.datadir = os.path.join(self.dir, "data")
        self.as_root = ["--user=root"] if os.geteuid() == 0 else []
        r = subprocess.run([install_db, "--no-defaults", "--datadir=" + self.datadir,
                            "--auth-root-authentication-method=normal", "--skip-test-db",
                            "--skip-name-resolve"] + self.as_root,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, "mariadb-install-db: %s%s" %
                         (r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")))
        self.port = herdtest.free_port()
        self.log = os.path.join(self.dir, "mariadbd.log")
        self.server = subprocess.Popen(
            [self.mariadbd, "--no-defaults", "--datadir=" + self.datadir,
             "--socket=" + os.path.join(self.dir, "mariadbd.sock"),
             "--pid-file=" + os.path.join(self.dir, "mariadbd.pid"),
             "--port=%d" % self.port, "--bind-address=127.0.0.1", "--skip-grant-tables",
             "--skip-name-resolve", "--log-error=" + self.log, "--innodb-buffer-pool-size=16M",
             "--skip-log-bin"] + self.as_root,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_server)
        herdtest.wait_for(self.answers, 60 * herdtest.SLOW, what="mariadbd answering SELECT 1")

    def server_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def answers(self):
        if self.server.poll() is not None:
            raise AssertionError("mariadbd exited with %s:\n%s" %
                                 (self.server.returncode, self.server_log()))
        try:
            db = self.connect(self.port)
        except pymysql.err.OperationalError:
            return False
        with db:
            return self.select_1(db) == 1

    def stop_server(self):
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()

    @staticmethod
    def connect(port):
        return pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                               connect_timeout=10, read_timeout=30, write_timeout=30,
                               autocommit=True)

    @staticmethod
    def select_1(db):
        with db.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0]

    def test_10000_select_1_through_herd(self):
        h = self.herd(CONF % self.port)
        answers = [[] for _ in range(CONNECTIONS)]
        errors = []

        def client(i):
            try:
                with self.connect(h.port()) as db:
                    for _ in range(QUERIES // CONNECTIONS):
                        answers[i].append(self.select_1(db))
            except Exception as e:      # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        got = [a for per in answers for a in per]
        self.assertEqual(len(got), QUERIES)
        self.assertEqual(set(got), {1})
        # Writes go through too: a table made through herd is there directly.
        with self.connect(h.port()) as db, db.cursor() as cur:
            cur.execute("CREATE DATABASE herd")
            cur.execute("CREATE TABLE herd.t (v VARCHAR(16))")
            cur.execute("INSERT INTO herd.t VALUES ('through herd')")
        with self.connect(self.port) as db, db.cursor() as cur:
            cur.execute("SELECT v FROM herd.t")
            self.assertEqual(cur.fetchone()[0], "through herd")


if __name__ == "__main__":
    herdtest.main()
