"""Proxy and TLS scenarios of bench/run (issues 9 and 10), beside the
plain ones of bench.py: herd against its peers for each job, with one worker
each, in the same run.

  proxy_ka    HTTP reverse proxy, keep-alive both sides, in front of the
              floor (a fixed 13-byte reply): herd, nginx, haproxy
  proxy_pipe  the same, 16 pipelined requests per client write
  tcp_bulk    1 GiB (BULK_SIZE) through a TCP proxy to a sink: herd's
              tcp_proxy, haproxy (mode tcp, splice-auto), nginx stream
  seeds_http  GET -> proxy -> an aiohttp application server -> `SELECT 1` on
              MariaDB, beside the application server directly
  seeds_tcp   QUERIES `SELECT 1` in a row from one client to MariaDB
              through a TCP proxy, beside MariaDB directly
  tls_full_ecdsa, tls_full_rsa
              full TLS handshakes, one request per connection (h2load,
              Connection: close): herd, nginx, h2o
  tls_resume  resumed TLS handshakes (openssl s_time -reuse)
  tls_ka      fixed 13-byte reply over TLS, keep-alive (wrk https)
  tls_1m      1 MiB file over TLS (wrk https)
  tls_scale   full RSA handshakes with two workers on two cores ÷ one worker

CPU placement: the server (proxy) on CPU 0; the clients (wrk, h2load,
s_time, bulk.py send, seeds_client.py) on CPU 1; the upstreams (the floor,
the sink, the application server, MariaDB) on CPU 2 when the machine has
one, else on CPU 1 with the client. Every proxy gets the same placement.

bench.py imports this module once its own definitions exist (as `bench`).
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import bench as B

NPROC = os.cpu_count() or 1
SERVER_CPUS = "0"
CLIENT_CPUS = "1" if NPROC > 1 else "0"
AUX_CPUS = "2" if NPROC > 2 else CLIENT_CPUS
KEEPALIVE = B.env_int("PROXY_KEEPALIVE", 32)
BULK_SIZE = B.env_int("BULK_SIZE", 1 << 30)
QUERIES = B.env_int("QUERIES", 10000)
SEEDS_CONNECTIONS = B.env_int("SEEDS_CONNECTIONS", 16)
SEEDS_POOL = B.env_int("SEEDS_POOL", 8)
RESUME_CLIENTS = max(1, B.env_int("RESUME_CLIENTS", 16))
# seeds_tcp is one query at a time: a wake-up across CPUs (an IPI, costly
# in a VM) at each of its four hops would be most of what is measured, the
# same for every proxy; by default the proxy shares the CPU of the client
# and MariaDB, so that what it adds is its own work and context switches.
SEEDS_TCP_CPUS = os.environ.get("SEEDS_TCP_CPUS", CLIENT_CPUS)
GIB = 1 << 30
MIB = 1 << 20

PROXIES = ("herd", "nginx", "haproxy")
TLS_SERVERS = ("herd", "nginx", "h2o")

SCENARIOS = {
    "proxy_ka": dict(
        kind="proxy", short="proxy keep-alive", servers=PROXIES, refs=("nginx", "haproxy"),
        title="HTTP reverse proxy, fixed 13-byte reply from the floor, %d keep-alive "
              "connections both sides" % B.CONNECTIONS,
        rate="Requests/s", cpu="CPU µs/request", script="report.lua", path="/hello", size=13),
    "proxy_pipe": dict(
        kind="proxy", short="proxy pipelined", servers=PROXIES, refs=("nginx", "haproxy"),
        title="HTTP reverse proxy, %d keep-alive connections, %d pipelined requests per write"
              % (B.CONNECTIONS, B.PIPELINE),
        rate="Requests/s", cpu="CPU µs/request", script="pipeline.lua", args=[str(B.PIPELINE)],
        path="/hello", size=13),
    "tcp_bulk": dict(
        kind="bulk", short="TCP proxy 1 GiB", servers=("herd", "haproxy", "nginx"),
        refs=("haproxy", "nginx"),
        title="TCP proxy, %s in one connection to a sink" % (
            "1 GiB" if BULK_SIZE == GIB else "%d bytes" % BULK_SIZE),
        rate="MiB/s", cpu="CPU s/GiB"),
    "seeds_http": dict(
        kind="seeds_http", short="SELECT 1 via HTTP", servers=("direct",) + PROXIES,
        refs=("direct", "nginx"),
        title="`SELECT 1` per HTTP request: proxy → aiohttp application server → MariaDB, "
              "%d keep-alive connections" % SEEDS_CONNECTIONS,
        rate="Requests/s", cpu="Proxy CPU µs/request", script="report.lua", path="/hello",
        size=13),
    "seeds_tcp": dict(
        kind="seeds_tcp", short="SELECT 1 via TCP", servers=("direct", "herd", "haproxy", "nginx"),
        refs=("direct", "haproxy"),
        title="MariaDB through a TCP proxy: %d `SELECT 1` in a row on one connection"
              % QUERIES,
        rate="Queries/s", cpu="Proxy CPU µs/query"),
    "tls_full_ecdsa": dict(
        kind="h2load", cert="ecdsa", short="TLS full ECDSA", servers=TLS_SERVERS, refs=("nginx",),
        title="TLS full handshakes, ECDSA P-256, one request per connection (h2load, "
              "%d clients)" % B.CONNECTIONS,
        rate="Handshakes/s", cpu="CPU µs/handshake"),
    "tls_full_rsa": dict(
        kind="h2load", cert="rsa", short="TLS full RSA", servers=TLS_SERVERS, refs=("nginx",),
        title="TLS full handshakes, RSA-2048, one request per connection (h2load, "
              "%d clients)" % B.CONNECTIONS,
        rate="Handshakes/s", cpu="CPU µs/handshake"),
    "tls_resume": dict(
        kind="s_time", cert="ecdsa", short="TLS resumed", servers=TLS_SERVERS, refs=("nginx",),
        title="TLS resumed handshakes, one request per connection (%d openssl s_time -reuse)"
              % RESUME_CLIENTS,
        rate="Handshakes/s", cpu="CPU µs/handshake"),
    "tls_ka": dict(
        kind="tls_wrk", cert="ecdsa", short="TLS keep-alive", servers=TLS_SERVERS, refs=("nginx",),
        title="Fixed 13-byte reply over TLS (ECDSA), %d keep-alive connections" % B.CONNECTIONS,
        rate="Requests/s", cpu="CPU µs/request", script="report.lua", path="/hello", size=13,
        scheme="https"),
    "tls_1m": dict(
        kind="tls_wrk", cert="ecdsa", short="TLS 1 MiB file", servers=TLS_SERVERS,
        refs=("nginx",),
        title="1 MiB static file over TLS (ECDSA), %d keep-alive connections" % B.CONNECTIONS,
        rate="MiB/s", cpu="CPU µs/MiB", script="report.lua", path="/1m.bin", size=MIB,
        scheme="https"),
    "tls_scale": dict(
        kind="scale", cert="rsa", short="TLS 2 workers ÷ 1", servers=TLS_SERVERS, refs=("nginx",),
        title="TLS full handshakes (RSA-2048): two workers on two cores against one",
        rate="Handshakes/s (2 workers)", cpu="CPU µs/handshake (2 workers)"),
}

# (scenario, metric, against, comparison, bound, text); against None: the
# figure itself (tls_scale's scaling), else herd ÷ that server's figure.
TARGETS = [
    ("proxy_ka", "cpu", "nginx", "<=", 0.8, "HTTP proxy keep-alive: CPU/request <= 0.8x nginx"),
    ("proxy_ka", "cpu", "haproxy", "<=", 1.0, "HTTP proxy keep-alive: CPU/request <= 1.0x haproxy"),
    ("proxy_pipe", "cpu", "nginx", "<=", 0.8, "HTTP proxy pipelined: CPU/request <= 0.8x nginx"),
    ("proxy_pipe", "cpu", "haproxy", "<=", 1.0, "HTTP proxy pipelined: CPU/request <= 1.0x haproxy"),
    ("tcp_bulk", "rate", "haproxy", ">=", 1.0, "TCP proxy 1 GiB: throughput >= 1.0x haproxy"),
    ("tcp_bulk", "cpu", "haproxy", "<=", 1.0, "TCP proxy 1 GiB: CPU/GiB <= 1.0x haproxy"),
    ("tls_full_ecdsa", "cpu", "nginx", "<=", 1.0, "TLS full handshake ECDSA: CPU <= 1.0x nginx"),
    ("tls_full_rsa", "cpu", "nginx", "<=", 1.0, "TLS full handshake RSA: CPU <= 1.0x nginx"),
    ("tls_resume", "cpu", "nginx", "<=", 1.0, "TLS resumed handshake: CPU <= 1.0x nginx"),
    ("tls_ka", "cpu", "nginx", "<=", 0.85, "TLS keep-alive: CPU/request <= 0.85x nginx"),
    ("tls_1m", "rate", "nginx", ">=", 1.0, "TLS 1 MiB file: throughput >= 1.0x nginx"),
    ("tls_scale", "scaling", None, ">=", 1.8, "TLS handshakes/s, 2 workers / 1: >= 1.8x"),
]


def log(msg):
    B.log(msg)


def ktls_state():
    """Whether the kernel could do kTLS here (its tls module loaded)."""
    if os.path.exists("/sys/module/tls") or os.path.exists("/proc/net/tls_stat"):
        return "available in the kernel (tls module loaded); not used by herd, nor configured for nginx"
    return "off: the kernel has no tls module loaded (/sys/module/tls absent)"


# ------------------------------------------------------------ processes

class PeerServer(B.Server):
    """A server of a peer scenario: its configuration is conf/NAME-ROLE.conf.in
    with the extra substitutions given; it is ready when `probe` says so."""

    def __init__(self, name, role, tag, work, www, port, extra, ready="http", cpus=SERVER_CPUS):
        base = os.path.join(work, tag)
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)
        B.Server.__init__(self, name, base, www, port)
        self.role, self.extra, self.ready, self.cpus = role, extra, ready, cpus
        self.tag = tag

    def subst(self):
        v = B.Server.subst(self)
        v.update(self.extra)
        return v

    def render(self):
        with open(os.path.join(B.CONF, "%s-%s.conf.in" % (self.name, self.role))) as f:
            text = f.read()
        for k, val in self.subst().items():
            text = text.replace(k, val)
        with open(self.conf, "w") as f:
            f.write(text)

    def binary(self):
        if self.name == "haproxy":
            return shutil.which("haproxy") or "/usr/sbin/haproxy"
        return B.Server.binary(self)

    def test_cmd(self):
        if self.name == "haproxy":
            return [self.binary(), "-c", "-q", "-f", self.conf]
        return B.Server.test_cmd(self)

    def run_cmd(self):
        if self.name == "haproxy":
            return [self.binary(), "-db", "-f", self.conf]
        return B.Server.run_cmd(self)

    def probe(self):
        if self.ready == "tcp":
            return B.tcp_connects(self.port), "does not accept connections"
        return B.Server.probe(self)

    def prepare(self):
        if self.role == "tcp" and self.name == "nginx" and \
                not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
            self.skip = "nginx's stream module is not installed (libnginx-mod-stream)"
            return
        if not os.access(self.binary(), os.X_OK):
            self.skip = "not installed (%s missing)" % self.binary()
            return
        if not self.configure():
            return
        if self.start():
            self.stop()


class Aux:
    """A helper process of the run (an upstream, the sink, MariaDB, the
    application server): its own session, recorded for bench/run's trap."""

    def __init__(self, name, cmd, port, cpus, logdir, ready_line=None, timeout=30):
        self.name, self.port = name, port
        self.logpath = os.path.join(logdir, name + ".log")
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if ready_line else self.logf,
                                     stderr=self.logf, start_new_session=True, cwd=logdir)
        if B.PIDS_FILE:
            with open(B.PIDS_FILE, "a") as f:
                f.write("%d\n" % self.proc.pid)
        self.error = None
        deadline = time.monotonic() + timeout
        if ready_line:
            line = B._readline_timeout(self.proc, timeout)
            if not line or not line.decode(errors="replace").startswith(ready_line):
                self.error = "%s did not start: %r" % (name, line)
        while self.error is None:
            if self.proc.poll() is not None:
                self.error = "%s exited with status %d (see %s)" % (name, self.proc.returncode,
                                                                   self.logpath)
            elif B.tcp_connects(port):
                break
            elif time.monotonic() > deadline:
                self.error = "%s did not accept connections within %d s" % (name, timeout)
            else:
                time.sleep(0.1)
        if self.error:
            self.stop()

    def pids(self):
        return B.server_pids(self.proc.pid) if self.proc else set()

    def stop(self):
        if not self.proc:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
        self.logf.close()


class Direct:
    """The upstream itself, measured without a proxy (seeds scenarios)."""
    name = "direct"
    skip = None
    version = "no proxy"
    notes = []

    def __init__(self, port):
        self.port = port

    def pids(self):
        return set()

    def alive(self):
        return True

    def start(self):
        return True

    def stop(self):
        pass

    def error_log_excerpt(self):
        return [], 0


# ---------------------------------------------------------------- context

class Context:
    """What the peer scenarios share in one run: ports, certificates, the
    upstream processes (started when first needed, stopped at the end) and
    one prepared server per configuration."""

    def __init__(self, work, www, first_port):
        self.work, self.www = work, www
        self.next_port = first_port
        self.servers = {}       # key -> PeerServer
        self.aux = {}           # name -> Aux, or a str: why it could not start
        self.certs = None
        self.logdir = os.path.join(work, "aux")
        os.makedirs(self.logdir, exist_ok=True)

    def port(self):
        while not B.port_free(self.next_port):
            self.next_port += 1
        self.next_port += 1
        return self.next_port - 1

    def close(self):
        for a in self.aux.values():
            if isinstance(a, Aux):
                a.stop()

    # certificates -----------------------------------------------------
    def cert(self, kind):
        """(certificate, key) paths of a self-signed ECDSA P-256 or RSA-2048
        certificate for 127.0.0.1, made once per run; or a str on failure."""
        if self.certs is None:
            self.certs = self.make_certs()
        if isinstance(self.certs, str):
            return self.certs
        return self.certs[kind]

    def make_certs(self):
        d = os.path.join(self.work, "certs")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        if not shutil.which("openssl"):
            return "the openssl command is missing"
        out = {}
        for kind, alg in (("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                          ("rsa", ["-newkey", "rsa:2048"])):
            cert, key = os.path.join(d, kind + ".pem"), os.path.join(d, kind + ".key")
            r = subprocess.run(["openssl", "req", "-x509"] + alg +
                               ["-nodes", "-keyout", key, "-out", cert, "-days", "2",
                                "-subj", "/CN=localhost", "-addext",
                                "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                return "openssl req failed: %s" % r.stderr.strip()[-200:]
            for p in (cert, key):
                os.chmod(p, 0o644)
            out[kind] = (cert, key)
        return out

    # upstreams ----------------------------------------------------------
    def upstream(self, name):
        """The Aux process `name` (floor, sink, mariadb, app), started when
        first asked for; a str says why it is not there."""
        if name not in self.aux:
            self.aux[name] = self.start_aux(name)
            a = self.aux[name]
            log("upstream %s: %s" % (name, a if isinstance(a, str) else
                                     "port %d, CPU %s" % (a.port, AUX_CPUS)))
        return self.aux[name]

    def start_aux(self, name):
        if name == "floor":
            if not B.FLOOR:
                return "the floor is not built: %s" % (B.FLOOR_SKIP or "no FLOOR")
            port = self.port()
            a = Aux("floor", [B.FLOOR, str(port)], port, AUX_CPUS, self.logdir)
        elif name == "sink":
            port = self.port()
            a = Aux("sink", [sys.executable, os.path.join(B.HERE, "bulk.py"), "sink", str(port)],
                    port, AUX_CPUS, self.logdir, ready_line="READY")
        elif name == "mariadb":
            return self.start_mariadb()
        elif name == "app":
            db = self.upstream("mariadb")
            if isinstance(db, str):
                return db
            missing = missing_modules(("aiohttp", "aiomysql"))
            if missing:
                return "python3 module(s) missing: %s (python3-aiohttp, python3-aiomysql)" % missing
            port = self.port()
            a = Aux("app", [sys.executable, os.path.join(B.HERE, "seeds_app.py"), str(port),
                            str(db.port), str(SEEDS_POOL)], port, AUX_CPUS, self.logdir)
            if not a.error:
                try:
                    st, _, body = B.http_get(port, "/hello", timeout=5)
                    if st != 200 or body != B.HELLO:
                        a.error = "the application server answered %d %r" % (st, body[:60])
                except (OSError, B.http.client.HTTPException) as e:
                    a.error = "the application server does not answer: %s" % e
                if a.error:
                    a.stop()
        else:
            raise ValueError(name)
        return a.error or a

    def start_mariadb(self):
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        install = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
        if not os.access(mariadbd, os.X_OK) or not os.access(install, os.X_OK):
            return "MariaDB is not installed (mariadb-server)"
        if missing_modules(("pymysql",)):
            return "python3 module pymysql missing (python3-pymysql)"
        d = os.path.join(self.work, "mariadb")
        data = os.path.join(d, "data")
        os.makedirs(d, exist_ok=True)
        import getpass
        user = getpass.getuser()
        try:
            r = subprocess.run([install, "--no-defaults", "--datadir=" + data, "--user=" + user,
                                "--auth-root-authentication-method=normal", "--skip-test-db"],
                               capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            return "mariadb-install-db timed out"
        if r.returncode != 0:
            return "mariadb-install-db failed: %s" % (r.stderr + r.stdout).strip()[-200:]
        port = self.port()
        cmd = [mariadbd, "--no-defaults", "--user=" + user, "--datadir=" + data,
               "--port=%d" % port, "--bind-address=127.0.0.1",
               "--socket=" + os.path.join(d, "mariadb.sock"),
               "--pid-file=" + os.path.join(d, "mariadb.pid"),
               "--log-error=" + os.path.join(d, "error.log"),
               "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin",
               # the readiness probes connect and close without a handshake
               "--max-connect-errors=1000000",
               "--innodb-buffer-pool-size=32M", "--max-connections=1000"]
        a = Aux("mariadb", cmd, port, AUX_CPUS, self.logdir, timeout=60)
        return a.error or a

    # servers --------------------------------------------------------------
    def server(self, name, role, upstream_port=None, cert=None, workers=1, cpus=SERVER_CPUS):
        """The prepared PeerServer for this configuration (made and checked once)."""
        key = (name, role, upstream_port, cert, workers, cpus)
        if key in self.servers:
            return self.servers[key]
        extra = {"@KEEPALIVE@": str(KEEPALIVE), "@WORKERS@": str(workers)}
        if upstream_port:
            extra["@UPSTREAM@"] = str(upstream_port)
        ready = "tcp" if role == "tcp" else "http"
        tag = "%s-%s%s%s" % (role, name, "-" + cert if cert else "", "-w%d" % workers)
        if upstream_port:
            tag += "-u%d" % upstream_port
        s = PeerServer(name, role, tag, self.work, self.www, self.port(), extra, ready, cpus)
        if cert:
            c = self.cert(cert)
            if isinstance(c, str):
                s.skip = c
            else:
                extra["@CERT@"], extra["@KEY@"] = c
                s.ready = "https"
        if not s.skip:
            s.prepare()
        log("%-8s %-5s %-6s port %d: %s" % (name, role, cert or "", s.port,
                                            "SKIPPED: " + s.skip if s.skip else "ok (%s)" % s.version))
        self.servers[key] = s
        return s


def missing_modules(names):
    r = subprocess.run([sys.executable, "-c", "import " + ", ".join(names)], capture_output=True,
                       text=True, timeout=60)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


# -------------------------------------------------------------- measuring

def wanted(sc):
    """The participants of scenario sc that SERVERS lets run."""
    return [n for n in SCENARIOS[sc]["servers"] if n == "direct" or n in B.SERVERS]


def started(srv, fn):
    """Start srv, measure with fn(srv), stop it: (result, note)."""
    if srv.skip:
        return None, srv.skip
    if not srv.start():
        note, srv.skip = srv.skip, None
        return None, note
    try:
        return fn(srv)
    finally:
        srv.stop()


def run_cmd(cmd, timeout):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "%s timed out" % os.path.basename(cmd[3] if cmd[0] == "taskset" else cmd[0])
    except OSError as e:
        return None, str(e)
    return out, None


def with_cpu(srv, fn):
    """fn() -> (dict, note) measured; adds cpu_s, the server's CPU seconds."""
    pids0 = srv.pids()
    t0 = B.cpu_ticks(pids0)
    r, note = fn()
    t1 = B.cpu_ticks(srv.pids() | pids0)
    if r is not None:
        r["cpu_s"] = (t1 - t0) / float(B.CLK_TCK)
        if not srv.alive():
            return None, "server died during the run"
    return r, note


def measure_wrk(srv, sc):
    """A wrk scenario (proxy, seeds_http, tls_wrk): rate and CPU per unit."""
    r, note = B.measure_wrk(srv, sc)
    if r is None:
        return r, note
    out = dict(rate=r["rps"], cpu=r["cpu"], errors=r["errors"], p50_us=r["p50_us"],
               p99_us=r["p99_us"], requests=r["requests"], cpu_s=r["cpu_s"])
    if sc.get("rate") == "MiB/s":
        out["rate"] = r["rps"] * sc["size"] / MIB
        out["cpu"] = r["cpu"] * MIB / sc["size"]
    if srv.name == "direct":
        out["cpu"] = None
    return out, note


def h2load(srv, n, cpus=CLIENT_CPUS, timeout=60, threads=1):
    """n requests, each on a new connection. h2load's timing mode (-D) does
    not end when it has to reconnect (h2load 1.52): the count is given."""
    url = "https://127.0.0.1:%d/hello" % srv.port
    cmd = ["h2load", "--h1", "-H", "Connection: close", "-c", str(B.CONNECTIONS),
           "-t", str(threads), "-n", str(n), url]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    out, err = run_cmd(cmd, timeout)
    if err:
        return None, err
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out.stdout)
    t = re.search(r"finished in ([\d.]+)(m?s)", out.stdout)
    if not m or not t:
        return None, "h2load failed: %s" % (out.stderr.strip() or out.stdout.strip())[-200:]
    ok = int(m.group(4))
    dur = float(t.group(1)) / (1000.0 if t.group(2) == "ms" else 1.0)
    if ok <= 0:
        return None, "h2load: no request succeeded (%s)" % m.group(0)
    return dict(ok=ok, seconds=dur, errors=int(m.group(5)) + int(m.group(6)) + int(m.group(7))), None


def measure_h2load(srv, cpus=CLIENT_CPUS, threads=1):
    # a warm-up that also tells how many handshakes make DURATION seconds
    w, note = h2load(srv, max(200, 4 * B.CONNECTIONS), cpus, timeout=60 + 10 * max(1, B.WARMUP),
                     threads=threads)
    if w is None:
        return w, note
    n = max(4 * B.CONNECTIONS, int(w["ok"] / w["seconds"] * B.DURATION))
    time.sleep(0.2)
    r, note = with_cpu(srv, lambda: h2load(srv, n, cpus, timeout=60 + 10 * B.DURATION,
                                           threads=threads))
    if r is None:
        return r, note
    return dict(rate=r["ok"] / r["seconds"], cpu=r["cpu_s"] * 1e6 / r["ok"], errors=r["errors"],
                requests=r["ok"], cpu_s=r["cpu_s"]), note


def s_time(srv, seconds):
    """RESUME_CLIENTS `openssl s_time -reuse` at once (each one connection at
    a time, resuming its first session): the server is kept busy, as h2load
    keeps it in the full-handshake scenarios."""
    cmd = ["taskset", "-c", CLIENT_CPUS, "openssl", "s_time", "-connect",
           "127.0.0.1:%d" % srv.port, "-www", "/hello", "-reuse", "-time", str(seconds)]
    t0 = time.monotonic()
    procs = []
    try:
        for _ in range(RESUME_CLIENTS):
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        outs = [p.communicate(timeout=seconds + 60) for p in procs]
    except subprocess.TimeoutExpired:
        return None, "s_time timed out"
    except OSError as e:
        return None, str(e)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    n = resumed = 0
    for stdout, stderr in outs:
        m = re.search(r"(\d+) connections in [\d.]+ real seconds", stdout)
        if not m or int(m.group(1)) == 0:
            return None, "s_time failed: %s" % (stderr.strip() or stdout.strip())[-200:]
        n += int(m.group(1))
        # s_time prints one character per connection: 'r' when it was
        # resumed (else '*', 't' or '3', the protocol of a full handshake)
        resumed += sum(run.count("r") for run in re.findall(r"(?m)^[rt3*]+$", stdout))
    return dict(ok=n, seconds=wall, resumed=resumed), None


def measure_s_time(srv):
    if B.WARMUP > 0:
        s_time(srv, B.WARMUP)
    r, note = with_cpu(srv, lambda: s_time(srv, B.DURATION))
    if r is None:
        return r, note
    frac = r["resumed"] / float(r["ok"])
    if frac < 0.9:
        note = "only %d of %d connections were resumed" % (r["resumed"], r["ok"])
    return dict(rate=r["ok"] / r["seconds"], cpu=r["cpu_s"] * 1e6 / r["ok"], errors=0,
                requests=r["ok"], resumed_frac=frac, cpu_s=r["cpu_s"]), note


def bulk_send(port, size):
    cmd = ["taskset", "-c", CLIENT_CPUS, sys.executable, os.path.join(B.HERE, "bulk.py"), "send",
           str(port), str(size)]
    out, err = run_cmd(cmd, 600)
    if err:
        return None, err
    m = re.search(r"BULK bytes=(\d+) seconds=([\d.]+) ack=(\d)", out.stdout)
    if not m:
        return None, "bulk.py send failed: %s" % (out.stderr.strip() or out.stdout.strip())[-200:]
    if m.group(3) != "1":
        return None, "the sink's acknowledgement did not come back through the proxy"
    return dict(bytes=int(m.group(1)), seconds=float(m.group(2))), None


def measure_bulk(srv):
    bulk_send(srv.port, min(BULK_SIZE, 64 * MIB))     # warm-up
    r, note = with_cpu(srv, lambda: bulk_send(srv.port, BULK_SIZE))
    if r is None:
        return r, note
    return dict(rate=r["bytes"] / float(MIB) / r["seconds"], cpu=r["cpu_s"] * GIB / r["bytes"],
                errors=0, cpu_s=r["cpu_s"]), note


def seeds_query(port):
    cmd = ["taskset", "-c", CLIENT_CPUS, sys.executable, os.path.join(B.HERE, "seeds_client.py"),
           str(port), str(QUERIES)]
    out, err = run_cmd(cmd, 600)
    if err:
        return None, err
    m = re.search(r"SEEDS queries=(\d+) seconds=([\d.]+)", out.stdout)
    if not m:
        return None, "seeds_client.py failed: %s" % (out.stderr.strip() or out.stdout.strip())[-200:]
    return dict(n=int(m.group(1)), seconds=float(m.group(2))), None


def measure_seeds_tcp(srv):
    r, note = with_cpu(srv, lambda: seeds_query(srv.port))
    if r is None:
        return r, note
    return dict(rate=r["n"] / r["seconds"], per_query_us=r["seconds"] * 1e6 / r["n"],
                cpu=None if srv.name == "direct" else r["cpu_s"] * 1e6 / r["n"], errors=0,
                cpu_s=r["cpu_s"]), note


def run_scenario(ctx, sc, rep):
    """Measure scenario sc once for each participant (order rotated by rep):
    [(participant, result or None, note)]."""
    d = dict(SCENARIOS[sc])
    names = wanted(sc)
    kind = d["kind"]
    if kind in ("proxy", "seeds_http", "bulk", "seeds_tcp"):
        up_name = {"proxy": "floor", "seeds_http": "app", "bulk": "sink",
                   "seeds_tcp": "mariadb"}[kind]
        up = ctx.upstream(up_name)
        if isinstance(up, str):
            return [(n, None, "upstream %s: %s" % (up_name, up)) for n in names]
        role = "proxy" if kind in ("proxy", "seeds_http") else "tcp"
        cpus = SEEDS_TCP_CPUS if kind == "seeds_tcp" else SERVER_CPUS
        parts = [Direct(up.port) if n == "direct" else ctx.server(n, role, up.port, cpus=cpus)
                 for n in names]
    elif kind == "scale":
        parts = []
        for n in names:
            parts.append((ctx.server(n, "tls", cert=d["cert"], workers=1, cpus=SERVER_CPUS),
                          ctx.server(n, "tls", cert=d["cert"], workers=2,
                                     cpus="0,1" if NPROC > 1 else "0")))
    else:
        parts = [ctx.server(n, "tls", cert=d["cert"]) for n in names]
    if kind == "seeds_http":
        d["connections"] = SEEDS_CONNECTIONS
    # "direct" first in every repeat (the others are compared with it)
    first = [p for p in parts if getattr(p, "name", "") == "direct"]
    rest = [p for p in parts if p not in first]
    k = rep % len(rest) if rest else 0
    order = first + rest[k:] + rest[:k]
    out = []
    for p in order:
        if kind == "scale":
            name = p[0].name
            r, note = measure_scale(*p)
        else:
            name = p.name
            fn = {"proxy": lambda s: measure_wrk(s, d), "seeds_http": lambda s: measure_wrk(s, d),
                  "tls_wrk": lambda s: measure_wrk(s, d), "bulk": measure_bulk,
                  "seeds_tcp": measure_seeds_tcp, "h2load": measure_h2load,
                  "s_time": measure_s_time}[kind]
            r, note = started(p, fn)
        out.append((name, r, note))
        time.sleep(0.5)
    return out


def measure_scale(one, two):
    r1, n1 = started(one, measure_h2load)
    if r1 is None:
        return None, "1 worker: %s" % n1
    # two workers on CPUs 0 and 1: the client cannot have a CPU of its own
    # on a 2-core machine, so it runs unpinned beside them, with two threads
    # (one thread could be what limits the pace)
    r2, n2 = started(two, lambda s: measure_h2load(s, cpus=None if NPROC < 3 else "2",
                                                   threads=2 if NPROC < 3 else 1))
    if r2 is None:
        return None, "2 workers: %s" % n2
    note = "; ".join(x for x in (n1 and "1 worker: " + n1, n2 and "2 workers: " + n2) if x)
    return dict(rate=r2["rate"], cpu=r2["cpu"], rate1=r1["rate"], cpu1=r1["cpu"],
                scaling=r2["rate"] / r1["rate"], cpu_scaling=r2["cpu"] / r1["cpu"],
                errors=r1["errors"] + r2["errors"],
                cpu_s=r2["cpu_s"]), note or None


# -------------------------------------------------------------- reporting

KEYS = ("rate", "cpu", "errors", "p50_us", "p99_us", "per_query_us", "rate1", "cpu1", "scaling",
        "cpu_scaling", "resumed_frac")


def summarize(ids, results, notes):
    rows = {}
    for sc in ids:
        for n in wanted(sc):
            runs = results.get((sc, n), [])
            row = dict(runs=len(runs))
            for k in KEYS:
                vals = [r[k] for r in runs if r.get(k) is not None]
                row[k] = statistics.median(vals) if vals else None
            row["note"] = "; ".join(dict.fromkeys(notes.get((sc, n), [])))
            rows[(sc, n)] = row
        for n in wanted(sc):
            row = rows[(sc, n)]
            for ref in wanted(sc):
                base = rows.get((sc, ref))
                row["rate_vs_" + ref] = B.ratio(row["rate"], base and base["rate"])
                row["cpu_vs_" + ref] = B.ratio(row["cpu"], base and base["cpu"])
            direct = rows.get((sc, "direct"))
            row["overhead_us"] = None
            if direct and row["per_query_us"] is not None and direct["per_query_us"] is not None \
                    and n != "direct":
                row["overhead_us"] = row["per_query_us"] - direct["per_query_us"]
    return rows


def check_targets(ids, rows):
    out = []
    for sc, metric, against, op, bound, text in TARGETS:
        if sc not in ids:
            continue
        r = rows.get((sc, "herd"))
        if against is None:
            v = r and r.get(metric)
        else:
            v = r and r.get("%s_vs_%s" % (metric, against))
        if v is None:
            out.append((text, None, "FAIL (no herd/%s figure)" % (against or metric)))
            continue
        ok = v >= bound if op == ">=" else v <= bound
        out.append((text, v, "PASS" if ok else "FAIL"))
    return out


def label(n):
    return {"direct": "direct (no proxy)"}.get(n, n)


def table(sc, rows):
    d = SCENARIOS[sc]
    refs = d["refs"]
    if d["kind"] == "scale":
        L = ["| Server | Handshakes/s, 1 worker (CPU 0) | 2 workers (CPUs 0-1) | 2 ÷ 1 "
             "| CPU µs/handshake, 1 worker | 2 workers | 2 ÷ 1 | Errors | Note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for n in wanted(sc):
            r = rows[(sc, n)]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label(n), B.fmt(r["rate1"], ",.0f"), B.fmt(r["rate"], ",.0f"),
                B.xfmt(r["scaling"]), B.fmt(r["cpu1"], ".1f"), B.fmt(r["cpu"], ".1f"),
                B.xfmt(r["cpu_scaling"]),
                B.fmt(r["errors"], ".0f"), r["note"] or ("no successful run" if not r["runs"] else "")))
        return L
    extra = d["kind"] == "seeds_tcp"
    head = "| Server | %s | %s | %s | %s |" % (
        d["rate"], " | ".join("vs %s" % x for x in refs), d["cpu"],
        " | ".join("vs %s" % x for x in refs))
    if extra:
        head += " µs/query | overhead vs direct (µs/query) |"
    head += " Errors | Note |"
    L = [head, "|---|" + "---:|" * (2 + 2 * len(refs) + (2 if extra else 0)) + "---:|---|"]
    fmt_rate = ",.0f"
    fmt_cpu = ".3f" if d["cpu"] == "CPU s/GiB" else ".2f"
    for n in wanted(sc):
        r = rows[(sc, n)]
        cells = [B.fmt(r["rate"], fmt_rate)] + [B.xfmt(r.get("rate_vs_" + x)) for x in refs]
        cells += [B.fmt(r["cpu"], fmt_cpu)] + [B.xfmt(r.get("cpu_vs_" + x)) for x in refs]
        if extra:
            cells += [B.fmt(r["per_query_us"], ".1f"), B.fmt(r["overhead_us"], "+.1f")]
        cells.append(B.fmt(r["errors"], ".0f"))
        note = r["note"] or ("no successful run" if not r["runs"] else "")
        L.append("| %s | %s | %s |" % (label(n), " | ".join(cells), note))
    return L


NOTES = {
    "proxy": "Each proxy (one worker, CPU 0) forwards to the floor (CPU %s), which answers "
             "every request head with the same 89-byte response; wrk on CPU %s. nginx: "
             "`proxy_http_version 1.1`, upstream `keepalive %d`, `proxy_set_header Connection \"\"`; "
             "herd: upstream `keepalive = %d`; haproxy 2.6: `nbthread 1`, `http-reuse safe`. "
             "CPU is the proxy's own (all its processes), divided by the requests wrk completed."
             % (AUX_CPUS, CLIENT_CPUS, KEEPALIVE, KEEPALIVE),
    "bulk": "One connection carries the bytes from `bulk.py send` (CPU %s) through the proxy "
            "(CPU 0) to `bulk.py sink` (CPU %s), which drops them and answers one byte at the "
            "end, so the time is that of the last byte. CPU s/GiB is the proxy's CPU time "
            "per GiB carried. haproxy: `mode tcp`, `option splice-auto`; nginx: the stream "
            "module." % (CLIENT_CPUS, AUX_CPUS),
    "seeds_http": "wrk (%%d connections, CPU %s) → proxy (CPU 0) → `seeds_app.py` (aiohttp, "
                  "aiomysql pool of %d, CPU %s) → MariaDB (CPU %s, started by the run in its "
                  "temporary directory). \"direct\" is wrk to the application server itself. "
                  "The application server is the bottleneck; the proxy's CPU/request is what "
                  "a proxy adds." % (CLIENT_CPUS, SEEDS_POOL, AUX_CPUS, AUX_CPUS),
    "seeds_tcp": "`seeds_client.py` (pymysql, CPU %s) runs `SELECT 1` %d times, each waiting for "
                 "its answer, on one connection to MariaDB (CPU %s) directly or through the "
                 "proxy (CPU %s: one query at a time, a wake-up across CPUs at each hop would "
                 "cost more than the proxy's work; bench/README.md). Overhead = µs/query "
                 "through the proxy − µs/query direct (medians of the same run)."
                 % (CLIENT_CPUS, QUERIES, AUX_CPUS, SEEDS_TCP_CPUS),
    "h2load": "`h2load --h1 -H 'Connection: close' -c %d -t 1 -n N` on CPU %s, N the "
              "handshakes of about %%d s at the pace of a first, warm-up run: every "
              "request on a new connection with a full handshake (h2load does not resume "
              "sessions). Self-signed certificates made by the run; each server's default "
              "TLS settings (TLS 1.3 negotiated)." % (B.CONNECTIONS, CLIENT_CPUS),
    "s_time": "%d `openssl s_time -reuse -www /hello` at once on CPU %s, each one "
              "connection at a time resuming its first session (s_time marks each resumed "
              "connection; a row says so when fewer than 90%% were). CPU per handshake is "
              "the server's." % (RESUME_CLIENTS, CLIENT_CPUS),
    "tls_wrk": "wrk over TLS (`https://`), CPU %s. kTLS: %s." % (CLIENT_CPUS, ktls_state()),
    "scale": "h2load as in the full-handshake tables. One worker: server on CPU 0, h2load on "
             "CPU %s. Two workers (herd `workers = 2`, nginx `worker_processes 2`, h2o "
             "`num-threads: 2`) on CPUs 0 and 1, and h2load %s. RSA-2048 because the server's "
             "signature then dominates each handshake. CPU/handshake 2 ÷ 1 near 1.0× means "
             "the server's own work per handshake does not grow with a second worker (no "
             "contention between them), whatever the client allows." % (
                 CLIENT_CPUS, "on CPU 2" if NPROC > 2 else
                 "with two threads, unpinned beside them: this machine has 2 CPUs, so the "
                 "client takes part of the servers' CPU and handshakes/s 2 ÷ 1 cannot reach "
                 "2× (at best about 2 ÷ (1 + client's CPU per handshake ÷ server's)); it is "
                 "a lower bound"),
}


def markdown(ids, rows):
    L = ["# Proxy and TLS scenarios\n",
         "Each server alone with one worker pinned to CPU 0 (in `seeds_tcp`: CPU %s), its "
         "clients on CPU %s and its upstream on CPU %s (the same placement for every server); "
         "medians of %d run(s); "
         "ratios to the peers measured in the same run (\"vs nginx\", \"vs haproxy\", "
         "\"vs direct\"): for throughput higher is better, for CPU lower is better.\n"
         % (SEEDS_TCP_CPUS, CLIENT_CPUS, AUX_CPUS, B.REPEAT)]
    for sc in ids:
        d = SCENARIOS[sc]
        L.append("## %s\n" % d["title"])
        L += table(sc, rows)
        note = NOTES[d["kind"]]
        if "%d" in note:
            note = note % (SEEDS_CONNECTIONS if d["kind"] == "seeds_http" else B.DURATION)
        L.append("\n" + note + "\n")
    return L


def write_csv(path, ids, rows):
    import csv
    cols = ["scenario", "server", "runs", "rate", "rate_unit", "cpu", "cpu_unit",
            "rate_ratio_to_nginx", "cpu_ratio_to_nginx", "rate_ratio_to_haproxy",
            "cpu_ratio_to_haproxy", "rate_ratio_to_direct", "us_per_query",
            "overhead_us_per_query", "scaling_2_workers", "rate_1_worker", "errors", "note"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for sc in ids:
            d = SCENARIOS[sc]
            for n in wanted(sc):
                r = rows[(sc, n)]

                def c(v, spec=".4f"):
                    return "" if v is None else format(v, spec)
                w.writerow([sc, n, r["runs"], c(r["rate"], ".2f"), d["rate"], c(r["cpu"]), d["cpu"],
                            c(r.get("rate_vs_nginx")), c(r.get("cpu_vs_nginx")),
                            c(r.get("rate_vs_haproxy")), c(r.get("cpu_vs_haproxy")),
                            c(r.get("rate_vs_direct")), c(r["per_query_us"], ".2f"),
                            c(r["overhead_us"], ".2f"), c(r["scaling"]), c(r["rate1"], ".2f"),
                            c(r["errors"], ".0f"), r["note"]])


def write_runs_csv(path, raw):
    import csv
    cols = ["repeat", "scenario", "server"] + list(KEYS) + ["cpu_s", "requests", "note"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for rep, sc, n, r, note in raw:
            r = r or {}
            w.writerow([rep, sc, n] + [("%.4f" % r[k]) if isinstance(r.get(k), float)
                                       else r.get(k, "") for k in KEYS + ("cpu_s", "requests")]
                       + [note or ""])


def chart_data(ids, rows):
    """(scenario labels, series names, values) for the chart's second panel:
    throughput relative to nginx in the same run (tls_scale left out)."""
    ids = [sc for sc in ids if SCENARIOS[sc]["kind"] != "scale"]
    series = [n for n in ("herd", "nginx", "haproxy", "h2o")
              if any(n in wanted(sc) for sc in ids)]
    data = []
    for sc in ids:
        vals = []
        for n in series:
            r = rows.get((sc, n))
            vals.append(None if r is None else r.get("rate_vs_nginx"))
        data.append((SCENARIOS[sc]["short"], vals))
    return series, data


def run_all(ids, work, www, first_port, on_result):
    """Every repeat of the peer scenarios ids; on_result(rep, sc, name, r, note)
    after each measurement. Returns (rows, targets, servers seen)."""
    ctx = Context(work, www, first_port)
    results, notes = {}, {}
    try:
        for rep in range(B.REPEAT):
            for sc in ids:
                for name, r, note in run_scenario(ctx, sc, rep):
                    if r is None:
                        notes.setdefault((sc, name), []).append(note)
                    else:
                        results.setdefault((sc, name), []).append(r)
                        if note:
                            notes.setdefault((sc, name), []).append(note)
                    on_result(rep + 1, sc, name, r, note)
    finally:
        ctx.close()
    rows = summarize(ids, results, notes)
    return rows, check_targets(ids, rows), ctx
