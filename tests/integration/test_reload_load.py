#!/usr/bin/env python3
"""Acceptance: 20 reloads under wrk load cost zero failed requests, with
keep-alive and with a new connection per request."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";
    routes = (
      { path = "/hello"; exact = true;
        return = { status = 200; type = "text/plain"; body = "Hello, world!\\n"; }; }
    );
  }
);
"""

RELOADS = 20
SPACING = 0.4
DURATION = 10


def pin(cpu):
    """A taskset prefix pinning to one CPU, when there are two to share."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def parse_wrk(out):
    m = re.search(r"(\d+) requests in", out)
    requests = int(m.group(1)) if m else 0
    socket_errors = None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                 (int(x) for x in m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    return requests, socket_errors, non2xx


class ReloadUnderLoadTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which("wrk"):
            self.skipTest("wrk is not installed")

    def run_load(self, extra_args):
        h = self.herd(CONF, prefix=pin(0))
        url = "http://127.0.0.1:%d/hello" % h.port()
        status, _, body = herdtest.get(h.port(), "/hello")
        self.assertEqual((status, body), (200, b"Hello, world!\n"))
        cmd = pin(1) + ["wrk", "-t2", "-c50", "-d%ds" % DURATION] + extra_args + [url]
        herdtest.diag("running: " + " ".join(cmd))
        wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        out = ""
        sent = 0
        try:
            time.sleep(0.5)
            for _ in range(RELOADS):
                h.signal(signal.SIGHUP)
                sent += 1
                time.sleep(SPACING)
                self.assertTrue(h.alive(), "herd died during the reloads\n" + h.log_tail())
            out = wrk.communicate(timeout=DURATION + 30)[0].decode("utf-8", "replace")
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        herdtest.diag(out)
        self.assertEqual(wrk.returncode, 0, "wrk failed")
        log = h.log_text()
        generations = [int(g) for g in re.findall(r"generation (\d+) serving", log)]
        herdtest.diag("%d HUPs sent; %d generations served (last %s); %d reloads failed"
                      % (sent, len(generations), max(generations, default=None),
                         log.count("reload failed")))
        self.assertNotIn("reload failed", log, h.log_tail())
        self.assertGreaterEqual(max(generations, default=0), RELOADS // 2 + 1,
                                "too few reloads actually happened:\n" + h.log_tail())
        requests, socket_errors, non2xx = parse_wrk(out)
        self.assertGreater(requests, 0, "wrk made no requests")
        if socket_errors is not None:
            self.assertEqual(socket_errors, dict(connect=0, read=0, write=0, timeout=0),
                             "socket errors during reloads")
        self.assertEqual(non2xx, 0, "non-2xx/3xx responses during reloads")
        # After the storm: exactly the configured workers remain.
        h.wait_workers(2, timeout=5.0)
        status, _, body = herdtest.get(h.port(), "/hello")
        self.assertEqual((status, body), (200, b"Hello, world!\n"))

    def test_keep_alive(self):
        self.run_load([])

    def test_connection_close(self):
        self.run_load(["-H", "Connection: close"])


def resize_conf(workers):
    return herdtest.top(workers) + CONF[len(herdtest.top(2)):]


class ResizeUnderLoadTest(HerdTestCase):
    """Reloads that change the worker count (3 -> 1 -> 3 ...) under a load of
    new connections lose none: the sockets of removed slots are steered away
    from and emptied, not closed with connections queued on them."""

    def test_resize_costs_nothing(self):
        h = self.herd(resize_conf(3))
        port = h.port()
        counts = {"ok": 0, "failed": 0}
        failures = []
        stop = [False]

        def client():
            while not stop[0]:
                try:
                    status, _, body = herdtest.get(port, "/hello",
                                                   headers={"Connection": "close"})
                    if (status, body) == (200, b"Hello, world!\n"):
                        counts["ok"] += 1
                        continue
                    failures.append("status %s" % status)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    failures.append(repr(e))
                counts["failed"] += 1

        import threading
        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            for i in range(10):
                time.sleep(0.3)
                h.rewrite_config(resize_conf(1 if i % 2 == 0 else 3))
                rc, out, err = h.reload_via_cli()
                self.assertEqual(rc, 0, err)
            time.sleep(0.3)
        finally:
            stop[0] = True
            for t in threads:
                t.join()
        herdtest.diag("resizing reloads: %d requests answered, %d failed %s"
                      % (counts["ok"], counts["failed"], failures[:5]))
        self.assertGreater(counts["ok"], 100, "the load made too few requests")
        self.assertEqual(counts["failed"], 0, failures[:10])
        h.wait_workers(3, timeout=5.0)


if __name__ == "__main__":
    herdtest.main()
