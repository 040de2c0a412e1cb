"""This replica's share of the work, kept up to date: the hubs it holds leases on, and the outbox
for the one replica holding the store's "monitor" lease.

    renewer thread ─ every lease_ttl / 3 ─▶ renew the heartbeat, the hub leases, the "monitor" lease
                     (a second after a try the store did not answer: a restart or failover of
                     the database shorter than two thirds of the lease, less that second, costs
                     no hub)
    event loop     ─ every lease_ttl / 3 ─▶ tick: renew or take the "monitor" lease, follow the
                                             spread (replica.py) ─▶ the monitor's hooks: hubs
                                             gained, hubs lost, the outbox started or stopped

Renewing runs on a thread of its own so that a busy event loop does not cost a live replica its
hubs; what the leases' changes mean (start probing, stop, take up the tracks) is the loop's. A loop
that no longer comes round (stuck) stops the renewals, so the other replicas take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import structlog

from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.replica import HubLeases

log = structlog.get_logger("loginprobe")

T = TypeVar("T")
# The event loop has not come round to the leases for this long (or two leases): it is stuck.
LOOP_STUCK_S = 60.0
# A renewal the store did not answer is tried again this soon (or at a third of the lease, if
# sooner): the leases are renewed within a second of the database coming back, not up to a third
# of the lease later, when the other replicas may already have taken them.
RETRY_S = 1.0


class Hooks(Protocol):
    """What the monitor does when its share changes (each called on the event loop)."""

    def wanted(self) -> list[str]:
        """The hubs to hold leases for (the config's, and any still finishing)."""

    async def gained(self, hubs: list[str]) -> None:
        """Take up where the hubs' last holder left off, and start probing them."""

    async def lost(self, hub: str, why: str) -> None:
        """No more probes, writes or pages about the hub."""

    def sending(self, on: bool) -> None:
        """This replica starts (True) or stops (False) draining the outbox."""

    async def idle(self) -> None:
        """The first round of the leases gave this replica no hub: it stands by."""


class Share:
    def __init__(
        self, lease: LeaseKeeper, hubs: HubLeases, hooks: Hooks, stuck_after: float = LOOP_STUCK_S
    ) -> None:
        self.lease = lease
        self.hubs = hubs
        self.hooks = hooks
        self.sending = False  # the outbox was started on the "monitor" lease
        self.stopping = False
        self.started = False  # the first round of the leases has run
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="leases")
        self._renewer_stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="renewer", daemon=True)
        self._loop_seen = time.monotonic()  # the event loop's last round of the leases
        self._stuck_after = stuck_after

    async def start(self) -> list[asyncio.Task[None]]:
        """The first round at once (a lone monitor starts probing at once), then a round every
        third of the lease, and the renewer; returns the tasks on the loop."""
        await self.tick()
        self._renewer.start()
        return [
            asyncio.create_task(self._rounds(), name="leases"),
            asyncio.create_task(self._pulse(), name="loop-pulse"),
        ]

    async def _pulse(self) -> None:
        """The loop's sign of life for the renewer: a round waiting on a busy store is not a
        stuck loop; a loop that no longer comes round to this is."""
        while not self.stopping:
            self._loop_seen = time.monotonic()
            await asyncio.sleep(1.0)

    def stop(self) -> None:
        """Hand every hub and the outbox over (the monitor has stopped probing and sending)."""
        self.stopping = True
        self._renewer_stop.set()
        if self._renewer.is_alive():
            # A renewal under way would extend the lease again after its release below.
            self._renewer.join(timeout=10.0)
        self.hubs.leave()
        if self.lease.held:
            self.lease.release()
        self._thread.shutdown(wait=False)

    def wake(self) -> None:
        """Run a round soon (a reload added or removed hubs)."""
        self._wake.set()

    async def _rounds(self) -> None:
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.lease.ttl / 3)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.error("keeping the leases failed", exc_info=True)

    def _renew(self) -> None:
        """The renewer's thread: every third of the lease, whatever the event loop is busy with.
        Taking and handing back hubs, and acting on what was lost, is the loop's `tick`."""
        wait = self.lease.ttl / 3
        while not self._renewer_stop.wait(wait) and not self.stopping:
            wait = self.renew_now()

    def renew_now(self) -> float:
        """Renew the heartbeat and the leases once, as the renewer does; returns the seconds
        until the next renewal (sooner when the store did not answer)."""
        every = self.lease.ttl / 3
        stuck = time.monotonic() - self._loop_seen
        if stuck > max(2 * self.lease.ttl, self._stuck_after):
            # A loop that no longer runs probes nor pages must not keep its hubs and the
            # outbox from the other replicas: let the leases run out.
            log.error("the event loop is stuck: not renewing the leases", stuck_s=round(stuck))
            return every
        try:
            answered = self.hubs.renew()
            if self.lease.held:
                # "lost": the loop's next tick stops the outbox
                answered = self.lease.renew() != "unknown" and answered
        except Exception:  # a bug, not the store away: tried again a round later, not at once
            log.error("renewing the leases failed", exc_info=True)
            return every
        return every if answered else min(RETRY_S, every)

    async def tick(self) -> None:
        """Renew or take the outbox's lease, then this replica's share of the hubs."""
        if self.stopping:
            return
        if self.sending and not self.lease.held:
            self.outbox_lost()  # found lost by the renewer
        if self.lease.held:
            if await self.off_loop(self.lease.renew) == "lost":
                self.outbox_lost()
        elif await self.off_loop(self.lease.acquire):
            self.sending = True
            self.hooks.sending(True)
        wanted = self.hooks.wanted()
        change = await self.off_loop(lambda: self.hubs.tick(wanted))
        for hub in change.lost:
            await self.hooks.lost(hub, "its lease ran out or passed to another replica")
        for hub in change.released:
            await self.hooks.lost(hub, "handed back: over this replica's share of the hubs")
        if change.gained:
            await self.hooks.gained(change.gained)
        if not self.started:
            self.started = True
            if not self.hubs.hubs:
                await self.hooks.idle()

    def outbox_lost(self) -> None:
        """Another replica drains the outbox now (found by a renewal or a refused write)."""
        if self.lease.info is not None or self.sending:
            log.error("another replica drains the outbox now: this one sends no more pages")
        self.lease.info = None
        if self.sending:
            self.sending = False
            self.hooks.sending(False)

    async def off_loop(self, work: Callable[[], T]) -> T:
        """The leases' own thread: a renewal never queues behind the probes' database work in
        the shared worker threads (a busy store must not cost a replica its hubs)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)
