#!/usr/bin/env python3
"""Upstream health shared by the workers, and active health checks run by
the master, against backends started here as separate Python processes
(threaded HTTP/1.1 servers that answer with their name, on free loopback
ports or a unix socket). Checks use fails = 3 and a timeout as long as the
interval, so that a live backend slowed by a loaded machine is never taken
for down; every wait is for a state the status page shows.

What is measured, through herd with 2 workers and its status pages:
- a backend SIGKILLed under keep-alive load: at most the requests in flight
  fail, the status page says it is down, no worker sends it anything more
  (its request counter stays put while both slots serve), and once it runs
  again on the same port the active check says up and traffic reaches it;
- a refused server is marked down after max_fails failures counted across
  both workers (exactly max_fails attempts reach it, whatever the worker);
- a server down (by passive or by active health) is still down right after
  a reload that keeps its upstream, and after a binary upgrade, and no new
  worker tries it;
- the Prometheus page parses and has every per-server series;
- a unix-socket upstream serves and passes its health check."""

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

WORKERS = 2

# A backend process: python3 -c BACKEND NAME PORT|unix:PATH
BACKEND = r"""
import os, socketserver, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name, where = sys.argv[1], sys.argv[2]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

class Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

if where.startswith("unix:"):
    srv = Unix(where[5:], H)
    os.chmod(where[5:], 0o777)
else:
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", int(where)), H)
print("ready", flush=True)
srv.serve_forever()
"""


class Backend:
    def __init__(self, name, where):
        self.name, self.where = name, str(where)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BACKEND, self.name, self.where],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", "backend %s did not start" % self.name

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def conf(upstream, extra_upstreams=""):
    return herdtest.top(WORKERS) + """
upstreams = ( %s %s );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/status.txt"; exact = true; status = { format = "text"; }; },
      { path = "/metrics"; exact = true; status = { format = "prometheus"; }; },
      { path = "/"; proxy = { upstream = "app"; }; }
    ); }
);
""" % (upstream, extra_upstreams)


def servers_of(text):
    """{address: {key: value}} of the status page's upstream lines."""
    out = {}
    for m in re.finditer(r"^upstream (\S+) server (\S+) (.*)$", text, re.M):
        out[m.group(2)] = dict(kv.split("=", 1) for kv in m.group(3).split())
    return out


def slot_requests(text):
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^slot (\d+) .*? requests=(\d+)", text, re.M)}


class HealthTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        self.backends = []

    def tearDown(self):
        for b in self.backends:
            b.kill()
        super().tearDown()

    def backend(self, name, where):
        b = Backend(name, where)
        self.backends.append(b)
        return b

    def status(self):
        st, _, body = herdtest.get(self.port, "/status.txt")
        self.assertEqual(st, 200)
        return body.decode()

    def server(self, addr):
        return servers_of(self.status()).get(addr, {})

    def state_is(self, addr, state):
        return lambda: self.server(addr).get("state") == state

    def fresh_gets(self, n):
        """n GETs, each on a new connection (spread over the workers):
        the bodies (backend names)."""
        return [herdtest.get(self.port, "/")[2].decode() for _ in range(n)]

    # ------------------------------------------------------------------

    def test_killed_backend_is_skipped_and_comes_back(self):
        pa, pb = herdtest.free_port(), herdtest.free_port()
        a = self.backend("a", pa)
        self.backend("b", pb)
        up = """{ name = "app"; keepalive = 8; max_fails = 1; fail_timeout = "60s";
            servers = ( { address = "127.0.0.1:%d"; }, { address = "127.0.0.1:%d"; } );
            health_check = { path = "/healthz"; interval = "300ms"; timeout = "300ms";
                             fails = 3; passes = 2; }; }""" % (pa, pb)
        h = self.herd(conf(up))
        self.port = h.port()
        h.wait_workers(WORKERS)
        addr_a = "127.0.0.1:%d" % pa
        herdtest.wait_for(self.state_is(addr_a, "up"), 10, what="a up")

        # Keep-alive load from several clients.
        clients, stop = 6, threading.Event()
        results = {"ok": 0, "failed": 0, "a": 0}
        lock = threading.Lock()

        def load():
            conn = None
            while not stop.is_set():
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    conn.request("GET", "/")
                    r = conn.getresponse()
                    body = r.read().decode()
                    with lock:
                        results["ok" if r.status == 200 else "failed"] += 1
                        results["a"] += body == "a"
                except (OSError, http.client.HTTPException):
                    with lock:
                        results["failed"] += 1
                    if conn:
                        conn.close()
                    conn = None
            if conn:
                conn.close()

        threads = [threading.Thread(target=load) for _ in range(clients)]
        for t in threads:
            t.start()
        herdtest.wait_for(lambda: results["a"] >= 50, 20, what="load reaching a")
        a.kill()
        herdtest.wait_for(self.state_is(addr_a, "down"), 10, what="a marked down")
        before = dict(results)
        herdtest.wait_for(lambda: results["ok"] >= before["ok"] + 300, 30, what="more load")
        stop.set()
        for t in threads:
            t.join()
        # Only requests in flight when it died may fail (one per client at most).
        self.assertLessEqual(results["failed"], clients, results)

        # Skipped by every worker: its counter stays while both slots serve.
        text = self.status()
        reqs_a, slots = int(servers_of(text)[addr_a]["requests"]), slot_requests(text)
        bodies = self.fresh_gets(100)
        self.assertEqual(set(bodies), {"b"})
        text = self.status()
        self.assertEqual(int(servers_of(text)[addr_a]["requests"]), reqs_a)
        self.assertEqual(servers_of(text)[addr_a]["state"], "down")
        after = slot_requests(text)
        for s in range(WORKERS):
            # More than the one status request between the two readings.
            self.assertGreater(after[s], slots[s] + 1, "slot %d served none of them" % s)

        # Back on the same port: the active check brings it back.
        a.start()
        herdtest.wait_for(self.state_is(addr_a, "up"), 10, what="a up again")
        bodies = self.fresh_gets(40)
        self.assertIn("a", bodies)

    def test_refused_server_down_after_max_fails_across_workers(self):
        pb, dead = herdtest.free_port(), herdtest.free_port()
        self.backend("b", pb)
        up = """{ name = "app"; keepalive = 0; max_fails = 2; fail_timeout = "60s";
            servers = ( { address = "127.0.0.1:%d"; }, { address = "127.0.0.1:%d"; } ); }""" % (
            dead, pb)
        h = self.herd(conf(up))
        self.port = h.port()
        h.wait_workers(WORKERS)
        addr = "127.0.0.1:%d" % dead
        # Every GET is answered (a refused connect goes on to b).
        bodies = self.fresh_gets(200)
        self.assertEqual(set(bodies), {"b"})
        text = self.status()
        s = servers_of(text)[addr]
        self.assertEqual(s["state"], "down")
        # Two failures in all, not two per worker.
        self.assertEqual(int(s["requests"]), 2, s)
        self.assertEqual(int(s["failures"]), 2, s)
        self.assertTrue(all(v > 0 for v in slot_requests(text).values()))

        # A reload that keeps the upstream keeps it down: the new workers
        # do not try it.
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.server(addr).get("state"), "down")
        self.assertEqual(set(self.fresh_gets(100)), {"b"})
        self.assertEqual(int(self.server(addr)["requests"]), 2)

    def test_health_survives_binary_upgrade(self):
        pb, dead = herdtest.free_port(), herdtest.free_port()
        self.backend("b", pb)
        up = """{ name = "app"; keepalive = 0; max_fails = 2; fail_timeout = "60s";
            servers = ( { address = "127.0.0.1:%d"; }, { address = "127.0.0.1:%d"; } ); }""" % (
            dead, pb)
        h = self.herd(conf(up))
        self.port = h.port()
        h.wait_workers(WORKERS)
        addr = "127.0.0.1:%d" % dead
        self.assertEqual(set(self.fresh_gets(20)), {"b"})
        self.assertEqual(self.server(addr)["state"], "down")
        b_before = int(self.server("127.0.0.1:%d" % pb)["requests"])
        self.assertGreaterEqual(b_before, 20)
        old = h.pid
        os.kill(old, signal.SIGUSR2)

        def new_master():
            new = h._pid_file_pid()
            if not os.path.exists(h.pid_file + ".oldbin") or not new or new == old or \
                    len(herdtest.children_of(new)) != WORKERS:
                return None
            return new
        new = herdtest.wait_for(new_master, 10 * herdtest.SLOW, what="the new master")
        try:
            # Only the new master's workers serve: they never try the server.
            os.kill(old, signal.SIGWINCH)
            herdtest.wait_for(lambda: not (set(herdtest.children_of(old)) - {new}),
                              10 * herdtest.SLOW, what="the old workers to leave")
            self.assertEqual(set(self.fresh_gets(60)), {"b"})
            s = self.server(addr)
            self.assertEqual((s["state"], s["requests"], s["failures"]), ("down", "2", "2"))
            # The counters went on in the page passed on, not in a new one.
            self.assertEqual(int(self.server("127.0.0.1:%d" % pb)["requests"]), b_before + 60)
        finally:
            os.kill(old, signal.SIGQUIT)
            herdtest.wait_for(lambda: not herdtest.pid_alive(old) or
                              herdtest.proc_stat(old)[0] == "Z", 10 * herdtest.SLOW,
                              what="the old master to exit")
            os.kill(new, signal.SIGTERM)

    def test_active_down_survives_reload(self):
        pb, dead = herdtest.free_port(), herdtest.free_port()
        self.backend("b", pb)
        up = """{ name = "app"; max_fails = 0;
            servers = ( { address = "127.0.0.1:%d"; }, { address = "127.0.0.1:%d"; } );
            health_check = { path = "/"; interval = "300ms"; timeout = "300ms";
                             fails = 3; }; }""" % (
            dead, pb)
        h = self.herd(conf(up))
        self.port = h.port()
        addr = "127.0.0.1:%d" % dead
        herdtest.wait_for(self.state_is(addr, "down"), 10, what="the dead server down")
        herdtest.wait_for(self.state_is("127.0.0.1:%d" % pb, "up"), 10, what="b up")
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.server(addr)["state"], "down")
        self.assertEqual(set(self.fresh_gets(60)), {"b"})
        self.assertEqual(int(self.server(addr)["requests"]), 0)
        self.assertIn("upstream 'app' server %s is down: health check failed" % addr,
                      h.log_text())
        # herd -s status has the same lines.
        rc, out, err = h.run("-c", h.conf, "-s", "status")
        self.assertEqual(rc, 0, err)
        self.assertIn("upstream app server %s state=down" % addr, out)

    def test_prometheus_series_per_server(self):
        pb = herdtest.free_port()
        self.backend("b", pb)
        up = """{ name = "app";
            servers = ( { address = "127.0.0.1:%d"; } );
            health_check = { path = "/"; interval = "300ms"; timeout = "300ms";
                             fails = 3; }; }""" % pb
        h = self.herd(conf(up))
        self.port = h.port()
        addr = "127.0.0.1:%d" % pb
        herdtest.wait_for(self.state_is(addr, "up"), 10, what="b up")
        self.fresh_gets(5)
        st, hdrs, body = herdtest.get(self.port, "/metrics")
        self.assertEqual(st, 200)
        types, samples = parse_prometheus(body.decode())
        labels = (("server", addr), ("upstream", "app"))

        def sample(name, *extra):
            return samples[(name, tuple(sorted(labels + extra)))]

        self.assertEqual(types["herd_upstream_server_state"], "gauge")
        self.assertEqual(types["herd_upstream_server_requests_total"], "counter")
        self.assertEqual(types["herd_upstream_server_response_seconds"], "summary")
        self.assertEqual(sample("herd_upstream_server_state", ("state", "up")), 1)
        self.assertEqual(sample("herd_upstream_server_state", ("state", "down")), 0)
        self.assertEqual(sample("herd_upstream_server_requests_total"), 5)
        self.assertEqual(sample("herd_upstream_server_failures_total"), 0)
        self.assertEqual(sample("herd_upstream_server_response_seconds_count"), 5)
        self.assertGreaterEqual(sample("herd_upstream_server_response_seconds_sum"), 0)
        self.assertGreaterEqual(sample("herd_upstream_server_connections", ("state", "idle")), 1)
        self.assertEqual(sample("herd_upstream_server_connections", ("state", "active")), 0)

    def test_unix_socket_upstream(self):
        d = tempfile.mkdtemp(prefix="herd-unix-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)      # the workers run as nobody
        path = os.path.join(d, "app.sock")
        self.backend("u", "unix:" + path)
        up = """{ name = "app"; servers = ( { address = "unix:%s"; } );
            health_check = { path = "/healthz"; interval = "300ms"; timeout = "300ms";
                             fails = 3; }; }""" % path
        h = self.herd(conf(up))
        self.port = h.port()
        herdtest.wait_for(self.state_is("unix:" + path, "up"), 10, what="unix server up")
        self.assertEqual(set(self.fresh_gets(10)), {"u"})
        self.assertEqual(int(self.server("unix:" + path)["requests"]), 10)


PROM_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? '
                         r'(?P<value>[-+]?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse_prometheus(text):
    """{name: kind} and {(name, ((label, value), ...)): value}; every line
    must be a comment, a TYPE/HELP line or a well-formed sample."""
    types, samples = {}, {}
    for line in text.split("\n"):
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = PROM_SAMPLE.match(line)
        if m is None:
            raise AssertionError("unparseable sample line %r" % line)
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                         m.group("labels") or "")))
        key = (m.group("name"), labels)
        if key in samples:
            raise AssertionError("two samples for %r" % (key,))
        samples[key] = float(m.group("value"))
    return types, samples


if __name__ == "__main__":
    herdtest.main()
