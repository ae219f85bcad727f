#!/usr/bin/env python3
"""Compression of static files (issue 11 item 5) and the single-page-app
fallback (item 6): gzip made on the fly and kept in the small-file cache,
precompressed siblings (file.br, file.gz) chosen by Accept-Encoding's
q-values and the route's order, their own entity-tags and 304s, Vary on
every negotiable response, never a compressed range, never a compressed
PNG; `static.fallback` for paths that do not exist.

One worker, so that "compressed once" is one worker's cache and the debug
log line that each compression writes can be counted."""

import gzip
import os
import re
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from httpkit import request, fetch  # noqa: E402

CONF = herdtest.top(1, 'log_level = "debug";\n') + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/site/";
        static = { root = "$dir/www"; precompressed = [ "br", "gz" ]; };
        compress = { types = [ "text/html", "text/css" ]; min_size = "1k"; level = 5; }; },
      { path = "/gzfirst/";
        static = { root = "$dir/www"; precompressed = [ "gz", "br" ]; }; },
      { path = "/fly/";
        static = { root = "$dir/www"; cache = { valid = 0; }; };
        compress = { types = [ "text/*", "image/svg+xml" ]; min_size = "1k"; }; },
      { path = "/nocache/";
        static = { root = "$dir/www"; cache = { size = 0; max_file = 0; }; };
        compress = { }; },
      { path = "/app/";
        static = { root = "$dir/www"; fallback = "/app/index.html"; };
        compress = { min_size = 0; }; }
    );
  }
);
"""

TIMEOUT = 20.0 * herdtest.SLOW
PAGE = b"".join(b"<p>line %d of a page that compresses well</p>\n" % i for i in range(480))
SMALL = b"<p>small</p>\n"
PRE = b"<html>" + b"precompressed original " * 200 + b"</html>\n"
PRE_GZ = gzip.compress(PRE)
PRE_BR = b"not really brotli, but the sibling's bytes\n"
CSS = b"body { color: red }\n" * 100
PNG = b"\x89PNG\r\n\x1a\n" + bytes(3000)
SVG = b"<svg>" + b"<g/>" * 500 + b"</svg>\n"
APP_INDEX = b"<!DOCTYPE html><div id=app></div>\n" * 40


def decompress(data):
    return zlib.decompress(data, 16 + zlib.MAX_WBITS)


class CompressBase(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.h = self.herd(CONF, start=False)
        d = self.h.dir
        httpkit.open_up(d)
        www = httpkit.make_dir(os.path.join(d, "www"))
        w = httpkit.write_file
        # The same tree under each route's path (the root holds the path
        # whole, as nginx's root does).
        for route in ("site", "gzfirst", "fly", "nocache"):
            self.tree(httpkit.make_dir(os.path.join(www, route)))
        self.www = os.path.join(www, "fly")
        app = httpkit.make_dir(os.path.join(www, "app"))
        w(os.path.join(app, "index.html"), APP_INDEX)
        w(os.path.join(app, "real.txt"), b"real\n")
        w(os.path.join(app, ".env"), b"SECRET=1\n")
        httpkit.make_dir(os.path.join(app, "empty"))
        self.h.start()
        self.port = self.h.port()

    @staticmethod
    def tree(where):
        w = httpkit.write_file
        w(os.path.join(where, "page.html"), PAGE)
        w(os.path.join(where, "small.html"), SMALL)
        w(os.path.join(where, "img.png"), PNG)
        w(os.path.join(where, "pic.svg"), SVG)
        for name, data in (("pre.html", PRE), ("pre.html.gz", PRE_GZ),
                           ("pre.html.br", PRE_BR), ("only.css", CSS),
                           ("only.css.gz", gzip.compress(CSS)),
                           ("stale.css", CSS), ("stale.css.gz", gzip.compress(b"stale"))):
            w(os.path.join(where, name), data)
        httpkit.set_mtime(os.path.join(where, "stale.css.gz"), 1500000000)

    def get(self, target, ae=None, headers=(), method="GET"):
        hs = list(headers)
        if ae is not None:
            hs.append(("Accept-Encoding", ae))
        return fetch(self.port, request(method, target, headers=hs),
                     head_only=method == "HEAD", timeout=TIMEOUT)

    def assert_identity(self, r, body, vary=True):
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, body)
        self.assertEqual(r.header("Vary"), "Accept-Encoding" if vary else None)

    def assert_gzip(self, r, body):
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        self.assertLess(len(r.body), len(body))
        self.assertEqual(decompress(r.body), body)


class OnTheFlyTest(CompressBase):

    def test_gzip_bytes_decompress_to_the_file(self):
        r = self.get("/fly/page.html", "gzip")
        self.assert_gzip(r, PAGE)
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        self.assertIsNone(r.header("Accept-Ranges"))
        self.assertTrue(r.header("ETag").endswith('-gz"'), r.header("ETag"))

    def test_curl_compressed(self):
        out = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", "-o", "-",
                              "http://127.0.0.1:%d/fly/page.html" % self.port],
                             capture_output=True, timeout=TIMEOUT, check=True).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Encoding: gzip", head)
        self.assertEqual(body, PAGE)

    def test_q_values(self):
        identity = ("gzip;q=0", "gzip;q=0, identity", "GZIP;Q=0", "br", "",
                    "identity", "gzip;q=0.000", "gzip;q=2", "gzip;q=x", "*;q=0, identity;q=0.5",
                    "deflate, compress")
        for ae in identity:
            r = self.get("/fly/page.html", ae)
            self.assertIsNone(r.header("Content-Encoding"), ae)
            self.assert_identity(r, PAGE)
        coded = ("gzip", "x-gzip", "*", "gzip;q=0.001", "identity;q=0, gzip;q=0.5",
                 "identity;q=0.5, gzip;q=0.5", "br;q=1, gzip ; q=0.8", "deflate, gzip;q=1.0",
                 "*;q=0.1, identity;q=0.05")
        for ae in coded:
            r = self.get("/fly/page.html", ae)
            self.assertEqual(r.header("Content-Encoding"), "gzip", ae)
            self.assert_gzip(r, PAGE)
        # Preferred identity: a better q wins.
        self.assert_identity(self.get("/fly/page.html", "gzip;q=0.4, identity;q=0.5"), PAGE)

    def test_field_over_two_lines(self):
        r = self.get("/fly/page.html", headers=[("Accept-Encoding", "br"),
                                                ("Accept-Encoding", "gzip;q=0.5")])
        self.assert_gzip(r, PAGE)
        r = self.get("/fly/page.html", headers=[("Accept-Encoding", "gzip"),
                                                ("Accept-Encoding", "gzip;q=0")])
        self.assert_gzip(r, PAGE)   # named twice: the better q
        r = self.get("/fly/page.html", headers=[("Accept-Encoding", "identity"),
                                                ("Accept-Encoding", "*;q=0")])
        self.assert_identity(r, PAGE)

    def test_no_accept_encoding_gets_identity_with_vary(self):
        self.assert_identity(self.get("/fly/page.html"), PAGE)

    def test_range_never_compressed(self):
        r = self.get("/fly/page.html", "gzip", headers=[("Range", "bytes=10-109")])
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, PAGE[10:110])
        self.assertEqual(r.header("Vary"), "Accept-Encoding")

    def test_head(self):
        g = self.get("/fly/page.html", "gzip")
        r = self.get("/fly/page.html", "gzip", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Content-Length"), str(len(g.body)))
        self.assertEqual(r.header("ETag"), g.header("ETag"))

    def test_etag_per_encoding_and_304(self):
        plain = self.get("/fly/page.html")
        gz = self.get("/fly/page.html", "gzip")
        self.assertNotEqual(plain.header("ETag"), gz.header("ETag"))
        r = self.get("/fly/page.html", "gzip", headers=[("If-None-Match", gz.header("ETag"))])
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header("ETag"), gz.header("ETag"))
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertIsNone(r.header("Content-Encoding"))
        # The identity tag is no match for the gzip representation, and the
        # other way round.
        r = self.get("/fly/page.html", "gzip", headers=[("If-None-Match", plain.header("ETag"))])
        self.assert_gzip(r, PAGE)
        r = self.get("/fly/page.html", headers=[("If-None-Match", gz.header("ETag"))])
        self.assert_identity(r, PAGE)
        r = self.get("/fly/page.html", headers=[("If-None-Match", plain.header("ETag"))])
        self.assertEqual((r.status, r.header("Vary")), (304, "Accept-Encoding"))

    def test_small_files_not_compressed(self):
        self.assert_identity(self.get("/fly/small.html", "gzip"), SMALL, vary=False)

    def test_png_never_compressed(self):
        r = self.get("/fly/img.png", "gzip")
        self.assert_identity(r, PNG, vary=False)
        r = self.get("/site/img.png", "gzip")
        self.assertIsNone(r.header("Content-Encoding"))

    def test_listed_types_only(self):
        self.assert_gzip(self.get("/fly/pic.svg", "gzip"), SVG)
        # /site/ compresses html and css, not svg
        r = self.get("/site/pic.svg", "gzip")
        self.assertIsNone(r.header("Content-Encoding"))

    def test_compressed_once_from_the_cache(self):
        mark = self.h.log_mark()
        for _ in range(5):
            self.assert_gzip(self.get("/site/page.html", "gzip"), PAGE)
        made = re.findall(r'compress: gzip of "site/page.html"', self.h.log_since(mark))
        self.assertEqual(len(made), 1, self.h.log_since(mark))

    def test_changed_file_compressed_again(self):
        self.assert_gzip(self.get("/fly/page.html", "gzip"), PAGE)
        new = PAGE.replace(b"line", b"LINE")
        path = os.path.join(self.www, "page.html")
        httpkit.write_file(path, new)
        httpkit.set_mtime(path, os.stat(path).st_mtime + 10)
        self.assert_gzip(self.get("/fly/page.html", "gzip"), new)

    def test_without_a_cache_no_gzip(self):
        self.assert_identity(self.get("/nocache/page.html", "gzip"), PAGE, vary=False)


class PrecompressedTest(CompressBase):

    def test_preference_among_equal_q(self):
        r = self.get("/site/pre.html", "gzip, br")
        self.assertEqual((r.header("Content-Encoding"), r.body), ("br", PRE_BR))
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertTrue(r.header("Content-Type").startswith("text/html"))
        r = self.get("/gzfirst/pre.html", "br, gzip")
        self.assertEqual((r.header("Content-Encoding"), r.body), ("gzip", PRE_GZ))

    def test_chosen_by_q(self):
        r = self.get("/site/pre.html", "br;q=0.5, gzip")
        self.assertEqual((r.header("Content-Encoding"), r.body), ("gzip", PRE_GZ))
        r = self.get("/gzfirst/pre.html", "br, gzip;q=0.9")
        self.assertEqual((r.header("Content-Encoding"), r.body), ("br", PRE_BR))
        r = self.get("/site/pre.html", "br;q=0, gzip;q=0")
        self.assert_identity(r, PRE)
        r = self.get("/site/pre.html", "identity")
        self.assert_identity(r, PRE)

    def test_missing_sibling_falls_to_the_next(self):
        r = self.get("/site/only.css", "br, gzip")
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(decompress(r.body), CSS)
        # Only br accepted and no .br: the file as it is (and no gzip on
        # /gzfirst/, which does not compress on the fly).
        self.assert_identity(self.get("/gzfirst/only.css", "br"), CSS)

    def test_sibling_made_later_is_found(self):
        # Found missing, then made: served once the file's cache entry is
        # checked again (cache.valid, 1 s here).
        r = self.get("/gzfirst/only.css", "br")
        self.assert_identity(r, CSS)
        httpkit.write_file(os.path.join(self.h.dir, "www", "gzfirst", "only.css.br"), PRE_BR)
        herdtest.wait_for(
            lambda: self.get("/gzfirst/only.css", "br").header("Content-Encoding") == "br",
            10 * herdtest.SLOW, what="the new only.css.br served")
        self.assertEqual(self.get("/gzfirst/only.css", "br").body, PRE_BR)

    def test_stale_sibling_ignored(self):
        r = self.get("/gzfirst/stale.css", "gzip")
        self.assert_identity(r, CSS)
        # where gzip is made on the fly, that is what is sent instead
        r = self.get("/site/stale.css", "gzip")
        self.assert_gzip(r, CSS)

    def test_own_etags_and_304(self):
        tags = {}
        for ae in ("br", "gzip", "identity"):
            tags[ae] = self.get("/site/pre.html", ae).header("ETag")
        self.assertEqual(len(set(tags.values())), 3, tags)
        self.assertTrue(tags["br"].endswith('-br"'))
        self.assertTrue(tags["gzip"].endswith('-gz"'))
        for ae, tag in tags.items():
            r = self.get("/site/pre.html", ae, headers=[("If-None-Match", tag)])
            self.assertEqual((r.status, r.header("ETag"), r.header("Vary")),
                             (304, tag, "Accept-Encoding"), ae)
        r = self.get("/site/pre.html", "gzip", headers=[("If-None-Match", tags["br"])])
        self.assertEqual((r.status, r.body), (200, PRE_GZ))

    def test_vary_on_every_file_of_the_route(self):
        r = self.get("/site/small.html")
        self.assert_identity(r, SMALL)

    def test_range_gets_the_file(self):
        r = self.get("/site/pre.html", "br, gzip", headers=[("Range", "bytes=0-9")])
        self.assertEqual((r.status, r.body), (206, PRE[:10]))
        self.assertIsNone(r.header("Content-Encoding"))

    def test_head(self):
        r = self.get("/site/pre.html", "gzip", method="HEAD")
        self.assertEqual((r.status, r.header("Content-Encoding"), r.header("Content-Length")),
                         (200, "gzip", str(len(PRE_GZ))))


class FallbackTest(CompressBase):

    def test_missing_paths_get_the_index(self):
        for target in ("/app/", "/app/some/route", "/app/user/42", "/app/assets/x.js"):
            r = self.get(target)
            self.assertEqual((r.status, r.body), (200, APP_INDEX), target)
        r = self.get("/app/some/route", method="HEAD")
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(len(APP_INDEX))))

    def test_fallback_compressed_too(self):
        self.assert_gzip(self.get("/app/deep/link", "gzip"), APP_INDEX)

    def test_existing_files_served(self):
        self.assertEqual(self.get("/app/real.txt").body, b"real\n")

    def test_not_for_hidden_refused_or_other_methods(self):
        self.assertEqual(self.get("/app/.env").status, 404)
        self.assertEqual(self.get("/app/.git/config").status, 404)
        self.assertEqual(self.get("/app/empty/").status, 403)
        self.assertEqual(self.get("/app/nothing", method="POST").status, 405)


class ConfigTest(herdtest.HerdTestCase):

    def check(self, routes):
        conf = herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
              routes = ( %s ); } );
""" % routes
        h = self.herd(conf, start=False)
        return h.run("-t", "-c", h.conf, timeout=10 * herdtest.SLOW)

    def assert_refused(self, routes, message):
        rc, out, err = self.check(routes)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r":\d+: .*" + re.escape(message))

    def test_errors(self):
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; precompressed = "zz"; }; }',
                            '"zz" is not "br" or "gz"')
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; precompressed = '
                            '[ "gz", "gz" ]; }; }', 'listed twice')
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; fallback = "index.html"; }; }',
                            "'fallback' must be an absolute path")
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; fallback = "/a/../b"; }; }',
                            "'fallback' must be an absolute path")
        self.assert_refused('{ path = "/"; return = { status = 204; }; compress = { }; }',
                            "'compress' applies to static routes only")
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; }; '
                            'compress = { types = [ "image/png" ]; }; }', "compressed already")
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; }; '
                            'compress = { types = [ "html" ]; }; }', "is not a media type")
        self.assert_refused('{ path = "/"; static = { root = "/tmp"; }; '
                            'compress = { level = 10; }; }', "level")

    def test_compress_without_a_cache_is_warned(self):
        rc, out, err = self.check('{ path = "/"; static = { root = "/tmp"; cache = { size = 0; '
                                  'max_file = 0; }; }; compress = { }; }')
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r":\d+: .*nothing will be compressed")
        rc, out, err = self.check('{ path = "/"; static = { root = "/tmp"; }; compress = { }; }')
        self.assertEqual(rc, 0, err)
        self.assertNotIn("nothing will be compressed", err)

    def test_defaults_printed(self):
        conf = herdtest.top(1) + """
servers = ( { listen = [ "127.0.0.1:$port" ];
              routes = ( { path = "/"; static = { root = "/tmp"; }; compress = { }; } ); } );
"""
        h = self.herd(conf, start=False)
        rc, out, err = h.run("-T", "-c", h.conf, timeout=10 * herdtest.SLOW)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r'compress\s*=\s*\{[^}]*types\s*=\s*\[[^]]*"text/html"')
        self.assertRegex(out, r'min_size\s*=\s*"?1k')
        self.assertRegex(out, r"level\s*=\s*5")


if __name__ == "__main__":
    herdtest.main()
