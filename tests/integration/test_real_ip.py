#!/usr/bin/env python3
"""The real client address behind trusted proxies (a server's real_ip),
with the real binary over real sockets. The test's own connections come
from 127.0.0.1 (or ::1): a server whose `from` holds it believes the
X-Forwarded-For (or X-Real-IP) they send, and then $remote_addr (in a
response header), $remote_port, the access log, a route's allow/deny and
the X-Forwarded-For a proxy route sends upstream all use the address the
header names, while $realip_remote_addr keeps 127.0.0.1; a server whose
`from` does not hold it ignores the header (spoofing from an untrusted
peer changes nothing). The recursive walk skips trusted hops, a malformed
entry stops it, a local proxy on a unix socket is trusted by "unix:"
alone, and behind a PROXY protocol listener the header's source
is the peer that real_ip trusts or not (the balancer connects from
127.0.0.3, so that the harness's probes from 127.0.0.1 need no header)."""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
import httpkit  # noqa: E402
from herdtest import HttpReader  # noqa: E402
from httpkit import request  # noqa: E402

FLUSH = 2.5 * herdtest.SLOW     # the access log is written at least once a second

ROUTES = """
    routes = (
      { path = "/addr";
        headers = { X-Client = "$$remote_addr|$$remote_port|$$realip_remote_addr"; };
        return = { status = 200; body = "addr\\n"; }; },
      { path = "/private"; allow = [ "203.0.113.0/24" ];
        return = { status = 200; body = "private\\n"; }; },
      { path = "/open"; deny = [ "198.51.100.7" ];
        return = { status = 200; body = "open\\n"; }; },
      { path = "/up"; proxy = { upstream = "echo"; }; }
    );"""

CONF = herdtest.top(1) + """
upstreams = ( { name = "echo"; keepalive = 0;
                servers = ( { address = "127.0.0.1:%%d"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    access_log = "$dir/logs/trusted.log";
    access_log_format = "$$remote_addr $$realip_remote_addr $$request_uri $$status";
    real_ip = { from = [ "127.0.0.1", "10.0.0.0/8" ]; recursive = true; };
%(routes)s
  },
  { listen = [ "127.0.0.1:$port_untrusted" ];
    access_log = "$dir/logs/untrusted.log";
    access_log_format = "$$remote_addr $$realip_remote_addr $$request_uri $$status";
    real_ip = { from = [ "192.0.2.0/24", "::1" ]; recursive = true; };
%(routes)s
  },
  { listen = [ "127.0.0.1:$port_rightmost" ];
    real_ip = { from = "127.0.0.1"; };
%(routes)s
  },
  { listen = [ "127.0.0.1:$port_xrealip" ];
    real_ip = { from = "127.0.0.0/8"; header = "X-Real-IP"; };
%(routes)s
  },
  { listen = [ "[::1]:$port_v6" ];
    real_ip = { from = [ "::1", "fd00::/8" ]; recursive = true; };
%(routes)s
  },
  { listen = [ "unix:$dir/site.sock" ];
    real_ip = { from = [ "10.0.0.0/8", "unix:" ]; };
%(routes)s
  },
  { listen = [ "unix:$dir/other.sock" ];
    real_ip = { from = "all"; };
%(routes)s
  },
  { listen = [ "127.0.0.1:$port_pp" ];
    proxy_protocol = { from = "127.0.0.3"; };
    real_ip = { from = "192.0.2.0/24"; };
%(routes)s
  }
);
""" % {"routes": ROUTES}


class EchoBackend:
    """An upstream that answers each request with its head as the body."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                head = data.split(b"\r\n\r\n")[0] + b"\r\n"
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                          % len(head) + head)

    def stop(self):
        self.lsock.close()


BALANCER = "127.0.0.3"     # the PROXY protocol's trusted source


def v1(src, dst, sport, dport):
    family = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode("ascii")


class RealIpTest(httpkit.HerdCase):

    def setUp(self):
        super().setUp()
        self.up = EchoBackend()
        self.addCleanup(self.up.stop)
        self.h = self.herd(CONF % self.up.port, start=False)
        httpkit.open_up(self.h.dir)
        self.logs = httpkit.make_dir(os.path.join(self.h.dir, "logs"))
        # The harness's probes connect to 127.0.0.1 only.
        self.h.wait_ports = [self.h.port(n) for n in
                             ("", "untrusted", "rightmost", "xrealip", "pp")]
        self.h.start()

    def ask(self, path, xff=None, port="", headers=(), host="127.0.0.1", prefix=b""):
        """One request on a new connection (to port, or to the unix socket
        named "unix:NAME"); its response."""
        hdrs = list(headers)
        if xff is not None:
            hdrs.append(("X-Forwarded-For", xff))
        if port.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            where = os.path.join(self.h.dir, port[5:])
        else:
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            where = (host, self.h.port(port))
        self.socks.append(s)
        s.settimeout(10)
        if prefix:
            s.bind((BALANCER, 0))
        s.connect(where)
        s.sendall(prefix + request("GET", path, headers=hdrs, close=True))
        return HttpReader(s).read_response()

    def client(self, path="/addr", **kw):
        """The X-Client header ($remote_addr|$remote_port|$realip_remote_addr)."""
        r = self.ask(path, **kw)
        self.assertEqual(r.status, 200)
        return r.header("x-client")

    def access_line(self, log, line):
        want = line.encode("ascii")
        httpkit.wait_file(os.path.join(self.logs, log), lambda d: want in d.split(b"\n"),
                          FLUSH, what=line)

    # -- a trusted peer

    def test_trusted_peer_names_the_client(self):
        addr, port, real = self.client(xff="203.0.113.5").split("|")
        self.assertEqual((addr, port, real), ("203.0.113.5", "", "127.0.0.1"))
        self.assertEqual(self.client(xff="203.0.113.5:4711").split("|")[:2],
                         ["203.0.113.5", "4711"])
        self.ask("/logged", xff="203.0.113.6")
        self.access_line("trusted.log", "203.0.113.6 127.0.0.1 /logged 404")

    def test_recursive_walk_skips_trusted_hops(self):
        self.assertEqual(self.client(xff="6.6.6.6, 203.0.113.5, 10.0.0.3, 10.0.0.2")
                         .split("|")[0], "203.0.113.5")
        # Every hop trusted: the leftmost.
        self.assertEqual(self.client(xff="10.9.9.9, 10.0.0.2").split("|")[0], "10.9.9.9")
        # Two fields are one list.
        self.assertEqual(self.client(headers=(("X-Forwarded-For", "203.0.113.8"),
                                              ("X-Forwarded-For", "10.0.0.4")))
                         .split("|")[0], "203.0.113.8")

    def test_malformed_entry_stops_the_walk(self):
        self.assertEqual(self.client(xff="203.0.113.5, unknown").split("|")[0], "127.0.0.1")
        self.assertEqual(self.client(xff="203.0.113.5, junk, 10.0.0.2").split("|")[0],
                         "10.0.0.2")

    def test_not_recursive_takes_the_rightmost(self):
        self.assertEqual(self.client(xff="203.0.113.5, 10.0.0.2", port="rightmost")
                         .split("|")[0], "10.0.0.2")
        self.assertEqual(self.client(port="rightmost").split("|")[0], "127.0.0.1")

    def test_x_real_ip(self):
        self.assertEqual(self.client(port="xrealip", headers=(("X-Real-IP", "203.0.113.77"),))
                         .split("|")[0], "203.0.113.77")
        # X-Forwarded-For means nothing to it.
        self.assertEqual(self.client(port="xrealip", xff="203.0.113.5").split("|")[0],
                         "127.0.0.1")

    def test_allow_and_deny_see_the_real_client(self):
        r = self.ask("/private", xff="203.0.113.5")
        self.assertEqual((r.status, r.body), (200, b"private\n"))
        self.assertEqual(self.ask("/private", xff="198.51.100.1").status, 403)
        self.assertEqual(self.ask("/private").status, 403)
        self.assertEqual(self.ask("/open", xff="198.51.100.7").status, 403)
        self.assertEqual(self.ask("/open", xff="198.51.100.8").status, 200)
        self.access_line("trusted.log", "198.51.100.7 127.0.0.1 /open 403")
        self.h.wait_log(r"request refused with 403: access forbidden by rule, "
                        r"client: 198\.51\.100\.7")

    def test_proxy_forwards_the_real_client(self):
        """Like nginx's $proxy_add_x_forwarded_for: what came, then the
        client real_ip chose."""
        r = self.ask("/up", xff="203.0.113.5")
        self.assertEqual(r.status, 200)
        self.assertIn(b"\r\nX-Forwarded-For: 203.0.113.5, 203.0.113.5\r\n", r.body)
        r = self.ask("/up", xff="10.0.0.9", port="untrusted")
        self.assertIn(b"\r\nX-Forwarded-For: 10.0.0.9, 127.0.0.1\r\n", r.body)

    # -- an untrusted peer

    def test_untrusted_peer_spoofing_is_ignored(self):
        addr, port, real = self.client(xff="203.0.113.5", port="untrusted").split("|")
        self.assertEqual((addr, real), ("127.0.0.1", "127.0.0.1"))
        self.assertNotEqual(port, "")           # the connection's own
        self.assertEqual(self.ask("/private", xff="203.0.113.5", port="untrusted").status, 403)
        self.ask("/spoof", xff="192.0.2.1", port="untrusted")
        self.access_line("untrusted.log", "127.0.0.1 127.0.0.1 /spoof 404")

    # -- IPv6

    def test_ipv6_peer_and_hops(self):
        addr, _, real = self.client(xff="2001:db8::7, fd00::2", port="v6",
                                    host="::1").split("|")
        self.assertEqual((addr, real), ("2001:db8::7", "::1"))
        self.assertEqual(self.client(xff="[2001:db8::8]:443", port="v6", host="::1")
                         .split("|")[:2], ["2001:db8::8", "443"])
        self.assertEqual(self.client(xff="198.51.100.3", port="v6", host="::1")
                         .split("|")[0], "198.51.100.3")

    # -- a local proxy on a unix socket

    def test_unix_clients_trusted_by_unix_only(self):
        self.assertEqual(self.client(port="unix:site.sock", xff="203.0.113.5").split("|"),
                         ["203.0.113.5", "", ""])
        # "all" is every address, and a unix client has none.
        self.assertEqual(self.client(port="unix:other.sock", xff="203.0.113.5").split("|"),
                         ["", "", ""])

    # -- behind the PROXY protocol

    def test_proxy_protocol_source_is_the_peer_real_ip_trusts(self):
        # The PROXY header's source is in real_ip's from: its X-Forwarded-For counts.
        addr, _, real = self.client(port="pp", xff="203.0.113.9",
                                    prefix=v1("192.0.2.7", "10.0.0.1", 40000, 80)).split("|")
        self.assertEqual((addr, real), ("203.0.113.9", "192.0.2.7"))
        # It is not: the PROXY source is the client, the header is ignored.
        addr, port, real = self.client(port="pp", xff="203.0.113.9",
                                       prefix=v1("198.51.100.4", "10.0.0.1", 40001, 80)
                                       ).split("|")
        self.assertEqual((addr, port, real), ("198.51.100.4", "40001", "198.51.100.4"))


if __name__ == "__main__":
    herdtest.main()
