"""The browser pool's watchdog leaves nothing behind: its listener on the shared browser goes
with each probe, and a probe whose wait is cancelled (the monitor stops) is cancelled too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from loginprobe.model import ProbeResult
from loginprobe.monitor.pool import BrowserPool
from loginprobe.prober.journey import BrowserGone


class FakeBrowser:
    """The edge: only what the watchdog uses of a Playwright Browser."""

    def __init__(self) -> None:
        self.listeners: list[tuple[str, Callable[[object], None]]] = []
        self.watched = asyncio.Event()

    def on(self, event: str, listener: Callable[[object], None]) -> None:
        self.listeners.append((event, listener))
        self.watched.set()

    def remove_listener(self, event: str, listener: Callable[[object], None]) -> None:
        self.listeners.remove((event, listener))

    def disconnect(self) -> None:
        for _, listener in list(self.listeners):
            listener(self)


def test_a_probe_whose_wait_is_cancelled_is_cancelled_and_leaves_no_listener() -> None:
    async def main() -> None:
        browser = FakeBrowser()
        cancelled = asyncio.Event()

        async def probe() -> ProbeResult:
            try:
                await asyncio.Event().wait()  # a probe still walking
            except asyncio.CancelledError:
                cancelled.set()
                raise
            raise AssertionError("unreachable")

        watch = asyncio.ensure_future(BrowserPool("", 1)._watch(probe(), browser, 60.0))  # type: ignore[arg-type]
        await browser.watched.wait()
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await asyncio.wait_for(cancelled.wait(), 5)
        assert browser.listeners == []

    asyncio.run(main())


def test_a_browser_death_ends_the_wait_and_leaves_no_listener() -> None:
    async def main() -> Any:
        browser = FakeBrowser()

        async def probe() -> ProbeResult:
            await asyncio.Event().wait()  # a Playwright call that never returns once Chromium died
            raise AssertionError("unreachable")

        watch = asyncio.ensure_future(BrowserPool("", 1)._watch(probe(), browser, 60.0))  # type: ignore[arg-type]
        await browser.watched.wait()
        browser.disconnect()
        outcome = await asyncio.wait_for(watch, 10)
        assert isinstance(outcome, BrowserGone)
        assert browser.listeners == []

    asyncio.run(main())
