#!/usr/bin/env python3
"""Virtual hosts: HTTP servers sharing one address, picked by Host.

The first server with an address is its default; the others need
server_names ("name" compared without case, or "*.suffix"); the host is the
authority of an absolute-form target, else Host, taken without its port and
a trailing dot; an exact name wins, then the longest *.suffix, then the
default."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader  # noqa: E402
from httpkit import request, fetch  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "a.test" ];
    max_body = "1m";
    routes = ( { path = "/"; return = { body = "A\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "b.test", "*.wild.test" ];
    max_body = 10;
    max_target = 64;
    routes = ( { path = "/"; return = { body = "B\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "*.deep.wild.test", "c.test" ];
    routes = ( { path = "/"; return = { body = "D\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_other" ];
    routes = ( { path = "/"; return = { body = "other\\n"; }; } );
  }
);
"""


class VhostTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF)
        self.port = self.h.port()

    def ask(self, host, port=None, version="HTTP/1.1", target="/"):
        r = fetch(port or self.port, request("GET", target, host=host, version=version))
        return r.status, r.body

    def test_exact_names(self):
        self.assertEqual(self.ask("a.test"), (200, b"A\n"))
        self.assertEqual(self.ask("b.test"), (200, b"B\n"))
        self.assertEqual(self.ask("c.test"), (200, b"D\n"))

    def test_wildcard(self):
        self.assertEqual(self.ask("x.wild.test"), (200, b"B\n"))
        self.assertEqual(self.ask("a.b.wild.test"), (200, b"B\n"))
        # "*.wild.test" does not match "wild.test" itself.
        self.assertEqual(self.ask("wild.test"), (200, b"A\n"))
        self.assertEqual(self.ask("xwild.test"), (200, b"A\n"))

    def test_longest_wildcard_wins(self):
        self.assertEqual(self.ask("y.deep.wild.test"), (200, b"D\n"))
        self.assertEqual(self.ask("deep.wild.test"), (200, b"B\n"))

    def test_case_insensitive(self):
        self.assertEqual(self.ask("B.TEST"), (200, b"B\n"))
        self.assertEqual(self.ask("X.Wild.TEST"), (200, b"B\n"))
        self.assertEqual(self.ask("A.Test"), (200, b"A\n"))

    def test_port_and_trailing_dot(self):
        self.assertEqual(self.ask("b.test:1234"), (200, b"B\n"))
        self.assertEqual(self.ask("b.test:%d" % self.port), (200, b"B\n"))
        self.assertEqual(self.ask("b.test."), (200, b"B\n"))
        self.assertEqual(self.ask("x.wild.test.:80"), (200, b"B\n"))

    def test_unknown_host_default(self):
        self.assertEqual(self.ask("unknown.example"), (200, b"A\n"))
        self.assertEqual(self.ask("127.0.0.1"), (200, b"A\n"))
        self.assertEqual(self.ask("127.0.0.1:%d" % self.port), (200, b"A\n"))
        self.assertEqual(self.ask("[::1]:80"), (200, b"A\n"))
        self.assertEqual(self.ask("", version="HTTP/1.1"), (200, b"A\n"))
        self.assertEqual(self.ask(None, version="HTTP/1.0"), (200, b"A\n"))

    def test_absolute_form_authority_wins(self):
        # RFC 9112 §3.2.2: the target's authority, not Host, names the host.
        cases = (("http://b.test/", "a.test", b"B\n"), ("http://a.test/", "b.test", b"A\n"),
                 ("HTTP://X.Wild.Test:8080/x?y", "a.test", b"B\n"),
                 ("https://c.test", "b.test", b"D\n"),
                 ("http://unknown.example/", "b.test", b"A\n"))
        for target, host, want in cases:
            self.assertEqual(self.ask(host, target=target), (200, want),
                             "GET %s with Host: %s" % (target, host))
        r = fetch(self.port, request("GET", "http://b.test/", host=None, version="HTTP/1.0"))
        self.assertEqual((r.status, r.body), (200, b"B\n"))

    def test_port_out_of_range_400(self):
        for host in ("a.test:99999999999", "a.test:65536", "b.test:http", "a.test:8o",
                     "[::1]:70000", "b.test:123456789012345678901234567890"):
            self.assertEqual(self.ask(host)[0], 400, "Host: %s" % host)
        for target in ("http://b.test:99999999999/", "http://b.test:65536/",
                       "http://b.test:http/", "http://u@b.test/", "http://:80/"):
            self.assertEqual(self.ask("a.test", target=target)[0], 400, target)
        self.assertEqual(self.ask("b.test:65535"), (200, b"B\n"))
        self.assertEqual(self.ask("a.test", target="http://b.test:65535/"), (200, b"B\n"))

    def test_other_port_unaffected(self):
        other = self.h.port("other")
        for host in ("a.test", "b.test", "x.wild.test", "c.test", "nobody"):
            self.assertEqual(self.ask(host, port=other), (200, b"other\n"), host)

    def test_keep_alive_switches_hosts(self):
        s = self.sock()
        rd = HttpReader(s)
        for host, want in (("b.test", b"B\n"), ("a.test", b"A\n"), ("x.wild.test", b"B\n"),
                           ("nowhere", b"A\n"), ("c.test", b"D\n"), ("B.test", b"B\n")):
            s.sendall(request("GET", "/", host=host))
            r = rd.read_response()
            self.assertEqual((r.status, r.body), (200, want), "Host: %s" % host)

    def test_limits_of_the_picked_server(self):
        # From the request on, the picked server's limits apply: b has
        # max_body = 10, the default 1m.
        r = fetch(self.port, request("POST", "/", host="b.test", body=b"x" * 100))
        self.assertEqual(r.status, 413)
        r = fetch(self.port, request("POST", "/", host="a.test", body=b"x" * 100))
        self.assertEqual((r.status, r.body), (200, b"A\n"))

    def test_head_limits_are_the_default_servers(self):
        # The limits that apply before a head has been read are those of the
        # default server (max_target 8k), also on a connection whose previous
        # request went to b.test (max_target 64).
        long_target = "/" + "t" * 200
        self.assertEqual(self.ask("a.test", target=long_target), (200, b"A\n"))
        s = self.sock()
        rd = HttpReader(s)
        s.sendall(request("GET", "/", host="b.test"))
        self.assertEqual(rd.read_response().body, b"B\n")
        s.sendall(request("GET", long_target, host="a.test"))
        r = rd.read_response()
        self.assertEqual((r.status, r.body), (200, b"A\n"),
                         "a.test's request after a b.test request on one connection was "
                         "judged by b.test's max_target")


class VhostConfigTest(unittest.TestCase):
    """herd -t on configurations with shared addresses."""

    def check(self, text):
        h = herdtest.Herd(None)
        try:
            h.rewrite_config(herdtest.top(1) + text)
            rc, out, err = h.run("-t", "-c", h.conf)
            return h.conf, rc, out + err
        finally:
            h.stop()

    @staticmethod
    def line_of(text, needle, nth=1):
        """1-based line of the nth line of the configuration containing needle."""
        full = herdtest.top(1) + text
        hits = [i + 1 for i, line in enumerate(full.split("\n")) if needle in line]
        return hits[nth - 1]

    def test_valid_shared_address(self):
        conf, rc, out = self.check("""
servers = (
  { listen = [ "127.0.0.1:18081" ];
    routes = ( { path = "/"; return = { body = "A"; }; } ); },
  { listen = [ "127.0.0.1:18081" ];
    server_names = [ "b.test" ];
    routes = ( { path = "/"; return = { body = "B"; }; } ); }
);
""")
        self.assertEqual(rc, 0, out)

    def test_second_without_server_names(self):
        text = """
servers = (
  { listen = [ "127.0.0.1:18082" ];  # first
    server_names = [ "a.test" ];
    routes = ( { path = "/"; return = { body = "A"; }; } ); },
  { listen = [ "127.0.0.1:18082" ];  # second
    routes = ( { path = "/"; return = { body = "B"; }; } ); }
);
"""
        conf, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        first, second = self.line_of(text, "# first"), self.line_of(text, "# second")
        self.assertRegex(out, r"%s:%d: " % (conf, second),
                         "the message should name the second server's line")
        self.assertIn("line %d" % first, out, "the message should name the first server")
        self.assertIn("server_names", out)

    def test_duplicate_name(self):
        text = """
servers = (
  { listen = [ "127.0.0.1:18083" ];  # first
    routes = ( { path = "/"; return = { body = "A"; }; } ); },
  { listen = [ "127.0.0.1:18083" ];  # second
    server_names = [ "b.test", "dup.test" ];
    routes = ( { path = "/"; return = { body = "B"; }; } ); },
  { listen = [ "127.0.0.1:18083" ];  # third
    server_names = [ "DUP.test" ];
    routes = ( { path = "/"; return = { body = "C"; }; } ); }
);
"""
        conf, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:%d: " % (conf, self.line_of(text, "# third")))
        self.assertIn("line %d" % self.line_of(text, "# second"), out)
        self.assertRegex(out.lower(), r"dup\.test")

    def test_reuseport_must_agree(self):
        text = """
servers = (
  { listen = [ "127.0.0.1:18084" ];
    routes = ( { path = "/"; return = { body = "A"; }; } ); },
  { listen = [ "127.0.0.1:18084" ];  # second
    reuseport = false;
    server_names = [ "b.test" ];
    routes = ( { path = "/"; return = { body = "B"; }; } ); }
);
"""
        conf, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:%d: " % (conf, self.line_of(text, "# second")))
        self.assertIn("reuseport", out)

    def test_echo_cannot_share(self):
        text = """
servers = (
  { listen = [ "127.0.0.1:18085" ];
    routes = ( { path = "/"; return = { body = "A"; }; } ); },
  { listen = [ "127.0.0.1:18085" ];  # second
    protocol = "echo"; }
);
"""
        conf, rc, out = self.check(text)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"%s:%d: " % (conf, self.line_of(text, "# second")))


if __name__ == "__main__":
    herdtest.main()
