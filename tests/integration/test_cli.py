#!/usr/bin/env python3
"""herd's command line: -t, -T, -v, -h, bad flags, one instance per pid
file, the embedded default."""

import os
import pwd
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

GOOD = """\
workers = 2;
user = "nobody";
pid_file = "$pid_file";
error_log = "$error_log";
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";
    routes = ( { path = "/"; return = { status = 200; body = "hi\\n"; }; } );
  },
  { listen = [ "127.0.0.1:$port_echo" ];
    protocol = "echo";
  }
);
"""

TRICKY = r"""
workers = "auto";
user = "nobody";
pid_file = "$pid_file";
error_log = "stderr";
shutdown_timeout = "1500ms";
servers = (
  { listen = [ "127.0.0.1:$port", "[::1]:$port" ];
    protocol = "http";
    keepalive_timeout = 0;
    header_timeout = 2.5;
    max_body = "64k";
    routes = (
      { path = "/q"; exact = true;
        return = { status = 200; type = "text/plain; charset=utf-8";
                   body = "a \"quoted\" \\ back\tslash\nhéllo ✓\x01"; }; },
      { path = "/r"; return = { status = 308; location = "http://example.com/a?b=c&d"; }; }
    ); },
  { listen = "127.0.0.1:$port_echo"; protocol = "echo"; idle_timeout = "1h"; }
);
"""


def with_line(text, lineno, new_line):
    """Insert new_line so that it becomes line lineno (1-based)."""
    lines = text.split("\n")
    lines.insert(lineno - 1, new_line)
    return "\n".join(lines)


def replace_line(text, lineno, new_line):
    lines = text.split("\n")
    lines[lineno - 1] = new_line
    return "\n".join(lines)


class ConfigTest(HerdTestCase):
    """herd -t / -T on good and bad files."""

    def check(self, h, path=None):
        return h.run("-t", "-c", path or h.conf)

    def assert_bad(self, text, line, message_rx=None):
        h = self.herd(start=False)
        h.rewrite_config(text)
        rc, out, err = self.check(h)
        self.assertEqual(rc, 1, "herd -t should fail (exit 1) on:\n%s\nstderr: %s" % (text, err))
        want = "%s:%d:" % (h.conf, line)
        self.assertIn(want, err, "stderr should name %s; config:\n%s" % (want, h.text))
        if message_rx:
            self.assertRegex(err, message_rx)
        return err

    def test_good_file(self):
        h = self.herd(start=False)
        h.rewrite_config(GOOD)
        rc, out, err = self.check(h)
        self.assertEqual(rc, 0, err)

    def test_syntax_error(self):
        text = with_line(GOOD, 3, 'shutdown_timeout = = "1s";')
        self.assert_bad(text, 3)

    def test_syntax_error_late_line(self):
        # A setting without a value, deep inside the second server.
        text = replace_line(GOOD, 11, '    protocol = "echo"; idle_timeout = ;')
        self.assert_bad(text, 11)

    def test_unknown_key(self):
        text = with_line(GOOD, 4, "frobnicate = 1;")
        self.assert_bad(text, 4, r"frobnicate")

    def test_unknown_key_in_server(self):
        text = with_line(GOOD, 8, '    keepalive_timout = "5s";')
        self.assert_bad(text, 8, r"keepalive_timout")

    def test_wrong_type(self):
        text = replace_line(GOOD, 1, 'workers = "many";')
        self.assert_bad(text, 1, r"workers")

    def test_workers_zero(self):
        text = with_line(replace_line(GOOD, 1, "# workers below"), 2, "workers = 0;")
        self.assert_bad(text, 2, r"workers")

    def test_port_out_of_range(self):
        text = replace_line(GOOD, 10, '  { listen = [ "127.0.0.1:70000" ];')
        self.assert_bad(text, 10, r"70000")

    def test_bad_duration(self):
        text = with_line(GOOD, 5, 'shutdown_timeout = "10 parsecs";')
        self.assert_bad(text, 5, r"shutdown_timeout")

    def test_missing_file(self):
        h = self.herd(start=False)
        path = os.path.join(h.dir, "does-not-exist.conf")
        rc, out, err = self.check(h, path)
        self.assertEqual(rc, 1, err)
        self.assertIn(path, err)

    def test_unreadable_file(self):
        # Root reads any mode: run herd -t as nobody on a mode 000 file.
        h = self.herd(start=False)
        h.rewrite_config(GOOD)
        os.chmod(h.conf, 0)
        os.chmod(h.dir, 0o755)
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")

        def drop():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        r = subprocess.run([h.bin, "-t", "-c", h.conf], capture_output=True, timeout=30,
                           cwd="/", preexec_fn=drop)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn(h.conf, err)
        self.assertRegex(err, r"(?i)permission denied")

    def test_directory_as_file(self):
        # A path that cannot be read as a file at all.
        h = self.herd(start=False)
        path = os.path.join(h.dir, "a-directory.conf")
        os.mkdir(path)
        rc, out, err = self.check(h, path)
        self.assertEqual(rc, 1, err)
        self.assertIn(path, err)

    def test_dump_round_trip(self):
        h = self.herd(start=False)
        h.rewrite_config(GOOD)
        rc, dump1, err = h.run("-T", "-c", h.conf)
        self.assertEqual(rc, 0, err)
        # Defaults are printed too.
        for key in ("shutdown_timeout", "keepalive_timeout", "idle_timeout", "log_level"):
            self.assertRegex(dump1, r"\b%s\b" % key)
        dumped = h.write_file("dumped.conf", dump1)
        rc, out, err = h.run("-t", "-c", dumped)
        self.assertEqual(rc, 0, "the -T output does not pass -t:\n%s\n%s" % (err, dump1))
        rc, dump2, err = h.run("-T", "-c", dumped)
        self.assertEqual(rc, 0, err)
        strip = lambda s: "\n".join(l for l in s.splitlines() if not l.startswith("#"))  # noqa
        self.assertEqual(strip(dump1), strip(dump2))

    def test_dump_round_trip_tricky_values(self):
        # Escapes, UTF-8, control bytes, units, an IPv6 address, a string
        # where an array is allowed, floats for durations.
        h = self.herd(start=False)
        h.rewrite_config(TRICKY)
        rc, dump1, err = h.run("-T", "-c", h.conf)
        self.assertEqual(rc, 0, err)
        dumped = h.write_file("dumped.conf", dump1)
        rc, dump2, err = h.run("-T", "-c", dumped)
        self.assertEqual(rc, 0, "the -T output does not pass -T:\n%s\n%s" % (err, dump1))
        strip = lambda s: "\n".join(l for l in s.splitlines() if not l.startswith("#"))  # noqa
        self.assertEqual(strip(dump1), strip(dump2))
        self.assertIn("1500ms", dump1)
        self.assertIn("2500ms", dump1)
        self.assertIn("h\u00e9llo \u2713", dump1)
        # And it means the same: the dumped file serves the same bytes.
        served = dump1.replace(', "[::1]:%d"' % h.port(), "")
        self.assertNotEqual(served, dump1)
        h.rewrite_config(served)
        h.start()
        status, headers, body = herdtest.get(h.port(), "/q")
        self.assertEqual(status, 200)
        self.assertEqual(body, 'a "quoted" \\ back\tslash\nh\u00e9llo \u2713\x01'.encode())
        self.assertEqual(headers.get("content-type"), "text/plain; charset=utf-8")
        status, headers, body = herdtest.get(h.port(), "/r/x")
        self.assertEqual(status, 308)
        self.assertEqual(headers.get("location"), "http://example.com/a?b=c&d")

    def test_t_does_not_bind(self):
        h = self.herd(start=False)
        h.rewrite_config(GOOD)
        hold = socket.socket()
        try:
            hold.bind(("127.0.0.1", h.port()))
            hold.listen(1)
            rc, out, err = h.run("-t", "-c", h.conf)
            self.assertEqual(rc, 0, err)
            rc, out, err = h.run("-T", "-c", h.conf)
            self.assertEqual(rc, 0, err)
        finally:
            hold.close()
        self.assertFalse(os.path.exists(h.pid_file), "-t must not create the pid file")


class FlagsTest(HerdTestCase):

    def test_version(self):
        rc, out, err = herdtest.run("-v")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.strip(), r"^herd \d+\.\d+(\.\d+)?\S*$")
        rc, out_v, err = herdtest.run("-V")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out_v.splitlines()[0], out.strip())

    def test_help(self):
        rc, out, err = herdtest.run("-h")
        self.assertEqual(rc, 0, err)
        self.assertIn("usage", (out + err).lower())
        self.assertIn("-c", out)

    def test_unknown_flag(self):
        rc, out, err = herdtest.run("-Z")
        self.assertNotEqual(rc, 0)
        self.assertNotEqual(err.strip(), "")

    def test_unexpected_argument(self):
        rc, out, err = herdtest.run("-t", "stray")
        self.assertNotEqual(rc, 0)


class InstanceTest(HerdTestCase):

    def test_second_master_refused(self):
        h = self.herd(GOOD)
        first = h.pid
        mark = h.log_mark()
        t0 = time.monotonic()
        r = subprocess.run([h.bin, "-F", "-c", h.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20, cwd=h.dir)
        took = time.monotonic() - t0
        self.assertNotEqual(r.returncode, 0, "a second master on the same pid file must fail")
        self.assertLess(took, 5.0 * herdtest.SLOW, "the second master should give up at once")
        # What the second one said (on stderr, or in the shared error log).
        text = r.stderr.decode() + r.stdout.decode() + h.log_since(mark)
        self.assertRegex(text, r"(?i)another.*master")
        self.assertRegex(text, r"\b%d\b" % first)
        # The first one is untouched and keeps serving.
        self.assertTrue(h.alive())
        self.assertEqual(h.pid, first, "the pid file must still hold the first master")
        status, _, body = herdtest.get(h.port(), "/")
        self.assertEqual((status, body), (200, b"hi\n"))


class SignalFlagTest(HerdTestCase):
    """herd -s: tell the master found through pid_file."""

    def test_reload_without_master(self):
        h = self.herd(GOOD, start=False)
        rc, out, err = h.reload_via_cli(timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertIn(h.pid_file, err)
        # A stale pid file (no lock held) is not mistaken for a master.
        with open(h.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
        rc, out, err = h.reload_via_cli(timeout=10)
        self.assertNotEqual(rc, 0, "a stale pid file must not be signalled")
        self.assertTrue(err.strip())

    def test_unknown_signal_name(self):
        h = self.herd(GOOD)
        rc, out, err = h.run("-c", h.conf, "-s", "bogus")
        self.assertNotEqual(rc, 0)
        self.assertIn("bogus", err)
        self.assertTrue(h.alive())

    def test_stop(self):
        h = self.herd(GOOD)
        rc, out, err = h.run("-c", h.conf, "-s", "stop")
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(h.wait_exit(5 * herdtest.SLOW), "-s stop did not stop herd")
        self.assertFalse(os.path.exists(h.pid_file))

    def test_quit(self):
        h = self.herd(GOOD)
        rc, out, err = h.run("-c", h.conf, "-s", "quit")
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(h.wait_exit(5 * herdtest.SLOW), "-s quit did not stop herd")
        self.assertFalse(os.path.exists(h.pid_file))


class EmbeddedDefaultTest(HerdTestCase):

    def test_embedded_default(self):
        if os.geteuid() != 0:
            self.skipTest("the embedded default's pid file needs root")
        rc, out, err = herdtest.run("-V")
        m = re.search(r"^configuration: (\S+)", out, re.M)
        conf_path = m.group(1) if m else "/usr/local/etc/herd/herd.conf"
        m = re.search(r"^pid file default: (\S+)", out, re.M)
        pid_path = m.group(1) if m else None
        if os.path.exists(conf_path) or os.path.exists("/usr/local/etc/herd/herd.conf"):
            self.skipTest("%s exists" % conf_path)
        for port in (8080, 7007, 7008):
            if herdtest.can_connect(port):
                self.skipTest("something listens on 127.0.0.1:%d" % port)
        if pid_path is None:
            self.skipTest("herd -V does not say where the default pid file is")
        if os.path.exists(pid_path):
            self.skipTest("%s exists (another herd?)" % pid_path)
        # The master creates missing directories of the pid file: remove the
        # ones this test made.
        made = []
        d = os.path.dirname(pid_path)
        while d and d != "/" and not os.path.exists(d):
            made.append(d)
            d = os.path.dirname(d)
        try:
            h = self.herd(args=["-F"], wait_ports=[8080, 7007, 7008], pid_file=pid_path)
            status, headers, body = herdtest.get(8080, "/")
            self.assertEqual(status, 200)
            self.assertIn(b"Hello", body)
            for port in (7007, 7008):      # echo, and the TCP proxy in front of it
                s = herdtest.connect(port)
                try:
                    s.sendall(b"ping\n")
                    self.assertEqual(herdtest.recv_exact(s, 5), b"ping\n")
                finally:
                    s.close()
            self.assertRegex(h.log_text(), r"(?i)embedded default")
            h.signal(15)
            self.assertIsNotNone(h.wait_exit(5 * herdtest.SLOW), "TERM did not stop herd")
            self.assertFalse(os.path.exists(pid_path), "pid file left behind")
        finally:
            self.tearDown()
            self._herds = []
            for d in made:
                try:
                    os.rmdir(d)
                except OSError:
                    pass


if __name__ == "__main__":
    herdtest.main()
