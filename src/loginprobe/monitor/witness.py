"""Witnesses: with `[monitor] quorum` above 1, every hub is also probed from every other location.

A hub's own replica (the holder of `hub:<name>`, spread over all replicas of all locations) probes
it and runs its incidents. Each *other* location where a replica is alive has one replica holding
the hub's witness lease (`watch:<hub>@<location>`, spread over that location's live replicas
like the hubs: spread.py); it probes the hub every interval in the same browser pool and records
what it saw as the location's *sighting* (store: `sightings`) — no tracks, no pages. The hub's
replica reads the sightings before each reaction: its page goes out only when enough locations
see the hub fail (tracks/shared.py, `failing_from`).

A witness lease is a plain lease row: nothing is fenced on it (two witnesses of one location
during a handover write the same row, the latest wins), so a witness that falls behind costs a
sighting, never a wrong page.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.model import ProbeResult
from loginprobe.monitor.runner import ProbeRunner
from loginprobe.monitor.scheduler import Scheduler
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.spread import plan
from loginprobe.monitor.tracks.shared import Sighting, sighting_of
from loginprobe.store import Fence, Store

log = structlog.get_logger("loginprobe")

WATCH_PREFIX = "watch:"


def watch_lease(hub: str, location: str) -> str:
    """The name of the lease of a hub's witness in a location."""
    return f"{WATCH_PREFIX}{hub}@{location}"


def watch_job_id(hub: str) -> str:
    return f"watch:{hub}"


@dataclass
class WatchChange:
    gained: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # lost, handed back, or no longer needed


def to_watch(
    hubs: Collection[str], owners: dict[str, str], where: dict[str, str], location: str
) -> list[str]:
    """The hubs this location witnesses (pure): those whose own replica (`owners`: hub -> the
    holder of its lease) is alive in another location (`where`: replica -> its location). A hub
    nobody holds now (between two holders) waits for its next holder."""
    return sorted(h for h in hubs if h in owners and where.get(owners[h], location) != location)


class WitnessLeases:
    """This replica's share of its location's witness leases (the store's side; runs in a
    worker thread)."""

    def __init__(
        self,
        store: Store,
        ttl: float,
        name: str,
        location: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.name = name
        self.location = location
        self.clock = clock
        self.fences: dict[str, Fence] = {}  # hub -> the fence of its witness lease

    @property
    def hubs(self) -> set[str]:
        return set(self.fences)

    def tick(self, hubs: Collection[str]) -> WatchChange:
        """Renew, then follow the spread of the location's witness leases. Never raises for the
        store: it keeps what it had until the leases run out."""
        change = WatchChange()
        now = self.clock()
        try:
            self._tick(sorted(hubs), now, change)
        except (SQLAlchemyError, OSError) as err:
            log.warning("cannot reach the store's witness leases", error=str(err)[:300])
        return change

    def _tick(self, hubs: list[str], now: float, change: WatchChange) -> None:
        held = {f.name: f.token for f in self.fences.values()}
        kept = self.store.leases.renew_all(self.name, held, self.ttl, now) if held else set()
        for hub in [h for h, f in self.fences.items() if f.name not in kept]:
            del self.fences[hub]
            change.dropped.append(hub)
        live = self.store.replicas.live(now)
        where = {r.name: r.location for r in live} | {self.name: self.location}
        here = [r for r, loc in where.items() if loc == self.location]
        owners = {
            hub: info.holder
            for hub, info in self.store.leases.hubs().items()
            if info.expires_at > now
        }
        watch = to_watch(hubs, owners, where, self.location)
        suffix = f"@{self.location}"
        watchers = {
            name.removeprefix(WATCH_PREFIX).removesuffix(suffix): info.holder
            for name, info in self.store.leases.starting(WATCH_PREFIX).items()
            if name.endswith(suffix) and info.expires_at > now
        }
        p = plan(self.name, watch, here, watchers)
        for hub in [h for h in self.fences if h not in watch] + p.release:
            self._release(hub, change)
        # Witness leases still under this name from before a restart are its own.
        mine_before = [h for h in watch if watchers.get(h) == self.name and h not in self.fences]
        for hub in [*mine_before, *p.take]:
            if hub in p.release:
                continue
            info = self.store.leases.acquire(
                watch_lease(hub, self.location), self.name, self.ttl, now, steal_from=self.name
            )
            if info is not None:
                self.fences[hub] = Fence(info.name, info.holder, info.token)
                change.gained.append(hub)

    def _release(self, hub: str, change: WatchChange) -> None:
        fence = self.fences.pop(hub, None)
        if fence is not None:
            self.store.leases.release(fence)
            change.dropped.append(hub)

    def leave(self) -> None:
        with contextlib.suppress(SQLAlchemyError, OSError):
            for hub in list(self.fences):
                self._release(hub, WatchChange())
        self.fences = {}


class Witness:
    """Probes the hubs this replica witnesses and records what its location saw."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        scheduler: Scheduler,
        runner: ProbeRunner,
        name: Callable[[], str],
        location: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler
        self.runner = runner
        self.location = location
        c = settings().loaded.config
        self.leases = WitnessLeases(store, c.monitor.lease_ttl, name(), location())
        self.stopping = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[object]] = {}  # hub -> its witness probe running

    @property
    def hubs(self) -> set[str]:
        return self.leases.hubs

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name="witness")

    async def stop(self) -> None:
        self.stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for hub in self.leases.hubs:
            self.scheduler.cancel(watch_job_id(hub))
        running = list(self._running.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)
        await asyncio.to_thread(self.leases.leave)

    def wake(self) -> None:
        self._wake.set()

    async def _keep(self) -> None:
        while not self.stopping:
            try:
                await self.round()
            except Exception:
                log.error("keeping the witness leases failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.leases.ttl / 3)
            self._wake.clear()

    async def round(self) -> WatchChange:
        """One round of the witness leases: take this replica's share, start and stop probing."""
        m = self.settings().loaded.config.monitor
        if m.quorum <= 1 and not self.leases.fences:
            return WatchChange()  # no quorum: nothing to witness, nothing to ask the store
        self.leases.ttl = m.lease_ttl
        self.leases.location = self.location()
        hubs = list(self.settings().loaded.config.hubs) if m.quorum > 1 else []
        change = await asyncio.to_thread(self.leases.tick, hubs)
        for hub in change.dropped:
            self.scheduler.cancel(watch_job_id(hub))
            task = self._running.get(hub)
            if task is not None:
                task.cancel()
        for hub in change.gained:
            self._schedule(hub, random.uniform(0, min(self.settings().interval(hub) / 4, 5.0)))
        if change.gained or change.dropped:
            log.info(
                "witnessing hubs for this location",
                location=self.location(),
                hubs=sorted(self.leases.hubs),
                gained=change.gained,
                dropped=change.dropped,
            )
        return change

    def _schedule(self, hub: str, delay: float) -> None:
        if not self.stopping and hub in self.leases.hubs:
            self.scheduler.run_later(watch_job_id(hub), delay, self._watch_job, hub)

    async def _watch_job(self, hub: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        began = time.monotonic()
        delay = self.settings().interval(hub)
        self._running[hub] = task
        try:
            if hub not in self.leases.hubs or hub not in self.settings().loaded.config.hubs:
                return
            result = await self.probe(hub)
            delay = await self.record(result)
        except asyncio.CancelledError:
            if not self.stopping and hub in self.leases.hubs:
                raise
            # Cancelled by a stop or a hub no longer witnessed here: expected.
        finally:
            if self._running.get(hub) is task:
                del self._running[hub]
            self._schedule(hub, max(1.0, delay - (time.monotonic() - began)))

    async def probe(self, hub: str) -> ProbeResult:
        """One probe, in the same browser pool and with the same evidence as the hub's own."""
        result, _ = await self.runner.run(hub, due=time.monotonic(), retry=False)
        return result

    async def record(self, result: ProbeResult) -> float:
        """Record the location's sighting; say when this location alone sees the hub fail. The
        delay to the next probe: `retry_after_failure` while another location sees the hub fail
        (its replica waits for this location's word to page), else the hub's interval."""
        s = self.settings()
        m = s.loaded.config.monitor
        hub, here = result.hub, self.location()
        mine = sighting_of(result, here, self.leases.name, s.redactor.text)
        try:
            await asyncio.to_thread(self.store.sightings.record, mine)
            seen = await asyncio.to_thread(self.store.sightings.of, hub)
        except (SQLAlchemyError, OSError):
            log.warning("cannot record this location's sighting of a hub", hub=hub, location=here)
            return s.interval(hub)
        window = 2 * s.interval(hub) + m.failures_to_alert * (m.retry_after_failure + m.timeout)
        others = [x for x in seen if x.location != here and x.says_something and fresh(x, window)]
        if not mine.ok and mine.says_something and others and all(x.ok for x in others):
            log.warning(
                f"{hub} fails from location {here} only (the others see it work): likely "
                f"{here}'s network, not the hub",
                hub=hub,
                location=here,
                verdict=mine.code,
                summary=mine.summary,
                works_from=sorted(x.location for x in others),
            )
        else:
            log.info("witness probe", hub=hub, location=here, verdict=mine.code)
        failing_elsewhere = any(not x.ok for x in others)
        return m.retry_after_failure if failing_elsewhere else s.interval(hub)


def fresh(s: Sighting, window_s: float, now: float | None = None) -> bool:
    return (time.time() if now is None else now) - s.at <= window_s
