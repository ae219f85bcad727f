#!/usr/bin/env python3
"""The status handler (json, text, prometheus), its access lists, its
counters and gauges, generations across a reload, and `herd -s status`."""

import json
import os
import re
import signal
import sys
import time

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
        for w in workers:
            for k in COUNTERS:
                self.assertIsInstance(w.get(k), int, "worker without %s: %r" % (k, w))
        # The totals are the sums of the slots (each the counts of its
        # workers that have exited plus its live ones), which is the sum of
        # the workers while none has exited yet.
        slots = st.get("slots")
        self.assertEqual([s.get("slot") for s in slots], list(range(WORKERS)), slots)
        for k in COUNTERS:
            self.assertEqual(sum(s[k] for s in slots), total[k], k)
        for k in ("requests", "accepted", "bytes_in"):
            self.assertEqual(sum(w[k] for w in workers), total[k], k)
        for part in [total] + slots + workers:
            r = part.get("responses")
            self.assertEqual(sorted(r), ["1xx", "2xx", "3xx", "4xx", "5xx"], part)
        self.assertEqual(sum(sum(s["responses"].values()) for s in slots),
                         sum(total["responses"].values()))
        self.assertEqual(st.get("servers"), [
            {"server": "127.0.0.1:%d" % self.port,
             "responses": total["responses"]}])

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
        self.assertRegex(text, r"(?m)^Responses: 1xx=\d+ 2xx=\d+ 3xx=\d+ 4xx=\d+ 5xx=\d+$")
        for slot in range(WORKERS):
            self.assertRegex(text, r"(?m)^slot %d accepted=\d+ .* requests=\d+ .* 5xx=\d+$" % slot)
        self.assertRegex(text, r"(?m)^server 127\.0\.0\.1:%d 1xx=0 2xx=\d+ " % self.port)
        self.assertEqual(len(re.findall(r"(?m)^worker slot=\d+ pid=\d+ ", text)), WORKERS)

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
        # The same text as the status page: by slot, server and process.
        self.assertRegex(out, r"(?m)^Responses: 1xx=\d+ ")
        for slot in range(WORKERS):
            self.assertRegex(out, r"(?m)^slot %d accepted=\d+ " % slot)
        self.assertRegex(out, r"(?m)^server 127\.0\.0\.1:%d " % self.port)


# ------------------------------------------------------------------------
# Prometheus series across reloads, respawns and upgrades

SERIES_CONF = herdtest.top(WORKERS) + """
servers = (
  { listen = [ "127.0.0.1:$port" ]; server_names = [ "a.example", "www.a.example" ];
    routes = (
      { path = "/metrics"; status = { format = "prometheus"; }; },
      { path = "/ok"; return = { body = "ok\\n"; }; },
      { path = "/moved"; return = { status = 301; location = "/ok"; }; },
      { path = "/busy"; return = { status = 503; body = "busy\\n"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port_b" ];
    routes = ( { path = "/ok"; return = { body = "b\\n"; }; } );
  }
);
"""

SLOT_COUNTERS = ("herd_connections_accepted_total", "herd_connections_handled_total",
                 "herd_requests_total", "herd_received_bytes_total", "herd_sent_bytes_total")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def parse_prometheus(text):
    """{name: kind} and {(name, ((label, value), ...)): value} of a scrape."""
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


class SeriesTest(herdtest.HerdTestCase):
    """Every counter series stays, and never goes down, across a reload, a
    killed worker's respawn and a binary upgrade; the totals are exactly the
    requests made. Each scrape is checked against all the ones before."""

    def setUp(self):
        super().setUp()
        self.h = self.herd(SERIES_CONF)
        self.port, self.port_b = self.h.port(), self.h.port("b")
        self.h.wait_workers(WORKERS)
        self.b_name = "127.0.0.1:%d" % self.port_b
        self.requests = 0
        self.answers = {}           # (server, class) -> responses made
        self.seen = {}              # counter series -> highest value scraped
        self.kinds = {}

    def get(self, port, path, server):
        r = fetch(port, request("GET", path, host=server if port == self.port else "x"))
        self.requests += 1
        key = (server, "%dxx" % (r.status // 100))
        self.answers[key] = self.answers.get(key, 0) + 1
        return r

    def scrape(self):
        """One scrape, checked for monotonic counters; it counts itself as a
        request but not yet as a response (it is rendered before that)."""
        r = fetch(self.port, request("GET", "/metrics", host="a.example"))
        self.assertEqual(r.status, 200, r.body[:200])
        self.requests += 1
        types, samples = parse_prometheus(r.body.decode())
        self.kinds.update(types)
        for key, value in samples.items():
            self.assertNotIn(("worker", "exited"), key[1], "a pseudo-series of exited workers")
            self.assertNotIn("worker", dict(key[1]), "series labelled by process: %r" % (key,))
        for key, old in self.seen.items():
            self.assertIn(key, samples, "counter series %r vanished" % (key,))
            self.assertGreaterEqual(samples[key], old, "counter %r went down" % (key,))
        for key, value in samples.items():
            if types.get(key[0]) == "counter":
                self.seen[key] = value
        key = ("a.example", "2xx")
        self.answers[key] = self.answers.get(key, 0) + 1
        return samples

    def expected(self, samples):
        """None when samples show every request and answer made, else what differs."""
        def total(name, **want):
            return sum(v for (n, labels), v in samples.items()
                       if n == name and all(dict(labels).get(k) == x for k, x in want.items()))
        # This scrape's own answer is not in it yet.
        answers = dict(self.answers)
        answers[("a.example", "2xx")] -= 1
        diff = []
        if total("herd_requests_total") != self.requests:
            diff.append("requests %d, made %d" % (total("herd_requests_total"), self.requests))
        for c in CLASSES:
            made = sum(n for (srv, k), n in answers.items() if k == c)
            if total("herd_responses_total", code=c) != made:
                diff.append("%s %d, made %d" % (c, total("herd_responses_total", code=c), made))
            for srv in ("a.example", self.b_name):
                got = total("herd_server_responses_total", server=srv, code=c)
                if got != answers.get((srv, c), 0):
                    diff.append("%s %s %d, made %d" % (srv, c, got, answers.get((srv, c), 0)))
        return diff or None

    def settle(self, what):
        """Scrape until the numbers show everything made so far (each scrape
        is checked on its own: a failure there is not waited out)."""
        deadline = time.monotonic() + 5 * herdtest.SLOW
        while True:
            samples = self.scrape()
            diff = self.expected(samples)
            if diff is None:
                return samples
            if time.monotonic() >= deadline:
                self.fail("%s: %s\n%s" % (what, diff, self.h.log_tail()))
            time.sleep(0.02)

    def traffic(self):
        for _ in range(4):
            self.get(self.port, "/ok", "a.example")
        for path in ("/moved", "/busy", "/nowhere", "/busy"):
            self.get(self.port, path, "a.example")
        for _ in range(3):
            self.get(self.port_b, "/ok", self.b_name)

    def check_labels(self, samples):
        slots = set(str(i) for i in range(WORKERS))
        for name in SLOT_COUNTERS:
            self.assertEqual(self.kinds.get(name), "counter", name)
            got = [dict(labels) for n, labels in samples if n == name]
            self.assertEqual(sorted(d["slot"] for d in got), sorted(slots), (name, got))
            for d in got:
                self.assertEqual(set(d), {"slot"}, (name, d))
        codes = [dict(labels) for n, labels in samples if n == "herd_responses_total"]
        self.assertEqual(sorted((d["slot"], d["code"]) for d in codes),
                         sorted((s, c) for s in slots for c in CLASSES))
        servers = set(dict(labels)["server"] for n, labels in samples
                      if n == "herd_server_responses_total")
        self.assertEqual(servers, {"a.example", self.b_name})
        states = [dict(labels) for n, labels in samples if n == "herd_connections"]
        self.assertEqual(self.kinds.get("herd_connections"), "gauge")
        self.assertEqual(sorted((d["slot"], d["state"]) for d in states),
                         sorted((s, st) for s in slots for st in ("reading", "writing", "idle")))

    def test_series_survive_reload_and_respawn(self):
        self.settle("the first numbers")
        self.traffic()
        samples = self.settle("the numbers of the first traffic")
        self.check_labels(samples)
        self.assertEqual(sum(v for (n, labels), v in samples.items()
                             if n == "herd_responses_total" and ("code", "5xx") in labels), 2)

        old = set(self.h.worker_pids())
        self.h.signal(signal.SIGHUP)
        # Scrape all along the overlap of the two generations.
        herdtest.wait_for(lambda: self.scrape() and not (set(self.h.worker_pids()) & old)
                          and len(self.h.worker_pids()) == WORKERS,
                          10 * herdtest.SLOW, what="the new generation")
        self.traffic()
        self.settle("the numbers after the reload")

        victim = self.h.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        herdtest.wait_for(lambda: self.scrape() and
                          len(self.h.worker_pids()) == WORKERS and
                          victim not in self.h.worker_pids(),
                          10 * herdtest.SLOW, what="the killed worker's respawn")
        self.traffic()
        samples = self.settle("the numbers after the respawn")
        self.check_labels(samples)

    def test_slot_series_kept_when_workers_shrink(self):
        """A reload to fewer workers keeps the removed slot's series at its
        last values (gauges at 0); growing back continues them."""
        self.settle("the first numbers")
        self.traffic()
        self.settle("the numbers of the first traffic")
        for workers in (1, WORKERS):
            old = set(self.h.worker_pids())
            self.h.rewrite_config(SERIES_CONF.replace("workers = %d;" % WORKERS,
                                                      "workers = %d;" % workers))
            self.h.signal(signal.SIGHUP)
            herdtest.wait_for(lambda: self.scrape() and len(self.h.worker_pids()) == workers
                              and not (set(self.h.worker_pids()) & old),
                              10 * herdtest.SLOW, what="%d workers" % workers)
            self.traffic()
            samples = self.settle("the numbers with %d workers" % workers)
            self.check_labels(samples)      # both slots, whatever the count
            if workers == 1:
                self.assertEqual(samples[("herd_connections_open", (("slot", "1"),))], 0)

    def test_series_survive_upgrade(self):
        """USR2: the new master and its workers count into the page the old
        one passes on, so a scrape answered by either master's workers
        during the overlap, and every one after, continues the series."""
        self.settle("the first numbers")
        self.traffic()
        self.settle("the numbers of the first traffic")
        old = self.h.pid
        oldbin = self.h.pid_file + ".oldbin"
        os.kill(old, signal.SIGUSR2)

        def new_master():
            self.scrape()
            new = self.h._pid_file_pid()
            if not os.path.exists(oldbin) or not new or new == old or \
                    len(herdtest.children_of(new)) != WORKERS:
                return None
            return new
        new = herdtest.wait_for(new_master, 10 * herdtest.SLOW, what="the new master")
        self.addCleanup(self.stop_master, new)
        self.traffic()
        self.settle("the numbers with both masters serving")
        os.kill(old, signal.SIGWINCH)
        herdtest.wait_for(lambda: self.scrape() and herdtest.children_of(old) == [new],
                          10 * herdtest.SLOW, what="the old workers to leave")
        self.traffic()
        self.settle("the numbers with the old master's workers gone")
        os.kill(old, signal.SIGQUIT)
        herdtest.wait_for(lambda: self.scrape() and not herdtest.pid_alive(old),
                          10 * herdtest.SLOW, what="the old master to exit")
        self.traffic()
        samples = self.settle("the numbers after the upgrade")
        self.check_labels(samples)
        self.assertNotIn("do not fit", self.h.log_text())

    def stop_master(self, pid):
        if herdtest.pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            herdtest.wait_for(lambda: not herdtest.pid_alive(pid), 10 * herdtest.SLOW,
                              what="master %d to exit" % pid)


if __name__ == "__main__":
    herdtest.main()
