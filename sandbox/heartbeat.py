"""A dead man's switch on loopback: the ping endpoint of Healthchecks.io, as it documents it.

https://healthchecks.io/docs/http_api/ — `GET|HEAD|POST /<uuid>` records a ping of that check and
answers 200 "OK"; a UUID it does not know answers 404 "not found". Plain HTTP on 127.0.0.1 (the
real service is HTTPS; the monitor's client is the same either way). Every ping of the check is
recorded with the time it arrived, so tests can see when pings stop and resume.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Ping:
    at: float  # time.monotonic() on arrival
    method: str
    user_agent: str


class HeartbeatReceiver:
    def __init__(self) -> None:
        self.check = str(uuid.uuid4())  # the check's UUID: the secret part of its ping URL
        self.pings: list[Ping] = []
        self.unknown = 0  # pings of another UUID (404)
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.check}"

    def start(self) -> HeartbeatReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _ping(self) -> None:
                if self.path.rstrip("/") == f"/{receiver.check}":
                    ping = Ping(time.monotonic(), self.command, self.headers.get("User-Agent", ""))
                    with receiver._cond:
                        receiver.pings.append(ping)
                        receiver._cond.notify_all()
                    status, body = 200, b"OK"
                else:
                    with receiver._cond:
                        receiver.unknown += 1
                    status, body = 404, b"not found"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _ping

            def log_message(self, format: str, *args: object) -> None:
                pass  # the URL is a secret: no access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self) -> int:
        with self._cond:
            return len(self.pings)

    def wait_for(self, n: int, timeout: float) -> list[Ping]:
        """Block until at least n pings have arrived; the pings, or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.pings) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"heartbeat: {len(self.pings)} of {n} pings in {timeout}s")
                self._cond.wait(left)
            return list(self.pings)
