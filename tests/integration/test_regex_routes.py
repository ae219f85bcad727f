#!/usr/bin/env python3
"""Regex routes (issue 11, item 2) over real sockets: the order of exact,
regex (first in file order) and prefix routes; captures in a 302 Location,
a route header and a proxy header; percent-encoded paths matched after
decoding, their captures encoded again; pipelined requests each with their
own captures, a proxied (kept) one among them; a proxied request's captures
still its own when its answer comes after other requests reused the
worker's match scratch; herd -t on a bad pattern (FILE:LINE, PCRE2's
message, the offset), on path and regex together and on a $N beyond the
pattern's groups; herd -T printing them back; a reload that changes the
patterns."""

import http.server
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from httpkit import request, fetch  # noqa: E402

# $$ is a herd variable (the harness's template takes $port, $dir...); a
# backslash is doubled once for Python and once for libconfig.
CONF = herdtest.top(2) + r"""
upstreams = ( { name = "app"; servers = ( { address = "127.0.0.1:$port_app"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/access.log";
    access_log_format = "$$uri [$$1]";
    routes = (
      { path = "/img/"; return = { status = 200; body = "prefix /img/\n"; }; },
      { regex = "(?s)^/img/(.*)\\.png$$"; headers = { X-Name = "$$1"; };
        return = { status = 200; body = "first regex\n"; }; },
      { regex = "^/img/([a-z]+)"; return = { status = 200; body = "second regex\n"; }; },
      { path = "/img/logo.png"; exact = true; return = { status = 200; body = "exact\n"; }; },
      { regex = "^/user/([0-9]+)(/([a-z]+))?$$";
        headers = { X-User = "$$1"; X-Tab = "[$$3]"; };
        return = { status = 302; location = "/profile?id=$$1&tab=$$3"; }; },
      { regex = "(?i)^/CASE/(\\w+)$$"; return = { status = 302; location = "/c/$$1"; }; },
      { regex = "^/p/([a-z]+)/([0-9]+)$$";
        headers = { X-Route-Cap = "$$1"; };
        proxy = { upstream = "app"; headers = { X-Cap = "$$1-$$2"; }; }; },
      { path = "/"; return = { status = 200; body = "root\n"; }; }
    ); }
);
"""


class Backend(http.server.BaseHTTPRequestHandler):
    """Answers with the X-Cap it got; /p/hold/... waits for the test."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        if self.path.startswith("/p/hold/"):
            srv.arrived.set()
            srv.release.wait(30)
        body = ("cap=%s path=%s\n" % (self.headers.get("X-Cap"), self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class RegexRoutesTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.h.port("app")), Backend)
        srv.daemon_threads = True
        srv.arrived, srv.release = threading.Event(), threading.Event()
        self.backend = srv
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        self.addCleanup(srv.release.set)
        self.h.start()
        self.port = self.h.port()

    def get(self, target):
        return fetch(self.port, request("GET", target))

    def test_exact_then_regex_in_file_order_then_prefix(self):
        for target, body in (("/img/logo.png", b"exact\n"),        # exact beats the regexes
                             ("/img/a.png", b"first regex\n"),     # both match: the first
                             ("/img/abc.gif", b"second regex\n"),  # a regex beats /img/
                             ("/img/9.gif", b"prefix /img/\n"),    # no regex: the prefix
                             ("/other", b"root\n")):
            r = self.get(target)
            self.assertEqual((r.status, r.body), (200, body), target)
        self.assertEqual(self.get("/img/a/b.png").header("x-name"), "a/b")
        self.assertIsNone(self.get("/img/9.gif").header("x-name"))

    def test_captures_in_location_and_headers(self):
        r = self.get("/user/42/posts")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("location"), "/profile?id=42&tab=posts")
        self.assertEqual(r.header("x-user"), "42")
        self.assertEqual(r.header("x-tab"), "[posts]")
        # An unset group is empty.
        r = self.get("/user/7")
        self.assertEqual(r.header("location"), "/profile?id=7&tab=")
        self.assertEqual(r.header("x-tab"), "[]")
        # Anchored: no match falls through to the prefix route.
        self.assertEqual(self.get("/user/42x").body, b"root\n")
        # (?i) in the pattern.
        self.assertEqual(self.get("/case/Abc").header("location"), "/c/Abc")

    def test_matched_after_decoding_captures_encoded_again(self):
        # %75ser is "user", %34%32 is "42"; dot segments are resolved first.
        r = self.get("/%75ser/x/../%34%32?q=1")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("location"), "/profile?id=42&tab=")
        # A decoded space, and a CR LF, reach the Location encoded.
        r = self.get("/img/a%20b.png")
        self.assertEqual((r.status, r.body), (200, b"first regex\n"))
        self.assertEqual(r.header("x-name"), "a%20b")
        r = self.get("/img/x%0d%0aSet-Cookie:%20a=b/c.png")
        self.assertEqual(r.body, b"first regex\n")      # (?s): '.' takes CR LF too
        self.assertEqual(r.header("x-name"), "x%0D%0ASet-Cookie:%20a=b/c")
        self.assertIsNone(r.header("set-cookie"))

    def test_pipelined_requests_keep_their_captures(self):
        targets = ["/user/1/a", "/user/22/bb", "/p/mid/5", "/user/333", "/p/end/6", "/user/4/d"]
        s = self.sock()
        s.sendall(b"".join(request("GET", t) for t in targets))
        rd = herdtest.HttpReader(s)
        got = [rd.read_response() for _ in targets]
        self.assertEqual(got[0].header("location"), "/profile?id=1&tab=a")
        self.assertEqual(got[1].header("location"), "/profile?id=22&tab=bb")
        self.assertEqual(got[2].body, b"cap=mid-5 path=/p/mid/5\n")
        self.assertEqual(got[2].header("x-route-cap"), "mid")
        self.assertEqual(got[3].header("location"), "/profile?id=333&tab=")
        self.assertEqual(got[3].header("x-user"), "333")
        self.assertEqual(got[4].body, b"cap=end-6 path=/p/end/6\n")
        self.assertEqual(got[5].header("location"), "/profile?id=4&tab=d")

    def test_proxied_request_keeps_its_captures_while_others_match(self):
        # One worker serves both connections, so the second request reuses
        # the match scratch while the first waits for its upstream; the
        # first's response headers and log line are written after that.
        h = self.herd(CONF.replace("workers = 2;", "workers = 1;"), start=False)
        h.ports["port_app"] = self.h.port("app")
        h.rewrite_config(CONF.replace("workers = 2;", "workers = 1;"))
        h.start()
        a = herdtest.connect(h.port())
        self.socks.append(a)
        a.sendall(request("GET", "/p/hold/1"))
        self.assertTrue(self.backend.arrived.wait(10 * herdtest.SLOW), "request held")
        for i in range(3):
            r = fetch(h.port(), request("GET", "/user/9%d/zz" % i))
            self.assertEqual(r.header("location"), "/profile?id=9%d&tab=zz" % i)
        self.backend.release.set()
        r = herdtest.HttpReader(a).read_response()
        self.assertEqual(r.body, b"cap=hold-1 path=/p/hold/1\n")
        self.assertEqual(r.header("x-route-cap"), "hold")
        log = httpkit.wait_file(os.path.join(h.dir, "access.log"),
                                lambda t: b"/p/hold/1 " in t, 10 * herdtest.SLOW,
                                what="the held request's log line").decode()
        self.assertIn("/p/hold/1 [hold]\n", log)
        self.assertIn("/user/92/zz [92]\n", log)


class RegexConfigTest(herdtest.HerdTestCase):
    """herd -t and -T on regex routes, and a reload that changes them."""

    def check(self, routes):
        h = self.herd(start=False)
        h.rewrite_config(herdtest.top(1) + """servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
%s
    ); }
);
""" % routes)
        return h, h.run("-t", "-c", h.conf, timeout=10 * herdtest.SLOW)

    def test_bad_pattern_is_file_line_with_message_and_offset(self):
        h, (rc, out, err) = self.check("""      { path = "/"; return = { status = 200; }; },
      { return = { status = 200; };
        regex = "^/user/([0-9]+$$"; }""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:10: 'regex' \"^/user/([0-9]+$\": missing closing parenthesis "
                      "at offset 15" % h.conf, err)
        h, (rc, out, err) = self.check("""      { regex = "^/a[b"; return = { status = 200; }; }""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:8: 'regex' \"^/a[b\": missing terminating ] for character class "
                      "at offset 5" % h.conf, err)

    def test_path_and_regex_together_refused(self):
        h, (rc, out, err) = self.check("""      { path = "/u/";
        regex = "^/u/"; return = { status = 200; }; }""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:9: a route has 'path' or 'regex', not both" % h.conf, err)

    def test_capture_beyond_the_groups_refused(self):
        h, (rc, out, err) = self.check("""      { regex = "^/u/([0-9]+)$$";
        return = { status = 302;
                   location = "/v/$$1/$$2"; }; }""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:10: 'location' names $2, but the route's regex has 1 capturing "
                      "group" % h.conf, err)

    def test_print_round_trips(self):
        routes = r"""      { regex = "(?i)^/a\\.b/([0-9]+)$$"; return = { status = 302; location = "/x/$$1"; }; },
      { path = "/"; return = { status = 200; }; }"""
        h, (rc, out, err) = self.check(routes)
        self.assertEqual(rc, 0, err)
        rc, printed, err = h.run("-T", "-c", h.conf, timeout=10 * herdtest.SLOW)
        self.assertEqual(rc, 0, err)
        self.assertIn('regex = "(?i)^/a\\\\.b/([0-9]+)$";', printed)
        # The printed file is a configuration that prints the same.
        conf2 = h.write_file("printed.conf", printed)
        rc, again, err = h.run("-T", "-c", conf2, timeout=10 * herdtest.SLOW)
        self.assertEqual(rc, 0, err)
        self.assertEqual(again.split("\n", 1)[1], printed.split("\n", 1)[1])

    def test_reload_changes_patterns(self):
        def conf(pattern, where):
            return herdtest.top(1) + """servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = ( { regex = "%s"; return = { status = 302; location = "%s"; }; },
               { path = "/"; return = { status = 200; body = "root\\n"; }; } ); }
);
""" % (pattern, where)
        h = self.herd(conf("^/old/([a-z]+)$$", "/one/$$1"))
        r = fetch(h.port(), request("GET", "/old/abc"))
        self.assertEqual(r.header("location"), "/one/abc")
        h.rewrite_config(conf("^/new/([0-9]+)$$", "/two/$$1"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        # reload_via_cli returns once the new generation serves.
        self.assertEqual(fetch(h.port(), request("GET", "/old/abc")).body, b"root\n")
        r = fetch(h.port(), request("GET", "/new/12"))
        self.assertEqual(r.header("location"), "/two/12")
        # A bad pattern on reload keeps the running one.
        h.rewrite_config(conf("^/new/([0-9]+$$", "/three/$$1"))
        rc, out, err = h.reload_via_cli()
        self.assertNotEqual(rc, 0)
        self.assertIn("missing closing parenthesis at offset 14", out + err)
        self.assertEqual(fetch(h.port(), request("GET", "/new/12")).header("location"),
                         "/two/12")


if __name__ == "__main__":
    herdtest.main()
