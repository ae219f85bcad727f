#!/usr/bin/env python3
"""Variables, configured headers, expires and redirects that keep the path
(issue 11 items 1, 3 and 4), over real sockets: redirects keep the rest of
the path and the query; server and route headers, the route's overriding;
the HSTS example of DESIGN seen by curl; the expires values on static
files; an unknown variable refused at FILE:LINE by herd -t; proxy headers
and a hash_key with variables reaching a Python backend."""

import email.utils
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from httpkit import request, fetch  # noqa: E402

CURL = shutil.which("curl")

# $$ is a herd variable: the test's template takes $port, $dir...
CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    headers = { Strict-Transport-Security = "max-age=63072000";
                X-Frame-Options = "DENY"; X-Site = "server"; };
    routes = (
      { path = "/old/"; return = { status = 301; location = "/new/$$path_rest$$is_args$$args"; }; },
      { path = "/secure"; return = { status = 301; location = "https://$$host$$request_uri"; }; },
      { path = "/port"; return = { status = 302; location = "$$scheme://$$host:$$server_port/"; }; },
      { path = "/api/"; headers = { X-Site = "api"; X-Frame-Options = ""; Cache-Control = "no-store";
                                    X-Id = "$$request_id"; };
        return = { status = 200; body = "api\\n"; }; },
      { path = "/files/"; static = { root = "$dir/www"; expires = "1h"; }; },
      { path = "/forever/"; static = { root = "$dir/www"; expires = "max"; }; },
      { path = "/never/"; static = { root = "$dir/www"; expires = "epoch"; }; },
      { path = "/plain/"; static = { root = "$dir/www"; }; },
      { path = "/teapot"; return = { status = 418; body = "no\\n"; }; }
    ); }
);
"""


def hdr(r, name):
    return r.header(name)


class SiteTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(start=False)
        www = os.path.join(self.h.dir, "www")
        httpkit.open_up(self.h.dir)
        for d in ("files", "forever", "never", "plain"):
            httpkit.write_file(os.path.join(www, d, "a.txt"), "hello\n")
        self.h.rewrite_config(CONF)
        self.h.start()
        self.port = self.h.port()

    def get(self, target, host="x", headers=()):
        return fetch(self.port, request("GET", target, host=host, headers=headers))

    # -- redirects

    def test_redirect_keeps_path_and_query(self):
        r = self.get("/old/foo/bar?x=1&y=%20")
        self.assertEqual(r.status, 301)
        self.assertEqual(hdr(r, "location"), "/new/foo/bar?x=1&y=%20")
        self.assertEqual(hdr(self.get("/old/foo"), "location"), "/new/foo")
        self.assertEqual(hdr(self.get("/old/"), "location"), "/new/")
        # The decoded path is encoded again: no header injection.
        r = self.get("/old/a%0d%0aSet-Cookie:%20evil=1")
        self.assertEqual(hdr(r, "location"), "/new/a%0D%0ASet-Cookie:%20evil=1")
        self.assertIsNone(hdr(r, "set-cookie"))
        # Redirects get the route's headers (3xx), as nginx's add_header.
        self.assertEqual(hdr(r, "x-site"), "server")

    def test_redirect_to_https_keeps_host_and_target(self):
        r = self.get("/secure/a?b=c", host="Example.ORG:8080")
        self.assertEqual(r.status, 301)
        self.assertEqual(hdr(r, "location"), "https://example.org/secure/a?b=c")
        r = self.get("/port", host="site.test")
        self.assertEqual(hdr(r, "location"), "http://site.test:%d/" % self.port)

    # -- headers

    def test_headers_at_both_levels(self):
        r = self.get("/old/x")
        self.assertEqual(hdr(r, "x-frame-options"), "DENY")
        self.assertEqual(hdr(r, "x-site"), "server")
        r = self.get("/api/v1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"api\n")
        self.assertEqual(hdr(r, "x-site"), "api")                 # the route's wins
        self.assertIsNone(hdr(r, "x-frame-options"))              # "" removes it
        self.assertEqual(hdr(r, "cache-control"), "no-store")     # the route's own
        self.assertEqual(hdr(r, "strict-transport-security"), "max-age=63072000")
        self.assertEqual(len(r.header_all("x-site")), 1)
        self.assertRegex(hdr(r, "x-id"), r"^[0-9a-f]{32}$")
        self.assertNotEqual(hdr(self.get("/api/v1"), "x-id"), hdr(r, "x-id"))
        # Files, and their 304s.
        r = self.get("/plain/a.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(hdr(r, "x-site"), "server")
        r = self.get("/plain/a.txt", headers=[("If-None-Match", hdr(r, "etag"))])
        self.assertEqual(r.status, 304)
        self.assertEqual(hdr(r, "x-site"), "server")

    def test_errors_have_no_configured_headers(self):
        for target, status in (("/nothing", 404), ("/plain/missing", 404), ("/teapot", 418)):
            r = self.get(target)
            self.assertEqual(r.status, status)
            self.assertIsNone(hdr(r, "x-site"), target)
            self.assertIsNone(hdr(r, "strict-transport-security"), target)

    def test_hsts_example_with_curl(self):
        if CURL is None:
            self.fail("curl is needed (apt-get install curl)")
        out = subprocess.run([CURL, "-sS", "-D", "-", "-o", "/dev/null",
                              "http://127.0.0.1:%d/plain/a.txt" % self.port],
                             capture_output=True, timeout=30)
        head = out.stdout.decode("latin-1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("\r\nStrict-Transport-Security: max-age=63072000\r\n", head)
        # And a redirect followed by curl keeps the path.
        out = subprocess.run([CURL, "-sS", "-o", "/dev/null", "-w", "%{redirect_url}",
                              "http://127.0.0.1:%d/old/a/b?q=1" % self.port],
                             capture_output=True, timeout=30)
        self.assertEqual(out.stdout.decode(), "http://127.0.0.1:%d/new/a/b?q=1" % self.port)

    # -- expires

    def test_expires_values(self):
        r = self.get("/files/a.txt")
        etag = hdr(r, "etag")
        self.assertEqual(hdr(r, "cache-control"), "max-age=3600")
        date = email.utils.parsedate_to_datetime(hdr(r, "date"))
        expires = email.utils.parsedate_to_datetime(hdr(r, "expires"))
        self.assertEqual((expires - date).total_seconds(), 3600)
        r = self.get("/forever/a.txt")
        self.assertEqual(hdr(r, "cache-control"), "max-age=315360000")
        self.assertEqual(hdr(r, "expires"), "Thu, 31 Dec 2037 23:55:55 GMT")
        r = self.get("/never/a.txt")
        self.assertEqual(hdr(r, "cache-control"), "no-cache")
        self.assertEqual(hdr(r, "expires"), "Thu, 01 Jan 1970 00:00:01 GMT")
        r = self.get("/plain/a.txt")
        self.assertIsNone(hdr(r, "cache-control"))
        self.assertIsNone(hdr(r, "expires"))
        # A 304 says it again (the cache's copy gets a new lifetime).
        r = self.get("/files/a.txt", headers=[("If-None-Match", etag)])
        self.assertEqual(r.status, 304)
        self.assertEqual(hdr(r, "cache-control"), "max-age=3600")


LOG_CONF = herdtest.top(1) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/access.log";
    access_log_format = "$$status $$request_id [$$uri] [$$args] [$$http_x_forwarded_for] [$$path_rest]";
    routes = ( { path = "/app/"; return = { status = 200; body = "ok"; }; } ); }
);
"""


class AccessLogVarsTest(httpkit.HerdCase):
    """The access log shares the variables: a request's own are logged."""

    def test_request_variables_logged(self):
        h = self.herd(LOG_CONF)
        r = fetch(h.port(), request("GET", "/app/a%20b?x=1", close=True,
                                    headers=[("X-Forwarded-For", "203.0.113.9")]))
        self.assertEqual(r.status, 200)
        path = os.path.join(h.dir, "access.log")
        text = httpkit.wait_file(path, lambda t: b"\n" in t, 10 * herdtest.SLOW,
                                 what="the access-log line").decode()
        self.assertRegex(text, r"^200 [0-9a-f]{32} \[/app/a%20b\] \[x=1\] "
                               r"\[203\.0\.113\.9\] \[a%20b\]\n$")


class ConfigTest(herdtest.HerdTestCase):
    """herd -t on variables: unknown ones refused at their line, a '$'
    naming nothing warned about."""

    def check(self, body):
        h = self.herd(start=False)
        h.rewrite_config(herdtest.top(1) + body)
        return h, h.run("-t", "-c", h.conf, timeout=10 * herdtest.SLOW)

    def test_unknown_variable_refused_at_its_line(self):
        h, (rc, out, err) = self.check("""servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/";
        return = { status = 301;
                    location = "https://$$host$$request_url"; }; }
    ); }
);
""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:10: 'location': unknown variable '$request_url'" % h.conf, err)

    def test_unknown_variable_in_headers(self):
        h, (rc, out, err) = self.check("""servers = (
  { listen = [ "127.0.0.1:$port" ];
    headers = { X-A = "$$host";
                X-B = "$$hots"; };
    routes = ( { path = "/"; return = { status = 200; }; } ); }
);
""")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:8: header X-B: unknown variable '$hots'" % h.conf, err)

    def test_dollar_naming_nothing_warned(self):
        h, (rc, out, err) = self.check("""servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = ( { path = "/";
      return = { status = 302; location = "/price$$"; }; } ); }
);
""")
        self.assertEqual(rc, 0, err)
        self.assertIn("%s:8: 'location' \"/price$\" contains '$' but names no variable" % h.conf,
                      err)


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers every GET with its request fields as JSON."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"name": self.server.name, "path": self.path,
                           "fields": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


PROXY_CONF = herdtest.top(2) + """
upstreams = (
  { name = "app"; servers = ( { address = "127.0.0.1:$port_a"; } ); },
  { name = "sticky"; balance = "hash"; hash_key = "$$http_x_user";
    servers = ( { address = "127.0.0.1:$port_a"; }, { address = "127.0.0.1:$port_b"; } ); }
);
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/app/"; proxy = { upstream = "app";
          headers = { X-Request-Start = "$$msec"; X-Seen = "$$scheme://$$host$$uri [$$args]";
                      X-Rest = "$$path_rest"; X-Agent = "$$http_user_agent"; }; }; },
      { path = "/sticky/"; proxy = { upstream = "sticky"; }; }
    ); }
);
"""


class ProxyVarsTest(httpkit.HerdCase):

    def backend(self, name, port):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo)
        srv.name = name
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)

    def setUp(self):
        super().setUp()
        self.h = self.herd(PROXY_CONF, start=False)
        self.backend("a", self.h.port("a"))
        self.backend("b", self.h.port("b"))
        self.h.start()

    def ask(self, target, headers=()):
        r = fetch(self.h.port(), request("GET", target, host="Site.test", headers=headers))
        self.assertEqual(r.status, 200, r.body)
        return json.loads(r.body)

    def test_proxy_headers_with_variables(self):
        got = self.ask("/app/x/y%20z?k=v", headers=[("User-Agent", "probe/1")])
        f = got["fields"]
        self.assertEqual(got["path"], "/app/x/y%20z?k=v")
        self.assertEqual(f["x-seen"], "http://site.test/app/x/y%20z [k=v]")
        self.assertEqual(f["x-rest"], "x/y%20z")
        self.assertEqual(f["x-agent"], "probe/1")
        self.assertRegex(f["x-request-start"], r"^\d{10}\.\d{3}$")

    def test_hash_key_on_a_request_field(self):
        # Each user always reaches the same backend; several users use both.
        seen = {}
        for user in ["u%d" % i for i in range(24)]:
            names = {self.ask("/sticky/", headers=[("X-User", user)])["name"] for _ in range(3)}
            self.assertEqual(len(names), 1, user)
            seen[user] = names.pop()
        self.assertEqual(set(seen.values()), {"a", "b"})


if __name__ == "__main__":
    herdtest.main()
