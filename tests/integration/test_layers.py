#!/usr/bin/env python3
"""The layer rules of DESIGN ("Layers"), read from the sources' #includes
and text: who may include whom, who may name a protocol, file and function
sizes. One test case per rule, each listing every place that breaks it."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402

SRCDIR = os.environ.get("HERD_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SRC = os.path.join(SRCDIR, "src")

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80
# A function may be longer when a comment just above it says why, e.g.
#   /* Long: one switch over every message kind reads best in one place. */
LONG_OK = re.compile(r"/\*\s*Long\b", re.I)
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
# What naming a protocol looks like in code that must not know any.
PROTOCOL_NAMES = re.compile(r'\bPROTO_(HTTP|ECHO)\b|\bproto_(http|echo)\b|"(http|echo)"|'
                            r'#\s*include\s*"(http|stream)/')


def sources(*subdirs, ext=(".c", ".h")):
    out = []
    for sub in subdirs:
        base = os.path.join(SRC, sub)
        if os.path.isfile(base):
            out.append(base)
            continue
        for root, _, files in os.walk(base):
            out += [os.path.join(root, f) for f in files if f.endswith(ext)]
    return sorted(out)


def rel(path):
    return os.path.relpath(path, SRCDIR)


def text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def includes(path):
    return INCLUDE.findall(text(path))


def strip_comments(s):
    """C source without comments (strings kept), line breaks preserved."""
    out, i, n = [], 0, len(s)
    while i < n:
        if s.startswith("/*", i):
            j = s.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * s.count("\n", i, j))
            i = j
        elif s.startswith("//", i):
            j = s.find("\n", i)
            i = n if j < 0 else j
        elif s[i] in "\"'":
            q, j = s[i], i + 1
            while j < n and s[j] != q:
                j += 2 if s[j] == "\\" else 1
            out.append(s[i:j + 1])
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, number of lines, has a 'Long' comment) per
    function definition: a line at column 0 ending in ')' (or the line
    before a '{' at column 0) up to the next '}' at column 0."""
    lines = text(path).split("\n")
    out = []
    for i, line in enumerate(lines):
        if line != "{" or i == 0:
            continue
        head = i - 1
        while head > 0 and lines[head - 1][:1] not in ("", "}", "/", "#", " ") and \
                not lines[head - 1].rstrip().endswith(";"):
            head -= 1
        m = re.search(r"(\w+)\s*\(", " ".join(lines[head:i]))
        if not m:
            continue
        end = i
        while end < len(lines) and lines[end] != "}":
            end += 1
        above = "\n".join(lines[max(0, head - 6):head])
        out.append((m.group(1), head + 1, end - head + 1, bool(LONG_OK.search(above))))
    return out


class LayerTest(unittest.TestCase):

    def assertNone(self, bad, rule):
        if bad:
            self.fail("%s:\n  %s" % (rule, "\n  ".join(bad)))

    def test_protocols_do_not_include_worker_h(self):
        bad = [rel(p) for p in sources("http", "stream") if "worker.h" in includes(p)]
        self.assertNone(bad, "src/http/ and src/stream/ include worker.h")

    def test_conn_knows_no_worker_and_no_protocol(self):
        bad = []
        for p in sources("conn.c", "conn.h"):
            for inc in includes(p):
                if inc == "worker.h" or inc.startswith(("http/", "stream/")):
                    bad.append("%s includes %s" % (rel(p), inc))
        self.assertNone(bad, "the connection layer reaches up")

    def test_master_and_config_core_name_no_protocol(self):
        files = sources("master") + [p for p in sources("") if
                                     re.match(r"(master|config)[^/]*\.[ch]$", os.path.basename(p))
                                     and os.path.dirname(p) == SRC]
        self.assertTrue(files, "no master or config core files found under %s" % SRC)
        bad = []
        for p in files:
            body = strip_comments(text(p))
            for n, line in enumerate(body.split("\n"), 1):
                m = PROTOCOL_NAMES.search(line)
                if m:
                    bad.append("%s:%d: %s" % (rel(p), n, line.strip()))
        self.assertNone(bad, "the master and the config core name a protocol")

    def test_only_loop_includes_epoll(self):
        bad = [rel(p) for p in sources("") if "sys/epoll.h" in includes(p)
               and rel(p) != "src/loop.c"]
        self.assertNone(bad, "files other than src/loop.c include sys/epoll.h")

    def test_only_the_tls_transport_includes_openssl(self):
        bad = ["%s includes %s" % (rel(p), inc) for p in sources("") for inc in includes(p)
               if inc.startswith("openssl/") and
               not re.match(r"transport_tls[^/]*\.c$|transport_tls_internal\.h$",
                            os.path.basename(p))]
        self.assertNone(bad, "OpenSSL headers outside src/transport_tls*.c")
        # The transport's internal header includes OpenSSL's: only its own
        # files may include it.
        bad = [rel(p) for p in sources("") if "transport_tls_internal.h" in includes(p)
               and not re.match(r"transport_tls[^/]*\.c$", os.path.basename(p))]
        self.assertNone(bad, "transport_tls_internal.h included outside src/transport_tls*.c")

    def test_files_are_small(self):
        bad = []
        for p in sources("", ext=(".c",)):
            n = text(p).count("\n")
            if n > MAX_FILE_LINES:
                bad.append("%s: %d lines" % (rel(p), n))
        self.assertNone(bad, "C files over %d lines" % MAX_FILE_LINES)

    def test_functions_are_short(self):
        bad = []
        for p in sources("", ext=(".c",)):
            for name, line, n, excused in functions(p):
                if n > MAX_FUNCTION_LINES and not excused:
                    bad.append("%s:%d: %s() is %d lines" % (rel(p), line, name, n))
        self.assertNone(bad, "functions over %d lines without a comment saying why"
                        % MAX_FUNCTION_LINES)

    def test_every_module_has_a_suite(self):
        # Tests mirror src/: src/DIR/NAME.c has tests/unit/check_NAME.c or
        # check_DIR_NAME.c (which includes its header, when it has one), or
        # names the suite that covers it in its opening comment; at least
        # 80% have their own.
        units = os.path.join(SRCDIR, "tests", "unit")
        own, bad = 0, []
        cs = sources("", ext=(".c",))
        for p in cs:
            mod = os.path.relpath(p, SRC)[:-2]
            names = {"check_" + os.path.basename(mod), "check_" + mod.replace("/", "_")}
            suites = [os.path.join(units, n + ".c") for n in sorted(names)
                      if os.path.exists(os.path.join(units, n + ".c"))]
            header = mod + ".h"
            if suites and (not os.path.exists(os.path.join(SRC, header)) or
                           any(header in includes(t) for t in suites)):
                own += 1
                continue
            named = re.findall(r"check_\w+", text(p)[:1500])
            if not any(os.path.exists(os.path.join(units, n + ".c")) for n in named):
                bad.append("%s: no tests/unit/%s.c including %s, and no suite named in its "
                           "opening comment" % (rel(p), "check_" + mod.replace("/", "_"), header))
        self.assertNone(bad, "modules without a unit suite")
        herdtest.diag("%d of %d .c files have their own unit suite" % (own, len(cs)))
        self.assertGreaterEqual(own / len(cs), 0.8, "only %d of %d .c files have their own "
                                "suite (at least 80%% must)" % (own, len(cs)))

    def test_the_checker_sees_the_tree(self):
        # A checker that finds nothing to check would pass for ever.
        cs = sources("", ext=(".c",))
        self.assertGreater(len(cs), 20)
        self.assertGreater(sum(len(functions(p)) for p in cs), 300)
        self.assertIn("worker.h", includes(os.path.join(SRC, "worker.c")))


if __name__ == "__main__":
    herdtest.main()
