#!/usr/bin/env python3
"""Static files served by herd: content and metadata, path traversal,
symbolic links, conditional requests, ranges, index files and listings,
large files (sendfile), the in-memory cache's freshness, methods.

Each test starts its own herd on a tree in its own temporary directory;
the workers run as nobody, so the tree is made world-readable."""

import email.utils
import html.parser
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader  # noqa: E402
from httpkit import request, fetch, one  # noqa: E402

CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/list/";
        static = { root = "$dir/www"; autoindex = true; }; },
      { path = "/cached/";
        static = { root = "$dir/www"; cache = { size = "100k"; max_file = "64k"; }; }; },
      { path = "/";
        static = { root = "$dir/www"; index = [ "index.html" ]; autoindex = false;
                   cache = { valid = "1s"; }; }; }
    );
  },
  # A control: this one may serve the canary, which proves the probes
  # would notice it.
  { listen = [ "127.0.0.1:$port_ctl" ];
    routes = ( { path = "/"; static = { root = "$dir"; }; } );
  }
);
"""

CANARY = b"CANARY-7f3e9a-SECRET-must-never-be-served\n"
INDEX = b"<!DOCTYPE html><title>index</title><p>the index</p>\n"
SUB_INDEX = b"<p>sub index</p>\n"
TEXT = bytes(range(48, 123)) + b"0123456789abcdefghijklmnopqrstuvwxy"   # 110 bytes
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
       b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
# Names a listing must link to without a scheme, a fragment or a query
# slipping into the link, and show as text, not markup.
LIST_ODD_FILES = ("javascript:alert(1)", "a b#c?d%e;f.txt", "q\"u'o<t>e&.txt", "\u00fcn\u00ef.txt")
BIG_SIZE = 5 * 1024 * 1024 + 123
FIXED_MTIME = 1577934245            # Thu, 02 Jan 2020 03:04:05 GMT

TIMEOUT = 20.0 * herdtest.SLOW

BIG = os.urandom(BIG_SIZE)          # above cache.max_file: sent with sendfile
BIG2 = BIG[::-1]


def mime_types_entry(ext):
    """The type /etc/mime.types gives ext, or None."""
    try:
        with open("/etc/mime.types") as f:
            for line in f:
                parts = line.split()
                if parts and not parts[0].startswith("#") and ext in parts[1:]:
                    return parts[0]
    except OSError:
        pass
    return None


def have_openat2():
    """herd refuses every symbolic link on kernels without openat2 (5.6)."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return True
    return (major, minor) >= (5, 6)


class StaticBase(httpkit.HerdCase):
    conf = CONF

    def setUp(self):
        super().setUp()
        self.h = self.herd(self.conf, start=False)
        self.dir = self.h.dir
        httpkit.open_up(self.dir)
        self.root = httpkit.make_dir(os.path.join(self.dir, "www"))
        self.build_tree()
        self.h.start()
        self.port = self.h.port()

    def build_tree(self):
        w = httpkit.write_file
        r = self.root
        w(os.path.join(self.dir, "canary.txt"), CANARY)
        httpkit.make_dir(os.path.join(self.dir, "outside"))
        w(os.path.join(self.dir, "outside", "canary.txt"), CANARY)
        w(os.path.join(r, "index.html"), INDEX)
        w(os.path.join(r, "page.html"), b"<p>page</p>\n")
        w(os.path.join(r, "style.css"), b"body { color: red }\n")
        w(os.path.join(r, "img.png"), PNG)
        w(os.path.join(r, "blob.qqqzz"), b"unknown extension\n")
        w(os.path.join(r, "doc.odt"), b"not really an odt\n")
        w(os.path.join(r, "file.txt"), TEXT)
        httpkit.set_mtime(os.path.join(r, "file.txt"), FIXED_MTIME)
        w(os.path.join(r, "sub", "index.html"), SUB_INDEX)
        w(os.path.join(r, "sub", "other.txt"), b"other\n")
        w(os.path.join(r, "noindex", "x.txt"), b"x\n")
        w(os.path.join(r, "list", "a&b<c>.txt"), b"odd name\n")
        w(os.path.join(r, "list", "plain.txt"), b"plain\n")
        httpkit.make_dir(os.path.join(r, "list", "dir"))
        for name in LIST_ODD_FILES:
            w(os.path.join(r, "list", name), name.encode("utf-8"))
        httpkit.make_dir(os.path.join(r, "list", "mailto:x"))
        httpkit.make_dir(os.path.join(r, "a"))
        # Symbolic links: inside the root, and out of it.
        os.symlink("file.txt", os.path.join(r, "link-in.txt"))
        os.symlink("../file.txt", os.path.join(r, "sub", "link-up.txt"))
        os.symlink(os.path.join(r, "file.txt"), os.path.join(r, "link-abs-in.txt"))
        os.symlink("../canary.txt", os.path.join(r, "link-out.txt"))
        os.symlink(os.path.join(self.dir, "canary.txt"), os.path.join(r, "link-abs-out.txt"))
        os.symlink("../outside", os.path.join(r, "linkdir"))
        os.symlink("..", os.path.join(r, "up"))
        # Not readable by the workers' user; not a regular file.
        w(os.path.join(r, "secret.txt"), b"root only\n", mode=0o600)
        os.mkfifo(os.path.join(r, "fifo"))
        os.chmod(os.path.join(r, "fifo"), 0o644)
        for i in range(5):
            w(os.path.join(r, "cached", "f%d.bin" % i), bytes([65 + i]) * 40000)
        self.big, self.big2 = BIG, BIG2
        w(os.path.join(r, "big.bin"), self.big)
        w(os.path.join(r, "big2.bin"), self.big2)

    def sock(self):
        return super().sock(timeout=TIMEOUT)

    def get(self, target, headers=(), method="GET", head_only=None):
        if head_only is None:
            head_only = method == "HEAD"
        return fetch(self.port, request(method, target, headers=headers),
                     head_only=head_only, timeout=TIMEOUT)


class StaticFileTest(StaticBase):

    def test_get_file_bytes_and_headers(self):
        r = self.get("/file.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, TEXT)
        self.assertEqual(r.header("Content-Length"), str(len(TEXT)))
        self.assertEqual(len(r.header_all("Content-Length")), 1)
        self.assertTrue((r.header("Content-Type") or "").startswith("text/plain"),
                        r.header("Content-Type"))
        lm = r.header("Last-Modified")
        self.assertIsNotNone(lm, "no Last-Modified")
        self.assertRegex(lm, httpkit.IMF_FIXDATE)
        self.assertEqual(lm, "Thu, 02 Jan 2020 03:04:05 GMT", "Last-Modified is not the mtime")
        etag = r.header("ETag")
        self.assertIsNotNone(etag, "no ETag")
        self.assertRegex(etag, r'^(W/)?"[\x21\x23-\x7e]+"$', "ETag is not an entity-tag")
        self.assertEqual(r.header("Accept-Ranges"), "bytes")

    def test_last_modified_follows_mtime(self):
        path = os.path.join(self.root, "page.html")
        st = os.stat(path)
        r = self.get("/page.html")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Last-Modified"),
                         email.utils.formatdate(int(st.st_mtime), usegmt=True))

    def test_content_types(self):
        cases = [("/page.html", "text/html"), ("/style.css", "text/css"),
                 ("/img.png", "image/png")]
        for target, want in cases:
            r = self.get(target)
            self.assertEqual(r.status, 200, target)
            ctype = r.header("Content-Type") or ""
            self.assertEqual(ctype.split(";")[0].strip(), want, "%s: %r" % (target, ctype))
        r = self.get("/img.png")
        self.assertEqual(r.body, PNG, "binary file changed on the way")
        r = self.get("/blob.qqqzz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")

    def test_content_type_from_mime_types(self):
        want = mime_types_entry("odt")
        if want is None:
            self.skipTest("/etc/mime.types has no entry for .odt")
        r = self.get("/doc.odt")
        self.assertEqual(r.status, 200)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0], want)

    def test_head_same_headers_no_body(self):
        for target in ("/file.txt", "/big.bin", "/"):
            s = self.sock()
            rd = HttpReader(s, timeout=TIMEOUT)
            s.sendall(request("GET", target))
            g = rd.read_response()
            s.sendall(request("HEAD", target))
            h = rd.read_response(head_only=True)
            self.assertEqual(h.status, 200, target)
            gh = dict((k.lower(), v) for k, v in g.headers if k.lower() != "date")
            hh = dict((k.lower(), v) for k, v in h.headers if k.lower() != "date")
            self.assertEqual(hh, gh, "%s: HEAD and GET headers differ" % target)
            # No body after the HEAD head: the next response follows at once.
            s.sendall(request("GET", "/sub/other.txt"))
            n = rd.read_response()
            self.assertEqual((n.status, n.body), (200, b"other\n"),
                             "%s: bytes after a HEAD response" % target)
            self.assertEqual(rd.buf, b"")

    def test_missing_file_404(self):
        for target in ("/nope.txt", "/sub/nope", "/file.txt/", "/nodir/x"):
            r = self.get(target)
            self.assertEqual(r.status, 404, target)

    def test_unreadable_file_403(self):
        if os.geteuid() != 0:
            self.skipTest("only workers that dropped root privileges are refused the file")
        r = self.get("/secret.txt")
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"root only", r.body)

    def test_not_a_regular_file_403(self):
        # A FIFO must neither block the worker nor be served.
        r = self.get("/fifo")
        self.assertEqual(r.status, 403)
        r = self.get("/file.txt")
        self.assertEqual((r.status, r.body), (200, TEXT), "the worker is stuck")

    def test_cache_eviction_keeps_content(self):
        # /cached/ has its own small cache (100k, files of 40k): entries are
        # evicted all the time, and every answer must still be right.
        s = self.sock()
        rd = HttpReader(s, timeout=TIMEOUT)
        order = [0, 1, 2, 3, 4, 0, 2, 4, 1, 3] * 3
        s.sendall(b"".join(request("GET", "/cached/f%d.bin" % i) for i in order))
        for n, i in enumerate(order):
            r = rd.read_response()
            self.assertEqual(r.status, 200, "response %d" % n)
            self.assertTrue(r.body == bytes([65 + i]) * 40000,
                            "response %d (f%d.bin) has the wrong bytes" % (n, i))

    def test_post_405_allow(self):
        for method in ("POST", "PUT", "DELETE"):
            r = fetch(self.port, request(method, "/file.txt", body=b"abc"), timeout=TIMEOUT)
            self.assertEqual(r.status, 405, method)
            allow = r.header("Allow")
            self.assertIsNotNone(allow, "405 without Allow")
            self.assertEqual(sorted(m.strip() for m in allow.split(",")), ["GET", "HEAD"],
                             "Allow: %s" % allow)


class TraversalTest(StaticBase):

    def probe(self, target, raw=None, port=None):
        raw = raw or ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % target).encode("latin-1")
        data, how = httpkit.send_and_read_all(port or self.port, raw, timeout=TIMEOUT)
        self.assertNotIn(b"CANARY-7f3e9a", data,
                         "%r served the file outside the root:\n%r" % (raw, data[:400]))
        return httpkit.status_of(data), data

    def test_probe_detects_canary(self):
        raw = b"GET /canary.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data, how = httpkit.send_and_read_all(self.h.port("ctl"), raw, timeout=TIMEOUT)
        self.assertEqual(httpkit.status_of(data), 200, data[:300])
        self.assertIn(b"CANARY-7f3e9a", data)
        with self.assertRaises(AssertionError):
            self.probe("/canary.txt", raw=raw, port=self.h.port("ctl"))

    def test_dot_dot_variants(self):
        targets = [
            "/../canary.txt",
            "/%2e%2e/canary.txt",
            "/%2E%2E%2Fcanary.txt",
            "/..%2fcanary.txt",
            "/..%2Fcanary.txt",
            "/.%2e/canary.txt",
            "/a/../../canary.txt",
            "/sub/..%2f..%2fcanary.txt",
            "/%2e%2e%5ccanary.txt",
            "/..\\canary.txt",
            "//../canary.txt",
            "/./../canary.txt",
            "/../outside/canary.txt",
            "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "http://x/../canary.txt",
            "http://x/%2e%2e/canary.txt",
        ]
        for t in targets:
            status, data = self.probe(t)
            self.assertIn(status, (400, 403, 404), "%s answered %r" % (t, data[:200]))
            self.assertNotIn(b"root:", data, t)

    def test_symlink_to_outside_file(self):
        for t in ("/link-out.txt", "/link-abs-out.txt"):
            status, data = self.probe(t)
            self.assertIn(status, (403, 404), "%s answered %r" % (t, data[:200]))

    def test_symlinked_directory_leading_outside(self):
        for t in ("/linkdir/canary.txt", "/up/canary.txt", "/up/outside/canary.txt",
                  "/linkdir/", "/up/"):
            status, data = self.probe(t)
            self.assertIn(status, (403, 404), "%s answered %r" % (t, data[:200]))

    def test_nul_and_bad_escapes_400(self):
        for t in ("/file.txt%00", "/file.txt%00.html", "/%00/../canary.txt", "/%zz",
                  "/file%2.txt", "/file.txt%", "/%g0canary.txt"):
            status, data = self.probe(t)
            self.assertEqual(status, 400, "%s answered %r" % (t, data[:200]))

    def test_symlink_inside_root_served(self):
        if not have_openat2():
            self.skipTest("kernel without openat2: herd refuses every symbolic link")
        for t in ("/link-in.txt", "/sub/link-up.txt"):
            r = self.get(t)
            self.assertEqual((r.status, r.body), (200, TEXT), t)

    def test_absolute_symlink_inside_root_refused(self):
        # herd follows only relative links that stay below the root; an
        # absolute link is refused even when its target lies inside the root
        # (RESOLVE_BENEATH), as herd.conf(5) documents. Never the bytes of
        # the link's target through it.
        r = self.get("/link-abs-in.txt")
        self.assertEqual(r.status, 403,
                         "link-abs-in.txt -> %s" % os.path.join(self.root, "file.txt"))
        self.assertNotIn(TEXT, r.body)


class ConditionalTest(StaticBase):

    def validators(self, target="/file.txt"):
        r = self.get(target)
        self.assertEqual(r.status, 200)
        etag, lm = r.header("ETag"), r.header("Last-Modified")
        self.assertIsNotNone(etag)
        self.assertIsNotNone(lm)
        return etag, lm

    def assert_304(self, target, headers):
        s = self.sock()
        rd = HttpReader(s, timeout=TIMEOUT)
        s.sendall(request("GET", target, headers=headers))
        r = rd.read_response()
        self.assertEqual(r.status, 304, "%s %r" % (target, headers))
        cl = r.header("Content-Length")
        self.assertIn(cl, (None, "0", str(len(TEXT))), "304 Content-Length %r" % cl)
        # Nothing follows the head: the next request's answer comes next.
        s.sendall(request("GET", "/sub/other.txt"))
        n = rd.read_response()
        self.assertEqual((n.status, n.body), (200, b"other\n"), "a body followed the 304")
        self.assertEqual(rd.buf, b"")
        return r

    def test_if_none_match(self):
        etag, _ = self.validators()
        r = self.assert_304("/file.txt", [("If-None-Match", etag)])
        self.assertEqual(r.header("ETag"), etag)
        self.assert_304("/file.txt", [("If-None-Match", '"nope", %s' % etag)])
        self.assert_304("/file.txt", [("If-None-Match", "*")])

    def test_if_none_match_mismatch(self):
        etag, lm = self.validators()
        r = self.get("/file.txt", headers=[("If-None-Match", '"not-the-etag"')])
        self.assertEqual((r.status, r.body), (200, TEXT))
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3).
        r = self.get("/file.txt", headers=[("If-None-Match", '"not-the-etag"'),
                                           ("If-Modified-Since", lm)])
        self.assertEqual((r.status, r.body), (200, TEXT))

    def test_if_modified_since(self):
        _, lm = self.validators()
        self.assert_304("/file.txt", [("If-Modified-Since", lm)])
        later = email.utils.formatdate(FIXED_MTIME + 3600, usegmt=True)
        self.assert_304("/file.txt", [("If-Modified-Since", later)])
        older = email.utils.formatdate(FIXED_MTIME - 1, usegmt=True)
        r = self.get("/file.txt", headers=[("If-Modified-Since", older)])
        self.assertEqual((r.status, r.body), (200, TEXT))
        r = self.get("/file.txt", headers=[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")])
        self.assertEqual((r.status, r.body), (200, TEXT))

    def test_etag_changes_with_file(self):
        etag, _ = self.validators("/page.html")
        path = os.path.join(self.root, "page.html")
        httpkit.write_file(path, b"<p>a new and longer page</p>\n")
        httpkit.set_mtime(path, time.time() + 10)

        def changed():
            r = self.get("/page.html", headers=[("If-None-Match", etag)])
            return r if r.status == 200 else None
        r = herdtest.wait_for(changed, 3.0 * herdtest.SLOW, interval=0.1,
                              what="a changed file to lose its old ETag")
        self.assertEqual(r.body, b"<p>a new and longer page</p>\n")
        self.assertNotEqual(r.header("ETag"), etag)

    def test_etag_changes_within_the_same_second(self):
        # A strong ETag must change whenever the content does (RFC 9110
        # 8.8.1), also for a rewrite of the same size within one second;
        # else If-None-Match answers 304 for a changed file and If-Range
        # splices two versions together.
        path = os.path.join(self.root, "same.txt")
        sec = int(time.time()) - 100
        httpkit.write_file(path, b"version-1\n")
        os.utime(path, ns=(sec * 10**9 + 100000000, sec * 10**9 + 100000000))
        etag, _ = self.validators("/same.txt")
        httpkit.write_file(path, b"version-2\n")
        os.utime(path, ns=(sec * 10**9 + 600000000, sec * 10**9 + 600000000))

        # Each worker has its own cache: only after cache.valid (1 s) has
        # passed can every one of them be expected to have noticed.
        time.sleep(1.3)

        def fresh():
            r = self.get("/same.txt")
            return r if r.body == b"version-2\n" else None
        r = herdtest.wait_for(fresh, 3.0 * herdtest.SLOW, interval=0.1,
                              what="the rewritten file to be served")
        self.assertNotEqual(r.header("ETag"), etag,
                            "same ETag %s for different contents of /same.txt" % etag)
        r = self.get("/same.txt", headers=[("If-None-Match", etag)])
        self.assertEqual((r.status, r.body), (200, b"version-2\n"),
                         "If-None-Match with the old version's ETag")


class RangeTest(StaticBase):
    size = len(TEXT)

    def range(self, spec, extra=(), target="/file.txt"):
        return self.get(target, headers=[("Range", spec)] + list(extra))

    def test_first_last(self):
        r = self.range("bytes=0-9")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("Content-Range"), "bytes 0-9/%d" % self.size)
        self.assertEqual(r.header("Content-Length"), "10")
        self.assertEqual(r.body, TEXT[:10])
        r = self.range("bytes=20-29")
        self.assertEqual((r.status, r.body), (206, TEXT[20:30]))
        self.assertEqual(r.header("Content-Range"), "bytes 20-29/%d" % self.size)
        # A last byte beyond the end is cut to the end.
        r = self.range("bytes=100-5000")
        self.assertEqual((r.status, r.body), (206, TEXT[100:]))
        self.assertEqual(r.header("Content-Range"), "bytes 100-%d/%d" % (self.size - 1, self.size))

    def test_suffix(self):
        r = self.range("bytes=-5")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, TEXT[-5:])
        self.assertEqual(r.header("Content-Range"),
                         "bytes %d-%d/%d" % (self.size - 5, self.size - 1, self.size))

    def test_open_ended(self):
        r = self.range("bytes=10-")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, TEXT[10:])
        self.assertEqual(r.header("Content-Range"),
                         "bytes 10-%d/%d" % (self.size - 1, self.size))
        self.assertEqual(r.header("Content-Length"), str(self.size - 10))

    def test_unsatisfiable_416(self):
        for spec in ("bytes=%d-" % self.size, "bytes=%d-%d" % (self.size + 5, self.size + 10)):
            s, rd, r = one(self.port, request("GET", "/file.txt", headers=[("Range", spec)]),
                           timeout=TIMEOUT)
            self.socks.append(s)
            self.assertEqual(r.status, 416, spec)
            self.assertEqual(r.header("Content-Range"), "bytes */%d" % self.size, spec)
            self.assertNotIn(TEXT[:20], r.body)

    def test_multiple_ranges_whole_file(self):
        r = self.range("bytes=0-1,5-6")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, TEXT)
        self.assertIsNone(r.header("Content-Range"))

    def test_if_range(self):
        r0 = self.get("/file.txt")
        etag = r0.header("ETag")
        r = self.range("bytes=0-9", extra=[("If-Range", '"wrong-etag"')])
        self.assertEqual((r.status, r.body), (200, TEXT), "If-Range with a wrong ETag")
        r = self.range("bytes=0-9", extra=[("If-Range", etag)])
        self.assertEqual((r.status, r.body), (206, TEXT[:10]), "If-Range with the ETag")
        r = self.range("bytes=0-9", extra=[("If-Range", r0.header("Last-Modified"))])
        self.assertEqual((r.status, r.body), (206, TEXT[:10]), "If-Range with Last-Modified")
        r = self.range("bytes=0-9", extra=[("If-Range", "Sat, 01 Jan 2000 00:00:00 GMT")])
        self.assertEqual((r.status, r.body), (200, TEXT), "If-Range with an old date")

    def test_range_on_large_file(self):
        off = 3 * 1024 * 1024 + 7
        r = self.range("bytes=%d-%d" % (off, off + 99), target="/big.bin")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, self.big[off:off + 100])
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (off, off + 99, BIG_SIZE))
        r = self.range("bytes=-1000", target="/big.bin")
        self.assertEqual((r.status, r.body), (206, self.big[-1000:]))


class IndexTest(StaticBase):

    def test_root_serves_index(self):
        r = self.get("/")
        self.assertEqual((r.status, r.body), (200, INDEX))
        self.assertTrue((r.header("Content-Type") or "").startswith("text/html"))
        r = self.get("/sub/")
        self.assertEqual((r.status, r.body), (200, SUB_INDEX))
        r = self.get("/?q=1")
        self.assertEqual((r.status, r.body), (200, INDEX))

    def test_directory_without_slash_301(self):
        s, rd, r = one(self.port, request("GET", "/sub"), timeout=TIMEOUT)
        self.socks.append(s)
        self.assertEqual(r.status, 301)
        loc = r.header("Location") or ""
        self.assertTrue(loc.endswith("/sub/"), "Location: %r" % loc)
        # The connection stays usable.
        s.sendall(request("GET", "/sub/other.txt"))
        self.assertEqual(rd.read_response().status, 200)
        r = self.get("/sub?x=1")
        self.assertEqual(r.status, 301)
        loc = r.header("Location") or ""
        self.assertTrue(loc.endswith("/sub/?x=1"), "Location: %r" % loc)
        r = self.get("/list/dir")
        self.assertEqual(r.status, 301)
        self.assertTrue((r.header("Location") or "").endswith("/list/dir/"))

    def test_directory_without_index_403(self):
        r = self.get("/noindex/")
        self.assertEqual(r.status, 403)
        self.assertNotIn(b"x.txt", r.body)

    def test_autoindex_listing(self):
        r = self.get("/list/")
        self.assertEqual(r.status, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("text/html"))
        body = r.body.decode("utf-8")
        self.assertIn("a&amp;b&lt;c&gt;.txt", body)
        self.assertNotIn("<c>", body)
        self.assertNotIn("a&b", body)
        self.assertIn("plain.txt", body)
        self.assertIn("dir/", body)
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        # Sorted by name.
        self.assertLess(body.index("a&amp;b"), body.index("plain.txt"))
        # The listed file can be fetched by its name, percent-encoded.
        r = self.get("/list/a%26b%3Cc%3E.txt")
        self.assertEqual((r.status, r.body), (200, b"odd name\n"))


    def test_autoindex_links_relative_and_encoded(self):
        r = self.get("/list/")
        self.assertEqual(r.status, 200)
        links = ListingLinks()
        links.feed(r.body.decode("utf-8"))
        names = dict((text, href) for href, text in links.links)
        for name in LIST_ODD_FILES + ("mailto:x/",):
            self.assertIn(name, names, "no link with the text %r in %r" % (name, links.links))
            href = names[name]
            # A relative path: "./" and the name as one percent-encoded
            # segment, never read as a scheme.
            self.assertTrue(href.startswith("./"), "%r links to %r" % (name, href))
            url = urllib.parse.urljoin("http://x/list/", href)
            parts = urllib.parse.urlsplit(url)
            self.assertEqual((parts.scheme, parts.netloc, parts.query, parts.fragment),
                             ("http", "x", "", ""), "%r links to %r" % (name, href))
            self.assertEqual(urllib.parse.unquote(parts.path, errors="strict"), "/list/" + name)
        for name in LIST_ODD_FILES:
            got = self.get(urllib.parse.urlsplit(
                urllib.parse.urljoin("http://x/list/", names[name])).path)
            self.assertEqual((got.status, got.body), (200, name.encode("utf-8")), name)
        self.assertNotIn(b"<t>", r.body)


def make_deep(root, dirs, files):
    """Create root/dirs[0]/dirs[1]/.../name for each (name, data) in files,
    through directory descriptors, since the whole path may be longer than
    the kernel takes in one string. Returns the relative path of the
    deepest directory."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for d in dirs:
            os.mkdir(d, 0o755, dir_fd=fd)
            os.chmod(d, 0o755, dir_fd=fd)
            nfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        for name, data in files:
            f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
            os.fchmod(f, 0o644)
            os.write(f, data)
            os.close(f)
    finally:
        os.close(fd)
    return "/".join(dirs)


class PathLengthTest(StaticBase):
    """A path that fits max_target (8k here) is served as long as the file
    system can name it: up to PATH_MAX - 1 = 4095 bytes below the root,
    components up to NAME_MAX = 255; a longer one cannot exist: 404."""

    DIRS = ["d%02d" % i + "x" * 197 for i in range(20)]        # 20 x 200 bytes
    DEEP = "/".join(DIRS)                                       # 4019 bytes

    def build_tree(self):
        super().build_tree()
        self.f4095 = "f" * (4095 - len(self.DEEP) - 1)
        self.f4096 = "g" * (4096 - len(self.DEEP) - 1)
        make_deep(self.root, self.DIRS, [(self.f4095, b"at the limit\n"),
                                          (self.f4096, b"beyond the limit\n"),
                                          ("index.html", b"deep index\n")])

    def test_longest_path_served(self):
        key = self.DEEP + "/" + self.f4095
        self.assertEqual(len(key), 4095)
        r = self.get("/" + key)
        self.assertEqual((r.status, r.body), (200, b"at the limit\n"))
        r = self.get("/" + self.DEEP + "/")
        self.assertEqual((r.status, r.body), (200, b"deep index\n"))

    def test_deep_directory_redirect(self):
        r = self.get("/" + self.DEEP + "?q=1")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/" + self.DEEP + "/?q=1")
        # Every byte needs escaping and the query is long: nothing is cut.
        make_deep(self.root, ["\u00e9" * 100] * 6, [])
        path, query = "/" + "/".join(["%C3%A9" * 100] * 6), "q=" + "z" * 3000
        r = self.get(path + "?" + query)
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), path + "/?" + query)

    def test_longer_than_path_max_404(self):
        key = self.DEEP + "/" + self.f4096
        self.assertEqual(len(key), 4096)
        r = self.get("/" + key)
        self.assertEqual(r.status, 404, "a path of 4096 bytes below the root")
        self.assertNotIn(b"beyond the limit", r.body)
        for target in ("/" + "a/" * 2500, "/" + "b" * 6000, "/x/" + "c" * 256,
                       "/" + "%41" * 2700):
            r = self.get(target)
            self.assertEqual(r.status, 404, "%d bytes" % len(target))
        r = self.get("/" + "e" * 255)
        self.assertEqual(r.status, 404)

    def test_max_target_still_414(self):
        r = self.get("/" + "a" * 9000)
        self.assertEqual(r.status, 414)


class ListingLinks(html.parser.HTMLParser):
    """(href, text) of every <a> in a page, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self._href = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


class LargeFileTest(StaticBase):

    def test_large_file_complete(self):
        r = self.get("/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(BIG_SIZE))
        self.assertEqual(len(r.body), BIG_SIZE)
        self.assertTrue(r.body == self.big, "the large file arrived corrupted")

    def test_large_files_pipelined(self):
        s = self.sock()
        s.sendall(request("GET", "/big.bin") + request("GET", "/big2.bin") +
                  request("GET", "/file.txt"))
        rd = HttpReader(s, timeout=TIMEOUT)
        r1 = rd.read_response()
        r2 = rd.read_response()
        r3 = rd.read_response()
        self.assertEqual((r1.status, len(r1.body)), (200, BIG_SIZE))
        self.assertTrue(r1.body == self.big, "first large response corrupted")
        self.assertEqual((r2.status, len(r2.body)), (200, BIG_SIZE))
        self.assertTrue(r2.body == self.big2, "second large response corrupted or reordered")
        self.assertEqual((r3.status, r3.body), (200, TEXT))
        self.assertEqual(rd.buf, b"")
        # Still a usable keep-alive connection.
        s.sendall(request("GET", "/sub/other.txt"))
        self.assertEqual(rd.read_response().body, b"other\n")

    def test_large_file_slow_reader(self):
        # The client reads slowly; the file must still arrive whole.
        s = self.sock()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(request("GET", "/big.bin"))
        time.sleep(0.3)
        rd = HttpReader(s, timeout=TIMEOUT)
        r = rd.read_response()
        self.assertEqual(len(r.body), BIG_SIZE)
        self.assertTrue(r.body == self.big)


class CacheFreshnessTest(StaticBase):
    """cache.valid = 1s: a changed file is served from the cache for at most
    about that long (checked by fstat when an entry is older than valid)."""

    VALID = 1.0
    LIMIT = VALID + 1.5     # seconds after the change by which it must show

    def warm(self, target, want):
        # Several connections, so that both workers cache the file.
        for _ in range(12):
            r = self.get(target)
            self.assertEqual((r.status, r.body), (200, want))

    def wait_new(self, target, check, what):
        """Poll with fresh connections until 8 answers in a row pass check;
        any failing answer after LIMIT seconds is a failure."""
        t0 = time.monotonic()
        ok_run = 0
        first_ok = None
        while ok_run < 8:
            r = self.get(target)
            now = time.monotonic() - t0
            if check(r):
                ok_run += 1
                if first_ok is None:
                    first_ok = now
            else:
                ok_run = 0
                if now > self.LIMIT * herdtest.SLOW:
                    self.fail("%s: still stale %.2f s after the change (cache.valid = %gs): "
                              "status %d, body %r, Last-Modified %s"
                              % (what, now, self.VALID, r.status, r.body[:60],
                                 r.header("Last-Modified")))
            time.sleep(0.05)
        herdtest.diag("%s: new version served after %.2f s" % (what, first_ok))

    def test_overwrite_same_size(self):
        path = os.path.join(self.root, "c1.txt")
        httpkit.write_file(path, b"AAAA-old-content\n")
        self.warm("/c1.txt", b"AAAA-old-content\n")
        with open(path, "r+b") as f:        # in place: same inode, same size
            f.write(b"BBBB-new-content\n")
        self.wait_new("/c1.txt", lambda r: r.body == b"BBBB-new-content\n", "same size")

    def test_overwrite_other_size(self):
        path = os.path.join(self.root, "c2.txt")
        httpkit.write_file(path, b"old\n")
        self.warm("/c2.txt", b"old\n")
        httpkit.write_file(path, b"the new content is longer\n")
        self.wait_new("/c2.txt", lambda r: r.body == b"the new content is longer\n",
                      "different size")

    def test_replace_by_rename(self):
        path = os.path.join(self.root, "c3.txt")
        httpkit.write_file(path, b"one-1\n")
        self.warm("/c3.txt", b"one-1\n")
        httpkit.write_file(path + ".tmp", b"two-2\n")
        os.rename(path + ".tmp", path)
        self.wait_new("/c3.txt", lambda r: r.body == b"two-2\n", "replaced by rename")

    def test_touch_mtime(self):
        path = os.path.join(self.root, "c4.txt")
        httpkit.write_file(path, b"same bytes\n")
        httpkit.set_mtime(path, FIXED_MTIME)
        self.warm("/c4.txt", b"same bytes\n")
        httpkit.set_mtime(path, FIXED_MTIME + 86400)
        want = email.utils.formatdate(FIXED_MTIME + 86400, usegmt=True)
        self.wait_new("/c4.txt", lambda r: r.status == 200 and
                      r.header("Last-Modified") == want, "touched")

    def test_deleted_file(self):
        path = os.path.join(self.root, "c5.txt")
        httpkit.write_file(path, b"to be deleted\n")
        self.warm("/c5.txt", b"to be deleted\n")
        os.unlink(path)
        self.wait_new("/c5.txt", lambda r: r.status == 404, "deleted")


HIDDEN_CONF = herdtest.top(2) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = (
      { path = "/open/"; static = { root = "$dir/www"; hidden = true; }; },
      { path = "/"; static = { root = "$dir/www"; autoindex = true; }; }
    );
  }
);
"""


class HiddenTest(StaticBase):
    """Names starting with '.' are 404 unless `hidden = true`, whether
    they exist or not; /.well-known/ (RFC 8615) is always served."""
    conf = HIDDEN_CONF

    def build_tree(self):
        w = httpkit.write_file
        r = self.root
        w(os.path.join(r, ".htpasswd"), b"user:$2y$05$secret\n")
        w(os.path.join(r, ".git", "config"), b"[remote]\n")
        w(os.path.join(r, "app", ".env"), b"DB_PASSWORD=secret\n")
        w(os.path.join(r, "app", "main.js"), b"main\n")
        w(os.path.join(r, ".well-known", "acme-challenge", "tok"), b"challenge\n")
        w(os.path.join(r, "open", ".htpasswd"), b"open copy\n")
        w(os.path.join(r, "app", "a.b"), b"a dot inside a name\n")

    def test_dot_segments_are_404(self):
        for target in ("/.htpasswd", "/.git/config", "/.git/", "/.git", "/app/.env",
                       "/%2Egit/config", "/app/%2eenv", "/.missing", "/app/.git/x",
                       "/.well-knownx/y", "/x/.well-known/acme-challenge/tok"):
            r = self.get(target)
            self.assertEqual(r.status, 404, target)
            self.assertNotIn(b"secret", r.body, target)
            self.assertNotIn(b"[remote]", r.body, target)

    def test_ordinary_names_served(self):
        for target, body in (("/app/main.js", b"main\n"), ("/app/a.b", b"a dot inside a name\n"),
                             ("/.well-known/acme-challenge/tok", b"challenge\n")):
            r = self.get(target)
            self.assertEqual((r.status, r.body), (200, body), target)

    def test_listing_leaves_them_out(self):
        r = self.get("/app/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"main.js", r.body)
        self.assertNotIn(b".env", r.body)
        r = self.get("/")
        self.assertNotIn(b".git", r.body)
        self.assertNotIn(b".htpasswd", r.body)

    def test_hidden_true_serves_them(self):
        r = self.get("/open/.htpasswd")
        self.assertEqual((r.status, r.body), (200, b"open copy\n"))


if __name__ == "__main__":
    herdtest.main()
