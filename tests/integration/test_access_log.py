#!/usr/bin/env python3
"""The access log: combined format, escaping of request bytes, custom
templates, buffering (flushed at least once a second and when a worker
exits), reopening on USR1."""

import calendar
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

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/logs/access.log";
    routes = (
      { path = "/hello"; return = { status = 200; body = "hello\\n"; }; },
      { path = "/gone"; exact = true; return = { status = 410; body = "gone for good\\n"; }; },
      { path = "/quiet/"; access_log = "off"; return = { body = "not logged\\n"; }; }
    );
  },
  { listen = [ "127.0.0.1:$port" ];
    server_names = [ "b.test" ];
    access_log = "$dir/logs/b.log";
    routes = ( { path = "/"; return = { body = "b\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_nolog" ];
    access_log = "off";
    routes = ( { path = "/"; return = { body = "no log\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_custom" ];
    access_log = "$dir/logs/custom.log";
    access_log_format = "$$remote_addr $$request_method $$request_uri $$status";
    routes = ( { path = "/"; return = { body = "custom\\n"; }; } );
  }
);
"""

# 127.0.0.1 - - [25/Nov/2026:20:01:22 +0000] "GET /x HTTP/1.1" 200 6 "ref" "ua"
COMBINED = re.compile(
    r'^(?P<addr>\d+\.\d+\.\d+\.\d+) - (?P<user>\S+) '
    r'\[(?P<time>\d{2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}'
    r':\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"$')

FLUSH = 2.5 * herdtest.SLOW     # "at least once a second", with slack


def parse_time_local(s):
    """Seconds since the epoch of '25/Nov/2026:20:01:22 +0100'."""
    t = time.strptime(s[:20], "%d/%b/%Y:%H:%M:%S")
    off = int(s[22:24]) * 3600 + int(s[24:26]) * 60
    if s[21] == "-":
        off = -off
    return calendar.timegm(t) - off


class AccessLogBase(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        httpkit.open_up(self.h.dir)
        self.logs = httpkit.make_dir(os.path.join(self.h.dir, "logs"))
        self.log = os.path.join(self.logs, "access.log")
        self.h.start()
        self.port = self.h.port()

    def lines(self, path=None):
        try:
            with open(path or self.log, "rb") as f:
                return f.read().split(b"\n")[:-1]
        except OSError:
            return []

    def wait_lines(self, n, path=None, timeout=FLUSH, marker=None):
        """Wait until the log holds n lines (containing marker, if given)."""
        def enough(data):
            ls = data.split(b"\n")[:-1]
            if marker is not None:
                ls = [x for x in ls if marker in x]
            return len(ls) >= n
        data = httpkit.wait_file(path or self.log, enough, timeout,
                                 what="%d lines%s" % (n, " with %r" % marker if marker else ""))
        ls = data.split(b"\n")[:-1]
        return [x for x in ls if marker in x] if marker is not None else ls


class CombinedTest(AccessLogBase):

    def test_combined_lines(self):
        t0 = time.time()
        r1 = fetch(self.port, request("GET", "/hello/one?q=1", headers=[
            ("Referer", "http://ref.example/page"), ("User-Agent", "test-agent/1.0")]))
        r2 = fetch(self.port, request("GET", "/missing", headers=[("User-Agent", "ua2")]))
        r3 = fetch(self.port, request("GET", "/gone", version="HTTP/1.0", host=None))
        r4 = fetch(self.port, request("HEAD", "/hello"), head_only=True)
        self.assertEqual([r.status for r in (r1, r2, r3, r4)], [200, 404, 410, 200])
        lines = self.wait_lines(4)
        self.assertEqual(len(lines), 4, lines)
        parsed = []
        for line in lines:
            m = COMBINED.match(line.decode("latin-1"))
            self.assertIsNotNone(m, "not a combined-format line: %r" % line)
            parsed.append(m)
        by_req = {m.group("request"): m for m in parsed}
        self.assertEqual(sorted(by_req), sorted(["GET /hello/one?q=1 HTTP/1.1",
                                                 "GET /missing HTTP/1.1",
                                                 "GET /gone HTTP/1.0", "HEAD /hello HTTP/1.1"]))
        m = by_req["GET /hello/one?q=1 HTTP/1.1"]
        self.assertEqual(m.group("addr"), "127.0.0.1")
        self.assertEqual(m.group("user"), "-")
        self.assertEqual((m.group("status"), m.group("bytes")), ("200", "6"))
        self.assertEqual(m.group("referer"), "http://ref.example/page")
        self.assertEqual(m.group("ua"), "test-agent/1.0")
        when = parse_time_local(m.group("time"))
        self.assertLess(abs(when - t0), 5, "time %s is not now" % m.group("time"))
        m = by_req["GET /missing HTTP/1.1"]
        self.assertEqual(m.group("status"), "404")
        self.assertEqual(m.group("bytes"), str(len(r2.body)))
        self.assertEqual((m.group("referer"), m.group("ua")), ("-", "ua2"))
        m = by_req["GET /gone HTTP/1.0"]
        self.assertEqual((m.group("status"), m.group("bytes")), ("410", str(len(r3.body))))
        m = by_req["HEAD /hello HTTP/1.1"]
        self.assertEqual((m.group("status"), m.group("bytes")), ("200", "0"))

    def test_flushed_within_a_second_or_so(self):
        fetch(self.port, request("GET", "/hello/flush-marker"))
        t0 = time.monotonic()
        self.wait_lines(1, marker=b"flush-marker")
        took = time.monotonic() - t0
        herdtest.diag("line written %.2f s after the response" % took)

    def test_pipelined_and_keep_alive_lines(self):
        s = herdtest.connect(self.port)
        try:
            s.sendall(b"".join(request("GET", "/hello/ka-%d" % i) for i in range(5)))
            rd = HttpReader(s)
            for _ in range(5):
                self.assertEqual(rd.read_response().status, 200)
        finally:
            s.close()
        lines = self.wait_lines(5, marker=b"/hello/ka-")
        got = sorted(re.search(rb"ka-(\d)", x).group(1) for x in lines)
        self.assertEqual(got, [b"0", b"1", b"2", b"3", b"4"])

    def test_bad_request_logged(self):
        data, how = httpkit.send_and_read_all(
            self.port, b"GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n")
        self.assertEqual(httpkit.status_of(data), 400)
        lines = self.wait_lines(1)
        self.assertEqual(len(lines), 1, lines)
        m = COMBINED.match(lines[0].decode("latin-1"))
        self.assertIsNotNone(m, "not a combined-format line: %r" % lines[0])
        self.assertEqual(m.group("status"), "400")


class EscapeTest(AccessLogBase):

    def test_header_bytes_escaped(self):
        ua = b'evil" "agent\\with\ttab and \x80\xe9\xff end'
        ref = b'http://r/"quoted"'
        raw = (b"GET /hello/esc-marker HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua +
               b"\r\nReferer: " + ref + b"\r\nConnection: close\r\n\r\n")
        data, how = httpkit.send_and_read_all(self.port, raw)
        self.assertEqual(httpkit.status_of(data), 200, data[:200])
        lines = self.wait_lines(1, marker=b"esc-marker")
        self.assertEqual(len(lines), 1, "the line was split: %r" % self.lines())
        line = lines[0]
        self.assertTrue(all(0x20 <= c < 0x7f for c in line),
                        "raw control or non-ASCII bytes in the log line: %r" % line)
        text = line.decode("ascii")
        m = COMBINED.match(text)
        self.assertIsNotNone(m, "escaping broke the combined format: %r" % text)
        self.assertRegex(m.group("ua"),
                         r"(?i)^evil\\x22 \\x22agent\\x5cwith\\x09tab and \\x80\\xe9\\xff end$")
        self.assertRegex(m.group("referer"), r"(?i)^http://r/\\x22quoted\\x22$")

    def test_long_escaped_value_stays_one_line(self):
        # Escaping makes a value up to four times longer; a long one is cut,
        # never split over lines, and the next line is intact.
        ua = b'"' * 12000
        raw = (b"GET /hello/long-marker HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua +
               b"\r\nConnection: close\r\n\r\n")
        data, how = httpkit.send_and_read_all(self.port, raw)
        self.assertEqual(httpkit.status_of(data), 200, data[:200])
        fetch(self.port, request("GET", "/hello/after-long", headers=[("User-Agent", "short")]))
        self.wait_lines(1, marker=b"after-long")
        # The two requests may reach different workers, each flushing its
        # own buffer once a second: wait for the long one's line too.
        self.wait_lines(1, marker=b"long-marker")
        lines = self.lines()
        self.assertEqual(len(lines), 2, [x[:120] for x in lines])
        long_line = [x for x in lines if b"long-marker" in x]
        self.assertEqual(len(long_line), 1)
        self.assertTrue(all(0x20 <= c < 0x7f for c in long_line[0]))
        self.assertNotIn(b'""', long_line[0].split(b'"GET', 1)[1][:-1],
                         "a raw quote from the value reached the log")
        m = COMBINED.match([x for x in lines if b"after-long" in x][0].decode("latin-1"))
        self.assertIsNotNone(m)
        self.assertEqual(m.group("ua"), "short")

    def test_target_escaped_as_sent(self):
        for target, want in ((b"/hello/%22x", r"/hello/%22x"),
                             (b'/hello/a"b\\c', r"(?i)/hello/a\\x22b\\x5cc")):
            raw = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            data, how = httpkit.send_and_read_all(self.port, raw)
            self.assertEqual(httpkit.status_of(data), 200, (target, data[:200]))
        lines = self.wait_lines(2, marker=b"/hello/")
        self.assertEqual(len(lines), 2, lines)
        reqs = []
        for line in lines:
            m = COMBINED.match(line.decode("latin-1"))
            self.assertIsNotNone(m, "not a combined-format line: %r" % line)
            reqs.append(m.group("request"))
        self.assertIn("GET /hello/%22x HTTP/1.1", reqs)
        self.assertTrue(any(re.fullmatch(r"(?i)GET /hello/a\\x22b\\x5cc HTTP/1\.1", r)
                            for r in reqs), reqs)


class OffTest(AccessLogBase):

    def test_route_off_is_not_logged(self):
        # One connection, so one worker writes both lines in order: the
        # line of /hello/after shows the quiet ones would have been there.
        data, _ = httpkit.send_and_read_all(
            self.port, request("GET", "/quiet/one") + request("GET", "/quiet/two?x") +
            request("GET", "/hello/after", headers=[("Connection", "close")]))
        self.assertEqual(data.count(b"not logged\n"), 2)
        self.assertIn(b"hello\n", data)
        lines = self.wait_lines(1, marker=b"/hello/after")
        self.assertFalse([x for x in self.lines() if b"/quiet" in x], self.lines())
        self.assertEqual(len(lines), 1)

    def test_server_off_has_no_log(self):
        r = fetch(self.h.port("nolog"), request("GET", "/x"))
        self.assertEqual(r.body, b"no log\n")
        fetch(self.port, request("GET", "/hello/mark"))
        self.wait_lines(1, marker=b"/hello/mark")
        self.assertEqual(sorted(os.listdir(self.logs)), ["access.log", "b.log", "custom.log"])


class CustomFormatTest(AccessLogBase):

    def test_custom_format(self):
        port = self.h.port("custom")
        fetch(port, request("GET", "/some/path?x=1"))
        fetch(port, request("DELETE", "/d"))
        path = os.path.join(self.logs, "custom.log")
        lines = self.wait_lines(2, path=path)
        self.assertEqual(sorted(lines), sorted([b"127.0.0.1 GET /some/path?x=1 200",
                                                b"127.0.0.1 DELETE /d 200"]))
        # The other server's log got nothing of these.
        self.assertFalse(any(b"/some/path" in x for x in self.lines()))


class VhostLogTest(AccessLogBase):

    def test_each_virtual_host_its_own_log(self):
        b_log = os.path.join(self.logs, "b.log")
        r = fetch(self.port, request("GET", "/hello/for-a", host="a.test"))
        self.assertEqual(r.body, b"hello\n")
        r = fetch(self.port, request("GET", "/for-b", host="b.test"))
        self.assertEqual(r.body, b"b\n")
        self.wait_lines(1, marker=b"/hello/for-a")
        self.wait_lines(1, path=b_log, marker=b"/for-b")
        self.assertFalse([x for x in self.lines() if b"/for-b" in x], "b.test's line in a's log")
        self.assertFalse([x for x in self.lines(b_log) if b"/for-a" in x],
                         "a's line in b.test's log")

    def test_reopen_reaches_every_log(self):
        b_log = os.path.join(self.logs, "b.log")
        fetch(self.port, request("GET", "/x-before", host="b.test"))
        self.wait_lines(1, path=b_log, marker=b"/x-before")
        os.rename(b_log, b_log + ".1")
        mark = self.h.log_mark()
        os.kill(self.h.pid, signal.SIGUSR1)
        self.h.wait_log(r"reopen", since=mark)
        herdtest.wait_for(lambda: os.path.exists(b_log), 3 * herdtest.SLOW, what="a new b.log")
        n = 0

        def switched():
            nonlocal n
            n += 1
            fetch(self.port, request("GET", "/b-probe-%d" % n, host="b.test"))
            try:
                httpkit.wait_file(b_log, lambda d: b"/b-probe-%d " % n in d, FLUSH)
                return True
            except AssertionError:
                return False
        herdtest.wait_for(switched, 10 * herdtest.SLOW, interval=0,
                          what="a request logged in the new b.log")


class LifecycleTest(AccessLogBase):

    def unflushed_batch(self, name):
        """Make 3 requests and return their marker while their lines are
        still in the workers' buffers (so that only an exit can write them);
        tries again when the once-a-second flush came first."""
        for attempt in range(5):
            marker = b"/hello/%s-%d-" % (name.encode(), attempt)
            for i in range(3):
                r = fetch(self.port, request("GET", "%s%d" % (marker.decode(), i), close=True))
                self.assertEqual(r.status, 200)
            if not any(marker in x for x in self.lines()):
                return marker
        herdtest.diag("the periodic flush always came first; the exit flush is not proven")
        return marker

    def stop_and_check(self, sig, name):
        self.expect_exit = True
        marker = self.unflushed_batch(name)
        self.h.signal(sig)
        rc = self.h.wait_exit(15 * herdtest.SLOW)
        self.assertIsNotNone(rc, "herd did not exit after %s" % sig.name)
        got = [x for x in self.lines() if marker in x]
        self.assertEqual(len(got), 3, "lines after %s: %r" % (sig.name, self.lines()))

    def test_flushed_on_quit(self):
        self.stop_and_check(signal.SIGQUIT, "quit")

    def test_flushed_on_term(self):
        # "Each worker ... writes them out at least once a second and when
        # it exits": a fast stop is an exit too.
        self.stop_and_check(signal.SIGTERM, "term")

    def test_usr1_reopen(self):
        for i in range(3):
            fetch(self.port, request("GET", "/hello/before-%d" % i))
        self.wait_lines(3, marker=b"/hello/before-")
        old = self.log + ".1"
        os.rename(self.log, old)
        mark = self.h.log_mark()
        os.kill(self.h.pid, signal.SIGUSR1)
        self.h.wait_log(r"reopen", since=mark)
        herdtest.wait_for(lambda: os.path.exists(self.log), 3 * herdtest.SLOW,
                          what="a new access.log")
        # Workers get the new file through their channel; once one request
        # lands there, every later one must too.
        n = 0

        def switched():
            nonlocal n
            n += 1
            fetch(self.port, request("GET", "/hello/probe-%d" % n))
            try:
                httpkit.wait_file(self.log, lambda d: b"/hello/probe-%d " % n in d, FLUSH)
                return True
            except AssertionError:
                return False
        herdtest.wait_for(switched, 10 * herdtest.SLOW, interval=0,
                          what="a request logged in the new access.log")
        for i in range(6):
            fetch(self.port, request("GET", "/hello/after-%d" % i))
        after = self.wait_lines(6, marker=b"/hello/after-")
        self.assertEqual(len(after), 6)
        old_lines = self.lines(old)
        self.assertEqual(len([x for x in old_lines if b"/hello/before-" in x]), 3,
                         "the old file lost lines: %r" % old_lines)
        self.assertFalse([x for x in old_lines if b"/hello/after-" in x],
                         "lines after the reopen went to the renamed file: %r" % old_lines)
        self.assertFalse([x for x in self.lines() if b"/hello/before-" in x],
                         "old lines were written again to the new file")
        self.assertEqual(os.stat(self.log).st_mode & 0o777, 0o640, "logs are created 0640 (issue 7, item 5)")


if __name__ == "__main__":
    herdtest.main()
