"""This replica's share (monitor/share.py): the renewer keeps the leases while the event loop is
busy, and lets them run out when the loop is stuck, so that another replica takes the hubs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

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


class _Failing:
    """One part of the store (its leases, its heartbeats) as a replica reaches it: every call
    fails while the database is away, as SQLAlchemy fails it."""

    def __init__(self, part: object, away: Away) -> None:
        self._part = part
        self._away = away

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._part, name)

        def reached(*args: Any, **kwargs: Any) -> Any:
            if self._away.down:
                raise OperationalError(
                    "UPDATE leases", {}, Exception("server closed the connection")
                )
            return call(*args, **kwargs)

        return reached


class Away:
    """The store as the first replica reaches it: the database may go away (a restart, a
    failover) for this replica while the other still reaches it."""

    def __init__(self, store: Store) -> None:
        self.down = False
        self.engine = store.engine
        self.leases = _Failing(store.leases, self)
        self.replicas = _Failing(store.replicas, self)


def _restart(tmp_path: Path, outage: float) -> tuple[list[str], list[dict[str, Any]]]:
    """Two replicas on one store; the database goes away for the first (only) half a second
    before its renewal is due, the worst moment: the leases were renewed a third of the lease
    before. Time is the replicas' clock, stepped by the test: the renewer's tries as it would
    make them, the other replica looking for free hubs every half second. Returns what the
    other took and the first's log."""
    ttl = 30.0
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    now = [1000.0]

    def clock() -> float:
        return now[0]

    away = Away(store)
    reached = cast(Store, away)
    hooks = Hooks()
    first = Share(
        LeaseKeeper(reached, ttl, "first", clock),
        HubLeases(reached, ttl, "first", clock=clock),
        hooks,
        stuck_after=1e9,  # the event loop is not part of this: it does not go round here
    )
    other = HubLeases(store, ttl, "second", clock=clock)
    taken: list[str] = []
    try:
        asyncio.run(first.tick())
        assert hooks.taken == ["a"] and first.sending
        assert not other.tick(["a"]).gained
        asyncio.run(first.tick())  # sees the other: no longer alone, it lets hubs go
        assert first.hubs.replicas == 2
        start = now[0]
        with capture_logs() as logs:
            renew_at = start + first.renew_now()
            down_at = renew_at - 0.5
            # Until the lease renewed last before the outage would have run out, and beyond.
            while now[0] < max(start + ttl, down_at + outage) + ttl / 3 and not taken:
                now[0] += 0.5
                away.down = down_at <= now[0] < down_at + outage
                taken += other.tick(["a"]).gained
                if now[0] >= renew_at:
                    renew_at = now[0] + first.renew_now()
        asyncio.run(first.tick())  # the loop's round reports what the renewer found lost
        assert hooks.dropped == taken, (hooks.dropped, taken)
        return taken, logs
    finally:
        first.stop()


def test_a_database_restart_shorter_than_two_thirds_of_the_lease_costs_no_hub(
    tmp_path: Path,
) -> None:
    """The renewer tries again a second after the store did not answer, so the leases are
    renewed as soon as the database is back, not up to a third of the lease later, by when the
    other replica may have taken them: 19 s of the default 30 s (README, lease_ttl's text)."""
    taken, logs = _restart(tmp_path, outage=18.5)
    assert taken == [], "the other replica took the hub during a database restart of 18.5 s"
    # Tried every second, said at once and once a third of the lease; then back.
    said = [e["event"] for e in logs if "store's leases" in e["event"]]
    assert said == ["cannot reach the store's leases"] * 2 + [
        "the store's leases are reachable again"
    ], said
    assert not [e for e in logs if "renewed late" in e["event"]]


def test_a_database_away_longer_than_the_lease_lets_the_hub_go_to_the_other(
    tmp_path: Path,
) -> None:
    taken, _ = _restart(tmp_path, outage=25.0)
    assert taken == ["a"]
