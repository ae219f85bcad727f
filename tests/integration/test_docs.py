#!/usr/bin/env python3
"""The manual pages are clean under mandoc's and man's checkers, and custom
error pages (error_pages) are what clients get."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

SRCDIR = os.environ.get("HERD_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PAGES = ["man/herd.8", "man/herd.conf.5"]


class ManPageTest(unittest.TestCase):

    def lint(self, page):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed")
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", os.path.join(SRCDIR, page)],
                           capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def man_warnings(self, page):
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(SRCDIR, page)],
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
