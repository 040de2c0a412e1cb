"""This replica's share (monitor/share.py): the renewer keeps the leases while the event loop is
busy, and lets them run out when the loop is stuck, so that another replica takes the hubs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.replica import HubLeases
from loginprobe.monitor.share import Share
from loginprobe.store import Store

TTL = 1.5  # renewed every 0.5 s: a busy machine may delay a renewal by a second


class Hooks:
    """The monitor's side, reduced to what it was told."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.dropped: list[str] = []

    def wanted(self) -> list[str]:
        return ["a"]

    async def gained(self, hubs: list[str]) -> None:
        self.taken += hubs

    async def lost(self, hub: str, why: str) -> None:
        self.dropped.append(hub)

    def sending(self, on: bool) -> None:
        pass

    async def idle(self) -> None:
        pass


def _taken_by_other(other: HubLeases, blocked_for: float) -> bool:
    """Block the event loop (the fault under test) until `other` takes hub a, or give up."""
    deadline = time.monotonic() + blocked_for
    while time.monotonic() < deadline:
        if "a" in other.tick(["a"]).gained:
            return True
        time.sleep(0.05)
    return False


def _scenario(tmp_path: Path, stuck_after: float, block: float) -> bool:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    hooks = Hooks()

    async def run() -> bool:
        share = Share(
            LeaseKeeper(store, TTL), HubLeases(store, TTL, "first"), hooks, stuck_after=stuck_after
        )
        tasks = await share.start()
        try:
            assert hooks.taken == ["a"]
            other = HubLeases(store, TTL, "second")
            # While the loop runs, the first keeps its hub: the other gets nothing.
            for _ in range(4):
                assert not other.tick(["a"]).gained
                await asyncio.sleep(TTL / 2)
            # Now the loop is stuck: only the renewer's thread runs.
            return _taken_by_other(other, blocked_for=block)
        finally:
            for task in tasks:
                task.cancel()
            share.stop()

    return asyncio.run(run())


def test_a_stuck_event_loop_stops_renewing_so_another_replica_takes_the_hubs(
    tmp_path: Path,
) -> None:
    assert _scenario(tmp_path, stuck_after=1.0, block=2 * TTL + 8 * TTL)


def test_a_busy_but_live_event_loop_keeps_its_hubs_through_the_renewer(tmp_path: Path) -> None:
    # A block of many leases, shorter than the stuck limit: the renewer keeps the leases meanwhile.
    assert not _scenario(tmp_path, stuck_after=30.0, block=5 * TTL)
