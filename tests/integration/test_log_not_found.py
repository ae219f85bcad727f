#!/usr/bin/env python3
"""log_not_found: a static route's 404 for a file that does not exist is
written to the error log at error level, as nginx writes it
(open() "ROOT/PATH" failed (2: No such file or directory), client: ADDR,
request: "GET /PATH HTTP/1.1"), when the route's log_not_found is true;
a route without the key takes its server's, and the default is false
(herd's behaviour before the key existed, unlike nginx's on).

"Not logged" is shown without waiting on time: one worker answers the
requests in order, and a request that is logged (on a route with the key
on) follows the one that must not be; once its line is in the log, the
other line would be before it."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from httpkit import request  # noqa: E402

CONF = herdtest.top(1) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/on/"; log_not_found = true; static = { root = "$dir/www"; }; },
      { path = "/spa/"; log_not_found = true;
        static = { root = "$dir/www"; fallback = "/spa/index.html"; }; },
      { path = "/"; static = { root = "$dir/www"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port_loud" ];
    log_not_found = true;
    routes = (
      { path = "/quiet/"; log_not_found = false; static = { root = "$dir/www"; }; },
      { path = "/"; static = { root = "$dir/www"; }; }
    );
  }
);
"""

CLIENT = r"client: 127\.0\.0\.1"
TIMEOUT = 10.0 * herdtest.SLOW


class LogNotFoundTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        httpkit.open_up(self.h.dir)
        self.root = httpkit.make_dir(os.path.join(self.h.dir, "www"))
        httpkit.write_file(os.path.join(self.root, "on", "here.txt"), b"here\n")
        httpkit.write_file(os.path.join(self.root, "spa", "index.html"), b"app\n")
        self.h.start()

    def status(self, port, target):
        data, _ = httpkit.send_and_read_all(port, request("GET", target, close=True),
                                            timeout=TIMEOUT)
        return httpkit.status_of(data)

    def missing_line(self, target, file_path, err="2: No such file or directory"):
        return (r'\[error\] \d+: open\(\) "%s" failed \(%s\), %s, request: "GET %s HTTP/1\.1"'
                % (re.escape(file_path), re.escape(err), CLIENT, re.escape(target)))

    def logged(self, port, target, file_path, mark, err="2: No such file or directory"):
        """GET target is a 404 and its line is logged; returns where the
        line ends in the log since mark."""
        self.assertEqual(self.status(port, target), 404)
        m = self.h.wait_log(self.missing_line(target, file_path, err), since=mark)
        return m.end()

    def assert_not_logged(self, port, target, file_path):
        """GET target is a 404 and no line names it, not even once a later
        request's line (which the same worker writes after) is there."""
        mark = self.h.log_mark()
        self.assertEqual(self.status(port, target), 404)
        self.logged(self.h.port(), "/on/after", os.path.join(self.root, "on/after"), mark)
        self.assertNotRegex(self.h.log_since(mark), self.missing_line(target, file_path))
        self.assertNotIn(target, self.h.log_since(mark).replace("GET /on/after", ""))

    def test_route_on_logs_the_missing_file(self):
        mark = self.h.log_mark()
        self.logged(self.h.port(), "/on/missing", os.path.join(self.root, "on/missing"), mark)

    def test_not_a_directory_logged(self):
        mark = self.h.log_mark()
        self.logged(self.h.port(), "/on/here.txt/x", os.path.join(self.root, "on/here.txt/x"),
                    mark, err="20: Not a directory")

    def test_default_is_off(self):
        self.assert_not_logged(self.h.port(), "/gone", os.path.join(self.root, "gone"))

    def test_found_file_is_not_logged(self):
        mark = self.h.log_mark()
        self.assertEqual(self.status(self.h.port(), "/on/here.txt"), 200)
        self.logged(self.h.port(), "/on/after", os.path.join(self.root, "on/after"), mark)
        self.assertNotIn("here.txt", self.h.log_since(mark))

    def test_fallback_served_is_not_logged(self):
        mark = self.h.log_mark()
        self.assertEqual(self.status(self.h.port(), "/spa/deep/link"), 200)
        self.logged(self.h.port(), "/on/after", os.path.join(self.root, "on/after"), mark)
        self.assertNotIn("/spa/", self.h.log_since(mark))

    def test_server_level_inherited_and_overridden(self):
        loud = self.h.port("loud")
        mark = self.h.log_mark()
        self.logged(loud, "/nothing", os.path.join(self.root, "nothing"), mark)
        self.assert_not_logged(loud, "/quiet/nothing", os.path.join(self.root, "quiet/nothing"))

    def test_print_round_trips(self):
        rc, out, err = self.h.run("-T", "-c", self.h.conf)
        self.assertEqual(rc, 0, err)
        # The routes print their effective value: the server's when unset.
        flags = re.findall(r"log_not_found = (true|false);", out)
        self.assertEqual(flags, ["false", "true", "true", "false", "true", "false", "true"], out)
        printed = self.h.write_file("printed.conf", out)
        rc, out2, err = self.h.run("-T", "-c", printed)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out2.split("\n")[1:], out.split("\n")[1:])


if __name__ == "__main__":
    herdtest.main()
