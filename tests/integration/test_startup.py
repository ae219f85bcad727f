#!/usr/bin/env python3
"""Starting and testing: log files opened safely (never through a link,
created 0640 with their directory's group), errors of a failing start on the
terminal, `-t` opening the logs, `-T` and `-s` messages, process titles."""

import grp
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase, HttpReader, http_request  # noqa: E402


def conf(error_log="$error_log", access_log=None, workers=2):
    return ('workers = %d;\nuser = "nobody";\npid_file = "$pid_file";\n'
            'error_log = "%s";\n' % (workers, error_log)) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";%s
    routes = ( { path = "/"; return = { status = 200; body = "ok\\n"; }; } );
  }
);
""" % ('\n    access_log = "%s";' % access_log if access_log else "")


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in the configuration" % needle)


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode().strip()


def start_direct(h, *extra, timeout=20):
    """Run the master as a shell would (stderr apart) and wait for it to
    exit or for the parent of a daemon to return: (rc, stdout, stderr)."""
    r = subprocess.run([h.bin] + list(extra) + ["-c", h.conf], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout * herdtest.SLOW, cwd=h.dir)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


class LogFileTest(HerdTestCase):
    """Item 5: the root master opens every log itself; never through a
    symbolic link, new files 0640 with the group of their directory."""

    def test_new_logs_are_0640_with_the_directory_group(self):
        h = self.herd(conf(access_log="$dir/logs/access.log"), start=False)
        logs = os.path.join(h.dir, "logs")
        os.mkdir(logs, 0o750)
        group = None
        if os.geteuid() == 0:
            for name in ("adm", "nogroup", "daemon"):
                try:
                    group = grp.getgrnam(name).gr_gid
                    break
                except KeyError:
                    pass
            if group is not None:
                os.chown(logs, 0, group)
        h.rewrite_config(conf(error_log="$dir/logs/error.log",
                              access_log="$dir/logs/access.log"))
        h.error_log = os.path.join(logs, "error.log")
        h.start()
        herdtest.get(h.port(), "/")
        for name in ("error.log", "access.log"):
            st = os.stat(os.path.join(logs, name))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o640, "%s mode %o" % (name, st.st_mode))
            if group is not None:
                self.assertEqual(st.st_gid, group, "%s should take the directory's group" % name)

    def test_symlink_planted_as_error_log_is_refused_at_start(self):
        h = self.herd(conf(), start=False)
        target = h.write_file("precious", "keep me\n")
        os.symlink(target, h.error_log)
        rc, out, err = start_direct(h, "-F")
        self.assertEqual(rc, 1, "herd must refuse a symlinked error log:\n" + err)
        self.assertIn("symbolic link", err)
        self.assertIn("%s:%d:" % (h.conf, line_of(h.text, "error_log")), err)
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n", "the link target was written")

    def test_symlink_planted_as_access_log_is_refused_at_start(self):
        h = self.herd(conf(error_log="stderr", access_log="$dir/access.log"), start=False)
        target = h.write_file("precious", "keep me\n")
        os.symlink(target, os.path.join(h.dir, "access.log"))
        rc, out, err = start_direct(h, "-F")
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:%d:" % (h.conf, line_of(h.text, "access_log")), err)
        self.assertIn("symbolic link", err)
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n")

    def test_symlink_planted_before_reopen_is_refused(self):
        h = self.herd(conf(access_log="$dir/access.log"))
        # The link target lives outside the test's directory, which stop()
        # removes: it is read after every worker has flushed and exited.
        fd, target = tempfile.mkstemp(prefix="herdtest-precious-")
        os.write(fd, b"keep me\n")
        os.close(fd)
        self.addCleanup(os.unlink, target)
        access = os.path.join(h.dir, "access.log")
        # What logrotate does, but with a link where the new file should be.
        os.rename(h.error_log, h.error_log + ".1")
        os.rename(access, access + ".1")
        os.symlink(target, h.error_log)
        os.symlink(target, access)
        h.signal(signal.SIGUSR1)
        herdtest.wait_for(lambda: "symbolic link" in open(h.error_log + ".1").read(),
                          5 * herdtest.SLOW, what="the refusal in the old error log")
        text = open(h.error_log + ".1").read()
        self.assertIn("cannot open log file %s: it is a symbolic link" % h.error_log, text)
        self.assertIn("cannot open log file %s: it is a symbolic link" % access, text)
        for i in range(5):
            self.assertEqual(herdtest.get(h.port(), "/r%d" % i)[0], 200)
        h.stop()
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n", "a log was written through the link")

    def test_t_refuses_a_symlinked_log(self):
        h = self.herd(conf(), start=False)
        os.symlink(h.write_file("precious", ""), h.error_log)
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1, err)
        self.assertIn("symbolic link", err)


class TestOpensLogsTest(HerdTestCase):
    """Item 22: `herd -t` opens the logs as the start would."""

    def test_t_fails_when_the_error_log_cannot_be_opened(self):
        h = self.herd(conf(error_log="$dir/missing/error.log"), start=False)
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1, "herd -t passed a log it cannot open:\n" + err)
        self.assertIn("%s:%d: cannot open log file %s/missing/error.log: No such file or "
                      "directory" % (h.conf, line_of(h.text, "error_log"), h.dir), err)

    def test_t_fails_when_an_access_log_cannot_be_opened(self):
        h = self.herd(conf(access_log="$dir/missing/access.log"), start=False)
        rc, out, err = h.run("-t", "-c", h.conf)
        self.assertEqual(rc, 1, err)
        self.assertIn("%s:%d: cannot open log file" % (h.conf, line_of(h.text, "access_log")),
                      err)

    def test_start_names_the_error_log_line(self):
        h = self.herd(conf(error_log="$dir/missing/error.log"), start=False)
        rc, out, err = start_direct(h, "-F")
        self.assertEqual(rc, 1)
        self.assertIn("%s:%d: cannot open log file" % (h.conf, line_of(h.text, "error_log")),
                      err)


class StartupErrorsTest(HerdTestCase):
    """Item 9: until the first generation serves, errors also go to stderr,
    even when error_log is a file."""

    def hold_port(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        self.addCleanup(s.close)
        return s.getsockname()[1]

    def test_foreground_start_with_port_in_use_says_why(self):
        h = self.herd(conf(), start=False)
        h.ports["port"] = self.hold_port()
        h.rewrite_config(conf())
        rc, out, err = start_direct(h, "-F")
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"\[error\].*127\.0\.0\.1:%d: Address already in use"
                         % h.port())

    def test_daemon_start_with_port_in_use_says_why(self):
        h = self.herd(conf(), start=False)
        h.ports["port"] = self.hold_port()
        h.rewrite_config(conf())
        rc, out, err = start_direct(h)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"Address already in use")

    def test_daemon_start_lets_go_of_stderr(self):
        # An init script reads the start's output through a pipe until EOF:
        # once the first generation serves, neither the master nor its
        # workers may hold that pipe open.
        h = self.herd(conf(), start=False)
        p = subprocess.Popen([h.bin, "-c", h.conf], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=h.dir)
        hung = False
        try:
            out, err = p.communicate(timeout=10 * herdtest.SLOW)
        except subprocess.TimeoutExpired:
            hung = True
        master = herdtest.wait_for(lambda: os.path.exists(h.pid_file) and h._pid_file_pid(),
                                   10 * herdtest.SLOW, what="the daemon's pid file")

        def kill_all():
            for pid in [master] + herdtest.children_of(master):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.addCleanup(kill_all)
        if hung:
            kill_all()
            p.kill()
            p.communicate()
            self.fail("the start's stdout/stderr stayed open after it served: "
                      "$(herd ...) or an init script would hang")
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(herdtest.get(h.port(), "/")[0], 200)
        rc, _, e = h.run("-c", h.conf, "-s", "stop")
        self.assertEqual(rc, 0, e)
        herdtest.wait_for(lambda: not herdtest.pid_alive(master), 10 * herdtest.SLOW,
                          what="the daemon to stop")

    def test_worker_that_cannot_start_says_why(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (a static root only the master can read)")
        h = self.herd(conf(workers=1), start=False)
        # herd -t checks the root as root; the worker, as nobody, cannot
        # open it and exits for good: the start fails, and says why.
        private = os.path.join(h.dir, "private")
        os.mkdir(private, 0o700)
        h.rewrite_config(conf(workers=1).replace(
            'routes = (', 'routes = ( { path = "/s"; static = { root = "%s"; }; },' % private, 1))
        rc, out, err = start_direct(h, "-F")
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"\[error\].*%s.*Permission denied" % private)
        self.assertRegex(err, r"\[error\].*cannot start")

    def test_errors_after_the_start_stay_in_the_log(self):
        h = self.herd(conf())
        workers = h.wait_workers(2)
        os.kill(workers[0], signal.SIGKILL)
        h.wait_workers(2, exclude=[workers[0]])
        h.wait_log(r"killed by signal 9")
        with open(h.out_log) as f:
            out = f.read()
        self.assertNotIn("killed by signal", out, "a served herd writes its log, not stderr")


class CommandLineMessagesTest(HerdTestCase):
    """Item 12: -T says the file is ok; -s without a master says so."""

    def test_T_prints_the_configuration_and_says_ok(self):
        h = self.herd(conf(), start=False)
        rc, out, err = h.run("-T", "-c", h.conf)
        self.assertEqual(rc, 0, err)
        self.assertIn("servers = (", out)
        self.assertIn("herd: configuration %s is ok" % h.conf, err)
        self.assertNotIn("is ok", out, "stdout holds the configuration only")

    def test_s_without_pid_file_says_no_master(self):
        h = self.herd(conf(), start=False)
        for cmd in ("reload", "stop", "status"):
            rc, out, err = h.run("-c", h.conf, "-s", cmd)
            self.assertEqual(rc, 1)
            self.assertEqual(err.strip(), "herd: no master is running (%s: No such file or "
                             "directory)" % h.pid_file)


class ProcessTitleTest(HerdTestCase):
    """Item 13: ps tells the master, the workers and draining workers apart."""

    def test_titles(self):
        h = self.herd(conf())
        self.assertEqual(cmdline(h.pid), "herd: master process %s -F -c %s" % (h.bin, h.conf))
        workers = h.wait_workers(2)
        herdtest.wait_for(lambda: all(cmdline(w) == "herd: worker process" for w in workers),
                          5 * herdtest.SLOW, what="worker titles")
        # A worker draining a slow client says so.
        s = herdtest.connect(h.port())
        try:
            # One whole request first: the connection is then surely held by
            # a worker of this generation (not still queued for the next).
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(HttpReader(s).read_response().status, 200)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")     # head not finished
            h.rewrite_config(conf())
            h.signal(signal.SIGHUP)

            def draining():
                return [w for w in workers if herdtest.pid_alive(w) and
                        cmdline(w) == "herd: worker process is shutting down"]
            herdtest.wait_for(draining, 10 * herdtest.SLOW, what="a draining title")
            s.sendall(b"\r\n")
            r = HttpReader(s).read_response()
            self.assertEqual(r.status, 200)
        finally:
            s.close()


if __name__ == "__main__":
    herdtest.main()
