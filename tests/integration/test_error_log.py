#!/usr/bin/env python3
"""Refused requests in the error log: a file-system failure at error, with
the path and the errno text (as nginx writes it); an access denial and a
client error at info, with the client address and the reason; at most a
few such lines a second per worker, then one line counting the rest."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from httpkit import request  # noqa: E402

CONF = herdtest.top(1, 'log_level = "info";\n') + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/denied/"; deny = [ "127.0.0.1" ]; return = { body = "no\\n"; }; },
      { path = "/"; static = { root = "$dir/www"; }; }
    );
  }
);
"""

# The documented budget: lines of one level a second, per worker.
PER_SECOND = 10
CLIENT = r"client: 127\.0\.0\.1"
TIMEOUT = 10.0 * herdtest.SLOW


class ErrorLogTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        httpkit.open_up(self.h.dir)
        self.root = httpkit.make_dir(os.path.join(self.h.dir, "www"))
        httpkit.write_file(os.path.join(self.root, "ok.txt"), b"ok\n")
        httpkit.write_file(os.path.join(self.root, "secret.txt"), b"secret\n", mode=0)
        httpkit.make_dir(os.path.join(self.root, "noindex"))
        self.h.start()
        self.port = self.h.port()

    def status(self, raw):
        data, how = httpkit.send_and_read_all(self.port, raw, timeout=TIMEOUT)
        return httpkit.status_of(data)

    def test_unreadable_file_logged_at_error(self):
        if os.geteuid() != 0:
            self.skipTest("only workers that dropped root privileges are refused the file")
        mark = self.h.log_mark()
        self.assertEqual(self.status(request("GET", "/secret.txt", close=True)), 403)
        path = os.path.join(self.root, "secret.txt")
        self.h.wait_log(r'\[error\] \d+: open\(\) "%s" failed \(13: Permission denied\), %s, '
                        r'request: "GET /secret\.txt HTTP/1\.1"' % (re.escape(path), CLIENT),
                        since=mark)

    def test_denied_by_rule_logged_at_info(self):
        mark = self.h.log_mark()
        self.assertEqual(self.status(request("GET", "/denied/x?y", close=True)), 403)
        self.h.wait_log(r'\[info\] \d+: request refused with 403: access forbidden by rule, '
                        r'%s, request: "GET /denied/x\?y HTTP/1\.1"' % CLIENT, since=mark)

    def test_directory_without_index_logged_at_info(self):
        mark = self.h.log_mark()
        self.assertEqual(self.status(request("GET", "/noindex/", close=True)), 403)
        self.h.wait_log(r'\[info\] \d+: request refused with 403: directory index of "%s/" '
                        r'is forbidden, %s' % (re.escape(os.path.join(self.root, "noindex")),
                                               CLIENT), since=mark)

    def test_client_errors_logged_at_info(self):
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        cases = [
            (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400,
             r"invalid character in a field name"),
            (b"GET / HTTP/1.1\r\nHost: a.test:99999\r\n\r\n", 400, r"malformed Host"),
            (b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, r"no Host"),
            (b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"
             b"\r\n\r\n", 400, r"Transfer-Encoding with Content-Length"),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414,
             r"request target longer than max_target"),
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, r"HTTP version"),
            (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, r"malformed path"),
            (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, r"unknown method"),
            (chunked + b"5 \r\nhello\r\n0\r\n\r\n", 400, r"malformed chunk extension"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413,
             r"Content-Length 99999999 is over max_body"),
        ]
        # One herd, one second's budget: every line must be written.
        self.assertLessEqual(len(cases), PER_SECOND)
        for raw, status, why in cases:
            mark = self.h.log_mark()
            self.assertEqual(self.status(raw), status, raw[:60])
            self.h.wait_log(r"\[info\] \d+: request refused with %d: [^\n]*%s[^\n]*, %s"
                            % (status, why, CLIENT), since=mark)

    def test_flood_is_rate_limited(self):
        # Every refusal is either written or counted in a "suppressed" line,
        # and no more than PER_SECOND are written per second (one worker).
        n = 150
        mark = self.h.log_mark()
        t0 = time.monotonic()
        for i in range(n):
            self.assertEqual(self.status(b"GET /%d HTTP/1.1\r\nBad Name: x\r\n\r\n" % i), 400)
        elapsed = time.monotonic() - t0
        line = re.compile(r"request refused with 400: ")
        counted = re.compile(r"refused requests: (\d+) more messages suppressed")

        def tally():
            text = self.h.log_since(mark)
            return (len(line.findall(text)),
                    sum(int(x) for x in counted.findall(text)))
        try:
            herdtest.wait_for(lambda: sum(tally()) == n, TIMEOUT,
                              what="%d refusals written or counted" % n)
        except AssertionError:
            self.fail("written, suppressed = %r of %d\n%s" % (tally(), n, self.h.log_tail()))
        written, suppressed = tally()
        herdtest.diag("%d refusals in %.2f s: %d written, %d suppressed"
                      % (n, elapsed, written, suppressed))
        self.assertGreater(suppressed, 0)
        # The windows the flood can have touched, counted generously.
        self.assertLessEqual(written, PER_SECOND * (int(elapsed) + 2))


if __name__ == "__main__":
    herdtest.main()
