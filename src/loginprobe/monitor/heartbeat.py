"""Watch the watcher: a dead man's switch for the monitor itself.

Every `interval`, while the monitor says it is healthy, GET the ping URL of a service such as
Healthchecks.io, Cronitor or Dead Man's Snitch; that service pages someone when the pings stop. So
the pings stop whenever the monitor cannot do its job: the process died or is frozen (nothing runs),
or it runs but is unhealthy (no ping is sent). The first ping comes one interval after start, so
a monitor that keeps crashing soon after starting does not keep the switch quiet.

A failed ping (no answer within the timeout, not 2xx) is logged and the next one comes at the next
interval: the switch's own grace period absorbs a lost ping. The URL usually carries the check's
token: it is a secret, never logged (only its host is), and the Redactor masks it everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog

from loginprobe.prober.tlscheck import tls_context

log = structlog.get_logger("loginprobe")

USER_AGENT = "loginprobe-heartbeat"
MAX_TIMEOUT_S = 10.0
# With no [heartbeat] configured, how often to look again (a reload may add one).
IDLE_S = 60.0

Send = Callable[[str, float], Awaitable[None]]  # (url, timeout); raises when the ping failed


@dataclass(frozen=True)
class Target:
    url: str = field(repr=False)
    interval: float


class PingFailed(Exception):
    pass


def host_of(url: str) -> str:
    """What a log line may say about the URL: its scheme and host, never the token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def secret_parts(url: str) -> list[str]:
    """Every form of the URL a log line or an error message might quote, for the Redactor: as
    configured, as an HTTP client normalises it, its path and query, and each part of those that
    looks like a token (8 characters or more, with a digit: Healthchecks.io's UUID, Dead Man's
    Snitch's token, Cronitor's key; not a word like "ping")."""
    parts = [url]
    with contextlib.suppress(httpx.InvalidURL, ValueError):
        parts.append(str(httpx.URL(url)))
    split = urlsplit(url)
    tail = split.path + (f"?{split.query}" if split.query else "")
    if len(tail.strip("/")) >= 4:
        parts.append(tail)
    if split.password:
        parts.append(split.password)
    pieces = [*split.path.split("/"), *(v for _, v in parse_qsl(split.query))]
    parts += [p for p in pieces if len(p) >= 8 and any(c.isdigit() for c in p)]
    return parts


async def http_get(url: str, timeout: float) -> None:
    headers = {"User-Agent": USER_AGENT}
    async with httpx.AsyncClient(timeout=timeout, headers=headers, verify=tls_context()) as client:
        answer = await client.get(url)
    if not answer.is_success:
        raise PingFailed(f"answered HTTP {answer.status_code}")


class Heartbeat:
    """`target()` is read at every beat, so a reload that changes or removes [heartbeat] takes
    effect at the next one; `healthy()` decides whether this beat pings."""

    def __init__(
        self,
        target: Callable[[], Target | None],
        healthy: Callable[[], bool],
        send: Send = http_get,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.target = target
        self.healthy = healthy
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self.sent = 0
        self.withholding = False
        self.stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stopped = False
        self._task = asyncio.create_task(self.run(), name="heartbeat")

    async def stop(self) -> None:
        """No ping after this returns. The flag, not only the cancel: a cancel that lands as a
        ping completes can be lost in the HTTP client's own cancel scopes."""
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=MAX_TIMEOUT_S + 2)
            self._task = None

    async def run(self) -> None:
        began = self.clock()
        while not self.stopped:
            target = self.target()
            period = target.interval if target is not None else IDLE_S
            # Start to start: a slow ping does not stretch the interval.
            await self.sleep(max(0.0, began + period - self.clock()))
            began = self.clock()
            try:
                await self.beat()
            except Exception as err:  # the switch must not die of a bug: it would go quiet
                log.error("heartbeat failed", exc_info=err)

    async def beat(self) -> bool:
        """One beat: ping if there is a target and the monitor is healthy. Whether it pinged."""
        target = self.target()
        if target is None or self.stopped:
            return False
        if not self.healthy():
            if not self.withholding:
                log.warning(
                    "heartbeat withheld: the monitor is not healthy", target=host_of(target.url)
                )
            self.withholding = True
            return False
        if self.withholding:
            log.info("heartbeat resumed: the monitor is healthy again", target=host_of(target.url))
            self.withholding = False
        timeout = min(MAX_TIMEOUT_S, target.interval / 2)
        try:
            async with asyncio.timeout(timeout + 1):  # the client's own timeout, and a backstop
                await self.send(target.url, timeout)
        except (httpx.HTTPError, PingFailed, TimeoutError, OSError) as err:
            log.warning(
                "heartbeat ping failed; the next one comes at the next interval",
                target=host_of(target.url),
                error=f"{type(err).__name__}: {err}"[:300],
            )
            return False
        self.sent += 1
        return True
