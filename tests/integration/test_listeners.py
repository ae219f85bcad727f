#!/usr/bin/env python3
"""Listening sockets: a shared socket without SO_REUSEPORT, steering around
a slot whose worker is in respawn back-off, and the start-up probe that keeps
a second server off an address already served."""

import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase, HttpReader, http_request  # noqa: E402


def conf(workers=2, reuseport=True, body="ok\\n"):
    return herdtest.top(workers) + """
servers = (
  { listen = [ "127.0.0.1:$port" ];
    protocol = "http";
    reuseport = %s;
    routes = ( { path = "/"; return = { status = 200; body = "%s"; }; } );
  }
);
""" % ("true" if reuseport else "false", body)


def ask(port, path="/", timeout=5.0):
    """One request on its own connection: (status, body)."""
    s = herdtest.connect(port, timeout=timeout)
    try:
        s.sendall(http_request("GET", path, headers=[("Connection", "close")]))
        r = HttpReader(s, timeout=timeout).read_response()
        return r.status, r.body
    finally:
        s.close()


def slot_of(h, pid):
    m = re.search(r"started worker %d \(slot (\d+)" % pid, h.log_text())
    return int(m.group(1)) if m else None


def worker_in_slot(h, slot, exclude=()):
    """The live worker of a slot (waits for it)."""
    def find():
        for pid in h.worker_pids():
            if pid not in exclude and slot_of(h, pid) == slot:
                return pid
        return None
    return herdtest.wait_for(find, 5 * herdtest.SLOW, what="a worker in slot %d" % slot)


def into_backoff(h, slot, at_least_ms):
    """Kill slot's workers until the master answers a death with a respawn
    back-off of at_least_ms or more; returns the last (dead) worker's pid.
    The slot is empty for that long afterwards."""
    victim = worker_in_slot(h, slot)
    while True:
        mark = h.log_mark()
        os.kill(victim, signal.SIGKILL)
        m = h.wait_log(r"(slot %d keeps failing; respawning in (\d+) ms|"
                       r"started worker (\d+) \(slot %d)" % (slot, slot),
                       timeout=10, since=mark)
        if m.group(2) is not None and int(m.group(2)) >= at_least_ms:
            return victim
        victim = worker_in_slot(h, slot, exclude=[victim])


class SharedSocketTest(HerdTestCase):
    """reuseport = false: one socket for every worker (EPOLLEXCLUSIVE)."""

    def test_two_workers_serve_one_shared_socket(self):
        h = self.herd(conf(2, reuseport=False))
        workers = h.wait_workers(2)
        for i in range(50):
            self.assertEqual(ask(h.port(), "/n%d" % i), (200, b"ok\n"))
        self.assertNotRegex(h.log_text(), r"epoll_ctl|Invalid argument")
        # Either worker may go: the other keeps accepting.
        os.kill(workers[0], signal.SIGKILL)
        for i in range(20):
            self.assertEqual(ask(h.port(), "/k%d" % i), (200, b"ok\n"))
        h.wait_workers(2, exclude=[workers[0]])


class BackoffSteeringTest(HerdTestCase):
    """A slot whose worker is dead or backing off gets no new connections,
    and what was queued on its socket is served by a worker that is up."""

    def test_fresh_connections_avoid_a_slot_in_backoff(self):
        # Three slots, the middle one down: the steering maps around a hole.
        h = self.herd(conf(3))
        h.wait_workers(3)
        into_backoff(h, 1, 1600)
        # Slot 1 is empty for a few seconds now; every connection is answered
        # at once by slots 0 and 2.
        t0 = time.monotonic()
        slow = []
        for i in range(100):
            t = time.monotonic()
            self.assertEqual(ask(h.port(), "/f%d" % i, timeout=10), (200, b"ok\n"))
            if time.monotonic() - t > 0.5:
                slow.append((i, round(time.monotonic() - t, 2)))
        self.assertEqual(slow, [], "connections that waited for the backing-off slot "
                         "(index, seconds) after %.2f s" % (time.monotonic() - t0))

    def test_connections_queued_on_a_dead_slot_are_handed_over(self):
        h = self.herd(conf(2))
        h.wait_workers(2)
        dead = into_backoff(h, 1, 800)
        victim = worker_in_slot(h, 1, exclude=[dead])
        # Freeze slot 1's worker so that connections queue on its socket, then
        # kill it: the master is backing off, so nobody would accept them for
        # seconds unless a live worker takes them over.
        os.kill(victim, signal.SIGSTOP)
        socks = []
        try:
            for i in range(40):
                s = herdtest.connect(h.port(), timeout=10)
                s.sendall(http_request("GET", "/q%d" % i))
                socks.append(s)
            mark = h.log_mark()
            os.kill(victim, signal.SIGKILL)
            m = h.wait_log(r"slot 1 keeps failing; respawning in (\d+) ms", timeout=5,
                           since=mark)
            self.assertGreaterEqual(int(m.group(1)), 1600)
            t0 = time.monotonic()
            for i, s in enumerate(socks):
                r = HttpReader(s, timeout=10).read_response()
                self.assertEqual((r.status, r.body), (200, b"ok\n"), "connection %d" % i)
            took = time.monotonic() - t0
            self.assertLess(took, 1.0 * herdtest.SLOW,
                            "queued connections waited %.2f s for the slot's back-off" % took)
        finally:
            for s in socks:
                s.close()


class ProbeTest(HerdTestCase):
    """A fresh start refuses an address another process already serves, even
    one that would let SO_REUSEPORT share it."""

    def test_second_herd_with_another_pid_file_is_refused(self):
        first = self.herd(conf(1, body="first\\n"))
        second = self.herd(start=False)
        second.ports = dict(first.ports)
        second.rewrite_config(conf(1, body="second\\n"))
        second.start(wait=False)
        status = second.wait_exit(10 * herdtest.SLOW)
        self.assertEqual(status, 1, "the second herd must refuse to start\n%s"
                         % second.log_tail())
        self.assertRegex(second.log_text(), r"127\.0\.0\.1:%d.*[Aa]ddress already in use"
                         % first.port())
        for i in range(20):
            self.assertEqual(ask(first.port(), "/p%d" % i), (200, b"first\n"))

    def test_foreign_reuseport_socket_is_refused(self):
        port = herdtest.free_port()
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", port))
        other.listen(16)
        try:
            h = self.herd(start=False)
            h.ports["port"] = port
            h.rewrite_config(conf(1))
            rc, out, err = h.run("-c", h.conf, "-t")
            self.assertEqual(rc, 0, "herd -t does not bind: %s" % err)
            h.start(wait=False)
            self.assertEqual(h.wait_exit(10 * herdtest.SLOW), 1, h.log_tail())
            self.assertRegex(h.log_text(), r"[Aa]ddress already in use")
        finally:
            other.close()

    def test_reload_keeps_its_own_sockets(self):
        # The probe is for addresses herd does not hold yet: a reload that
        # keeps an address, or adds a worker to it, must not trip over it.
        h = self.herd(conf(1))
        h.rewrite_config(conf(2, body="two\\n"))
        rc, out, err = h.reload_via_cli()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(ask(h.port()), (200, b"two\n"))


def many_conf(workers, n):
    """One server on n addresses: 127.0.0.1 .. 127.0.x.y, all on $port."""
    addrs = ", ".join('"127.0.%d.%d:$port"' % (i // 250, i % 250 + 1) for i in range(n))
    return herdtest.top(workers) + """
servers = (
  { listen = [ %s ];
    protocol = "http";
    routes = ( { path = "/"; return = { status = 200; body = "ok\\n"; }; } );
  }
);
""" % addrs


class ManyListenersTest(HerdTestCase):
    """The master tells a draining worker which of its sockets it no longer
    keeps, by listener id, for any number of listeners (it once sent one
    byte per listener and stopped at the 255th)."""

    def test_released_sockets_beyond_255_are_emptied(self):
        n = 300
        h = self.herd(many_conf(2, n))
        h.wait_workers(2)
        victim = worker_in_slot(h, 1)
        last = "127.0.%d.%d" % ((n - 1) // 250, (n - 1) % 250 + 1)
        # Freeze slot 1's worker so that connections to the last address
        # queue on its socket (more than the worker accepts in one batch, so
        # that it reads the master's DRAIN before it has taken them all);
        # then shrink to one worker. Slot 1's sockets are parked by the
        # master: the old worker must empty them, not close its copies.
        os.kill(victim, signal.SIGSTOP)
        socks = []
        try:
            for i in range(400):
                s = socket.create_connection((last, h.port()), timeout=10)
                s.sendall(http_request("GET", "/q%d" % i))
                socks.append(s)
            h.rewrite_config(many_conf(1, n))
            rc, out, err = h.reload_via_cli()
            self.assertEqual(rc, 0, out + err)
            os.kill(victim, signal.SIGCONT)
            for i, s in enumerate(socks):
                r = HttpReader(s, timeout=5 * herdtest.SLOW).read_response()
                self.assertEqual((r.status, r.body), (200, b"ok\n"), "connection %d" % i)
        finally:
            try:
                os.kill(victim, signal.SIGCONT)
            except ProcessLookupError:
                pass            # it has drained and exited
            for s in socks:
                s.close()


if __name__ == "__main__":
    herdtest.main()
