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


if __name__ == "__main__":
    herdtest.main()
