#!/usr/bin/python3
"""`SELECT 1`, N times in a row on one connection, for bench/run's seeds_tcp
scenario (MariaDB directly, or through a TCP proxy).

    seeds_client.py PORT N

Connects to 127.0.0.1:PORT as root without a password (pymysql), runs 200
queries to warm up, then N, each waiting for its answer, and prints
SEEDS queries=N seconds=S (the N queries only, not the connection).
"""
import sys
import time

import pymysql


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    port, n = int(argv[1]), int(argv[2])
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                           autocommit=True, connect_timeout=10, read_timeout=30)
    try:
        cur = conn.cursor()
        for _ in range(200):
            cur.execute("SELECT 1")
            cur.fetchone()
        t0 = time.monotonic()
        for _ in range(n):
            cur.execute("SELECT 1")
            if cur.fetchone() != (1,):
                print("SELECT 1 answered something else", file=sys.stderr)
                return 1
        seconds = time.monotonic() - t0
    finally:
        conn.close()
    print("SEEDS queries=%d seconds=%.6f" % (n, seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
