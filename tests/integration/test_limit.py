#!/usr/bin/env python3
"""Request limits (limit = { rate; burst; key; status; connections; }) over
real sockets, with two workers sharing the counts through the limit zone:
exactly burst + 1 answers then 429 with Retry-After, the same count
whichever worker takes each fresh connection (both do); keys counted
apart; requests in progress capped per key (held open by a backend that
answers when told), and given back when the workers holding them are
killed; 503 when configured; a refill at a fast rate; a
reload that keeps a limit keeps its counts, one that changes it starts
anew; and the configuration errors at FILE:LINE."""

import json
import os
import re
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase, HttpReader, http_request  # noqa: E402


def conf(limit, server_limit="", top=""):
    return herdtest.top(2, top) + """
upstreams = ( { name = "slow"; servers = ( { address = "127.0.0.1:$port_backend"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/access.log";
    access_log_format = "$$status $$request_uri";
    %s
    routes = (
      { path = "/status"; status = { format = "json"; }; },
      { path = "/slow"; limit = { connections = 2; }; proxy = { upstream = "slow"; }; },
      { path = "/limited"; limit = %s;
        return = { status = 200; type = "text/plain"; body = "ok\\n"; }; },
      { path = "/"; return = { status = 200; type = "text/plain"; body = "free\\n"; }; }
    ); }
);
""" % (server_limit, limit)


def ask(port, path="/limited", headers=()):
    """(status, response) of one request on a fresh connection."""
    s = herdtest.connect(port)
    try:
        s.sendall(http_request("GET", path, headers=[("Connection", "close")] + list(headers)))
        r = HttpReader(s).read_response()
        return r.status, r
    finally:
        s.close()


def slots(port):
    """The status page's slots: {slot: its responses by class}."""
    status, r = ask(port, "/status")
    assert status == 200, status
    return {s["slot"]: s["responses"] for s in json.loads(r.body)["slots"]}


class HeldBackend:
    """An upstream that reads each request and answers only once released."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.release = threading.Event()
        self.held = 0
        self.lock = threading.Lock()
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        """Requests one after another (herd keeps the connection alive)."""
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    return
                data += chunk
            data = data[data.index(b"\r\n\r\n") + 4:]
            with self.lock:
                self.held += 1
            self.release.wait(30)
            try:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow\n")
            except OSError:
                return

    def close(self):
        self.release.set()
        self.sock.close()
        for c in self.conns:
            c.close()


class LimitTest(HerdTestCase):

    def start(self, limit, **kw):
        h = self.herd(conf(limit, **kw), start=False)
        h.wait_ports = [h.port()]                       # no backend here
        h.start()
        return h

    def reload(self, h, limit, top=""):
        """Reload to this limit; return once the old workers are gone (until
        then one of them may still take a fresh connection)."""
        old = h.worker_pids()
        h.rewrite_config(conf(limit, top=top))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        h.wait_workers(2, timeout=10, exclude=old)

    def statuses(self, port, n, headers=()):
        got = []
        for _ in range(n):
            status, r = ask(port, headers=headers)
            got.append(status)
            if status == 429:
                ra = r.header("Retry-After")
                self.assertIsNotNone(ra, r)
                self.assertTrue(1 <= int(ra) <= 60, ra)
                self.assertIn(b"429 Too Many Requests", r.body)
        return got

    def test_burst_counted_across_workers(self):
        h = self.start('{ rate = "1r/m"; burst = 5; }')
        port = h.port()
        before = slots(port)
        # Fresh connections, spread over both workers at random by the
        # reuseport steering: the 7th request is refused whichever worker
        # takes it, and so is every one after.
        got = self.statuses(port, 40)
        self.assertEqual(got, [200] * 6 + [429] * 34)
        after = slots(port)
        status, r = ask(port, "/status")
        self.assertEqual(json.loads(r.body)["limited"], 34)
        refused = {s: after[s]["4xx"] - before[s]["4xx"] for s in after}
        self.assertEqual(sorted(refused), [0, 1])
        self.assertEqual(sum(refused.values()), 34)
        for s, n in refused.items():
            self.assertGreater(n, 0, "slot %d answered none of the refusals: %r" % (s, refused))
        # Other routes are not limited; the refusals are in both logs.
        self.assertEqual(ask(port, "/other")[0], 200)
        log = os.path.join(h.dir, "access.log")
        herdtest.wait_for(lambda: open(log).read().count("429 /limited\n") == 34,
                          5 * herdtest.SLOW, what="34 refusals in the access log")
        self.assertEqual(open(log).read().count("200 /limited\n"), 6)
        h.wait_log(r"request refused with 429: limiting requests: over the route's rate, "
                   r"client: 127\.0\.0\.1")

    def test_keys_apart_and_503(self):
        h = self.start('{ rate = "1r/m"; burst = 2; key = "$$http_x_client"; status = 503; }')
        port = h.port()
        a = [ask(port, headers=[("X-Client", "a")])[0] for _ in range(4)]
        b = [ask(port, headers=[("X-Client", "b")])[0] for _ in range(4)]
        self.assertEqual(a, [200, 200, 200, 503])
        self.assertEqual(b, [200, 200, 200, 503])
        status, r = ask(port, headers=[("X-Client", "a")])
        self.assertEqual(status, 503)
        self.assertTrue(1 <= int(r.header("Retry-After")) <= 60)

    def test_servers_limit_for_routes_without_one(self):
        h = self.start('{ rate = "1r/m"; burst = 10; }',
                       server_limit='limit = { rate = "1r/m"; burst = 1; };')
        port = h.port()
        # "/" and "/status" share the server's count; "/limited" has its own.
        self.assertEqual([ask(port, "/")[0], ask(port, "/x")[0], ask(port, "/y")[0]],
                         [200, 200, 429])
        self.assertEqual(ask(port, "/limited")[0], 200)

    def hold_two(self):
        """herd with /slow (connections = 2) and two /slow requests held in
        progress by the backend: (herd, backend, the held sockets)."""
        h = self.herd(conf('{ rate = "1r/m"; }'), start=False)
        backend = HeldBackend(h.port("backend"))
        self.addCleanup(backend.close)
        h.start()
        held = []
        for _ in range(2):
            s = herdtest.connect(h.port())
            s.sendall(http_request("GET", "/slow", headers=[("Connection", "close")]))
            held.append(s)
        herdtest.wait_for(lambda: backend.held == 2, 10 * herdtest.SLOW,
                          what="two requests held by the backend")
        return h, backend, held

    def test_connections_in_progress(self):
        h, backend, held = self.hold_two()
        port = h.port()
        # A third from the same address, whichever worker takes it.
        for _ in range(4):
            status, r = ask(port, "/slow")
            self.assertEqual(status, 429)
            self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(backend.held, 2)
        self.assertEqual(ask(port, "/")[0], 200)      # other routes are not capped
        backend.release.set()
        for s in held:
            r = HttpReader(s).read_response()
            self.assertEqual((r.status, r.body), (200, b"slow\n"))
            s.close()
        # Their exchanges are over: their count is given back.
        herdtest.wait_for(lambda: ask(port, "/slow")[0] == 200, 5 * herdtest.SLOW,
                          what="a request admitted again")
        h.wait_log(r"request refused with 429: limiting requests: too many in progress")

    def test_killed_workers_give_back_their_requests_in_progress(self):
        h, backend, held = self.hold_two()
        port = h.port()
        self.assertEqual(ask(port, "/slow")[0], 429)
        # Both workers die with the requests in progress; nobody releases
        # them but the master, which reaps the workers.
        old = h.worker_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        h.wait_workers(2, timeout=10, exclude=old)
        for s in held:
            s.close()
        backend.release.set()
        self.assertEqual(ask(port, "/slow")[0], 200)
        h.wait_log(r"worker \d+ \(slot \d, generation 1\) killed by signal 9")

    def test_a_failed_reload_to_another_zone_size_keeps_the_counts(self):
        h = self.herd(herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
  routes = ( { path = "/limited"; limit = { rate = "1r/m"; };
               return = { status = 200; body = "ok\\n"; }; } ); } );
""")
        self.assertEqual([ask(h.port())[0] for _ in range(2)], [200, 429])
        # A new size, and a generation whose worker dies before it is ready
        # (a static root its user cannot open).
        secret = os.path.join(h.dir, "secret")
        os.mkdir(secret, 0o700)
        os.chmod(h.dir, 0o711)
        h.rewrite_config(herdtest.top(1, 'limit_zone_size = "2m";') + """
servers = ( { listen = [ "127.0.0.1:$port" ];
  routes = ( { path = "/limited"; limit = { rate = "1r/m"; };
               static = { root = "%s"; }; } ); } );
""" % secret)
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 1, out + err)
        self.assertIn("before it was ready", err)
        # The old generation's worker dies and is started again: it counts
        # in the zone it counted in before.
        old = h.worker_pids()
        os.kill(old[0], signal.SIGKILL)
        h.wait_workers(1, timeout=10, exclude=old)
        self.assertEqual(ask(h.port())[0], 429)

    def test_refill_at_a_fast_rate(self):
        h = self.start('{ rate = "2r/s"; }')
        port = h.port()
        # Two requests in one segment: read at once, the same instant to
        # herd, so the second is over the rate however slow the machine.
        s = herdtest.connect(port)
        s.sendall(http_request("GET", "/limited") * 2)
        reader = HttpReader(s)
        first, second = reader.read_response(), reader.read_response()
        s.close()
        self.assertEqual((first.status, second.status), (200, 429))
        self.assertEqual(second.header("Retry-After"), "1")
        herdtest.wait_for(lambda: ask(port)[0] == 200, 5 * herdtest.SLOW,
                          what="the bucket refilled")

    def test_reload_keeps_the_counts_of_a_kept_limit(self):
        h = self.start('{ rate = "1r/m"; burst = 2; }')
        port = h.port()
        self.assertEqual(self.statuses(port, 4), [200, 200, 200, 429])
        # The same limit (the file rewritten, unchanged): counts kept.
        self.reload(h, '{ rate = "1r/m"; burst = 2; }')
        self.assertEqual(self.statuses(port, 2), [429, 429])
        # Another burst is another limit: counted anew.
        self.reload(h, '{ rate = "1r/m"; burst = 3; }')
        self.assertEqual(self.statuses(port, 5), [200] * 4 + [429])
        # Another zone size: a new, empty zone.
        self.reload(h, '{ rate = "1r/m"; burst = 3; }', top='limit_zone_size = "64k";\n')
        self.assertEqual(self.statuses(port, 5), [200] * 4 + [429])

    def test_errors_at_file_line(self):
        cases = [
            ('{ rate = "10r/h"; }', r"'rate' \"10r/h\" is not a rate"),
            ('{ rate = "1r/s"; burst = -1; }', r"burst"),
            ('{ rate = "1r/s"; status = 500; }', r"a limit answers 429 or 503, not 500"),
            ('{ rate = "1r/s"; key = "$$remote_adr"; }', r"'key': .*remote_adr"),
        ]
        for limit, msg in cases:
            h = self.herd(conf(limit), start=False)
            line = [i for i, t in enumerate(h.text.splitlines(), 1) if "/limited" in t][0]
            rc, out, err = h.run("-t", "-c", h.conf)
            self.assertEqual(rc, 1, limit)
            self.assertRegex(err, r"herd\.conf:%d: .*%s" % (line, msg))

    def test_print_shows_the_limit(self):
        h = self.herd(conf('{ rate = "10r/s"; burst = 20; }'), start=False)
        rc, out, err = h.run("-T", "-c", h.conf)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r'limit_zone_size = ')
        groups = re.findall(r"limit = \{([^}]*)\}", out)
        self.assertEqual(len(groups), 2, out)        # /slow's and /limited's
        for part in (r'rate = "10r/s";', r"burst = 20;", r'key = "\$remote_addr";',
                     r"status = 429;", r"connections = 0;"):
            self.assertRegex(groups[1], part)


if __name__ == "__main__":
    herdtest.main()
