#!/usr/bin/env python3
"""Out of file descriptors (EMFILE): the worker pauses accepting on a timer
instead of spinning, says so once, and serves the waiting connections as
soon as descriptors are free again."""

import os
import select
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

LIMIT = 40
CONF = """workers = 1;
pid_file = "$pid_file";
error_log = "$error_log";
servers = ( { listen = [ "127.0.0.1:$port" ];
              routes = ( { path = "/"; return = { body = "x\\n"; }; } ); } );
"""
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


class EmfileTest(HerdTestCase):

    def test_accept_pauses_without_spinning(self):
        if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("prlimit"):
            self.skipTest("needs root, setpriv and prlimit")
        # Started as nobody with a hard limit of LIMIT descriptors, herd
        # cannot raise it: the worker runs out after about LIMIT - 10.
        prefix = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                  "prlimit", "--nofile=%d:%d" % (LIMIT, LIMIT)]
        h = herdtest.Herd(CONF, prefix=prefix)
        self._herds.append(h)
        os.chmod(h.dir, 0o777)
        os.chmod(h.conf, 0o644)
        h.start()
        worker = h.wait_workers(1)[0]
        socks = []
        try:
            for _ in range(2 * LIMIT):
                s = socket.create_connection(("127.0.0.1", h.port()), timeout=5)
                s.sendall(REQUEST)
                socks.append(s)
            h.wait_log(r"Too many open files; pausing accepts", timeout=5.0)
            time.sleep(0.5)
            before = cpu_ticks(worker)
            time.sleep(2.0)
            spent = cpu_ticks(worker) - before
            # A spinning accept loop would use both seconds (200 ticks).
            self.assertLess(spent, 20, "the worker used %d ticks in 2 s while out of "
                                       "descriptors" % spent)
            ready, _, _ = select.select(socks, [], [], 0.5)
            served = [s for s in ready if s.recv(64).startswith(b"HTTP/1.1 200")]
            waiting = [s for s in socks if s not in served]
            self.assertGreater(len(waiting), 0, "every connection was served: no EMFILE?")
            # Free descriptors: close the served connections (the server
            # closes its side when ours goes), then the waiting ones come in.
            for s in served:
                s.close()
            late = 0
            for s in waiting:
                s.settimeout(5.0 * herdtest.SLOW)
                try:
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        late += 1
                except OSError:
                    pass
                s.close()
            self.assertEqual(late, len(waiting),
                             "connections that waited during EMFILE were not all served")
            self.assertEqual(h.log_text().count("pausing accepts"), 1,
                             "the pause is logged once a minute, not per retry")
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    herdtest.main()
