"""Helpers shared by the HTTP feature tests (test_static, test_vhost,
test_access_log, test_status, test_limits), on top of herdtest.py.

Standard library only. Everything here talks to herd over raw sockets, so
that what is sent is exactly what the test wrote (http.client normalises
targets and adds headers of its own)."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HttpReader, read_until_close  # noqa: E402

IMF_FIXDATE = (r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
               r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
               r"\d{2}:\d{2}:\d{2} GMT$")


# ------------------------------------------------------------ file trees

def open_up(path):
    """Make a directory of the test (herdtest's mkdtemp is 0700) traversable
    by the workers, which run as nobody."""
    os.chmod(path, 0o755)


def write_file(path, data, mode=0o644):
    """Write bytes (or str) to path, creating parent directories 0755."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def make_dir(path):
    os.makedirs(path, 0o755, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def set_mtime(path, when):
    os.utime(path, (when, when), follow_symlinks=False)


# ---------------------------------------------------------- raw requests

def request(method, target, host="x", version="HTTP/1.1", headers=(), body=b"",
            close=False):
    """The bytes of one request, exactly as given (no normalisation)."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode("latin-1")
    return raw + body


def one(port, raw, head_only=False, timeout=5.0):
    """Send raw on a new connection and read one response.
    Returns (sock, reader, response); the caller closes sock."""
    s = herdtest.connect(port, timeout=timeout)
    try:
        s.sendall(raw)
        rd = HttpReader(s, timeout=timeout)
        r = rd.read_response(head_only=head_only)
    except BaseException:
        s.close()
        raise
    return s, rd, r


def fetch(port, raw, head_only=False, timeout=5.0):
    """Like one(), but closes the connection and returns the response."""
    s, _, r = one(port, raw, head_only=head_only, timeout=timeout)
    s.close()
    return r


def send_and_read_all(port, raw, timeout=5.0):
    """Send raw, half-close nothing, and read until the server closes (or
    timeout). Returns (bytes, how) with how "eof", "reset" or "timeout"."""
    s = herdtest.connect(port, timeout=timeout)
    try:
        s.sendall(raw)
        return read_until_close(s, timeout)
    finally:
        s.close()


def status_of(data):
    """The status code of the first response in data, or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})[ \r]", data)
    return int(m.group(1)) if m else None


def wait_closed(sock, timeout):
    """Read (and keep) until the peer closes. Returns (data, how, seconds)."""
    t0 = time.monotonic()
    data, how = read_until_close(sock, timeout)
    return data, how, time.monotonic() - t0


def wait_file(path, pred, timeout, interval=0.05, what=None):
    """Poll the contents of path (bytes, b"" when missing) until pred(data)
    holds; return the data, or raise AssertionError with the last contents."""
    deadline = time.monotonic() + timeout
    last = b""
    while True:
        try:
            with open(path, "rb") as f:
                last = f.read()
        except OSError:
            last = b""
        if pred(last):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s in %s; it holds:\n%s"
                                 % (timeout, what or "a condition", path,
                                    last.decode("latin-1")[-3000:]))
        time.sleep(interval)


# ------------------------------------------------------------ test cases

CRASH = re.compile(r"killed by signal|AddressSanitizer|LeakSanitizer|runtime error:")


class HerdCase(herdtest.HerdTestCase):
    """A HerdTestCase that closes the sockets made with sock() and, at the
    end of every test, checks that each herd it started is still running
    (unless the test stopped it on purpose: self.expect_exit) and that no
    worker crashed or hit a sanitizer meanwhile."""

    expect_exit = False

    def setUp(self):
        super().setUp()
        self.socks = []

    def sock(self, port=None, timeout=10.0):
        s = herdtest.connect(port or self.port, timeout=timeout)
        self.socks.append(s)
        return s

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.socks = []
        problems = []
        for h in self._herds:
            if h.proc is None:
                continue
            if not self.expect_exit and not h.alive():
                problems.append("herd exited during the test (status %s)" % h.proc.returncode)
            m = CRASH.search(h.log_text())
            if m:
                problems.append("herd logged %r" % m.group(0))
            if problems:
                problems.append(h.log_tail(60))
        super().tearDown()
        if problems:
            self.fail("\n".join(problems))
