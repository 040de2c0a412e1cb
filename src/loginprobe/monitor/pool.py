"""The browser pool: one shared Chromium, at most `concurrency` probes in it at once, each in a
fresh context; relaunched when it dies; a probe that hangs past its limit is cut.

A probe the browser took down (a crash, a hang) is the prober's failure, never the hub's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Playwright, async_playwright

from loginprobe.model import ProbeResult
from loginprobe.prober.browser import open_browser
from loginprobe.prober.journey import BrowserGone
from loginprobe.prober.scratch import ScratchDir

# A probe past its own timeout by this much is hung (a wedged browser): cut it.
HANG_GRACE_S = 15.0

ProbeFn = Callable[[Browser, Path | None], Coroutine[Any, Any, ProbeResult]]


class BrowserPool:
    def __init__(self, executable: str, concurrency: int) -> None:
        self.executable = executable
        self._slots = asyncio.Semaphore(concurrency)
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._traces_dir: Path | None = None

    async def start(self) -> None:
        self._pw = await async_playwright().start()

    async def stop(self) -> None:
        await self.close_browser()
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await self._pw.stop()

    async def run(self, probe: ProbeFn, limit: float) -> ProbeResult | Exception:
        """Run `probe(browser, traces_dir)` in a slot; its result, or why there is none."""
        async with self._slots:
            try:
                browser = await self._ensure_browser()
                result = await self._watch(probe(browser, self._traces_dir), browser, limit)
            except Exception as err:
                result = err
            browser_dead = self._browser is not None and not self._browser.is_connected()
            if isinstance(result, Exception) and browser_dead:
                await self.close_browser()
            return result

    async def _watch(
        self, probe: Coroutine[Any, Any, ProbeResult], browser: Browser, limit: float
    ) -> ProbeResult | Exception:
        """Run a probe, but stop waiting the moment its browser dies or it hangs past `limit`:
        some Playwright calls in flight when Chromium dies never return."""
        gone = asyncio.get_running_loop().create_future()

        def on_disconnect(_: object) -> None:
            if not gone.done():
                gone.set_result(None)

        browser.on("disconnected", on_disconnect)
        task = asyncio.ensure_future(probe)
        try:
            done, _ = await asyncio.wait(
                {task, gone}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            browser.remove_listener("disconnected", on_disconnect)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=5)  # let it unwind; its outcome no longer matters
        if gone in done:
            return BrowserGone("the browser died during the probe")
        await self.close_browser()  # a wedged browser is no use to the next probe
        return TimeoutError(f"the probe hung {HANG_GRACE_S:g}s past its timeout")

    async def _ensure_browser(self) -> Browser:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            await self._close_unlocked()
            assert self._pw is not None
            # Playwright's working files of traces, private and gone with the browser (or, if
            # this process is killed, at the next start: scratch.sweep).
            self._traces_dir = self._stack.enter_context(ScratchDir("traces"))
            self._browser = await self._stack.enter_async_context(
                open_browser(self._pw, self.executable, self._traces_dir)
            )
            return self._browser

    async def close_browser(self) -> None:
        async with self._lock:
            await self._close_unlocked()

    async def _close_unlocked(self) -> None:
        self._browser = None
        self._traces_dir = None
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        self._stack = AsyncExitStack()
