"""The browser pool: one shared Chromium, at most `concurrency` probes in it at once, each in a
fresh context; relaunched when it dies; a probe that hangs past its limit is cut.

A probe the browser took down (it died, hung or would not start) is the prober's failure, never the
hub's; the outcome names the browser's generation, so that one death counts once however many
probes it took with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from playwright.async_api import Browser, Playwright, async_playwright

from loginprobe.model import Code, ProbeResult
from loginprobe.prober.browser import open_browser
from loginprobe.prober.journey import BrowserGone
from loginprobe.prober.scratch import ScratchDir

# A probe past its own timeout by this much is hung (a wedged browser): cut it.
HANG_GRACE_S = 15.0
# A confirming retry queues as if due this much earlier than it is: ahead of probes that fell due
# within the last minute, behind one that has waited longer (a fleet of failing hubs cannot starve
# the healthy ones of their probes).
RETRY_HEAD_START_S = 60.0

ProbeFn = Callable[[Browser, Path | None], Coroutine[Any, Any, ProbeResult]]


class Launcher(Protocol):
    """Opens browsers for the pool: Chromium through Playwright, or a fake in tests."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def open(
        self, executable: str, traces_dir: Path | None
    ) -> AbstractAsyncContextManager[Browser]: ...


class Chromium:
    """The real launcher: Playwright (its driver started once) and prober.browser.open_browser."""

    def __init__(self) -> None:
        self._pw: Playwright | None = None

    async def start(self) -> None:
        self._pw = await async_playwright().start()

    async def stop(self) -> None:
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await self._pw.stop()
            self._pw = None

    def open(
        self, executable: str, traces_dir: Path | None
    ) -> AbstractAsyncContextManager[Browser]:
        if self._pw is None:
            raise RuntimeError("the browser pool is not started")
        return open_browser(self._pw, executable, traces_dir)


@dataclass(frozen=True)
class Outcome:
    """A probe's result, or the exception that stopped it; `browser_death`: the generation of the
    browser that died, hung or would not start under it (None: the browser was fine)."""

    result: ProbeResult | None
    error: Exception | None = None
    browser_death: int | None = None


class Slots:
    """At most `capacity` probes at once (the capacity can change while it runs: a reload).
    When probes queue for a slot, the one due longest ago goes first, a confirming retry of a
    failing hub counting as due RETRY_HEAD_START_S earlier: retries first, yet no hub starves."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._queue: list[tuple[float, int, float, asyncio.Future[None]]] = []
        self._seq = 0

    def resize(self, capacity: int) -> None:
        self.capacity = capacity
        self._grant()

    def oldest_due(self) -> float | None:
        """When the longest-waiting queued probe was due (None: nobody waits)."""
        waiting = [due for _, _, due, fut in self._queue if not fut.done()]
        return min(waiting) if waiting else None

    def _grant(self) -> None:
        while self._queue and self.in_use < self.capacity:
            _, _, _, fut = heapq.heappop(self._queue)
            if fut.done():
                continue  # its waiter gave up
            self.in_use += 1
            fut.set_result(None)

    def _release(self) -> None:
        self.in_use -= 1
        self._grant()

    @contextlib.asynccontextmanager
    async def hold(self, due: float = 0.0, retry: bool = False) -> AsyncIterator[None]:
        if self.in_use < self.capacity and not self._queue:
            self.in_use += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._seq += 1
            rank = due - RETRY_HEAD_START_S if retry else due
            heapq.heappush(self._queue, (rank, self._seq, due, fut))
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()  # granted just as it was cancelled: hand the slot on
                else:
                    fut.cancel()
                raise
        try:
            yield
        finally:
            self._release()


class BrowserPool:
    def __init__(self, executable: str, concurrency: int, launcher: Launcher | None = None) -> None:
        self.executable = executable
        self.slots = Slots(concurrency)
        self._launcher = launcher or Chromium()
        self._browser: Browser | None = None
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._traces_dir: Path | None = None
        self.generation = 0  # counts launches (attempts included)

    async def start(self) -> None:
        await self._launcher.start()

    async def stop(self) -> None:
        await self.close_browser()
        await self._launcher.stop()

    async def run(
        self, probe: ProbeFn, limit: float, due: float = 0.0, retry: bool = False
    ) -> Outcome:
        """Run `probe(browser, traces_dir)` in a slot (queued by `due`, a monotonic time, a
        confirming `retry` ahead; see Slots); its result, or why there is none."""
        async with self.slots.hold(due, retry):
            try:
                browser, generation = await self._ensure_browser()
            except Exception as err:  # Chromium would not start: the browser's fault
                return Outcome(None, err, self.generation)
            try:
                outcome = await self._watch(probe(browser, self._traces_dir), browser, limit)
            except Exception as err:  # a bug in the probe: its own fault, unless the browser died
                outcome = err
            dead = not browser.is_connected()
            if dead:
                await self._retire(browser)
            if isinstance(outcome, ProbeResult):
                died = dead and outcome.verdict.code is Code.PROBE_ERROR
                return Outcome(outcome, None, generation if died else None)
            hung = isinstance(outcome, TimeoutError)
            return Outcome(None, outcome, generation if (dead or hung) else None)

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
        except asyncio.CancelledError:
            # The probe's owner gave up on it (the monitor stops): so does the probe, or its
            # page and context would live on, unwatched.
            task.cancel()
            raise
        finally:
            browser.remove_listener("disconnected", on_disconnect)
            if not gone.done():
                gone.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=5)  # let it unwind; its outcome no longer matters
        if gone in done:
            return BrowserGone("the browser died during the probe")
        await self._retire(browser)  # a wedged browser is no use to the next probe
        return TimeoutError(f"the probe hung {HANG_GRACE_S:g}s past its timeout")

    async def _ensure_browser(self) -> tuple[Browser, int]:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser, self.generation
            await self._close_unlocked()
            self.generation += 1
            # Playwright's working files of traces, private and gone with the browser (or, if
            # this process is killed, at the next start: scratch.sweep).
            self._traces_dir = self._stack.enter_context(ScratchDir("traces"))
            self._browser = await self._stack.enter_async_context(
                self._launcher.open(self.executable, self._traces_dir)
            )
            return self._browser, self.generation

    async def _retire(self, browser: Browser) -> None:
        """Close this browser if it is still the pool's (another probe may have relaunched)."""
        async with self._lock:
            if self._browser is browser:
                await self._close_unlocked()

    async def close_browser(self) -> None:
        async with self._lock:
            await self._close_unlocked()

    async def _close_unlocked(self) -> None:
        self._browser = None
        self._traces_dir = None
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        self._stack = AsyncExitStack()
