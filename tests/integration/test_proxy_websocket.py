#!/usr/bin/env python3
"""WebSocket through the HTTP reverse proxy (websocket = true).

What is measured:
- 1000 messages (text of varied sizes, then binary ones up to 256 KiB)
  echoed through herd by a WebSocket echo server of the websockets
  library (Debian's python3-websockets, started here on a free port), a
  websockets client on the other side, the closing handshake completed
  (code 1000);
- half-close carried through the tunnel both ways, against a raw backend
  started here: the client's end reaches the backend while the backend's
  bytes still reach the client, and the backend's end reaches the client
  while the client's bytes still reach the backend."""

import asyncio
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import herdtest  # noqa: E402
from herdtest import HerdTestCase  # noqa: E402

try:
    import websockets
except ImportError:
    # A Python of its own (pyenv, a venv) does not see Debian's packages;
    # websockets runs on its pure-Python code where its C part does not fit.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websockets
    except ImportError:     # said by setUp, as a failure
        websockets = None

MESSAGES = 1000

CONF = herdtest.top(1) + """
upstreams = ( { name = "ws"; servers = ( { address = "127.0.0.1:%d"; } ); } );
servers = (
  { listen = [ "127.0.0.1:$port" ];
    routes = ( { path = "/"; proxy = { upstream = "ws"; websocket = true;
                                       websocket_timeout = "30s"; }; } );
  }
);
"""

HANDSHAKE = ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class EchoServer:
    """The websockets library's server, echoing every message, on its own
    event loop in a thread."""

    def __init__(self):
        self.port = herdtest.free_port()
        self.loop = asyncio.new_event_loop()
        self.server = None
        ready = threading.Event()

        async def echo(ws, path=None):
            async for message in ws:
                await ws.send(message)

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                websockets.serve(echo, "127.0.0.1", self.port, max_size=None))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise AssertionError("the websocket echo server did not start")

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class HalfCloseBackend:
    """A raw backend: a websocket handshake answered 101, then
      /client-ends: every byte echoed until the client's end, then "late"
                    sent and the connection closed;
      /server-ends: "bye" sent and its sending shut down, then every byte
                    read until the client's end kept in `after`."""

    def __init__(self):
        self.port = herdtest.free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.after = None
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ")[1]
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n")
            rest = head.partition(b"\r\n\r\n")[2]
            if path == b"/client-ends":
                if rest:
                    c.sendall(rest)
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    c.sendall(b)
                c.sendall(b"late")
                return
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)
            got = rest
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got += b
            self.after = got
        except OSError:
            pass
        finally:
            c.close()


def open_tunnel(port, path):
    """A raw client's handshake through herd; the socket and what came
    after the 101's head."""
    s = herdtest.connect(port, timeout=30)
    s.sendall((HANDSHAKE % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError("closed before the 101: %r" % buf)
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101 "):
        raise AssertionError("no 101: %r" % head)
    return s, rest


class ProxyWebSocketTest(HerdTestCase):

    def setUp(self):
        super().setUp()
        if websockets is None:
            self.fail("the websockets library is missing: install the Debian package "
                      "python3-websockets (.ci/run, ./bootstrap and debian/control name it)")

    def test_1000_messages_echoed_by_a_websockets_server(self):
        server = EchoServer()
        self.addCleanup(server.stop)
        h = self.herd(CONF % server.port)
        url = "ws://127.0.0.1:%d/chat" % h.port()

        async def talk():
            async with websockets.connect(url, max_size=None) as ws:
                for i in range(MESSAGES):
                    if i % 10 == 9:
                        msg = bytes([i % 256]) * (i * 256)     # up to 256 KiB
                    else:
                        msg = "message %d %s" % (i, "x" * (i % 500))
                    await ws.send(msg)
                    got = await ws.recv()
                    if got != msg:
                        raise AssertionError("message %d came back as %r" % (i, got[:80]))
            return ws.close_code

        code = asyncio.run(asyncio.wait_for(talk(), 90))
        self.assertEqual(code, 1000)

    def test_half_close_passed_both_ways(self):
        b = HalfCloseBackend()
        self.addCleanup(b.stop)
        h = self.herd(CONF % b.port)

        # The client ends first: the backend reads the end and still
        # answers after it.
        s, got = open_tunnel(h.port(), "/client-ends")
        try:
            s.sendall(b"abc")
            s.shutdown(socket.SHUT_WR)
            data, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual((got + data, how), (b"abclate", "eof"))

        # The backend ends first: the client reads the end and may still
        # send, and the backend gets it.
        s, got = open_tunnel(h.port(), "/server-ends")
        try:
            while len(got) < 3:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "the tunnel closed before the backend's bytes")
                got += chunk
            s.settimeout(10)
            self.assertEqual(s.recv(4096), b"", "the backend's end was not passed on")
            s.sendall(b"still here")
            s.shutdown(socket.SHUT_WR)
            herdtest.wait_for(lambda: b.after is not None, 10, what="the backend's reading done")
            data, how = herdtest.read_until_close(s, 10.0)
        finally:
            s.close()
        self.assertEqual(got, b"bye")
        self.assertEqual(b.after, b"still here")
        self.assertEqual((data, how), (b"", "eof"))


if __name__ == "__main__":
    herdtest.main()
