"""A TCP forwarder between one client and a server on loopback, which a test can cut: a network
partition between one replica and its database, while the others still reach it.

`cut()` closes every forwarded connection and the listening socket, so the client's next
connect is refused at once and its open connections fail on their next use; the server itself
stays up for everyone else.
"""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 64 * 1024


class TcpForwarder:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        threading.Thread(target=self._accept, name="forwarder-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # cut or closed
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()  # the server is down: so is the way to it
                continue
            server.settimeout(None)
            with self._lock:
                if self._cut:
                    client.close()
                    server.close()
                    return
                self._open |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(CHUNK):
                dst.sendall(data)
        except OSError:
            pass  # the other direction closed it, or a cut did
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._open.discard(s)
        for s in socks:
            with contextlib.suppress(OSError):  # not connected any more
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        """The client can no longer reach the server: connections closed, new ones refused."""
        with self._lock:
            self._cut = True
            socks = list(self._open)
        # shutdown, not only close: it wakes the thread blocked in accept() and stops the port
        # listening at once, so connects are refused.
        with contextlib.suppress(OSError):  # cut already
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._close(*socks)

    def close(self) -> None:
        self.cut()
