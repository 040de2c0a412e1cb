"""The socket `probe serve` listens on, safe to expose: a request's headers must arrive within
HEADER_TIMEOUT_S, at most a capped number of connections are open at once, and the probes keep a
file-handle budget of their own.

A client that opens connections and sends half a request, slowly, would otherwise hold a file
handle each for as long as it likes; a few hundred of them used up the process's handles, so the
probes could not load their flows or write their verdicts. Here each connection is watched from
the moment it opens until its request's headers are complete (and again for the next request on a
kept-alive connection); one that takes too long is closed. A connection beyond the cap is closed
at once. At start the soft limit on open files is raised to the hard limit, and the cap is set so
that RESERVED_FDS stay for the probes, the store and the PagerDuty sender whatever clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("loginprobe")

HEADER_TIMEOUT_S = 10.0
KEEPALIVE_S = 15.0
MAX_CONNECTIONS = 64
RESERVED_FDS = 192
_END_OF_HEADERS = b"\r\n\r\n"


def raise_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(soft_limit: int, wanted: int = MAX_CONNECTIONS) -> int:
    """How many connections the server may hold with `soft_limit` open files in all."""
    return max(1, min(wanted, soft_limit - RESERVED_FDS))


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: counts it against the cap and closes it if
    a request's headers do not arrive in time."""

    def __init__(self, inner: asyncio.Protocol, server: GuardedServer) -> None:
        self.inner, self.server = inner, server
        self.transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""
        self._counted = False

    # -- asyncio.Protocol, passed on ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.server.open) >= self.server.cap:
            self.server.refused += 1
            transport.abort()
            return
        self.server.open.add(self)
        self._counted = True
        self._arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return
        seen = self._tail + data
        if _END_OF_HEADERS in seen:
            after = seen.rsplit(_END_OF_HEADERS, 1)[1]
            # Headers complete; bytes after them begin the next request on this connection.
            self._disarm()
            if after:
                self._arm()
        elif self._deadline is None:
            self._arm()  # the first bytes of a new request on a kept-alive connection
        self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self._counted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            self.server.open.discard(self)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the header deadline ---------------------------------------------------------------
    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.server.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.server.timed_out += 1
        if self.transport is not None:
            self.transport.abort()


class GuardedServer:
    """The listening socket and what it counts; `cleanup()` stops it and the app."""

    def __init__(self, runner: web.AppRunner, cap: int, header_timeout: float) -> None:
        self.runner, self.cap, self.header_timeout = runner, cap, header_timeout
        self.open: set[_Guard] = set()
        self.refused = 0
        self.timed_out = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        inner = self.runner.server
        assert inner is not None

        def factory() -> asyncio.Protocol:
            protocol: Any = inner()
            return _Guard(protocol, self)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory, host, port, reuse_address=True, backlog=self.cap
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def cleanup(self) -> None:
        if self._server is not None:
            self._server.close()
            for guard in list(self.open):
                if guard.transport is not None:
                    guard.transport.close()
            await self._server.wait_closed()
        await self.runner.cleanup()


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int = MAX_CONNECTIONS,
    header_timeout: float = HEADER_TIMEOUT_S,
) -> GuardedServer:
    soft = raise_file_limit()
    cap = connection_cap(soft, max_connections)
    if cap < max_connections:
        log.warning(
            "few open files allowed: fewer connections served at once",
            open_files=soft,
            connections=cap,
        )
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_S)
    await runner.setup()
    server = GuardedServer(runner, cap, header_timeout)
    try:
        await server.start(host, port)
    except BaseException:
        await runner.cleanup()
        raise
    return server
