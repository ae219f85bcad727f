#!/usr/bin/env python3
"""The reverse proxy's upstream connections over time, against the
threaded backend of test_proxy.py (started here on free ports; this one
also counts the connections it closed, and may close idle ones itself).

What is measured:
- keepalive_timeout: an idle upstream connection is closed no sooner than
  it says, and the next request opens a new one;
- a backend that closes idle connections after 50 ms, asked at pauses
  around that time: no GET ever gets a 502, and no POST reaches the
  backend twice (retried only when none of it had left herd);
- a POST on a reused connection that the backend reads and then resets:
  502, sent once, on no new connection;
- 20 reloads (SIGHUP) under keep-alive proxied load (wrk): no failed
  request, and a slow request in flight across a reload finishes on the
  old generation."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import test_proxy  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402
from test_proxy import conf, fetch  # noqa: E402


class Backend(test_proxy.Backend):
    """test_proxy's backend, counting the connections it closed; with
    idle_timeout, a connection that waits that long for a request is
    closed (as gunicorn's or node's keep-alive timeout does)."""

    def __init__(self, name="backend", idle_timeout=None):
        self.closed = 0
        self.idle_timeout = idle_timeout
        super().__init__(name)

    def _serve(self, c):
        c.settimeout(self.idle_timeout or 60)
        r = c.makefile("rb")
        try:
            while True:
                head = self._read_head(r)
                if head is None or not self._answer(c, r, head):
                    return
        except OSError:
            pass
        finally:
            r.close()
            c.close()
            with self.lock:
                self.closed += 1


class ProxyPoolTest(HerdTestCase):

    def backend(self, name="backend", idle_timeout=None):
        b = Backend(name, idle_timeout)
        self.addCleanup(b.stop)
        return b

    def test_keepalive_timeout_closes_idle_connections(self):
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], workers=1, upstream='keepalive_timeout = "300ms";'))
        t0 = time.monotonic()
        self.assertEqual(fetch(h.port(), "/echo").status, 200)
        herdtest.wait_for(lambda: b.closed == 1, 10, what="the idle connection closed")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(fetch(h.port(), "/echo").status, 200)
        self.assertEqual(b.accepted, 2)

    def test_backend_closing_idle_connections_costs_no_get(self):
        b = self.backend(idle_timeout=0.05)
        h = self.herd(conf([(b.port, 1)], workers=1, keepalive=4))
        pauses = (0.0, 0.03, 0.045, 0.05, 0.055, 0.07)
        gets, posts = [], {}
        s = herdtest.connect(h.port(), timeout=30)
        rd = herdtest.HttpReader(s, 30)
        try:
            for i in range(180):
                time.sleep(pauses[i % len(pauses)])
                if i % 2:
                    s.sendall(herdtest.http_request("POST", "/post-%d" % i, body=b"x" * 100))
                    posts[i] = test_proxy.read_response(rd).status
                else:
                    s.sendall(herdtest.http_request("GET", "/echo"))
                    gets.append(test_proxy.read_response(rd).status)
        finally:
            s.close()
        herdtest.diag("%d upstream connections; POST statuses %s"
                      % (b.accepted, sorted(set(posts.values()))))
        self.assertEqual(set(gets), {200})
        self.assertTrue(set(posts.values()) <= {200, 502}, posts)
        for i, status in posts.items():
            seen = b.hits.get("/post-%d" % i, 0)
            self.assertLessEqual(seen, 1, "POST %d reached the backend %d times" % (i, seen))
            if status == 200:
                self.assertEqual(seen, 1)

    def test_post_reset_on_a_reused_connection_is_502_once(self):
        b = self.backend()
        b2 = self.backend("second")
        h = self.herd(conf([(b.port, 1), (b2.port, 1)], workers=1, route="retries = 3;"))
        s = herdtest.connect(h.port(), timeout=30)
        rd = herdtest.HttpReader(s, 30)
        try:
            for _ in range(2):      # one idle connection to each
                s.sendall(herdtest.http_request("GET", "/echo"))
                self.assertEqual(test_proxy.read_response(rd).status, 200)
            s.sendall(herdtest.http_request("POST", "/reset", body=b"data"))
            self.assertEqual(test_proxy.read_response(rd).status, 502)
        finally:
            s.close()
        self.assertEqual(b.hits.get("/reset", 0) + b2.hits.get("/reset", 0), 1)
        self.assertEqual((b.accepted, b2.accepted), (1, 1))

    def test_reloads_under_proxied_load(self):
        if not shutil.which("wrk"):
            self.fail("wrk is missing: install the Debian package wrk")
        b = self.backend()
        h = self.herd(conf([(b.port, 1)], workers=2, keepalive=8))
        self.assertEqual(fetch(h.port(), "/echo").status, 200)
        wrk = subprocess.Popen(["wrk", "-t2", "-c8", "-d10s",
                                "http://127.0.0.1:%d/echo" % h.port()],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        slow = {}

        def slow_request():
            slow["status"] = fetch(h.port(), "/slow").status

        try:
            herdtest.wait_for(lambda: b.hits.get("/echo", 0) > 100, 10, what="load going")
            t = threading.Thread(target=slow_request)
            t.start()
            herdtest.wait_for(lambda: b.hits.get("/slow", 0) == 1, 10,
                              what="the slow request at the backend")
            for _ in range(20):
                h.signal(signal.SIGHUP)
                time.sleep(0.4)
                self.assertTrue(h.alive(), "herd died during the reloads\n" + h.log_tail())
            t.join(30)
            out = wrk.communicate(timeout=40)[0].decode("utf-8", "replace")
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        herdtest.diag(out)
        self.assertEqual(slow.get("status"), 200, "the request in flight across a reload")
        log = h.log_text()
        self.assertNotIn("reload failed", log, h.log_tail())
        generations = [int(g) for g in re.findall(r"generation (\d+) serving", log)]
        self.assertGreaterEqual(max(generations, default=0), 11, h.log_tail())
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        self.assertGreater(requests, 1000, out)
        self.assertNotIn("Socket errors", out)
        self.assertNotIn("Non-2xx", out)


if __name__ == "__main__":
    herdtest.main()
