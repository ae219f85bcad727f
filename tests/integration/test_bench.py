#!/usr/bin/env python3
"""bench/run finds the herd to measure and says so loudly when there is
none (issue 7, item 15): a smoke run of one short scenario, not a benchmark.
Timing targets live in bench/, never here: nothing below checks a figure,
only that herd was measured at all."""

import csv
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402

SRCDIR = os.environ.get("HERD_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUN = os.path.join(SRCDIR, "bench", "run")


def bench(env_extra, timeout=120):
    out = tempfile.mkdtemp(prefix="herd-bench-test-")
    env = dict(os.environ, SERVERS="herd", SCENARIOS="ka", DURATION="1", REPEAT="1",
               WARMUP="0", OUT=out, PORT_BASE=str(herdtest.free_port()))
    env.pop("HERD", None)
    env.update(env_extra)
    try:
        r = subprocess.run(["bash", RUN, "--no-install"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        rows = []
        path = os.path.join(out, "results.csv")
        if os.path.exists(path):
            with open(path) as f:
                rows = list(csv.DictReader(f))
        return r.returncode, r.stdout + r.stderr, rows
    finally:
        shutil.rmtree(out, ignore_errors=True)


class BenchRunTest(herdtest.HerdTestCase):

    def test_missing_herd_is_a_loud_error(self):
        rc, out, rows = bench({"HERD": "/nonexistent/herd"})
        self.assertEqual(rc, 1, out)
        self.assertIn("bench: ERROR", out)
        self.assertEqual(rows, [], "nothing was measured")

    def test_the_built_herd_is_measured(self):
        if herdtest.is_sanitized():
            self.skipTest("bench/run refuses a sanitizer build (its figures would mean nothing)")
        for tool in ("wrk", "taskset"):
            if shutil.which(tool) is None:
                self.skipTest("%s is not installed" % tool)
        rc, out, rows = bench({"HERD": herdtest.herd_bin()})
        self.assertEqual(rc, 0, out)
        herd = [r for r in rows if r["server"] == "herd" and r["scenario"] == "ka"]
        self.assertEqual(len(herd), 1, out)
        self.assertGreater(float(herd[0]["rps"] or 0), 0, "herd was not measured:\n" + out)
        self.assertEqual(herd[0]["errors"], "0", out)


if __name__ == "__main__":
    herdtest.main()
