"""Loopback HTTPS for the sandbox's stand-ins: a certificate from a CA made at start (trustme),
a threaded http.server behind it."""

from __future__ import annotations

import json
import ssl
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


def server_context(ca: trustme.CA, not_after: datetime | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", not_after=not_after).configure_cert(ctx)
    return ctx


def serve_https(
    handler: type[BaseHTTPRequestHandler], ctx: ssl.SSLContext, port: int = 0
) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1:port (0: a free port) in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_https(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON, as the services the stand-ins imitate do."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
