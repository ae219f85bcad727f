#!/usr/bin/env python3
"""The status handler (json, text, prometheus), its access lists, its
counters and gauges, generations across a reload, and `herd -s status`."""

import json
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader  # noqa: E402
from httpkit import request, fetch  # noqa: E402

WORKERS = 2

CONF = herdtest.top(WORKERS) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/status"; exact = true;
        status = { format = "json"; }; allow = [ "127.0.0.1" ]; },
      { path = "/status.txt"; exact = true; status = { format = "text"; }; },
      { path = "/metrics"; status = { format = "prometheus"; }; allow = [ "127.0.0.0/8" ]; },
      { path = "/denied"; status = { format = "json"; }; deny = [ "all" ]; },
      { path = "/private"; status = { format = "json"; }; allow = [ "10.0.0.0/8", "::1" ]; },
      { path = "/deny-wins"; status = { format = "json"; };
        allow = [ "127.0.0.1" ]; deny = [ "127.0.0.0/8" ]; },
      { path = "/hello"; return = { body = "hello\\n"; }; }
    );
  }
);
"""

COUNTERS = ("accepted", "handled", "active", "reading", "writing", "idle", "requests",
            "bytes_in", "bytes_out")

PROM_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                         r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                         r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*,?)?\})?'
                         r' (?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|NaN|[+-]?Inf))'
                         r'(?: -?\d+)?$')


class StatusTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF)
        self.port = self.h.port()
        self.h.wait_workers(WORKERS)

    def status(self, path="/status"):
        r = fetch(self.port, request("GET", path))
        self.assertEqual(r.status, 200, "%s: %r" % (path, r.body[:200]))
        return r

    def json_status(self):
        r = self.status()
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"),
                        r.header("Content-Type"))
        try:
            return json.loads(r.body)
        except ValueError as e:
            self.fail("status is not JSON (%s): %r" % (e, r.body[:500]))

    # ------------------------------------------------------------- json

    def test_json_shape(self):
        r = self.status()
        self.assertEqual(r.header("Cache-Control"), "no-store")
        st = json.loads(r.body)
        self.assertIsInstance(st.get("generation"), int, st)
        self.assertIsInstance(st.get("uptime"), int, st)
        self.assertGreaterEqual(st["uptime"], 0)
        total = st.get("total")
        self.assertIsInstance(total, dict, st)
        for k in COUNTERS:
            self.assertIsInstance(total.get(k), int, "total.%s missing: %r" % (k, total))
            self.assertGreaterEqual(total[k], 0)
        workers = st.get("workers")
        self.assertIsInstance(workers, list, st)
        self.assertEqual(len(workers), WORKERS, workers)
        pids = sorted(w.get("pid") for w in workers)
        self.assertEqual(pids, sorted(self.h.worker_pids()))
        self.assertEqual(sorted(w.get("slot") for w in workers), list(range(WORKERS)))
        for w in workers:
            self.assertEqual(w.get("generation"), st["generation"], w)
        # The totals are the sums of the workers' counters (no other
        # traffic: the counters cannot move between the two reads).
        for k in ("requests", "accepted", "bytes_in"):
            for w in workers:
                self.assertIsInstance(w.get(k), int, "worker without %s: %r" % (k, w))
            self.assertEqual(sum(w[k] for w in workers), total[k], k)

    def wait_totals(self, what, ok):
        """Poll the JSON totals until ok(totals) holds. A worker counts a
        connection as handled only once it has seen the client's FIN, and
        another worker may answer the next status request before that: a
        test must wait for the numbers, never read them once and hope.
        Returns (totals, polls); every poll is a request counting itself."""
        polls = [0]

        def counted():
            polls[0] += 1
            t = self.json_status()["total"]
            return t if ok(t) else None
        t = herdtest.wait_for(counted, 5 * herdtest.SLOW, what=what)
        return t, polls[0]

    def test_requests_counter(self):
        n = 10
        before = self.json_status()["total"]
        for i in range(n):
            self.assertEqual(fetch(self.port, request("GET", "/hello")).status, 200)

        def grew(t, k):
            return t[k] - before[k]
        # The n connections and the first status request's own.
        def settled(t):
            return (grew(t, "handled") >= n + 1 and grew(t, "requests") >= n + 1 and
                    grew(t, "bytes_out") > n * len(b"hello\n"))
        after, polls = self.wait_totals("%d more handled connections" % (n + 1), settled)
        # n requests, plus one per status request after the first (whichever
        # worker answers, each status request counts itself before it renders).
        self.assertEqual(grew(after, "requests"), n + polls, (before, after))
        self.assertGreaterEqual(grew(after, "accepted"), n + polls)
        self.assertGreater(grew(after, "bytes_in"), n * len(request("GET", "/hello")) - 1)
        self.assertGreater(grew(after, "bytes_out"), n * len(b"hello\n"))

    def test_keep_alive_requests_counted(self):
        before = self.json_status()["total"]
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(b"".join(request("GET", "/hello") for _ in range(7)))
        for _ in range(7):
            self.assertEqual(rd.read_response().status, 200)
        after, polls = self.wait_totals(
            "7 more requests", lambda t: t["requests"] - before["requests"] >= 7)
        self.assertEqual(after["requests"] - before["requests"], 7 + polls, (before, after))

    def test_gauges(self):
        idle = []
        for _ in range(3):
            s = self.sock()
            s.sendall(request("GET", "/hello"))
            HttpReader(s).read_response()
            idle.append(s)

        # Three idle connections and the status request's own. Not "a first
        # reading + 3": that reading may count a start-up probe connection
        # that a worker closes only later.
        def seen():
            t = self.json_status()["total"]
            return t if t["idle"] >= 3 and t["active"] >= 3 + 1 else None
        t = herdtest.wait_for(seen, 3 * herdtest.SLOW, what="3 idle keep-alive connections")
        self.assertLessEqual(t["reading"] + t["writing"] + t["idle"], t["active"], t)
        for s in idle:
            s.close()
        self.socks = []

        def gone():
            t = self.json_status()["total"]
            return t if t["idle"] == 0 and t["active"] <= 1 else None
        herdtest.wait_for(gone, 3 * herdtest.SLOW, what="the idle connections to be closed")

    def test_generation_after_reload(self):
        st = self.json_status()
        g0 = st["generation"]
        old = set(self.h.worker_pids())
        mark = self.h.log_mark()
        self.h.signal(signal.SIGHUP)

        def reloaded():
            s = self.json_status()
            ws = s["workers"]
            if s["generation"] == g0 + 1 and len(ws) == WORKERS and \
                    all(w["generation"] == g0 + 1 for w in ws) and \
                    not (set(w["pid"] for w in ws) & old):
                return s
            return None
        try:
            st2 = herdtest.wait_for(reloaded, 10 * herdtest.SLOW, interval=0.1,
                                    what="generation %d" % (g0 + 1))
        except AssertionError:
            self.fail("status after SIGHUP: %s\n%s" % (self.status().body.decode(),
                                                       self.h.log_since(mark)))
        self.assertEqual(len(st2["workers"]), WORKERS)

    # ------------------------------------------------------ other formats

    def test_text_format(self):
        r = self.status("/status.txt")
        self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"))
        text = r.body.decode()
        self.assertRegex(text, r"(?m)^Active connections: \d+\s*$")
        m = re.search(r"server accepts handled requests\n\s*(\d+) (\d+) (\d+)", text)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(3)), 1)
        self.assertRegex(text, r"Reading: \d+ Writing: \d+ Waiting: \d+")

    def test_prometheus_format(self):
        for _ in range(3):
            fetch(self.port, request("GET", "/hello"))
        r = self.status("/metrics")
        ctype = r.header("Content-Type") or ""
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        text = r.body.decode()
        self.assertTrue(text.endswith("\n"))
        self.assertIn("# TYPE herd_requests_total counter\n", text)
        types = {}
        samples = {}
        for line in text.split("\n")[:-1]:
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.assertIn(kind, ("counter", "gauge", "untyped", "summary", "histogram"))
                self.assertNotIn(name, types, "two TYPE lines for %s" % name)
                types[name] = kind
                continue
            if line.startswith("#"):
                self.assertTrue(line.startswith("# HELP "), line)
                continue
            m = PROM_SAMPLE.match(line)
            self.assertIsNotNone(m, "unparseable sample line %r" % line)
            self.assertIn(m.group("name"), types, "sample before its TYPE: %r" % line)
            samples.setdefault(m.group("name"), []).append(float(m.group("value")))
        self.assertIn("herd_requests_total", samples)
        self.assertGreaterEqual(sum(samples["herd_requests_total"]), 4)
        # Counters are counters, not gauges.
        self.assertEqual(types.get("herd_requests_total"), "counter")
        for name, kind in types.items():
            self.assertTrue(name.startswith("herd_"), name)
            if kind == "counter":
                self.assertTrue(name.endswith("_total"), name)

    # -------------------------------------------------------- access, methods

    def test_deny_all_403(self):
        r = fetch(self.port, request("GET", "/denied"))
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"generation", r.body)

    def test_allow_list_excludes_client(self):
        r = fetch(self.port, request("GET", "/private"))
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"generation", r.body)

    def test_deny_wins_over_allow(self):
        r = fetch(self.port, request("GET", "/deny-wins"))
        self.assertEqual(r.status, 403)

    def test_head_and_post(self):
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(request("HEAD", "/status"))
        r = rd.read_response(head_only=True)
        self.assertEqual(r.status, 200)
        self.assertIsNotNone(r.header("Content-Length"))
        s.sendall(request("GET", "/hello"))
        self.assertEqual(rd.read_response().body, b"hello\n", "a body followed a HEAD")
        r = fetch(self.port, request("POST", "/status", body=b"x"))
        self.assertEqual(r.status, 405)
        self.assertEqual(sorted(m.strip() for m in (r.header("Allow") or "").split(",")),
                         ["GET", "HEAD"])

    # ------------------------------------------------------------ the CLI

    def test_cli_status(self):
        rc, out, err = self.h.run("-c", self.h.conf, "-s", "status", timeout=20)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("Active connections:", out)


if __name__ == "__main__":
    herdtest.main()
