"""A second way to the sandbox hub: a TCP forwarder on a port of its own, standing for another
location's network path to the same hub. The hub knows it (its OAuth callback goes back the way
the login came, and the IdP accepts both callbacks), so a login through it works like one on the
hub's own port; `cut()` breaks the path (connections refused, those open dropped), `mend()`
restores it, while the hub's own port keeps working. The tests use it for other paths too (one
replica's way to its database)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Route:
    def __init__(self, port: int, target_port: int, host: str = "127.0.0.1") -> None:
        """`port` 0: a free one, chosen at the first `mend()`."""
        self.port, self.target_port, self.host = port, target_port, host
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        return self._listener is not None

    def mend(self) -> None:
        """Listen (again)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            self.port = listener.getsockname()[1]
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection((self.host, self.target_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self._lock:
            mine = src in self._open  # else cut() closed it already
            self._open.discard(src)
        if mine:
            with contextlib.suppress(OSError):
                src.close()
