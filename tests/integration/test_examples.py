#!/usr/bin/env python3
"""Every configuration example in the documentation works.

The examples are taken from README.md, the manual pages (as make wrote them
from man/*.in) and the packaged etc/herd.conf. Each one is marked in its
source, on the line before it (invisible in the rendered text):

    README.md          <!-- herd-example: KIND -->   before the ``` fence
    man/*.in           .\\" herd-example: KIND        before .EX

KIND is "config" (a whole file) or "server" (keys of one HTTP server, such
as error_pages or routes: tested inside a server on a loopback port).

For each example:
- test_check_*: `herd -t` accepts it as written, on a machine without the
  Debian package (so a user such as "herd" that only the package creates is
  an error). Files and directories that an example says must exist (static
  roots, error pages) are made in a temporary directory when they are
  missing here, and the example is pointed at them.
- test_serve_*: herd starts on it, rewritten to run here: every listen
  address on a free loopback port, pid_file, error_log and access logs in
  the test's directory, a user that exists; then each HTTP address answers
  a request and each echo address echoes; the servers of every upstream
  become echo servers the test runs, so that each tcp_proxy address echoes
  too (through herd to them).

test_every_example_found fails when a source has fewer marked examples than
expected, or a block that looks like configuration (a line "key = value")
without a marker: an example nobody tests is how a broken one was shipped
(issue 7, item 4: `reuseport = false`, in herd.conf(5)'s EXAMPLE, could not
start).
"""

import os
import pwd
import grp
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("HERD_SRCDIR", os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("HERD_BUILDDIR",
                          os.path.join(os.path.dirname(herdtest.herd_bin()), ".."))

# (label, path, kind of source, the fewest marked examples it has)
SOURCES = [
    ("README", os.path.join(SRCDIR, "README.md"), "markdown", 1),
    ("herd_8", os.path.join(BUILDDIR, "man", "herd.8"), "roff", 0),
    ("herd_conf_5", os.path.join(BUILDDIR, "man", "herd.conf.5"), "roff", 4),
]
# The packaged example is one whole file; it is written for the package,
# whose postinst creates the user "herd". Its servers are in the default
# site, which the package enables (sites-enabled/default.conf): the two are
# tested as the one file they make together.
PACKAGED = os.path.join(SRCDIR, "etc", "herd.conf")
PACKAGED_SITE = os.path.join(SRCDIR, "etc", "sites-available", "default.conf")

KINDS = ("config", "server")
MARK_MD = re.compile(r"^<!--\s*herd-example:\s*(\S+)\s*-->\s*$")
MARK_ROFF = re.compile(r'^\.\\"\s*herd-example:\s*(\S+)\s*$')
# A libconfig setting as the examples write it: "name = value".
SETTING = re.compile(r"^\s*[{(]?\s*[A-Za-z_][A-Za-z0-9_-]* = \S")


class Example:
    def __init__(self, source, line, kind, text):
        self.source = source        # label
        self.line = line            # line of the block in its file
        self.kind = kind
        self.text = text

    def __repr__(self):
        return "%s:%d (%s)" % (self.source, self.line, self.kind)


# ------------------------------------------------------------- extraction

ROFF_ESCAPES = {"\\e": "\\", "\\-": "-", "\\(aq": "'", "\\(dq": '"', "\\&": "",
                "\\(ha": "^", "\\(ti": "~", "\\(rs": "\\"}


def unroff(line, where):
    """The text a roff .EX line shows; an escape not known here is an error
    (rather than an example silently read wrong)."""
    out = []
    i = 0
    while i < len(line):
        if line[i] != "\\":
            out.append(line[i])
            i += 1
            continue
        for esc, rep in ROFF_ESCAPES.items():
            if line.startswith(esc, i):
                out.append(rep)
                i += len(esc)
                break
        else:
            raise AssertionError("%s: unknown roff escape %r in an example" %
                                 (where, line[i:i + 4]))
    return "".join(out)


def blocks_markdown(lines):
    """(first line number, marker kind or None, text) of each ``` block."""
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start = i
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            m = MARK_MD.match(lines[start - 1]) if start > 0 else None
            out.append((start + 2, m.group(1) if m else None, "\n".join(lines[start + 1:j]) + "\n"))
            i = j + 1
        else:
            i += 1
    return out


def blocks_roff(lines, label):
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == ".EX":
            start = i
            body = []
            j = i + 1
            while j < len(lines) and lines[j] != ".EE":
                where = "%s:%d" % (label, j + 1)
                if lines[j].startswith('.\\"'):
                    pass
                elif lines[j].startswith(".") or lines[j].startswith("'"):
                    raise AssertionError("%s: roff request inside an example: %r" % (where, lines[j]))
                else:
                    body.append(unroff(lines[j], where))
                j += 1
            m = MARK_ROFF.match(lines[start - 1]) if start > 0 else None
            out.append((start + 2, m.group(1) if m else None, "\n".join(body) + "\n"))
            i = j + 1
        else:
            i += 1
    return out


def extract(label, path, fmt):
    """(examples, problems) of one source: problems are unmarked blocks
    that look like configuration and markers with an unknown kind."""
    with open(path) as f:
        lines = f.read().split("\n")
    blocks = blocks_markdown(lines) if fmt == "markdown" else blocks_roff(lines, label)
    examples, problems = [], []
    for line, kind, text in blocks:
        if kind is None:
            if any(SETTING.match(t) for t in text.split("\n")):
                problems.append("%s:%d: a block that looks like configuration has no "
                                "herd-example marker" % (path, line))
            continue
        if kind not in KINDS:
            problems.append("%s:%d: unknown herd-example kind %r" % (path, line, kind))
            continue
        examples.append(Example(label, line, kind, text))
    return examples, problems


def all_examples():
    examples, problems, counts = [], [], {}
    for label, path, fmt, _ in SOURCES:
        ex, pr = extract(label, path, fmt)
        examples += ex
        problems += pr
        counts[label] = len(ex)
    with open(PACKAGED) as f, open(PACKAGED_SITE) as site:
        examples.append(Example("etc_herd_conf", 1, "config", f.read() + "\n" + site.read()))
    return examples, problems, counts


# ------------------------------------------------------- libconfig, in brief

class Group(list):
    """A libconfig group: a list of [name, value] pairs, in file order."""

    def get(self, name, default=None):
        for k, v in self:
            if k == name:
                return v
        return default

    def set(self, name, value):
        for kv in self:
            if kv[0] == name:
                kv[1] = value
                return
        self.append([name, value])

    def remove(self, name):
        self[:] = [kv for kv in self if kv[0] != name]


class Array(list):
    pass


class List(list):
    pass


TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+(?:[eE][-+]?[0-9]+)?)L{0,2})
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
""", re.X | re.S)


def tokens(text):
    out = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError("cannot read %r" % text[pos:pos + 20])
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group(m.lastgroup)))
    return out


def unquote(s):
    body = s[1:-1]
    return re.sub(r'\\(x[0-9a-fA-F]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x"
                  else {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}.get(m.group(1), m.group(1)),
                  body)


class Parser:
    def __init__(self, text):
        self.t = tokens(text)
        self.i = 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, want=None):
        tok = self.peek()
        if tok[0] is None or (want and tok[1] != want):
            raise ValueError("expected %r, found %r" % (want, tok[1]))
        self.i += 1
        return tok

    def settings(self, end):
        g = Group()
        while self.peek()[1] != end:
            kind, name = self.take()
            if kind != "name":
                raise ValueError("expected a name, found %r" % name)
            if self.peek()[1] not in ("=", ":"):
                raise ValueError("expected '=' after %s" % name)
            self.take()
            g.append([name, self.value()])
            if self.peek()[1] in (";", ","):
                self.take()
        return g

    def value(self):
        kind, v = self.take()
        if v == "{":
            g = self.settings("}")
            self.take("}")
            return g
        if v in ("(", "["):
            out = List() if v == "(" else Array()
            close = ")" if v == "(" else "]"
            while self.peek()[1] != close:
                out.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
            self.take(close)
            return out
        if kind == "str":
            s = unquote(v)
            while self.peek()[0] == "str":      # adjacent strings are joined
                s += unquote(self.take()[1])
            return s
        if kind == "num":
            n = v.rstrip("L")
            if re.match(r"^[-+]?0[xX]", n):
                return int(n, 16)
            return float(n) if re.search(r"[.eE]", n) and not n.lower().startswith("0x") else int(n)
        if kind == "name" and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise ValueError("unexpected %r" % v)


def parse(text):
    p = Parser(text)
    g = p.settings(None)
    return g


def quote(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dump(v, indent=""):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) + ("L" if abs(v) > 0x7FFFFFFF else "")
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, Group):
        inner = indent + "  "
        return "{\n" + "".join("%s%s = %s;\n" % (inner, k, dump(x, inner)) for k, x in v) + \
            indent + "}"
    if isinstance(v, Array):
        return "[ " + ", ".join(dump(x, indent) for x in v) + " ]"
    if isinstance(v, List):
        inner = indent + "  "
        return "(\n" + ",\n".join(inner + dump(x, inner) for x in v) + "\n" + indent + ")"
    raise TypeError(type(v))


def dump_top(g):
    return "".join("%s = %s;\n" % (k, dump(v)) for k, v in g)


# --------------------------------------------------------------- rewriting

def listens(server):
    v = server.get("listen")
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def server_protocol(server):
    if isinstance(server.get("tls"), Group):
        return "https"
    return server.get("protocol", "http")


def wrap_server(fragment, port_placeholder):
    """A whole configuration around the keys of one HTTP server."""
    frag = parse(fragment)
    server = Group([["listen", port_placeholder]])
    server.extend(frag)
    if server.get("routes") is None:
        server.append(["routes", List([Group([["path", "/"],
                                               ["return", Group([["body", "example\n"]])]])])])
    return Group([["workers", 1], ["user", "nobody"], ["servers", List([server])]])


class Workdir:
    """Stand-ins, under one temporary directory, for paths an example names."""

    def __init__(self, base):
        self.base = base
        self.n = 0

    def path(self, what, original):
        self.n += 1
        name = "%s-%d-%s" % (what, self.n, os.path.basename(original.rstrip("/")) or "root")
        return os.path.join(self.base, name)

    def directory(self, original):
        d = self.path("root", original)
        os.makedirs(d)
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<p>example</p>\n")
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "index.html"), 0o644)
        return d

    def tls_pair(self):
        """A self-signed certificate and its key (ECDSA P-256), made once,
        for an example whose certificate files are not on this machine."""
        cert = os.path.join(self.base, "example-cert.pem")
        key = os.path.join(self.base, "example-key.pem")
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                            "-days", "2", "-subj", "/CN=example.org"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return cert, key

    def file(self, original):
        p = self.path("file", original)
        with open(p, "w") as f:
            f.write("<p>example page</p>\n")
        os.chmod(p, 0o644)
        return p


def servers_of(cfg):
    return [s for s in (cfg.get("servers") or []) if isinstance(s, Group)]


def point_missing_paths(cfg, work):
    """Static roots and error pages that do not exist here: made in work.
    Logs always go to work: herd -t opens (creates) them as the start
    would, and a test must not write into this machine's /var/log."""
    log = cfg.get("error_log")
    if isinstance(log, str) and log != "stderr":
        cfg.set("error_log", work.path("log", log))
    for server in servers_of(cfg):
        if isinstance(server.get("access_log"), str):
            server.set("access_log", work.path("log", server.get("access_log")))
        tls = server.get("tls")
        if isinstance(tls, Group) and not all(
                isinstance(tls.get(k), str) and os.path.exists(tls.get(k))
                for k in ("certificate", "key")):
            cert, key = work.tls_pair()
            tls.set("certificate", cert)
            tls.set("key", key)
        ca = tls.get("client_certificate") if isinstance(tls, Group) else None
        if isinstance(ca, str) and not os.path.exists(ca):
            # The throwaway certificate is its own CA; the client shows it.
            tls.set("client_certificate", work.tls_pair()[0])
        for page in server.get("error_pages") or []:
            f = page.get("file")
            if isinstance(f, str) and not os.path.exists(f):
                page.set("file", work.file(f))
        for route in server.get("routes") or []:
            st = route.get("static")
            if isinstance(st, Group):
                root = st.get("root")
                if isinstance(root, str) and not os.path.isdir(root):
                    st.set("root", work.directory(root))


def normal_address(addr):
    """One spelling per address ("*:80", ":80" and "80" are "0.0.0.0:80")."""
    if re.match(r"^\d+$", addr):
        return "0.0.0.0:" + addr
    if addr.startswith("*:") or addr.startswith(":"):
        return "0.0.0.0:" + addr.split(":", 1)[1]
    return addr


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def runnable(cfg, h, work):
    """Rewrite a parsed example to run in Herd h. Returns the addresses to
    try: [(protocol, host, port, host header)]."""
    point_missing_paths(cfg, work)
    cfg.set("pid_file", h.pid_file)
    cfg.set("error_log", h.error_log)
    w = cfg.get("workers", "auto")
    if w == "auto" or (isinstance(w, int) and w > 2):
        cfg.set("workers", 2)
    user = cfg.get("user", "nobody")
    try:
        pwd.getpwnam(user)
    except KeyError:
        cfg.set("user", "nobody")
        cfg.remove("group")
    group = cfg.get("group")
    if group is not None:
        try:
            grp.getgrnam(group)
        except KeyError:
            cfg.remove("group")
    v6 = ipv6_loopback()
    mapped = {}
    targets = []
    for server in servers_of(cfg):
        original = listens(server)
        new = Array()
        for addr in original:
            key = normal_address(addr)
            if key not in mapped:
                port = herdtest.free_port()
                host = "::1" if key.startswith("[") and v6 else "127.0.0.1"
                mapped[key] = (host, port)
            host, port = mapped[key]
            new.append("[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port))
        server.set("listen", new)
        if server.get("access_log") is not None:
            server.set("access_log", os.path.join(h.dir, "access-%d.log" % len(targets)))
        names = server.get("server_names") or []
        host_header = next((n.replace("*.", "www.") for n in names), "localhost")
        for host, port in sorted(set(mapped[normal_address(a)] for a in original)):
            targets.append((server_protocol(server), host, port, host_header))
    return targets


def http_answers(host, port, host_header, tls=False, client_pair=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(10)
        raw.connect((host, port))
        s = raw
        if tls:
            # The test's own throwaway certificate: encryption, not trust, is tested.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if client_pair:
                ctx.load_cert_chain(*client_pair)   # for a server that asks (mTLS)
            s = ctx.wrap_socket(raw, server_hostname=host_header)
        s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % host_header).encode())
        data, how = herdtest.read_until_close(s, timeout=10)
    return data


def echo_answers(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(b"ping\n")
        return herdtest.recv_exact(s, 5)


V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class EchoBackend:
    """An echo server on a free loopback port, a thread per connection."""

    def __init__(self):
        self.port = herdtest.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _skip_proxy_header(c):
        """A tcp_proxy with send_proxy_protocol puts a PROXY header first:
        take it off (v1 up to its CRLF, v2 by its length); the bytes after
        it come back. Anything else is all echoed."""
        got = b""
        while len(got) < 16 and (b"PROXY ".startswith(got[:6]) or
                                 V2_SIG.startswith(got[:12])):
            b = c.recv(65536)
            if not b:
                break
            got += b
        if got.startswith(b"PROXY "):
            while b"\r\n" not in got:
                b = c.recv(65536)
                if not b:
                    return b""
                got += b
            return got[got.index(b"\r\n") + 2:]
        if got.startswith(V2_SIG) and len(got) >= 16:
            end = 16 + int.from_bytes(got[14:16], "big")
            while len(got) < end:
                b = c.recv(65536)
                if not b:
                    return b""
                got += b
            return got[end:]
        return got

    @staticmethod
    def _echo(c):
        with c:
            c.settimeout(30)
            try:
                first = EchoBackend._skip_proxy_header(c)
                if first:
                    c.sendall(first)
                while True:
                    b = c.recv(65536)
                    if not b:
                        return
                    c.sendall(b)
            except OSError:
                return

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def echo_upstreams(cfg, test):
    """Every server of every upstream becomes an echo server run here."""
    for up in cfg.get("upstreams") or []:
        for srv in up.get("servers") or []:
            b = EchoBackend()
            test.addCleanup(b.stop)
            srv.set("address", "127.0.0.1:%d" % b.port)


# ------------------------------------------------------------------- tests

EXAMPLES, PROBLEMS, COUNTS = all_examples()


# Examples that cannot start yet because of a bug in herd, not in the
# example: their serve test is an expected failure ("not ok ... # TODO"),
# and passing makes the suite fail (XPASS), so the entry is removed with the
# fix. Keyed by text of the example.
class ExamplesTest(herdtest.HerdTestCase):

    def test_every_example_found(self):
        short = ["%s has %d marked configuration examples, expected at least %d" %
                 (path, COUNTS[label], least)
                 for label, path, _, least in SOURCES if COUNTS[label] < least]
        self.assertEqual(PROBLEMS + short, [])
        herdtest.diag("examples: " + ", ".join("%s %d" % kv for kv in COUNTS.items()) +
                      ", etc/herd.conf 1")

    def temp(self):
        d = tempfile.mkdtemp(prefix="herd-example-")
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def check_example(self, ex):
        """herd -t accepts the example as written."""
        d = self.temp()
        if ex.kind == "server":
            cfg = wrap_server(ex.text, "127.0.0.1:%d" % herdtest.free_port())
            point_missing_paths(cfg, Workdir(d))
            text = dump_top(cfg)
        elif ex.source == "etc_herd_conf":
            # Written for the package, which creates the user "herd".
            cfg = parse(ex.text)
            for key in ("user", "group"):
                try:
                    (pwd.getpwnam if key == "user" else grp.getgrnam)(cfg.get(key))
                except KeyError:
                    cfg.remove(key)
            point_missing_paths(cfg, Workdir(d))
            text = dump_top(cfg)
        else:
            cfg = parse(ex.text)
            before = dump_top(cfg)
            point_missing_paths(cfg, Workdir(d))
            # as written, unless it names a log or a path that is missing here
            text = ex.text if dump_top(cfg) == before else dump_top(cfg)
        path = os.path.join(d, "example.conf")
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = herdtest.run("-t", "-c", path)
        self.assertEqual(rc, 0, "herd -t refuses the example at %r:\n%s\n%s" % (ex, err, text))

    def serve_example(self, ex):
        """herd starts on the example (rewritten to run here) and serves
        every address."""
        h = herdtest.Herd(None)
        self._herds.append(h)
        work = Workdir(self.temp())
        if ex.kind == "server":
            cfg = wrap_server(ex.text, "127.0.0.1:1")
        else:
            cfg = parse(ex.text)
        targets = runnable(cfg, h, work)
        echo_upstreams(cfg, self)
        self.assertTrue(targets, "%r has no listen address" % ex)
        text = dump_top(cfg)
        with open(h.conf, "w") as f:
            f.write(text)
        h.args = ["-F", "-c", h.conf]
        h.wait_ports = sorted(set(p for _, host, p, _ in targets if host == "127.0.0.1"))
        try:
            h.start()
        except herdtest.HerdStartError as e:
            raise AssertionError("herd does not start on the example at %r:\n%s\n"
                                 "configuration (rewritten):\n%s" % (ex, e, text))
        herdtest.diag("%r serves %s" % (ex, ", ".join(
            "%s on %s port %d (Host: %s)" % t for t in targets)))
        for proto, host, port, host_header in targets:
            where = "%r: %s %s:%d" % (ex, proto, host, port)
            if proto in ("echo", "tcp_proxy"):
                self.assertEqual(echo_answers(host, port), b"ping\n", where)
            else:
                data = http_answers(host, port, host_header, tls=proto == "https",
                                    client_pair=work.tls_pair() if proto == "https" else None)
                self.assertRegex(data[:12], rb"^HTTP/1\.1 \d{3}", where + " did not answer")


def _add_tests():
    """test_check_SOURCE_N and test_serve_SOURCE_N for the N-th example of
    each source."""
    seen = {}
    for ex in EXAMPLES:
        seen[ex.source] = seen.get(ex.source, 0) + 1
        name = "%s_%d" % (ex.source, seen[ex.source])
        setattr(ExamplesTest, "test_check_" + name,
                lambda self, ex=ex: self.check_example(ex))
        setattr(ExamplesTest, "test_serve_" + name,
                lambda self, ex=ex: self.serve_example(ex))


_add_tests()

if __name__ == "__main__":
    herdtest.main()
