#!/usr/bin/python3
"""Open N keep-alive connections to HOST:PORT and keep them idle.

Each connection is opened with a non-blocking connect, sends one request
(GET PATH, HTTP/1.1, keep-alive) and reads its whole response, so that every
connection is known to have been accepted and served by the server. The
connections are opened in batches (the listen backlog is finite). Once all
are served, the script prints "READY <n>" and holds them, idle, until its
standard input reaches end of file (or --hold seconds pass), then closes
them and exits. Every wait has a deadline: on failure it prints
"FAILED <reason>" and exits 1.

usage: idle_conns.py HOST PORT [-n 10000] [--path /hello] [--batch 250]
                     [--timeout 120] [--hold 300]
"""
import argparse
import errno
import resource
import select
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 64
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < want:
        sys.exit("FAILED open file limit %d is too low for %d connections" % (soft, need))


class Conn:
    __slots__ = ("sock", "state", "buf", "out")

    def __init__(self, sock, request):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""
        self.out = request


def response_complete(buf):
    """True when buf holds one whole response with a Content-Length."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


def open_batch(host, port, request, count, deadline):
    ep = select.epoll()
    conns = {}
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, "connect: " + errno.errorcode.get(err, str(err)))
        c = Conn(s, request)
        conns[s.fileno()] = c
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
    pending = len(conns)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("%d of %d connections not served in time" % (pending, count))
        for fd, ev in ep.poll(min(left, 1.0)):
            c = conns[fd]
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect: " + errno.errorcode.get(err, str(err)))
                c.state = "sending"
            if c.state == "sending" and ev & select.EPOLLOUT:
                n = c.sock.send(c.out)
                c.out = c.out[n:]
                if not c.out:
                    c.state = "reading"
                    ep.modify(fd, select.EPOLLIN)
            if c.state == "reading" and ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError("server closed a connection before answering")
                c.buf += data
                if response_complete(c.buf):
                    if not c.buf.startswith(b"HTTP/1.1 200"):
                        raise ConnectionError("unexpected answer: %r" % c.buf[:40])
                    c.state = "idle"
                    c.buf = b""
                    ep.unregister(fd)
                    pending -= 1
    ep.close()
    return [c.sock for c in conns.values()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--path", default="/hello")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=300.0)
    a = ap.parse_args()

    raise_nofile(a.n)
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (a.path, a.host, a.port)).encode()
    deadline = time.monotonic() + a.timeout
    socks = []
    try:
        while len(socks) < a.n:
            socks += open_batch(a.host, a.port, request, min(a.batch, a.n - len(socks)), deadline)
    except (OSError, TimeoutError, ConnectionError, ValueError) as e:
        print("FAILED after %d connections: %s" % (len(socks), e), flush=True)
        return 1
    print("READY %d" % len(socks), flush=True)
    # Hold the connections idle until told to stop (EOF on stdin) or --hold.
    r, _, _ = select.select([sys.stdin], [], [], a.hold)
    # Check how many the server still holds open (a closed one reads EOF).
    closed = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print("CLOSED_BY_SERVER %d" % closed, flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
