#!/usr/bin/env python3
"""The TCP echo protocol: many concurrent clients, back-pressure against a
client that never reads, idle_timeout."""

import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402


def conf(workers=2, idle="60s"):
    return herdtest.top(workers) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "echo";
    idle_timeout = "%s";
  }
);
""" % idle


def echo_once(port, data=b"ping\n"):
    s = herdtest.connect(port)
    try:
        s.sendall(data)
        return herdtest.recv_exact(s, len(data), timeout=5)
    finally:
        s.close()


class EchoTest(HerdTestCase):

    def test_100_concurrent_clients(self):
        h = self.herd(conf(2))
        port = h.port()
        n_clients, size = 100, 20 * 1024
        errors = []
        done = []
        start = threading.Barrier(n_clients)

        def client(i):
            rnd = random.Random(i)
            data = bytes(rnd.getrandbits(8) for _ in range(size))
            got = bytearray()
            try:
                s = herdtest.connect(port, timeout=20)
                try:
                    start.wait(20)
                    off = 0
                    while off < size:
                        n = rnd.randint(1, 2000)
                        s.sendall(data[off:off + n])
                        off += n
                        time.sleep(rnd.random() * 0.005)
                        s.setblocking(False)
                        try:
                            while True:
                                b = s.recv(65536)
                                if not b:
                                    raise AssertionError("closed after %d bytes" % len(got))
                                got += b
                        except BlockingIOError:
                            pass
                        finally:
                            s.setblocking(True)
                            s.settimeout(20)
                    got += herdtest.recv_exact(s, size - len(got), timeout=20)
                    if bytes(got) != data:
                        bad = next(k for k in range(size) if got[k] != data[k])
                        raise AssertionError("client %d: echo differs at byte %d" % (i, bad))
                    done.append(i)
                finally:
                    s.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running")
        self.assertEqual(errors, [])
        self.assertEqual(len(done), n_clients)

    def test_client_that_never_reads(self):
        h = self.herd(conf(1))
        port = h.port()
        self.assertEqual(echo_once(port), b"ping\n")
        (worker,) = h.wait_workers(1)
        before = herdtest.rss_kb(worker)

        flood = socket.socket()
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        flood.connect(("127.0.0.1", port))
        flood.setblocking(False)
        total = 10 * 1024 * 1024
        deadline = time.monotonic() + 10
        try:
            peak = self.flood(flood, total, deadline, worker, before)
            self.assertGreater(peak[0], 512 * 1024, "the flooding client could hardly send")
            herdtest.diag("flooding client sent %d of %d bytes; worker RSS %d kB -> peak %d kB"
                          % (peak[0], total, before, peak[1]))
            self.assertLess(peak[1] - before, 16 * 1024,
                            "worker RSS grew by %d kB for a client that never reads"
                            % (peak[1] - before))
            # Others are still served, promptly.
            for i in range(5):
                t0 = time.monotonic()
                self.assertEqual(echo_once(port, b"still there %d\n" % i),
                                 b"still there %d\n" % i)
                self.assertLess(time.monotonic() - t0, 1.0)
            self.assertEqual(h.worker_pids(), [worker], "the worker must not have restarted\n"
                             + h.log_tail())
        finally:
            flood.close()

    def flood(self, sock, total, deadline, worker, before):
        """Push until everything is sent or nothing moves for 1 s; return
        (bytes sent, peak RSS of the worker in kB)."""
        chunk = b"x" * 65536
        sent = 0
        stalled_since = None
        peak = before
        while sent < total and time.monotonic() < deadline:
            try:
                sent += sock.send(chunk[:min(len(chunk), total - sent)])
                stalled_since = None
            except BlockingIOError:
                if stalled_since is None:
                    stalled_since = time.monotonic()
                elif time.monotonic() - stalled_since > 1.0:
                    break
                time.sleep(0.01)
            peak = max(peak, herdtest.rss_kb(worker))
        for _ in range(10):
            peak = max(peak, herdtest.rss_kb(worker))
            time.sleep(0.02)
        return sent, peak

    def test_idle_timeout(self):
        h = self.herd(conf(2, idle="1s"))
        s = herdtest.connect(h.port())
        try:
            s.sendall(b"hello\n")
            self.assertEqual(herdtest.recv_exact(s, 6), b"hello\n")
            t0 = time.monotonic()
            data, how = herdtest.read_until_close(s, 5.0)
            took = time.monotonic() - t0
            herdtest.diag("idle connection closed after %.2f s (%s)" % (took, how))
            self.assertEqual(data, b"")
            self.assertIn(how, ("eof", "reset"), "idle connection still open after 5 s")
            self.assertGreater(took, 0.8, "closed before idle_timeout")
            self.assertLess(took, 3.0)
        finally:
            s.close()

    def test_activity_defers_idle_timeout(self):
        # Traffic every 0.4 s keeps a 1 s idle_timeout from firing.
        h = self.herd(conf(2, idle="1s"))
        s = herdtest.connect(h.port())
        try:
            for i in range(6):
                s.sendall(b"%d\n" % i)
                self.assertEqual(herdtest.recv_exact(s, 2), b"%d\n" % i)
                time.sleep(0.4)
        finally:
            s.close()


if __name__ == "__main__":
    herdtest.main()
