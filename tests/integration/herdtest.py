"""Harness for herd's black-box integration tests (standard library only).

- main(): run the unittest.TestCase classes of the calling __main__ module and
  report in TAP ("1..N", "ok K - Class.method", "not ok K - ..." with the
  traceback as "# " lines, "ok K - ... # SKIP reason").
- Herd: one herd master in a private temporary directory, started in the
  foreground from a configuration template, stopped (and every process it left
  behind killed) by stop().
- Small HTTP helpers over raw sockets.

Configuration templates use string.Template placeholders, because libconfig
itself is full of braces:
    $dir        the private temporary directory
    $pid_file   $dir/herd.pid
    $error_log  $dir/error.log
    $port, $port_NAME, ...   a free loopback port per distinct name
"""

import http.client
import inspect
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# Per-test watchdog: a hung test fails instead of hanging the whole suite.
TEST_TIMEOUT = float(os.environ.get("HERD_TEST_TIMEOUT", "120"))


def herd_bin():
    b = os.environ.get("HERD_BIN")
    if b:
        return os.path.abspath(b)
    return os.path.normpath(os.path.join(HERE, "..", "..", "src", "herd"))


def is_sanitized():
    """True when the binary is built with AddressSanitizer (slower start)."""
    try:
        with open(herd_bin(), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SLOW = 3.0 if is_sanitized() else 1.0


def assert_rss_growth(test, growth_kb, limit_kb, what):
    """A bound on a worker's memory growth. Under AddressSanitizer freed
    memory waits in its quarantine and every touched page has shadow pages,
    so the figure says nothing of herd there: it is reported, and the bound
    is asserted by the ordinary build's run of the same test."""
    if is_sanitized():
        diag("%s: worker RSS grew %d KiB (sanitizer build: bound of %d KiB not applied)"
             % (what, growth_kb, limit_kb))
        return
    test.assertLess(growth_kb, limit_kb, "%s: worker RSS grew by %d KiB" % (what, growth_kb))


# ---------------------------------------------------------------- processes

def proc_stat(pid):
    """(state, ppid, pgrp) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children_of(ppid):
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[1] == ppid and st[0] != "Z":
            out.append(pid)
    return sorted(out)


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_kb(pid):
    try:
        return int(proc_status(pid)["VmRSS"].split()[0])
    except (OSError, KeyError):
        raise AssertionError("process %d is gone" % pid)


def wait_for(pred, timeout, interval=0.02, what=None):
    """Poll pred() until it returns a true value; return it, or raise
    AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" %
                                 (timeout, what or getattr(pred, "__name__", "condition")))
        time.sleep(interval)


# ------------------------------------------------------------------ sockets

_used_ports = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A loopback port nobody uses right now.

    Picked below the ephemeral range when there is room (and checked with a
    bind), so that the source port of some client connection made meanwhile
    (wrk opens thousands, and `make -j2 check` runs tests side by side) cannot
    take it before herd binds it; otherwise bind port 0, read it, close."""
    lo, hi = _ephemeral_range()
    rnd = random.SystemRandom()
    if lo > 12000:
        for _ in range(200):
            port = rnd.randrange(10000, lo)
            if port not in _used_ports and _port_free(port):
                _used_ports.add(port)
                return port
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


def can_connect(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def connect(port, host="127.0.0.1", timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def connect_error(port, host="127.0.0.1", timeout=1.0):
    """None if a connection succeeds, else the errno of the failure."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return e.errno if e.errno is not None else -1


def recv_exact(sock, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out: got %d of %d bytes" % (got, n))
        sock.settimeout(left)
        b = sock.recv(min(n - got, 1 << 20))
        if not b:
            raise AssertionError("connection closed after %d of %d bytes" % (got, n))
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def read_until_close(sock, timeout=5.0):
    """Read until the peer closes. Returns (data, how) with how one of
    "eof", "reset", "timeout"."""
    deadline = time.monotonic() + timeout
    data = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(data), "timeout"
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return b"".join(data), "timeout"
        except ConnectionResetError:
            return b"".join(data), "reset"
        if not b:
            return b"".join(data), "eof"
        data.append(b)


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), names as sent
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return "<Response %s %d %r body=%d bytes>" % (self.version, self.status, self.headers,
                                                      len(self.body))


class HttpReader:
    """Reads HTTP/1.x responses from a socket, keeping what follows."""

    def __init__(self, sock, timeout=5.0):
        self.sock = sock
        self.buf = b""
        self.timeout = timeout
        self.reads = 0          # recv() calls that returned data

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out reading a response; have %r" % self.buf[:300])
        self.sock.settimeout(left)
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out reading a response; have %r" % self.buf[:300])
        if not b:
            raise EOFError("connection closed; have %r" % self.buf[:300])
        self.reads += 1
        self.buf += b

    def read_response(self, head_only=False, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                raise AssertionError("bad header line %r" % line)
            headers.append((k, v.strip()))
        resp = Response(m.group(1), int(m.group(2)), m.group(3), headers, b"", head)
        if head_only or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        cl = resp.header("Content-Length")
        if cl is None:
            raise AssertionError("response without Content-Length: %r" % head)
        n = int(cl)
        while len(self.buf) < n:
            self._fill(deadline)
        resp.body, self.buf = self.buf[:n], self.buf[n:]
        return resp


def http_request(method, path, host="x", version="HTTP/1.1", headers=(), body=b""):
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    lines.extend("%s: %s" % kv for kv in headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(port, path, method="GET", headers=None, timeout=5.0):
    """One request on a fresh http.client connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body
    finally:
        conn.close()


# --------------------------------------------------------------------- herd

_all_herds = []

# The master's line once every worker of a generation has reported ready.
READY_RX = re.compile(r"generation \d+ serving")


def stop_all():
    """Stop every Herd still running (the safety net behind tearDown)."""
    while _all_herds:
        _all_herds.pop().stop()


def run(*args, timeout=30.0, cwd=None):
    """Run the herd binary with args: (rc, stdout, stderr)."""
    r = subprocess.run([herd_bin()] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, cwd=cwd or "/")
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


class HerdStartError(AssertionError):
    pass


class Herd:
    """One herd master under test.

        h = Herd(TEMPLATE)            # writes $dir/herd.conf, allocates ports
        h.start()                     # herd -F -c $dir/herd.conf
        ...
        h.stop()                      # always, e.g. in tearDown

    Ports named in the template are waited for at start; h.ports["port_x"]
    (or h.port("x")) gives their numbers.
    """

    def __init__(self, template=None, prefix=(), args=None, wait_ports=None,
                 pid_file=None, env=None, cwd=None):
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="herdtest-"))
        self.bin = herd_bin()
        self.conf = os.path.join(self.dir, "herd.conf")
        self.pid_file = pid_file or os.path.join(self.dir, "herd.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        self.out_log = os.path.join(self.dir, "output.log")
        self.ports = {}
        self.template = template
        self.prefix = list(prefix)
        self.args = args
        self.wait_ports = wait_ports
        self.env = env
        self.cwd = cwd or self.dir
        self.proc = None
        self._pgid = None
        self._out = None
        _all_herds.append(self)
        if template is not None:
            self.rewrite_config(template)

    # -- configuration

    def port(self, name=""):
        key = "port_" + name if name else "port"
        if key not in self.ports:
            self.ports[key] = free_port()
        return self.ports[key]

    def render(self, template):
        names = set()
        for m in re.finditer(r"\$(?:\{(port\w*)\}|(port\w*))", template):
            names.add(m.group(1) or m.group(2))
        for n in sorted(names):
            self.port(n[5:] if n.startswith("port_") else "")
        subs = dict(self.ports)
        subs.update(dir=self.dir, pid_file=self.pid_file, error_log=self.error_log)
        return string.Template(template).substitute(subs)

    def rewrite_config(self, template):
        """Render a template (same placeholders) and replace the file."""
        text = self.render(template)
        tmp = self.conf + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf)
        self.text = text
        return text

    def write_file(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # -- running

    def command(self):
        if self.args is not None:
            return self.prefix + [self.bin] + list(self.args)
        return self.prefix + [self.bin, "-F", "-c", self.conf]

    def start(self, timeout=10.0, wait=True):
        self._out = open(self.out_log, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=self.cwd, env=self.env, start_new_session=True)
        self._pgid = self.proc.pid
        if wait:
            try:
                self.wait_started(timeout * SLOW)
            except BaseException:
                self.stop()
                raise
        return self

    def listen_ports(self):
        if self.wait_ports is not None:
            return list(self.wait_ports)
        return sorted(set(self.ports.values()))

    def wait_started(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        ports = self.listen_ports()
        while True:
            if self.proc.poll() is not None:
                raise HerdStartError("herd exited with status %s during start-up:\n%s" %
                                     (self.proc.returncode, self.log_text()))
            ok = os.path.exists(self.pid_file) and self._pid_file_pid() == self.proc.pid
            if ok:
                ok = all(can_connect(p) for p in ports)
            if ok:
                # The sockets belong to the master and accept before any
                # worker serves: wait for the workers too, and for the master
                # to have seen them ready (its "generation N serving" line),
                # so that a test's signal does not hit a generation that is
                # still starting.
                ok = len(self.worker_pids()) > 0 and (
                    not self.logs_here() or READY_RX.search(self.log_text()))
            if ok:
                return
            if time.monotonic() >= deadline:
                raise HerdStartError("herd did not start within %.1f s (pid file %s, ports %s)"
                                     ":\n%s" % (timeout, self.pid_file, ports, self.log_text()))
            time.sleep(0.02)

    def logs_here(self):
        """True when herd's error log lands in this object's files."""
        text = getattr(self, "text", None)
        if text is None:
            return True         # the embedded default logs to stderr
        m = re.search(r'^\s*error_log\s*=\s*"([^"]*)"', text, re.M)
        return m is None or m.group(1) in ("stderr", self.error_log)

    def _pid_file_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip() or "0")
        except (OSError, ValueError):
            return None

    @property
    def pid(self):
        """The master's pid, from the pid file."""
        p = self._pid_file_pid()
        if p is None:
            raise AssertionError("no pid in %s" % self.pid_file)
        return p

    def worker_pids(self):
        if self.proc is None:
            return []
        return children_of(self.proc.pid)

    def wait_workers(self, n, timeout=5.0, exclude=()):
        """Wait until the master has exactly n children, none of them in
        exclude; return their pids."""
        exclude = set(exclude)

        def ok():
            w = self.worker_pids()
            return w if len(w) == n and not (set(w) & exclude) else None
        try:
            return wait_for(ok, timeout * SLOW, what="%d workers" % n)
        except AssertionError:
            raise AssertionError("expected %d workers (not %s), have %s\n%s" %
                                 (n, sorted(exclude), self.worker_pids(), self.log_tail()))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=5.0):
        """Wait for the master to exit; returns its status or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def run(self, *args, timeout=30.0):
        """Run the herd binary with args: (rc, stdout, stderr)."""
        return run(*args, timeout=timeout, cwd=self.dir)

    def reload_via_cli(self, timeout=60.0):
        return self.run("-c", self.conf, "-s", "reload", timeout=timeout)

    # -- logs

    def log_text(self):
        """Everything herd wrote: stdout/stderr, then the error log file."""
        out = []
        for p in (self.out_log, self.error_log):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(out)

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "log (last %d lines):\n" % n + "\n".join(lines[-n:])

    def log_mark(self):
        """A position in the logs, for log_since()."""
        out = []
        for p in (self.out_log, self.error_log):
            try:
                out.append(os.path.getsize(p))
            except OSError:
                out.append(0)
        return tuple(out)

    def log_since(self, mark):
        """What herd logged after log_mark() returned mark."""
        out = []
        for p, off in zip((self.out_log, self.error_log), mark):
            try:
                with open(p, "rb") as f:
                    if os.fstat(f.fileno()).st_size >= off:
                        f.seek(off)
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(out)

    def wait_log(self, pattern, timeout=5.0, since=None):
        """Wait until the log (after the log_mark() since, if given) matches
        the regular expression; return the match."""
        rx = re.compile(pattern)

        def find():
            return rx.search(self.log_text() if since is None else self.log_since(since))
        try:
            return wait_for(find, timeout * SLOW, what="log line /%s/" % pattern)
        except AssertionError:
            raise AssertionError("no log line matching /%s/ within %.1f s\n%s" %
                                 (pattern, timeout, self.log_tail()))

    # -- stopping

    def _group_pids(self):
        if self._pgid is None:
            return []
        out = []
        for pid in all_pids():
            st = proc_stat(pid)
            if st and st[2] == self._pgid and st[0] != "Z":
                out.append(pid)
        return out

    def stop(self, timeout=5.0):
        """TERM the master, wait, then SIGKILL whatever is left of its
        process group. Idempotent; safe after a failed start."""
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)     # never interrupt a stop
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout * SLOW)
                except subprocess.TimeoutExpired:
                    pass
            deadline = time.monotonic() + 5
            while True:
                left = self._group_pids()
                if self.proc is not None and self.proc.poll() is None:
                    left.append(self.proc.pid)
                if not left:
                    break
                for pid in set(left):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if self.proc is not None:
                    try:
                        self.proc.wait(0.05)
                    except subprocess.TimeoutExpired:
                        pass
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        finally:
            if self._out:
                self._out.close()
                self._out = None
            if self in _all_herds:
                _all_herds.remove(self)
            if os.environ.get("HERD_KEEP_TMP"):
                sys.stderr.write("kept %s\n" % self.dir)
            elif os.path.isdir(self.dir):
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# A configuration with the required top-level keys; servers follow.
def top(workers=2, extra=""):
    return ('workers = %s;\nuser = "nobody";\npid_file = "$pid_file";\n'
            'error_log = "$error_log";\n%s' % (workers, extra))


class HerdTestCase(unittest.TestCase):
    """Stops every Herd made through self.herd() at tearDown, even on failure."""

    def setUp(self):
        self._herds = []

    def tearDown(self):
        for h in reversed(self._herds):
            h.stop()

    def herd(self, template=None, start=True, **kw):
        h = Herd(template, **kw)
        self._herds.append(h)
        if start:
            h.start()
        return h


# --------------------------------------------------------------------- TAP

class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("test exceeded %.0f s (HERD_TEST_TIMEOUT)" % TEST_TIMEOUT)


class _TapResult(unittest.TestResult):
    def __init__(self, emit):
        super().__init__()
        self.emit = emit
        self.seen = set()

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()
        if hasattr(signal, "SIGALRM"):
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)

    def stopTest(self, test):
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        super().stopTest(test)

    def _name(self, test):
        return "%s.%s" % (type(test).__name__, test._testMethodName)

    def _dur(self):
        return " (%.2f s)" % (time.monotonic() - self._t0)

    def addSuccess(self, test):
        self.seen.add(test.id())
        self.emit(True, self._name(test), comment=None, detail=None, dur=self._dur())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.seen.add(test.id())
        self.emit(False, self._name(test), None, self._exc_info_to_string(err, test),
                  self._dur())

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):
            # setUpClass / module fixture errors: reported per test later
            self.class_errors.append(self._exc_info_to_string(err, test))
            return
        self.seen.add(test.id())
        self.emit(False, self._name(test), None, self._exc_info_to_string(err, test),
                  self._dur())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if not isinstance(test, unittest.TestCase):
            return
        self.seen.add(test.id())
        self.emit(True, self._name(test), "SKIP " + reason.replace("\n", " "), None, "")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.seen.add(test.id())
        self.emit(False, self._name(test), "TODO expected failure", None, self._dur())

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.seen.add(test.id())
        self.emit(True, self._name(test), "TODO unexpected success", None, self._dur())

    class_errors = []


def _collect(module):
    loader = unittest.TestLoader()
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, unittest.TestCase) and obj.__module__ == module.__name__]
    classes.sort(key=lambda c: inspect.getsourcelines(c)[1])
    out = []
    for cls in classes:
        names = loader.getTestCaseNames(cls)
        # In the order of the source, which reads better than alphabetical.
        names = sorted(names, key=lambda n: inspect.getsourcelines(getattr(cls, n))[1])
        if names:
            out.append((cls, [cls(n) for n in names]))
    return out


def main(argv=None):
    """Run the TestCase classes of __main__ (optionally only the tests whose
    "Class.method" name contains one of the command-line words) as TAP."""
    module = sys.modules["__main__"]
    argv = sys.argv[1:] if argv is None else argv
    groups = _collect(module)
    if argv:
        groups = [(cls, [t for t in tests
                         if any(a in "%s.%s" % (cls.__name__, t._testMethodName) for a in argv)])
                  for cls, tests in groups]
        groups = [(c, t) for c, t in groups if t]
    total = sum(len(t) for _, t in groups)
    out = sys.stdout
    out.write("1..%d\n" % total)
    out.flush()
    state = {"n": 0, "failed": 0}

    def emit(ok, name, comment, detail, dur):
        state["n"] += 1
        if not ok and not (comment or "").startswith("TODO"):
            state["failed"] += 1
        line = "%s %d - %s" % ("ok" if ok else "not ok", state["n"], name)
        if comment:
            line += " # " + comment
        out.write(line + "\n")
        if dur:
            out.write("# %s took%s\n" % (name, dur))
        if detail:
            for dl in detail.rstrip("\n").split("\n"):
                out.write("# " + dl + "\n")
        out.flush()

    for cls, tests in groups:
        result = _TapResult(emit)
        result.class_errors = []
        suite = unittest.TestSuite(tests)
        try:
            suite.run(result)
        except _Timeout:
            result.class_errors.append(traceback.format_exc())
        stop_all()
        unreported = [t for t in tests if t.id() not in result.seen]
        for t in unreported:
            detail = "\n".join(result.class_errors) or "test did not report a result"
            emit(False, "%s.%s" % (cls.__name__, t._testMethodName), None, detail, "")
        if result.class_errors and not unreported:
            # e.g. tearDownClass failed after every test had reported
            state["failed"] += 1
            diag("%s: error outside the tests:" % cls.__name__, *result.class_errors)
    return_code = 1 if state["failed"] or state["n"] != total else 0
    out.flush()
    sys.exit(return_code)


def diag(*lines):
    """Print TAP comment lines (visible in the test log)."""
    for text in lines:
        for line in str(text).split("\n"):
            sys.stdout.write("# " + line + "\n")
    sys.stdout.flush()
