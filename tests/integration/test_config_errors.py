#!/usr/bin/env python3
"""Configuration errors that used to kill, hang or puzzle: @include of a
directory or a FIFO (herd -t and reloads of a running master), a FIFO as the
main file, syntax errors explained with the source line and a caret, host
bits in allow/deny ranges, unix: listen addresses."""

import os
import pwd
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

# Seconds a -t run may take: anything longer is the hang these tests are about.
QUICK = 10 * herdtest.SLOW


def conf(body="one\\n", include="", allow=""):
    """A good file; include (an @include line or anything else) is line 2."""
    return """workers = 2;
%s
user = "nobody";
pid_file = "$pid_file";
error_log = "$error_log";
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/"; %s return = { status = 200; body = "%s"; }; }
    );
  }
);
""" % (include, allow, body)


INCLUDE_LINE = 2


def body_of(port):
    status, headers, body = herdtest.get(port, "/", headers={"Connection": "close"})
    return status, body


class IncludeCheckTest(HerdTestCase):
    """herd -t on files whose @include names something that is not a file."""

    def check(self, h, path=None):
        return h.run("-t", "-c", path or h.conf, timeout=QUICK)

    def assert_include_error(self, h, name, why_rx, where=None, line=INCLUDE_LINE):
        rc, out, err = self.check(h)
        self.assertEqual(rc, 1, "herd -t should fail (exit 1); stderr:\n%s" % err)
        want = '%s:%d: @include "%s": ' % (where or h.conf, line, name)
        self.assertIn(want, err)
        self.assertRegex(err, why_rx)
        self.assertNotIn("flex", err)
        return err

    def test_include_directory(self):
        h = self.herd(start=False)
        os.mkdir(os.path.join(h.dir, "conf.d"))
        h.rewrite_config(conf(include='@include "conf.d"'))
        self.assert_include_error(h, "conf.d", r"Is a directory")

    def test_include_fifo(self):
        h = self.herd(start=False)
        os.mkfifo(os.path.join(h.dir, "pipe"))
        h.rewrite_config(conf(include='@include "pipe"'))
        self.assert_include_error(h, "pipe", r"not a regular file")

    def test_include_missing(self):
        h = self.herd(start=False)
        h.rewrite_config(conf(include='  @include "nope.conf"'))
        self.assert_include_error(h, "nope.conf", r"No such file or directory")

    def test_include_unreadable(self):
        # Root reads any mode: run herd -t as nobody on a mode 000 include.
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        h = self.herd(start=False)
        os.chmod(h.write_file("secret.inc", "workers = 1;\n"), 0)
        os.chmod(h.dir, 0o755)
        h.rewrite_config(conf(include='@include "secret.inc"'))

        def drop():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        r = subprocess.run([h.bin, "-t", "-c", h.conf], capture_output=True, timeout=QUICK,
                           cwd="/", preexec_fn=drop)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn('%s:%d: @include "secret.inc": Permission denied' % (h.conf, INCLUDE_LINE),
                      err)

    def test_nested_include_names_the_including_file(self):
        h = self.herd(start=False)
        os.mkfifo(os.path.join(h.dir, "pipe"))
        sub = h.write_file("sub.conf", "# settings\n\n@include \"pipe\"\n")
        h.rewrite_config(conf(include='@include "sub.conf"'))
        self.assert_include_error(h, "pipe", r"not a regular file", where=sub, line=3)

    def test_include_cycle(self):
        h = self.herd(start=False)
        h.write_file("a.conf", "@include \"b.conf\"\n")
        h.write_file("b.conf", "\n@include \"a.conf\"\n")
        h.rewrite_config(conf(include='@include "a.conf"'))
        rc, out, err = self.check(h)
        self.assertEqual(rc, 1, err)
        self.assertIn('%s:2: @include "a.conf": ' % os.path.join(h.dir, "b.conf"), err)

    def test_commented_include_is_not_opened(self):
        # libconfig skips @include in comments and strings and when it does
        # not start a line: so must the check.
        h = self.herd(start=False)
        os.mkdir(os.path.join(h.dir, "conf.d"))
        os.mkfifo(os.path.join(h.dir, "pipe"))
        text = conf(include='# @include "conf.d"\n/* @include "pipe"\n@include "pipe" */')
        text = text.replace('body = "one\\n"', 'body = "one\n@include \\"pipe\\"\n"')
        h.rewrite_config(text)
        rc, out, err = self.check(h)
        self.assertEqual(rc, 0, err)

    def test_good_include(self):
        h = self.herd(start=False)
        h.write_file("log.inc", 'log_level = "warn";\n')
        h.rewrite_config(conf(include='@include "log.inc"'))
        rc, out, err = h.run("-T", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 0, err)
        self.assertIn('log_level = "warn";', out)

    def test_main_file_fifo(self):
        h = self.herd(start=False)
        fifo = os.path.join(h.dir, "herd-fifo.conf")
        os.mkfifo(fifo)
        rc, out, err = self.check(h, fifo)
        self.assertEqual(rc, 1, err)
        self.assertIn(fifo, err)
        self.assertIn("not a regular file", err)


class ErrorPageFileTest(HerdTestCase):
    """Error pages are read with the configuration: a FIFO must not block."""

    def test_error_page_fifo(self):
        h = self.herd(start=False)
        fifo = os.path.join(h.dir, "404.html")
        os.mkfifo(fifo)
        h.rewrite_config(conf().replace(
            "    routes = (",
            '    error_pages = ( { status = 404; file = "%s"; } );\n    routes = (' % fifo))
        rc, out, err = h.run("-t", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 1, err)
        self.assertIn("error page %s: not a regular file" % fifo, err)


class IncludeReloadTest(HerdTestCase):
    """A running master meets a bad @include on reload: the reload fails with
    FILE:LINE and the old generation keeps serving."""

    def status_via_good_file(self, h):
        # herd -s reads the file named by -c to find the master; the broken
        # one would stop it before it asks anything.
        good = h.write_file("good.conf", h.render(conf()))
        return h.run("-c", good, "-s", "status", timeout=QUICK)

    def bad_reload(self, h, name, why_rx):
        old = h.wait_workers(2)
        master = h.pid
        h.rewrite_config(conf("two\\n", include='@include "%s"' % name))
        want = '%s:%d: @include "%s": ' % (h.conf, INCLUDE_LINE, name)

        # SIGHUP: the master logs the error and keeps the old generation.
        mark = h.log_mark()
        h.signal(signal.SIGHUP)
        h.wait_log(re.escape(want), timeout=5.0, since=mark)
        self.assertRegex(h.log_since(mark), why_rx)
        self.assertTrue(h.alive(), "the master died:\n%s" % h.log_tail())
        self.assertEqual(body_of(h.port()), (200, b"one\n"))

        # herd -s reload: exit 1 with the same FILE:LINE.
        rc, out, err = h.run("-c", h.conf, "-s", "reload", timeout=QUICK)
        self.assertEqual(rc, 1, "reload should fail: %s %s" % (out, err))
        self.assertIn(want, err)

        # The master still answers and still serves the old generation.
        rc, out, err = self.status_via_good_file(h)
        self.assertEqual(rc, 0, err)
        self.assertEqual(h.pid, master)
        self.assertEqual(h.worker_pids(), old, "the workers must be untouched")
        self.assertEqual(body_of(h.port()), (200, b"one\n"))

        # And TERM stops it promptly.
        h.signal(signal.SIGTERM)
        self.assertIsNotNone(h.wait_exit(5 * herdtest.SLOW), "TERM did not stop herd")

    def test_reload_include_directory(self):
        h = self.herd(conf())
        os.mkdir(os.path.join(h.dir, "conf.d"))
        self.bad_reload(h, "conf.d", r"Is a directory")

    def test_reload_include_fifo(self):
        h = self.herd(conf())
        os.mkfifo(os.path.join(h.dir, "pipe"))
        self.bad_reload(h, "pipe", r"not a regular file")


class SyntaxMessageTest(HerdTestCase):
    """herd -t explains libconfig's bare "syntax error": the cause, the
    source line and a caret under the spot, after the usual FILE:LINE."""

    def explain(self, text):
        h = self.herd(start=False)
        h.rewrite_config(text)
        rc, out, err = h.run("-t", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 1, err)
        return h, err.splitlines()

    def assert_explained(self, lines, head, cause, src_line, src, column):
        """The FILE:LINE head with the cause, then line src_line of the
        source, then a caret under its column (from 0)."""
        at = [i for i, l in enumerate(lines) if l.startswith(head)]
        self.assertTrue(at, "no line starts with %r:\n%s" % (head, "\n".join(lines)))
        i = at[0]
        self.assertIn(cause, lines[i])
        self.assertEqual(lines[i + 1], "%6d | %s" % (src_line, src))
        gutter = len("%6d | " % src_line)
        self.assertEqual(lines[i + 2].index("^") - gutter, column,
                         "caret misplaced:\n%s\n%s" % (lines[i + 1], lines[i + 2]))

    def test_bare_word(self):
        h, lines = self.explain(conf().replace('user = "nobody";', "user = nobody;"))
        self.assert_explained(lines, "%s:3: syntax error: " % h.conf,
                              'a string value must be in double quotes: "nobody"',
                              3, "user = nobody;", 7)

    def test_unclosed_quote_points_at_its_line(self):
        # libconfig stops on the next line (at the / after the quote that
        # closes the string); the message keeps that FILE:LINE and shows
        # where the string really starts.
        h, lines = self.explain(conf().replace('user = "nobody";', 'user = "nobody;'))
        self.assert_explained(lines, "%s:4: syntax error: " % h.conf, "unclosed string?",
                              3, 'user = "nobody;', 7)

    def test_missing_comma_between_servers(self):
        text = conf().replace("  }\n);", '  }\n  { listen = "127.0.0.1:$port_echo"; '
                              'protocol = "echo"; }\n);')
        h, lines = self.explain(text)
        self.assert_explained(lines, "%s:12: syntax error: " % h.conf,
                              "missing ',' at the end of line 11?", 11, "  }", 3)


class RangeWarningTest(HerdTestCase):
    """allow/deny "10.0.0.1/8": accepted as 10.0.0.0/8, with a warning at
    FILE:LINE (as nginx: "low address bits ... are meaningless")."""

    ALLOW = 'allow = [ "127.0.0.9/8" ];'
    WARNING = ("%s:9: 'allow': low address bits of 127.0.0.9/8 are meaningless "
               "(it means 127.0.0.0/8)")

    def test_t_warns_on_stderr(self):
        h = self.herd(start=False)
        h.rewrite_config(conf(allow=self.ALLOW))
        rc, out, err = h.run("-t", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 0, err)
        self.assertIn("[warn]", err)
        self.assertIn(self.WARNING % h.conf, err)

    def test_reload_warns_in_error_log(self):
        h = self.herd(conf())
        h.rewrite_config(conf("two\\n", allow=self.ALLOW))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, err)
        with open(h.error_log) as f:
            self.assertIn(self.WARNING % h.conf, f.read())
        # The range works as its network: 127.0.0.1 is in 127.0.0.0/8.
        self.assertEqual(body_of(h.port()), (200, b"two\n"))


class ListenUnixTest(HerdTestCase):

    def test_relative_unix_path_refused(self):
        h = self.herd(start=False)
        h.rewrite_config(conf().replace('"127.0.0.1:$port"', '"unix:herd.sock"'))
        rc, out, err = h.run("-t", "-c", h.conf, timeout=QUICK)
        self.assertEqual(rc, 1, err)
        self.assertIn('%s:7: listen "unix:herd.sock": a unix socket path must be absolute'
                      % h.conf, err)
        self.assertNotIn("port must be a number", err)


if __name__ == "__main__":
    herdtest.main()
