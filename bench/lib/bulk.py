#!/usr/bin/python3
"""Bulk transfer through a TCP proxy, for bench/run's tcp_bulk scenario.

    bulk.py sink PORT         listen on 127.0.0.1:PORT; for every connection
                              read and drop everything until the end of its
                              input, then answer one byte "k" and close;
                              prints READY once listening
    bulk.py send PORT SIZE    connect to 127.0.0.1:PORT, send SIZE bytes
                              (1 MiB writes of zeroes), shut the writing side
                              and wait for the sink's "k" (which comes only
                              after every byte went through), then print
                              BULK bytes=SIZE seconds=S ack=0|1

The caller pins each process to its CPU (taskset).
"""
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def drain(c):
    buf = bytearray(CHUNK)
    with c:
        while c.recv_into(buf):
            pass
        try:
            c.sendall(b"k")
        except OSError:
            pass


def sink(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print("READY", flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def send(port, size):
    chunk = memoryview(bytes(CHUNK))
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        left = size
        while left > 0:
            left -= s.send(chunk[:min(left, CHUNK)])
        s.shutdown(socket.SHUT_WR)
        ack = s.recv(1)
    seconds = time.monotonic() - t0
    print("BULK bytes=%d seconds=%.6f ack=%d" % (size, seconds, ack == b"k"), flush=True)
    return 0 if ack == b"k" else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "sink":
        sink(int(argv[2]))
        return 0
    if len(argv) == 4 and argv[1] == "send":
        return send(int(argv[2]), int(argv[3]))
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
