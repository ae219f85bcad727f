#!/usr/bin/env python3
"""The manual pages are clean under mandoc's and man's checkers and name the
paths this build uses, and custom error pages (error_pages) are what clients
get."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

# The pages are made by make from man/*.in in the build directory (which is
# the source directory unless the build is a VPATH one, as in distcheck).
BUILDDIR = os.environ.get("HERD_BUILDDIR",
                          os.path.join(os.path.dirname(herdtest.herd_bin()), ".."))
PAGES = ["man/herd.8", "man/herd.conf.5"]


def page_path(page):
    return os.path.join(BUILDDIR, page)


def read_page(page):
    with open(page_path(page)) as f:
        return f.read()


class ManPageTest(unittest.TestCase):

    def lint(self, page):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed")
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page_path(page)],
                           capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def man_warnings(self, page):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        r = subprocess.run(["man", "--warnings", "-l", page_path(page)],
                           capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertGreater(len(r.stdout), 1000, "the page rendered to almost nothing")

    def test_herd_8_mandoc(self):
        self.lint(PAGES[0])

    def test_herd_conf_5_mandoc(self):
        self.lint(PAGES[1])

    def test_herd_8_man(self):
        self.man_warnings(PAGES[0])

    def test_herd_conf_5_man(self):
        self.man_warnings(PAGES[1])


def built_paths():
    """The default configuration file and pid file compiled in (herd -V)."""
    rc, out, err = herdtest.run("-V")
    assert rc == 0, err
    conf = re.search(r"^configuration: (.*)$", out, re.M).group(1)
    pid = re.search(r"^pid file default: (.*)$", out, re.M).group(1)
    return conf, pid


def files_entries(text):
    """The paths a page's FILES section lists for this build (".TP" then
    ".I path"), up to a paragraph break (after which herd(8) lists the
    Debian package's own files)."""
    m = re.search(r"^\.SH FILES\n(.*?)(?=^\.SH |^\.PP$)", text, re.M | re.S)
    assert m, "no FILES section"
    return re.findall(r"^\.TP\n\.IR? (\S+)", m.group(1), re.M)


class ManPagePathsTest(unittest.TestCase):
    """The pages name the paths of this build (issue 7, item 11: the Debian
    package, configured with --sysconfdir=/etc --runstatedir=/run, documented
    /usr/local/etc/herd/herd.conf and /usr/local/var/run/herd.pid)."""

    def check_page(self, page):
        conf, pid = built_paths()
        text = read_page(page)
        self.assertNotRegex(text, r"@(sysconfdir|runstatedir)@", "a placeholder was left")
        files = files_entries(text)
        self.assertIn(conf, files, "%s FILES does not list %s (herd -V)" % (page, conf))
        self.assertIn(pid, files, "%s FILES does not list %s (herd -V)" % (page, pid))
        for path in files:
            if path.endswith("/herd.conf"):
                self.assertEqual(path, conf, "%s FILES lists another default file" % page)
            if path.endswith("/herd.pid"):
                self.assertEqual(path, pid, "%s FILES lists another default pid file" % page)
        return text, conf, pid

    def test_herd_8_paths(self):
        text, conf, _ = self.check_page(PAGES[0])
        # -c: "Without -c, herd reads FILE"
        self.assertRegex(text, r"herd reads\n\.I %s\n" % re.escape(conf))

    def test_herd_conf_5_paths(self):
        text, conf, pid = self.check_page(PAGES[1])
        self.assertRegex(text, r"\.SH SYNOPSIS\n\.I %s\n" % re.escape(conf))
        # pid_file's default
        self.assertRegex(text, r"\.B pid_file\n[^\n]*\nDefault:\n\.I %s\n" % re.escape(pid))


CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    error_pages = ( { status = 404; file = "$dir/404.html"; },
                    { status = 403; file = "$dir/403.html"; } );
    routes = ( { path = "/private"; deny = [ "all" ]; return = { body = "secret\\n"; }; },
               { path = "/hello"; exact = true; return = { body = "hi\\n"; }; } );
  }
);
"""


class ErrorPageTest(HerdTestCase):

    def test_custom_pages(self):
        h = herdtest.Herd(CONF)
        self._herds.append(h)
        for status in (404, 403):
            path = os.path.join(h.dir, "%d.html" % status)
            with open(path, "w") as f:
                f.write("<p>custom %d page</p>\n" % status)
            os.chmod(path, 0o644)
        os.chmod(h.dir, 0o755)      # the workers read the pages as nobody
        h.start()
        status, headers, body = herdtest.get(h.port(), "/nowhere")
        self.assertEqual((status, body), (404, b"<p>custom 404 page</p>\n"))
        self.assertEqual(headers.get("content-length"), str(len(body)))
        status, _, body = herdtest.get(h.port(), "/private")
        self.assertEqual((status, body), (403, b"<p>custom 403 page</p>\n"))
        status, _, body = herdtest.get(h.port(), "/hello")
        self.assertEqual((status, body), (200, b"hi\n"))


if __name__ == "__main__":
    herdtest.main()
