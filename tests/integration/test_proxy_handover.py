#!/usr/bin/env python3
"""Idle upstream connections across reloads: a draining worker hands its
kept-alive upstream connections over to the new generation (through the
master), which keeps those its configuration still has a place for.
Against test_proxy_pool's threaded backend (started here on free ports),
which counts the connections it accepted and the ones that ended.

What is measured, with 2 workers and keepalive = 4, pools warmed until the
status says 8 connections are idle:
- SIGHUP, and `herd -s reload`: once the old workers have exited, the 8 are
  idle in the new generation, and 40 requests open no new connection to
  the backend and close none;
- a reload whose configuration no longer has the upstream: the backend sees
  all 8 closed, and accepts nothing;
- a reload that moves the upstream to another server address: the 8 old
  ones are closed, none reused; the new address gets the requests;
- a reload to keepalive = 1: each new worker keeps one, the rest are closed;
- 20 reloads under keep-alive proxied load (wrk, keepalive as large as
  its connections): no failed request, a slow one in flight across them
  answered (how many connections the backend
  accepted meanwhile is reported: under load some are inevitable, as the
  new workers take requests while the old ones' connections are busy)."""

import os
import re
import shutil
import subprocess
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import test_proxy_pool  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402
from test_proxy import conf, fetch  # noqa: E402

WORKERS = 2
KEEPALIVE = 4
IDLE = WORKERS * KEEPALIVE


class Backend(test_proxy_pool.Backend):
    """The pool test's backend; /pause answers after 0.2 s, so that
    concurrent requests overlap in each worker and fill its pool."""

    def _answer(self, c, r, head):
        if head["target"] == "/pause":
            time.sleep(0.2)
        return super()._answer(c, r, head)

    def counts(self):
        with self.lock:
            return self.accepted, self.closed


class ProxyHandoverTest(HerdTestCase):

    def backend(self, name="backend"):
        b = Backend(name)
        self.addCleanup(b.stop)
        return b

    def start(self, b, **kw):
        kw.setdefault("keepalive", KEEPALIVE)
        h = self.herd(conf([(b.port, 1)], workers=WORKERS, **kw))
        self.assertEqual(fetch(h.port(), "/echo").status, 200)
        return h

    def idle(self, h, port):
        """The idle connections to 127.0.0.1:port, all workers together."""
        rc, out, err = h.run("-c", h.conf, "-s", "status")
        self.assertEqual(rc, 0, out + err)
        m = re.search(r"upstream app server 127\.0\.0\.1:%d state=\S+ active=(\d+) idle=(\d+)"
                      % port, out)
        return int(m.group(2)) if m and m.group(1) == "0" else -1

    def warm(self, h, b):
        """Concurrent requests until every worker keeps KEEPALIVE idle."""
        def burst():
            threads = [threading.Thread(target=fetch, args=(h.port(), "/pause"))
                       for _ in range(4 * IDLE)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)

        def full():
            n = self.idle(h, b.port)
            if n == IDLE:
                return True
            # Fewer: another burst. More: a burst's extra connections, each
            # closed after a second idle (beyond keepalive): wait for them.
            if n < IDLE:
                burst()
            return False
        herdtest.wait_for(full, 60, what="%d idle upstream connections" % IDLE)
        # The backend has seen the end of every other one (it notices late).
        herdtest.wait_for(lambda: b.counts()[0] - b.counts()[1] == IDLE, 20,
                          what="the backend to see %d connections open" % IDLE)

    def reload(self, h, via_cli=False):
        """Reload; return once the old workers have exited."""
        old = h.worker_pids()
        mark = h.log_mark()
        if via_cli:
            rc, out, err = h.reload_via_cli()
            self.assertEqual(rc, 0, out + err)
        else:
            h.signal(signal.SIGHUP)
        h.wait_log(r"generation \d+ serving; generation \d+ draining", 20, since=mark)
        h.wait_workers(WORKERS, 20, exclude=old)
        return mark

    def requests_reuse_all(self, h, b, n=40):
        before = b.counts()
        for _ in range(n):
            self.assertEqual(fetch(h.port(), "/echo").status, 200)
        self.assertEqual(b.counts(), before, "(accepted, closed) by the backend")

    def check_kept_across(self, via_cli):
        b = self.backend()
        h = self.start(b)
        self.warm(h, b)
        before = b.counts()
        mark = self.reload(h, via_cli)
        # The master passed on what each old worker handed over.
        herdtest.wait_for(lambda: len(re.findall(
            r"handed over %d idle upstream connections; %d passed on, 0 closed"
            % (KEEPALIVE, KEEPALIVE), h.log_since(mark))) == WORKERS, 20,
            what="both old workers' connections passed on")
        # ... and the new workers took them (each reads its channel in its
        # own time).
        herdtest.wait_for(lambda: self.idle(h, b.port) == IDLE, 20,
                          what="%d idle upstream connections in the new generation" % IDLE)
        self.assertEqual(b.counts(), before, "(accepted, closed) by the backend")
        self.requests_reuse_all(h, b)

    def test_idle_connections_survive_sighup(self):
        self.check_kept_across(via_cli=False)

    def test_idle_connections_survive_herd_s_reload(self):
        self.check_kept_across(via_cli=True)

    def test_a_reload_without_the_upstream_closes_them(self):
        b = self.backend()
        h = self.start(b)
        self.warm(h, b)
        accepted, closed = b.counts()
        h.rewrite_config(herdtest.top(WORKERS) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
              routes = ( { path = "/"; return = { status = 200; body = "no proxy"; }; } ); } );
""")
        self.reload(h)
        herdtest.wait_for(lambda: b.counts()[1] == closed + IDLE, 20,
                          what="the backend to see its %d connections closed" % IDLE)
        self.assertEqual(fetch(h.port(), "/echo").body, b"no proxy")
        self.assertEqual(b.counts(), (accepted, closed + IDLE))

    def test_a_reload_that_moves_the_server_does_not_reuse_them(self):
        b = self.backend()
        h = self.start(b)
        self.warm(h, b)
        accepted, closed = b.counts()
        b2 = self.backend("moved")
        h.rewrite_config(conf([(b2.port, 1)], workers=WORKERS, keepalive=KEEPALIVE))
        self.reload(h)
        herdtest.wait_for(lambda: b.counts()[1] == closed + IDLE, 20,
                          what="the backend to see its %d connections closed" % IDLE)
        for _ in range(10):
            r = fetch(h.port(), "/echo")
            self.assertEqual((r.status, r.header("x-backend")), (200, "moved"))
        self.assertEqual(b.counts(), (accepted, closed + IDLE))
        self.assertGreaterEqual(b2.counts()[0], 1)

    def test_keepalive_lowered_on_reload_closes_the_extra(self):
        b = self.backend()
        h = self.start(b)
        self.warm(h, b)
        accepted, closed = b.counts()
        h.rewrite_config(conf([(b.port, 1)], workers=WORKERS, keepalive=1))
        self.reload(h)
        herdtest.wait_for(lambda: b.counts()[1] == closed + IDLE - WORKERS, 20,
                          what="the connections beyond keepalive closed")
        herdtest.wait_for(lambda: self.idle(h, b.port) == WORKERS, 20,
                          what="one idle connection in each new worker")
        self.assertEqual(b.counts(), (accepted, closed + IDLE - WORKERS))
        self.requests_reuse_all(h, b)

    def test_reloads_under_proxied_load(self):
        if not shutil.which("wrk"):
            self.fail("wrk is missing: install the Debian package wrk")
        b = self.backend()
        h = self.start(b, keepalive=8)
        wrk = subprocess.Popen(["wrk", "-t2", "-c8", "-d30s",
                                "http://127.0.0.1:%d/echo" % h.port()],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        slow = {}

        def slow_request():
            slow["status"] = fetch(h.port(), "/slow").status

        try:
            herdtest.wait_for(lambda: b.hits.get("/echo", 0) > 100, 10, what="load going")
            accepted = b.counts()[0]
            t = threading.Thread(target=slow_request)
            t.start()
            herdtest.wait_for(lambda: b.hits.get("/slow", 0) == 1, 10,
                              what="the slow request at the backend")
            for _ in range(20):
                self.reload(h)
                self.assertTrue(h.alive(), "herd died during the reloads\n" + h.log_tail())
            opened = b.counts()[0] - accepted
            t.join(30)
            wrk.send_signal(signal.SIGINT)
            out = wrk.communicate(timeout=40)[0].decode("utf-8", "replace")
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        herdtest.diag(out)
        herdtest.diag("%d backend connections opened over 20 reloads" % opened)
        self.assertEqual(slow.get("status"), 200, "the request in flight across reloads")
        self.assertNotIn("reload failed", h.log_text(), h.log_tail())
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        self.assertGreater(requests, 1000, out)
        self.assertNotIn("Socket errors", out)
        self.assertNotIn("Non-2xx", out)
        self.assertIn("passed on", h.log_text())


if __name__ == "__main__":
    herdtest.main()
