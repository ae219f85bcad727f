#!/usr/bin/python3
"""herd benchmark harness: herd against nginx, lighttpd, h2o and the floor
(and, in the proxy and TLS scenarios of peers.py, haproxy).

Called by bench/run (which installs the packages, raises the file limit and
cleans up on exit). Everything it needs comes from the environment:

  HERD        herd binary (bench/run sets it to the binary it brought up
              to date; default /tmp/bench-build/src/herd)
  DURATION    seconds per measured wrk run (10)
  WARMUP      seconds of the warm-up wrk run before each measured run (1)
  REPEAT      measurements per scenario and server; the median is reported (3)
  SERVERS     servers to run, in order (herd nginx lighttpd h2o floor haproxy;
              haproxy takes part in the proxy scenarios only)
  SCENARIOS   scenarios to run: ids, or the groups classic (ka pipe static4k
              static1m close idle), proxy and tls (peers.py), all (default)
  PROXY_KEEPALIVE BULK_SIZE QUERIES SEEDS_CONNECTIONS SEEDS_POOL
              settings of the proxy scenarios (peers.py)
  CONNECTIONS wrk connections (50)
  PIPELINE    requests per write in the pipelined scenario (16)
  IDLE_CONNS  idle keep-alive connections in the idle scenario (10000)
  PORT_BASE   first loopback port to try (18081)
  H2O_HELLO   mruby (fixed body from an mruby handler) or file (hello.txt)
  NGINX_OPEN_FILE_CACHE  0 (default: nginx as configured out of the box) or 1
  OUT         output directory (bench/out)
  FLOOR       the floor's binary, built by bench/run from FLOOR_SRC into its
              temporary directory; FLOOR_SKIP the reason when it could not
              be, FLOOR_VERSION what was built (source checksum, compiler);
              the floor is measured in ka and pipe only (FLOOR_SCENARIOS)
  PIDS_FILE   where the process-group ids of started servers are listed,
              for bench/run's EXIT trap
  STRICT      1: exit 1 when a target fails

Every server runs alone, with one worker process pinned to CPU 0; wrk and
the idle-connection client are pinned to CPU 1. For each repeat, each
scenario, each server (in an order rotated per repeat): start the server,
warm up, measure, stop it. Each measurement reads the server's CPU time
(utime+stime of all its processes) before and after.
"""
import csv
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
CONF = os.path.join(BENCH, "conf")
CLK_TCK = os.sysconf("SC_CLK_TCK")
HELLO = b"Hello, world!"


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        sys.exit("bench: %s must be an integer" % name)


DURATION = env_int("DURATION", 10)
WARMUP = env_int("WARMUP", 1)
REPEAT = max(1, env_int("REPEAT", 3))
CONNECTIONS = env_int("CONNECTIONS", 50)
PIPELINE = env_int("PIPELINE", 16)
IDLE_CONNS = env_int("IDLE_CONNS", 10000)
PORT_BASE = env_int("PORT_BASE", 18081)
HERD = os.environ.get("HERD", "/tmp/bench-build/src/herd")
H2O_HELLO = os.environ.get("H2O_HELLO", "mruby")
NGINX_OFC = os.environ.get("NGINX_OPEN_FILE_CACHE", "0") != "0"
FLOOR = os.environ.get("FLOOR", "")
FLOOR_SKIP = os.environ.get("FLOOR_SKIP", "")
FLOOR_VERSION = os.environ.get("FLOOR_VERSION", "")
FLOOR_SRC = os.environ.get("FLOOR_SRC", "")
OUT = os.environ.get("OUT", os.path.join(BENCH, "out"))
PIDS_FILE = os.environ.get("PIDS_FILE")
STRICT = os.environ.get("STRICT", "0") == "1"
SERVERS = os.environ.get("SERVERS", "herd nginx lighttpd h2o floor haproxy").split()
# The plain scenarios (this file) and the proxy and TLS ones (peers.py);
# SCENARIOS may name groups of them: classic, proxy, tls, all (the default).
CLASSIC_IDS = ["ka", "pipe", "static4k", "static1m", "close", "idle", "gzip"]
PROXY_IDS = ["proxy_ka", "proxy_pipe", "tcp_bulk", "seeds_http", "seeds_tcp"]
TLS_IDS = ["tls_full_ecdsa", "tls_full_rsa", "tls_resume", "tls_ka", "tls_1m", "tls_scale"]
GROUPS = {"classic": CLASSIC_IDS, "proxy": PROXY_IDS, "tls": TLS_IDS,
          "all": CLASSIC_IDS + PROXY_IDS + TLS_IDS}


def expand_scenarios(words):
    out = []
    for w in words:
        for sc in GROUPS.get(w, [w]):
            if sc not in out:
                out.append(sc)
    return out


ALL_IDS = expand_scenarios(os.environ.get("SCENARIOS", "all").split())
SCENARIO_IDS = [sc for sc in ALL_IDS if sc in CLASSIC_IDS]
PEER_IDS = [sc for sc in ALL_IDS if sc in PROXY_IDS + TLS_IDS]
# servers of the plain scenarios (haproxy takes part in proxy scenarios only)
CLASSIC_SERVERS = [n for n in SERVERS if n != "haproxy"]

SCENARIOS = {
    "ka": dict(title="Fixed 13-byte reply, %d keep-alive connections" % CONNECTIONS,
               short="keep-alive", path="/hello", script="report.lua", size=13),
    "pipe": dict(title="Fixed 13-byte reply, %d keep-alive connections, %d pipelined requests per write"
                 % (CONNECTIONS, PIPELINE),
                 short="pipelined", path="/hello", script="pipeline.lua", args=[str(PIPELINE)],
                 size=13),
    "static4k": dict(title="4 KiB static file, %d keep-alive connections" % CONNECTIONS,
                     short="4 KiB file", path="/4k.bin", script="report.lua", size=4096),
    "static1m": dict(title="1 MiB static file, %d keep-alive connections" % CONNECTIONS,
                     short="1 MiB file", path="/1m.bin", script="report.lua", size=1 << 20),
    "close": dict(title="Fixed 13-byte reply, Connection: close, %d connections" % CONNECTIONS,
                  short="Connection: close", path="/hello", script="report.lua",
                  headers=["Connection: close"], size=13),
    "idle": dict(title="%d idle keep-alive connections: resident memory per connection" % IDLE_CONNS,
                 short="idle memory"),
    # A scenario with `conf` runs each server on conf/NAME-CONF.conf.in, the
    # servers in `servers` only; `check` (port -> problem or None) runs
    # before it is measured.
    "gzip": dict(title="20 KiB HTML page gzipped on the fly (herd: once, then from its cache; "
                 "nginx: gzip on + gzip_static, no .gz), %d keep-alive connections" % CONNECTIONS,
                 short="gzip 20 KiB", path="/page.html", script="report.lua",
                 headers=["Accept-Encoding: gzip"], size=1024, conf="gzip",
                 servers=("herd", "nginx"), check=lambda port: gzip_problem(port),
                 na_note="not applicable: gzip is compared between herd and nginx"),
}

# The floor answers every request head with the fixed reply and serves no
# file: it is measured in these scenarios only.
FLOOR_SCENARIOS = ("ka", "pipe")
FLOOR_NA = "not applicable: the floor serves only the fixed reply (ka and pipe)"


def applies(name, sc):
    """Whether server `name` is measured in scenario `sc`."""
    if name not in SCENARIOS.get(sc, {}).get("servers", (name,)):
        return False
    return name != "floor" or sc in FLOOR_SCENARIOS


def html_page(size=20480):
    """A page of HTML that gzip shrinks about as much as a real one (4-6x)."""
    import random
    rnd = random.Random(11)
    words = ("herd nginx static file cache gzip page server route request response header "
             "client worker the a of to and in is for with on that by this").split()
    out = [b"<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n"]
    n = len(out[0])
    while n < size - 20:
        line = b"<p class=\"c%d\">%s</p>\n" % (rnd.randrange(40), " ".join(
            rnd.choice(words) for _ in range(rnd.randrange(4, 14))).encode())
        out.append(line)
        n += len(line)
    out.append(b"</body></html>\n")
    return b"".join(out)


PAGE = html_page()


def gzip_problem(port):
    """Why the server's answer to the gzip scenario is not a gzip of the
    page, or None."""
    import gzip
    try:
        st, hdrs, body = http_get(port, "/page.html", timeout=5,
                                  headers={"Accept-Encoding": "gzip"})
    except (OSError, http.client.HTTPException) as e:
        return "gzip check: %s" % e
    enc = dict((k.lower(), v) for k, v in hdrs).get("content-encoding")
    if st != 200 or enc != "gzip":
        return "/page.html with Accept-Encoding: gzip answered %d, Content-Encoding %s" % (st, enc)
    try:
        ok = gzip.decompress(body) == PAGE
    except (OSError, EOFError) as e:
        return "/page.html: bad gzip (%s)" % e
    return None if ok else "/page.html: the gzip is not the page"


# Targets, as ratios of herd to nginx in the same run:
# (scenario, metric, comparison, bound, text)
TARGETS = [
    ("pipe", "rps", ">=", 3.0, "pipelined fixed reply: requests/s >= 3x nginx"),
    ("ka", "cpu", "<=", 0.95, "keep-alive fixed reply: server CPU/request <= 0.95x nginx"),
    ("static4k", "rps", ">=", 1.4, "4 KiB static file: requests/s >= 1.4x nginx"),
    ("close", "cpu", "<=", 1.0, "Connection: close: server CPU/request <= 1.0x nginx"),
    ("idle", "mem", "<=", 1.0, "idle keep-alive memory per connection <= nginx's"),
    ("gzip", "cpu", "<=", 0.5, "20 KiB page gzipped: server CPU/request <= 0.5x nginx"),
]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def proc_stat(pid):
    """(ppid, sid, cpu ticks incl. waited-for children) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid=4, session=6, utime..cstime=14..17
    ppid, sid = int(fields[1]), int(fields[3])
    ticks = sum(int(x) for x in fields[11:15])
    return ppid, sid, ticks


def server_pids(leader):
    """The leader and every process of its session or below it."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                stats[int(name)] = st
    pids = set()
    for pid, (ppid, sid, _) in stats.items():
        if pid == leader or sid == leader:
            pids.add(pid)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in stats.items():
            if ppid in pids and pid not in pids:
                pids.add(pid)
                grew = True
    return pids


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        st = proc_stat(pid)
        if st:
            total += st[2]
    return total


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(names):
    ports, p = {}, PORT_BASE
    for n in names:
        while not port_free(p):
            p += 1
        ports[n] = p
        p += 1
    return ports


def http_get(port, path, timeout=2.0, headers=None, tls=False):
    if tls:
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheaders(), body
    finally:
        c.close()


def tcp_connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def raw_response_size(port, path):
    """Bytes of the whole response (status line, headers, body) to GET path."""
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        want = int(m.group(1)) if m else 0
        while len(body) < want:
            d = s.recv(65536)
            if not d:
                break
            body += d
        return len(head) + 4 + len(body)
    finally:
        s.close()


# ------------------------------------------------------------------ servers

class Server:
    """One server under test: how to configure, test, start and stop it."""

    def __init__(self, name, work, www, port):
        self.name, self.work, self.www, self.port = name, work, www, port
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        # lighttpd and h2o open their logs and pid file after dropping
        # privileges to nobody
        try:
            import pwd
            pw = pwd.getpwnam("nobody")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        except (KeyError, OSError):
            os.chmod(self.dir, 0o1777)
        self.conf = os.path.join(self.dir, name + ".conf")
        self.proc = None
        self.logf = None
        self.skip = None          # reason when the server cannot be run
        self.notes = []           # remarks for the tables
        self.version = ""
        self.hello_bytes = None
        self.cpus = "0"           # taskset's CPU list for the server
        self.ready = "http"       # how start() knows it is up: http, https (peers: tcp)

    # configuration ---------------------------------------------------------
    def subst(self):
        nofile = str(min(65536, _nofile()))
        v = {"@DIR@": self.dir, "@WWW@": self.www, "@PORT@": str(self.port),
             "@NOFILE@": nofile, "@HALF_NOFILE@": str(int(nofile) // 2)}
        if self.name == "nginx":
            v["@OPEN_FILE_CACHE@"] = ("open_file_cache max=1000 inactive=60s;\n"
                                      "    open_file_cache_valid 1s;" if NGINX_OFC else "")
        if self.name == "h2o":
            if H2O_HELLO == "file":
                v["@H2O_HELLO@"] = "        file.file: %s/hello.txt" % self.www
            else:
                v["@H2O_HELLO@"] = ("        mruby.handler: |\n"
                                    "          Proc.new do |env|\n"
                                    "            [200, {\"content-type\" => \"text/plain\"}, [\"Hello, world!\"]]\n"
                                    "          end")
        return v

    def use_conf(self, variant):
        """Run on conf/NAME-VARIANT.conf.in (None: NAME.conf.in), checked
        with the server's own test. Returns None, or why it cannot."""
        base = os.path.join(self.dir, self.name + ".conf")
        if not variant:
            self.conf = base
            return None
        self.conf = os.path.join(self.dir, "%s-%s.conf" % (self.name, variant))
        try:
            self.render("%s-%s.conf.in" % (self.name, variant))
            t = subprocess.run(self.test_cmd(), capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "configuration %s: %s" % (variant, e)
        if t.returncode != 0:
            msg = (t.stderr + t.stdout).strip().splitlines()
            return "configuration %s test failed: %s" % (variant, msg[-1] if msg else t.returncode)
        return None

    def render(self, template=None):
        with open(os.path.join(CONF, template or self.name + ".conf.in")) as f:
            text = f.read()
        for k, val in self.subst().items():
            text = text.replace(k, val)
        with open(self.conf, "w") as f:
            f.write(text)

    def binary(self):
        return {"herd": HERD, "nginx": shutil.which("nginx") or "/usr/sbin/nginx",
                "lighttpd": shutil.which("lighttpd") or "/usr/sbin/lighttpd",
                "h2o": shutil.which("h2o") or "/usr/bin/h2o", "floor": FLOOR}[self.name]

    def test_cmd(self):
        b = self.binary()
        return {"herd": [b, "-t", "-c", self.conf],
                "nginx": [b, "-t", "-q", "-c", self.conf, "-p", self.dir + "/",
                          "-e", os.path.join(self.dir, "nginx-error.log")],
                "lighttpd": [b, "-tt", "-f", self.conf],
                "h2o": [b, "-t", "-c", self.conf]}[self.name]

    def run_cmd(self):
        b = self.binary()
        return {"herd": [b, "-F", "-c", self.conf],
                "nginx": [b, "-c", self.conf, "-p", self.dir + "/",
                          "-e", os.path.join(self.dir, "nginx-error.log")],
                "lighttpd": [b, "-D", "-f", self.conf],
                "h2o": [b, "-c", self.conf],
                "floor": [b, str(self.port)]}[self.name]

    def read_version(self):
        try:
            out = subprocess.run([self.binary(), "-v"], capture_output=True, text=True, timeout=10)
            text = (out.stdout + out.stderr).strip().splitlines()
            self.version = text[0] if text else ""
        except (OSError, subprocess.TimeoutExpired):
            self.version = ""

    def prepare(self):
        if self.name == "floor" and (FLOOR_SKIP or not FLOOR):
            self.skip = FLOOR_SKIP or "not built (bench/run builds it from FLOOR_SRC)"
            return
        if not os.access(self.binary(), os.X_OK):
            self.skip = "not installed (%s missing)" % self.binary()
            return
        if self.name == "floor":
            # no configuration, and no -v: its only argument is the port
            self.version = FLOOR_VERSION
        elif not self.configure():
            return
        if not self.start():
            return
        try:
            self.check_content()
        finally:
            self.stop()

    def configure(self):
        """Write the configuration and pass the server's own test of it."""
        self.read_version()
        try:
            self.render()
        except OSError as e:
            self.skip = "cannot write its configuration: %s" % e
            return False
        try:
            t = subprocess.run(self.test_cmd(), capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.skip = "configuration test failed: %s" % e
            return False
        if t.returncode != 0:
            msg = (t.stderr + t.stdout).strip().splitlines()
            self.skip = "configuration test failed: %s" % (msg[-1] if msg else "exit %d" % t.returncode)
            return False
        return True

    def check_content(self):
        """Check that the server serves what the scenarios expect."""
        problems = []
        # the floor answers any path with the fixed reply: it serves no file
        files = () if self.name == "floor" else (("/4k.bin", 4096), ("/1m.bin", 1 << 20))
        try:
            st, hdrs, body = http_get(self.port, "/hello")
            if st != 200 or body != HELLO:
                problems.append("/hello answered %d with %r" % (st, body[:40]))
            self.hello_bytes = raw_response_size(self.port, "/hello")
            for path, size in files:
                st, hdrs, body = http_get(self.port, path, timeout=5)
                if st != 200 or len(body) != size:
                    problems.append("%s answered %d with %d bytes" % (path, st, len(body)))
        except (OSError, http.client.HTTPException) as e:
            problems.append("content check: %s" % e)
        if problems:
            self.skip = "serves wrong content: " + "; ".join(problems)

    # life cycle ------------------------------------------------------------
    def start(self):
        self.logf = open(os.path.join(self.dir, "stdout-stderr.log"), "ab")
        try:
            self.proc = subprocess.Popen(["taskset", "-c", self.cpus] + self.run_cmd(),
                                         stdin=subprocess.DEVNULL, stdout=self.logf,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.dir)
        except OSError as e:
            self.skip = "cannot start: %s" % e
            return False
        if PIDS_FILE:
            with open(PIDS_FILE, "a") as f:
                f.write("%d\n" % self.proc.pid)
        deadline = time.monotonic() + 15
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                last = "exited with status %d" % self.proc.returncode
                break
            ok, last = self.probe()
            if ok:
                # let the master finish forking and settle
                time.sleep(0.3)
                return True
            time.sleep(0.1)
        self.stop()
        self.skip = "did not start (%s); see %s" % (last or "timeout", self.dir)
        return False

    def probe(self):
        """(up, why not): whether the server answers GET /hello with 200."""
        try:
            st, _, body = http_get(self.port, "/hello", timeout=1, tls=self.ready == "https")
            return st == 200, "answered %d" % st
        except (OSError, http.client.HTTPException) as e:
            return False, str(e)

    def pids(self):
        return server_pids(self.proc.pid) if self.proc else set()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.proc:
            return
        pids = server_pids(self.proc.pid)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.proc.poll()
                if self.proc.returncode is not None and not any(
                        os.path.exists("/proc/%d" % p) and proc_stat(p) for p in pids - {self.proc.pid}):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None

    def error_log_excerpt(self, n=12):
        """Distinct log messages (timestamps and pids blanked), with counts."""
        counts = {}
        for fn in sorted(os.listdir(self.dir)):
            if not fn.endswith(".log"):
                continue
            try:
                with open(os.path.join(self.dir, fn), errors="replace") as f:
                    for line in f:
                        line = line.strip()
                        if not line:
                            continue
                        line = re.sub(r"^\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d:? ", "", line)
                        line = re.sub(r"(\] |^)\d+(#\d+)?: ", r"\1", line)
                        line = re.sub(r"(?i)(pid[:= ]+)\d+", r"\1N", line)
                        key = "%s: %s" % (fn, line)
                        counts[key] = counts.get(key, 0) + 1
            except OSError:
                pass
        lines = ["%s (x%d)" % (k, c) if c > 1 else k for k, c in counts.items()]
        return lines[:n], len(lines)


def _nofile():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------- measuring

BENCH_RE = re.compile(r"^BENCH (.*)$", re.M)


def run_wrk(port, sc, seconds):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c%d" % sc.get("connections", CONNECTIONS),
           "-d%ds" % seconds,
           "--timeout", "5s", "-s", os.path.join(HERE, sc["script"])]
    for h in sc.get("headers", []):
        cmd += ["-H", h]
    cmd.append("%s://127.0.0.1:%d%s" % (sc.get("scheme", "http"), port, sc["path"]))
    if sc.get("args"):
        cmd += ["--"] + sc["args"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return None, "wrk timed out"
    m = BENCH_RE.search(out.stdout)
    if not m:
        return None, "wrk failed: %s" % (out.stderr.strip() or out.stdout.strip())[-200:]
    vals = dict(kv.split("=") for kv in m.group(1).split())
    return {k: int(v) for k, v in vals.items()}, None


def measure_wrk(srv, sc):
    if WARMUP > 0:
        run_wrk(srv.port, sc, WARMUP)
        time.sleep(0.2)
    pids0 = srv.pids()
    t0 = cpu_ticks(pids0)
    res, err = run_wrk(srv.port, sc, DURATION)
    pids1 = srv.pids()
    t1 = cpu_ticks(pids1 | pids0)
    if err:
        return None, err
    if not srv.alive():
        return None, "server died during the run"
    note = None
    if pids1 != pids0:
        note = "server processes changed during the run (%s -> %s)" % (sorted(pids0), sorted(pids1))
    reqs = res["requests"]
    if reqs <= 0:
        return None, "no request completed"
    errors = res["connect"] + res["read"] + res["write"] + res["status"] + res["timeout"]
    per = res["bytes"] / float(reqs)
    if per < sc["size"]:
        note = ((note + "; ") if note else "") + \
            "only %.0f bytes per response read (body is %d bytes)" % (per, sc["size"])
    r = dict(rps=reqs / (res["duration_us"] / 1e6), requests=reqs, bytes_per_response=per,
             cpu=(t1 - t0) * 1e6 / CLK_TCK / reqs, cpu_s=(t1 - t0) / CLK_TCK,
             errors=errors, p50_us=res["p50_us"], p99_us=res["p99_us"],
             err_detail="connect %d read %d write %d status %d timeout %d" % (
                 res["connect"], res["read"], res["write"], res["status"], res["timeout"]))
    return r, note


def measure_idle(srv):
    pids = srv.pids()
    time.sleep(0.5)
    before = rss_kb(pids)
    cmd = ["taskset", "-c", "1", sys.executable, os.path.join(HERE, "idle_conns.py"),
           "127.0.0.1", str(srv.port), "-n", str(IDLE_CONNS), "--timeout", "120", "--hold", "300"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        line = _readline_timeout(p, 150)
        if not line or not line.startswith("READY"):
            return None, "idle client: %s" % (line.strip() if line else "no answer in time")
        time.sleep(1.0)
        pids1 = srv.pids()
        after = rss_kb(pids1)
        p.stdin.close()
        closed_line = _readline_timeout(p, 30) or ""
        closed = int(closed_line.split()[1]) if closed_line.startswith("CLOSED_BY_SERVER") else -1
    finally:
        if p.poll() is None:
            try:
                p.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if not srv.alive():
        return None, "server died during the run"
    note = None
    if closed > 0:
        note = "server closed %d of the idle connections before the end" % closed
    if pids1 != pids:
        note = "server processes changed during the run"
    return dict(mem=(after - before) * 1024.0 / IDLE_CONNS, rss_before_kb=before,
                rss_after_kb=after), note


def _readline_timeout(p, timeout):
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return p.stdout.readline()
        return None
    finally:
        sel.close()


# ---------------------------------------------------------------- reporting

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_info(servers):
    model = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip() or platform.processor()
    pkgs = []
    for p in ("wrk", "nginx-light", "nginx", "lighttpd", "h2o", "gnuplot-nox", "python3",
              "haproxy", "libnginx-mod-stream", "nghttp2-client", "openssl", "mariadb-server",
              "python3-aiohttp", "python3-aiomysql", "python3-pymysql"):
        v = sh("dpkg-query -W -f '${Version}' %s 2>/dev/null" % p)
        if v:
            pkgs.append("%s %s" % (p, v))
    commit = sh("git -C %s rev-parse --short HEAD 2>/dev/null" % os.path.dirname(BENCH))
    info = [
        ("Date", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("CPUs (nproc)", sh("nproc")),
        ("CPU model", model),
        ("Kernel", "%s %s" % (platform.release(), platform.machine())),
        ("OS", sh(". /etc/os-release && echo $PRETTY_NAME")),
        ("Memory", sh("free -h | awk '/^Mem:/{print $2}'")),
        ("Load average at start", loadavg()),
        ("herd", "%s (%s, commit %s; uncommitted changes in the work tree are included)"
         % (next((s.version for s in servers if s.name == "herd"), "") or sh("%s -v 2>&1" % HERD),
            HERD, commit or "?")),
        ("Packages", ", ".join(pkgs)),
    ]
    if "floor" in SERVERS or PEER_IDS:
        info.append(("floor", "%s, %s" % (FLOOR_SRC, FLOOR_VERSION) if FLOOR_VERSION
                     else "skipped: %s" % (FLOOR_SKIP or "not built")))
    info += [
        ("Settings", "DURATION=%ds WARMUP=%ds REPEAT=%d CONNECTIONS=%d PIPELINE=%d IDLE_CONNS=%d"
         % (DURATION, WARMUP, REPEAT, CONNECTIONS, PIPELINE, IDLE_CONNS)),
        ("Scenarios", " ".join(ALL_IDS)),
    ]
    if PEER_IDS:
        info += [
            ("Peer settings", "PROXY_KEEPALIVE=%d BULK_SIZE=%d QUERIES=%d SEEDS_CONNECTIONS=%d "
             "SEEDS_POOL=%d" % (peers.KEEPALIVE, peers.BULK_SIZE, peers.QUERIES,
                                peers.SEEDS_CONNECTIONS, peers.SEEDS_POOL)),
            ("CPU placement (peers)", "server/proxy CPU %s (seeds_tcp: %s), clients CPU %s, "
             "upstreams CPU %s" % (peers.SERVER_CPUS, peers.SEEDS_TCP_CPUS, peers.CLIENT_CPUS,
                                   peers.AUX_CPUS)),
            ("kTLS", peers.ktls_state()),
        ]
    return info


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarize(servers, results, notes):
    """results[(sc, srv)] = list of run dicts. Returns summary rows."""
    rows = {}
    for sc in SCENARIO_IDS:
        for s in servers:
            runs = results.get((sc, s.name), [])
            row = dict(scenario=sc, server=s.name, runs=len(runs), na=not applies(s.name, sc))
            for key in ("rps", "cpu", "mem", "errors", "p50_us", "p99_us", "rss_before_kb", "rss_after_kb"):
                vals = [r[key] for r in runs if key in r]
                row[key] = statistics.median(vals) if vals else None
            row["note"] = "; ".join(dict.fromkeys(notes.get((sc, s.name), [])))
            rows[(sc, s.name)] = row
    for (sc, name), row in rows.items():
        base = rows.get((sc, "nginx"))
        row["rps_ratio"] = ratio(row["rps"], base and base["rps"])
        row["cpu_ratio"] = ratio(row["cpu"], base and base["cpu"])
        row["mem_ratio"] = ratio(row["mem"], base and base["mem"])
        floor = rows.get((sc, "floor")) if sc in FLOOR_SCENARIOS else None
        row["rps_floor_ratio"] = ratio(row["rps"], floor and floor["rps"])
        row["cpu_floor_ratio"] = ratio(row["cpu"], floor and floor["cpu"])
    return rows


def server_label(s):
    label = s.name
    if s.name == "lighttpd":
        label += " ¹"
    if s.name == "h2o":
        label += " ²" if H2O_HELLO == "mruby" else " ³"
    if s.name == "floor":
        label += " ⁴"
    return label


def xfmt(v):
    """A ratio for the tables: 1.23×, or – when missing."""
    return fmt(v, ".2f") + ("×" if v is not None else "")


def row_note(s, r):
    if r["na"]:
        return SCENARIOS[r["scenario"]].get("na_note", FLOOR_NA)
    return s.skip or r["note"] or ("no successful run" if not r["runs"] else "")


def wrk_table(sc, servers, rows):
    """The table of one wrk scenario; "vs floor" columns in the floor's."""
    with_floor = "floor" in SERVERS and sc in FLOOR_SCENARIOS
    vs = "vs nginx | vs floor" if with_floor else "vs nginx"
    L = ["| Server | Requests/s | %s | CPU µs/request | %s | p50 / p99 latency (ms) | Errors | Note |"
         % (vs, vs),
         "|---|---:|---:|---:|---:|---:|---:|%s---|" % ("---:|---:|" if with_floor else "")]
    for s in servers:
        r = rows[(sc, s.name)]
        if r["na"]:
            cells = ["n/a"] * (8 if with_floor else 6)
        else:
            lat = "–" if r["p50_us"] is None or sc == "pipe" else \
                "%.2f / %.2f" % (r["p50_us"] / 1000, r["p99_us"] / 1000)
            rps = [fmt(r["rps"], ",.0f"), xfmt(r["rps_ratio"])]
            cpu = [fmt(r["cpu"], ".2f"), xfmt(r["cpu_ratio"])]
            if with_floor:
                rps.append(xfmt(r["rps_floor_ratio"]))
                cpu.append(xfmt(r["cpu_floor_ratio"]))
            cells = rps + cpu + [lat, fmt(r["errors"], ".0f")]
        L.append("| %s | %s | %s |" % (server_label(s), " | ".join(cells), row_note(s, r)))
    return L


def idle_table(servers, rows):
    L = ["| Server | Bytes/connection | vs nginx | RSS before (KiB) | RSS with %d idle (KiB) "
         "| RSS with them ÷ %d (bytes) | Note |" % (IDLE_CONNS, IDLE_CONNS),
         "|---|---:|---:|---:|---:|---:|---|"]
    for s in servers:
        r = rows[("idle", s.name)]
        if r["na"]:
            cells = ["n/a"] * 5
        else:
            per = None if r["rss_after_kb"] is None else r["rss_after_kb"] * 1024.0 / IDLE_CONNS
            cells = [fmt(r["mem"], ",.0f"), xfmt(r["mem_ratio"]), fmt(r["rss_before_kb"], ",.0f"),
                     fmt(r["rss_after_kb"], ",.0f"), fmt(per, ",.0f")]
        L.append("| %s | %s | %s |" % (server_label(s), " | ".join(cells), row_note(s, r)))
    return L


def floor_ratios(rows):
    """[(scenario, herd/floor requests/s, herd/floor CPU/request)] for the
    floor's scenarios in this run; empty without herd or the floor."""
    if "herd" not in SERVERS or "floor" not in SERVERS:
        return []
    return [(sc, rows[(sc, "herd")]["rps_floor_ratio"], rows[(sc, "herd")]["cpu_floor_ratio"])
            for sc in SCENARIO_IDS if sc in FLOOR_SCENARIOS]


def floor_section(servers, rows):
    ratios = floor_ratios(rows)
    if not ratios:
        return []
    L = ["## herd / floor (same run, for information)\n",
         "How close herd is to the floor ⁴, beside herd / nginx. Requests/s below 1× and "
         "CPU/request above 1× are what herd spends per request beyond finding the end of "
         "the head and writing a fixed reply. Not a target.\n",
         "| Scenario | Requests/s herd / floor | herd / nginx | CPU/request herd / floor | herd / nginx |",
         "|---|---:|---:|---:|---:|"]
    for sc, rps, cpu in ratios:
        r = rows[(sc, "herd")]
        L.append("| %s | %s | %s | %s | %s |" % (SCENARIOS[sc]["short"], xfmt(rps),
                                                 xfmt(r["rps_ratio"]), xfmt(cpu), xfmt(r["cpu_ratio"])))
    floor = next(s for s in servers if s.name == "floor")
    if floor.skip:
        L.append("\nThe floor was skipped: %s." % floor.skip)
    L.append("")
    return L


def classic_markdown(servers, rows):
    """The tables of the plain scenarios, with their notes."""
    L = []
    who = ("herd, nginx, lighttpd, h2o and the floor ⁴ (a bare epoll server, measured in "
           "the keep-alive and pipelined scenarios only)" if "floor" in SERVERS
           else "herd, nginx, lighttpd and h2o")
    L.append(who + ", each alone with one worker process pinned to "
             "CPU 0 (`taskset -c 0`), wrk (`-t1 -c%d`) pinned to CPU 1, on loopback. "
             "Medians of %d measured run(s) of %d s, each after a %d s warm-up. "
             "Ratios are to nginx measured in the same run (\"vs nginx\")%s: for requests/s "
             "higher is better, for CPU/request and memory lower is better. CPU/request is the "
             "server's user+system CPU time (all its processes) divided by the requests "
             "wrk completed.\n" % (CONNECTIONS, REPEAT, DURATION, WARMUP,
                                    " and, in the keep-alive and pipelined tables, to the floor "
                                    "(\"vs floor\")" if "floor" in SERVERS else ""))
    for sc in SCENARIO_IDS:
        L.append("## %s\n" % SCENARIOS[sc]["title"])
        L += idle_table(servers, rows) if sc == "idle" else wrk_table(sc, servers, rows)
        if sc == "idle":
            L.append("\nBytes/connection = (RSS with the idle connections − RSS before) ÷ %d, RSS "
                     "summed over all the server's processes (VmRSS), each connection having been "
                     "served one request first. Memory a server allocates and touches at start-up "
                     "for its connection limit (herd's connection table, nginx's connection and "
                     "event arrays; 20,000 connections for both) is in \"RSS before\", so it is "
                     "not counted in Bytes/connection; the column before the note shows the "
                     "total. Kernel socket memory is not included." % IDLE_CONNS)
        if sc == "pipe":
            L.append("\nLatency is not shown: wrk records it once per batch of %d." % PIPELINE)
        L.append("")
    L.append("¹ lighttpd has no built-in fixed response (only through Lua in mod_magnet), so "
             "its /hello is the 13-byte static file hello.txt (mapped with `alias.url`).  ")
    if H2O_HELLO == "mruby":
        L.append("² h2o's /hello is an mruby handler returning the fixed body (h2o has no "
                 "plain fixed-response directive); h2o 2.2 has no sendfile and reads files "
                 "into its buffers; it has no per-connection request limit.\n")
    else:
        L.append("³ h2o's /hello is the 13-byte static file hello.txt (`file.file`); h2o 2.2 "
                 "has no sendfile and reads files into its buffers; it has no "
                 "per-connection request limit.\n")
    if "floor" in SERVERS:
        L.append("⁴ The floor is not a web server: `floor.c` (about 60 lines, outside the "
                 "repository, built by bench/run with `gcc -O2` for each run) reads with "
                 "edge-triggered epoll, finds the end of each request head (`\\r\\n\\r\\n`) "
                 "and answers every head, whatever it asks, with the same 13-byte reply, one "
                 "write per batch of pipelined requests; no parsing, no timeouts, no logs. It "
                 "is the least a correct-enough HTTP/1.1 keep-alive server can do per request "
                 "on Linux, so \"vs floor\" says how close a server is to the system-call "
                 "limit. It serves no file: it is measured in the keep-alive and pipelined "
                 "scenarios only.\n")
    sizes = ", ".join("%s %s" % (s.name, s.hello_bytes) for s in servers if s.hello_bytes)
    if sizes:
        L.append("Size of the whole response to `GET /hello` (status line, headers, body), in "
                 "bytes: %s.\n" % sizes)
    L += floor_section(servers, rows)
    return L


def write_markdown(path, servers, rows, info, targets, started, finished, peer_lines=(),
                   peer_servers=()):
    L = []
    L.append("# herd benchmark results\n")
    if SCENARIO_IDS:
        L += classic_markdown(servers, rows)
    L += list(peer_lines)
    L.append("## Targets (herd / its peers, same run)\n")
    L.append("| Target | Measured | Result |")
    L.append("|---|---:|---|")
    for text, measured, result in targets:
        L.append("| %s | %s | %s |" % (text, fmt(measured, ".2f") + ("×" if measured is not None else ""), result))
    L.append("")
    L.append("## Machine\n")
    L.append("| | |")
    L.append("|---|---|")
    for k, v in info:
        L.append("| %s | %s |" % (k, v))
    L.append("| Load average at end | %s |" % loadavg())
    L.append("| Wall time | %.0f s |" % (finished - started))
    L.append("")
    logs = []
    for s in list(servers) + list(peer_servers):
        lines, n = s.error_log_excerpt()
        if lines:
            who = s.name if s in servers else "%s (%s)" % (s.name, s.tag)
            logs.append("%s (%d distinct message(s)%s):" % (who, n, ", first %d" % len(lines) if n > len(lines) else ""))
            logs += ["    " + l for l in lines]
    if logs:
        L.append("## Server logs\n")
        L += logs
        L.append("")
    text = "\n".join(L)
    with open(path, "w") as f:
        f.write(text)
    return text


def write_csv(path, servers, rows):
    cols = ["scenario", "server", "runs", "rps", "rps_ratio_to_nginx", "rps_ratio_to_floor",
            "cpu_us_per_request", "cpu_ratio_to_nginx", "cpu_ratio_to_floor",
            "bytes_per_idle_connection", "mem_ratio_to_nginx",
            "rss_before_kb", "rss_after_kb", "p50_us", "p99_us", "errors", "note"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for sc in SCENARIO_IDS:
            for s in servers:
                r = rows[(sc, s.name)]

                def c(v, spec):
                    return "" if v is None else format(v, spec)
                w.writerow([sc, s.name, r["runs"], c(r["rps"], ".1f"), c(r["rps_ratio"], ".4f"),
                            c(r["rps_floor_ratio"], ".4f"), c(r["cpu"], ".4f"),
                            c(r["cpu_ratio"], ".4f"), c(r["cpu_floor_ratio"], ".4f"), c(r["mem"], ".1f"),
                            c(r["mem_ratio"], ".4f"), c(r["rss_before_kb"], ".0f"),
                            c(r["rss_after_kb"], ".0f"), c(r["p50_us"], ".0f"),
                            c(r["p99_us"], ".0f"), c(r["errors"], ".0f"),
                            FLOOR_NA if r["na"] else s.skip or r["note"]])


def write_runs_csv(path, raw):
    cols = ["repeat", "scenario", "server", "rps", "requests", "bytes_per_response",
            "cpu_us_per_request", "cpu_s",
            "bytes_per_idle_connection", "rss_before_kb", "rss_after_kb", "errors", "p50_us",
            "p99_us", "error_detail", "note"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for rep, sc, name, r, note in raw:
            r = r or {}
            w.writerow([rep, sc, name] + [
                ("%.4f" % r[k] if isinstance(r.get(k), float) else r.get(k, ""))
                for k in ("rps", "requests", "bytes_per_response", "cpu", "cpu_s", "mem", "rss_before_kb",
                          "rss_after_kb", "errors", "p50_us", "p99_us", "err_detail")] + [note or ""])


CHART_COLORS = {"herd": "#d62728", "nginx": "#2ca02c", "lighttpd": "#1f77b4", "h2o": "#ff7f0e",
                "floor": "#7f7f7f", "haproxy": "#9467bd"}


def chart_panel(outdir, k, title, series, data):
    """The gnuplot lines of one clustered histogram: data is [(label,
    [value or None per series])], ratios to nginx."""
    dat = os.path.join(outdir, "chart%d.dat" % k)
    with open(dat, "w") as f:
        f.write("# scenario " + " ".join(series) + "\n")
        for lab, vals in data:
            f.write('"%s" %s\n' % (lab, " ".join("?" if v is None else "%.4f" % v for v in vals)))
    plots = []
    n = len(series)
    for i, name in enumerate(series):
        plots.append("'%s' using %d:xtic(1) title '%s' lc rgb '%s'"
                     % (dat, i + 2, name, CHART_COLORS.get(name, "#7f7f7f")))
    for i, name in enumerate(series):
        # the value above each bar (clustered, gap 1: bar i of cluster k is
        # at k + (i - (n-1)/2) / (n+1))
        plots.append("'%s' using ($0 + (%d - %g) / %d.0):%d:(sprintf('%%.2f', $%d)) "
                     "with labels offset 0,0.7 font ',9' notitle"
                     % (dat, i, (n - 1) / 2.0, n + 1, i + 2, i + 2))
    return "set title '%s'\nplot %s\n" % (title, ", \\\n     ".join(plots))


def write_chart(outdir, servers, rows, peer_chart=None):
    """chart.png: requests/s relative to nginx per plain scenario, and, below
    it, the throughput of the proxy and TLS scenarios relative to nginx."""
    panels = []
    sc_ids = [sc for sc in SCENARIO_IDS if sc != "idle"]
    if sc_ids and servers:
        data = [(SCENARIOS[sc]["short"], [rows[(sc, s.name)]["rps_ratio"] for s in servers])
                for sc in sc_ids]
        panels.append(("Requests/s relative to nginx (same run; 1.0 = nginx; one worker on "
                       "CPU 0, wrk on CPU 1)", [s.name for s in servers], data))
    if peer_chart and peer_chart[1]:
        panels.append(("Proxy and TLS scenarios: throughput relative to nginx (same run; "
                       "requests, handshakes, MiB or queries per second)",) + tuple(peer_chart))
    # gnuplot cannot draw a panel without a single value
    panels = [p for p in panels if any(v is not None for _, vals in p[2] for v in vals)]
    if not panels:
        return None
    if not shutil.which("gnuplot"):
        return "gnuplot not found"
    height = 560 * len(panels)
    gp = os.path.join(outdir, "chart.gp")
    with open(gp, "w") as f:
        f.write("""set terminal pngcairo size 1100,%d noenhanced font 'sans,11'
set output '%s'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing '?'
set key top left
set grid ytics
set yrange [0:*]
set ylabel 'throughput ÷ nginx throughput'
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb '#444444'
set multiplot layout %d,1
""" % (height, os.path.join(outdir, "chart.png"), len(panels)))
        for k, (title, series, data) in enumerate(panels):
            # the peer scenarios' names are longer: slanted, they do not overlap
            f.write("set xtics %s\n" % ("rotate by -20" if len(data) > 6 else "norotate"))
            f.write(chart_panel(outdir, k, title, series, data))
        f.write("unset multiplot\n")
    try:
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "gnuplot timed out"
    if r.returncode != 0:
        # pngcairo may be missing: fall back to the plain png terminal
        with open(gp) as f:
            text = f.read().replace("set terminal pngcairo size 1100,%d noenhanced font 'sans,11'"
                                    % height, "set terminal png size 1100,%d noenhanced" % height)
        with open(gp, "w") as f:
            f.write(text)
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return "gnuplot failed: %s" % r.stderr.strip()[-200:]
    return None


def check_targets(rows):
    out = []
    for sc, metric, op, bound, text in TARGETS:
        if sc not in SCENARIO_IDS:
            continue
        r = rows.get((sc, "herd"))
        v = r and r[metric + "_ratio"]
        if v is None:
            out.append((text, None, "FAIL (no herd/nginx figure)"))
            continue
        ok = v >= bound if op == ">=" else v <= bound
        out.append((text, v, "PASS" if ok else "FAIL"))
    return out


# --------------------------------------------------------------------- main

# peers.py uses this module's definitions: it is imported as "bench"
sys.modules.setdefault("bench", sys.modules[__name__])
import peers  # noqa: E402


def main():
    started = time.time()
    for sc in ALL_IDS:
        if sc not in SCENARIOS and sc not in peers.SCENARIOS:
            sys.exit("bench: unknown scenario %r (known: %s; groups: %s)"
                     % (sc, " ".join(GROUPS["all"]), " ".join(GROUPS)))
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="herd-bench-")
    os.chmod(work, 0o755)
    www = os.path.join(work, "www")
    os.makedirs(www)
    os.chmod(www, 0o755)
    for name, data in (("hello.txt", HELLO), ("4k.bin", os.urandom(4096)),
                       ("1m.bin", os.urandom(1 << 20)), ("page.html", PAGE)):
        with open(os.path.join(www, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(www, name), 0o644)

    names = CLASSIC_SERVERS if SCENARIO_IDS else []
    ports = pick_ports(names)
    servers = [Server(n, work, www, ports[n]) for n in names]
    current = [None]

    def on_signal(signum, frame):
        if current[0]:
            current[0].stop()
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    log("work directory %s" % work)
    for s in servers:
        current[0] = s
        s.prepare()
        current[0] = None
        log("%-8s port %d: %s" % (s.name, s.port, "SKIPPED: " + s.skip if s.skip else "ok (%s)" % s.version))
    herd = next((s for s in servers if s.name == "herd"), None)
    if herd is not None and herd.skip:
        # The point of the run is herd: without it the tables would be a row
        # of dashes and every target FAIL, after many minutes.
        shutil.rmtree(work, ignore_errors=True)
        log("ERROR: herd cannot be measured: %s" % herd.skip)
        return 1
    info = machine_info(servers)

    results, notes, raw = {}, {}, []
    runnable = [s for s in servers if not s.skip]
    total = REPEAT * sum(applies(s.name, sc) for sc in SCENARIO_IDS for s in runnable)
    done = 0
    try:
        for rep in range(REPEAT):
            for sc in SCENARIO_IDS:
                k = rep % len(runnable) if runnable else 0
                order = runnable[k:] + runnable[:k]
                for s in order:
                    if not applies(s.name, sc):
                        continue
                    done += 1
                    if s.skip:
                        continue
                    current[0] = s
                    problem = s.use_conf(SCENARIOS[sc].get("conf"))
                    if problem:
                        notes.setdefault((sc, s.name), []).append(problem)
                        raw.append((rep + 1, sc, s.name, None, problem))
                        current[0] = None
                        continue
                    if not s.start():
                        notes.setdefault((sc, s.name), []).append(s.skip)
                        s.skip = None  # try again next time
                        raw.append((rep + 1, sc, s.name, None, "did not start"))
                        continue
                    try:
                        check = SCENARIOS[sc].get("check")
                        r, note = None, check and check(s.port)
                        if note:
                            pass
                        elif sc == "idle":
                            r, note = measure_idle(s)
                        else:
                            r, note = measure_wrk(s, SCENARIOS[sc])
                    finally:
                        s.stop()
                        s.use_conf(None)
                        current[0] = None
                    if r is None:
                        notes.setdefault((sc, s.name), []).append(note)
                        log("[%d/%d] %s %s: FAILED %s" % (done, total, sc, s.name, note))
                    else:
                        results.setdefault((sc, s.name), []).append(r)
                        if note:
                            notes.setdefault((sc, s.name), []).append(note)
                        if "rps" in r:
                            log("[%d/%d] %-8s %-8s %12.0f req/s %8.2f us/req  errors %d%s"
                                % (done, total, sc, s.name, r["rps"], r["cpu"], r["errors"],
                                   "  (" + note + ")" if note else ""))
                        else:
                            log("[%d/%d] %-8s %-8s %10.0f bytes/idle connection (RSS %d -> %d KiB)%s"
                                % (done, total, sc, s.name, r["mem"], r["rss_before_kb"],
                                   r["rss_after_kb"], "  (" + note + ")" if note else ""))
                    raw.append((rep + 1, sc, s.name, r, note))
                    time.sleep(0.5)
    finally:
        if current[0]:
            current[0].stop()

    rows = summarize(servers, results, notes)
    targets = check_targets(rows)
    peer_rows, peer_lines, peer_servers, peer_chart, peer_missing = run_peers(work, www, ports)
    targets += peer_rows
    finished = time.time()
    md = write_markdown(os.path.join(OUT, "results.md"), servers, rows, info, targets,
                        started, finished, peer_lines, peer_servers)
    write_csv(os.path.join(OUT, "results.csv"), servers, rows)
    write_runs_csv(os.path.join(OUT, "runs.csv"), raw)
    chart_err = write_chart(OUT, servers, rows, peer_chart)
    if chart_err:
        log("chart: " + chart_err)
    # keep copies of the configurations that were measured
    confdir = os.path.join(OUT, "configs")
    os.makedirs(confdir, exist_ok=True)
    for s in servers:
        for name in sorted(os.listdir(s.dir)):
            if name.endswith(".conf"):
                shutil.copy(os.path.join(s.dir, name), os.path.join(confdir, name))
    for s in peer_servers:
        if os.path.exists(s.conf):
            shutil.copy(s.conf, os.path.join(confdir, "%s-%s.conf" % (s.name, s.role)))
    shutil.rmtree(work, ignore_errors=True)

    print(md)
    ratios = floor_ratios(rows)
    if ratios:
        print("herd / floor in the same run (for information, not a target):")
        for sc, rps, cpu in ratios:
            print("  %-6s requests/s %-7s CPU/request %s" % (sc, xfmt(rps).replace("×", "x"),
                                                          xfmt(cpu).replace("×", "x")))
    print("Targets (herd / its peers in the same run):")
    failed = 0
    for text, v, result in targets:
        print("  %-4s %-62s %s" % (result.split()[0], text, fmt(v, ".2f") + ("x" if v is not None else "")))
        failed += result != "PASS"
    print("\nWrote %s/results.md, results.csv, runs.csv%s, chart.png"
          % (OUT, ", results-peers.csv, runs-peers.csv" if PEER_IDS else ""))
    missing = peer_missing
    if herd is not None:
        missing = [sc for sc in SCENARIO_IDS if not results.get((sc, "herd"))] + missing
    if missing:
        log("ERROR: herd has no successful measurement of %s (see the Note column)"
            % " ".join(missing))
        return 1
    return 1 if (STRICT and failed) else 0


def run_peers(work, www, ports):
    """The proxy and TLS scenarios (peers.py), after the plain ones:
    (targets, Markdown lines, servers, chart data, scenarios in which herd
    has no successful measurement although the scenario could run)."""
    if not PEER_IDS:
        return [], [], [], None, []
    raw = []
    total = REPEAT * sum(len(peers.wanted(sc)) for sc in PEER_IDS)

    def on_result(rep, sc, name, r, note):
        raw.append((rep, sc, name, r, note))
        n = "[%d/%d] %-14s %-8s" % (len(raw), total, sc, name)
        if r is None:
            log("%s FAILED %s" % (n, note))
        else:
            unit = peers.SCENARIOS[sc]
            log("%s %12.1f %s  %s %s  errors %d%s" % (
                n, r["rate"], unit["rate"], fmt(r.get("cpu"), ".3f"), unit["cpu"],
                r.get("errors") or 0, "  (" + note + ")" if note else ""))
    first = max(list(ports.values()) + [PORT_BASE]) + 1
    rows, targets, ctx = peers.run_all(PEER_IDS, work, www, first, on_result)
    peers.write_csv(os.path.join(OUT, "results-peers.csv"), PEER_IDS, rows)
    peers.write_runs_csv(os.path.join(OUT, "runs-peers.csv"), raw)
    missing = []
    for sc in PEER_IDS:
        r = rows.get((sc, "herd"))
        if r is not None and not r["runs"] and not r["note"].startswith("upstream "):
            missing.append(sc)
    servers = [s for s in ctx.servers.values() if os.path.exists(s.conf)]
    return targets, peers.markdown(PEER_IDS, rows), servers, peers.chart_data(PEER_IDS, rows), \
        missing


if __name__ == "__main__":
    sys.exit(main())
