"""This replica's share of the hubs: its heartbeat and the leases of the hubs it probes.

Every `lease_ttl / 3` the keeper renews the replica's row and its hub leases in the store, then
follows the spread (spread.py): it releases hubs over its quota and takes free ones up to it. A hub
is probed, written and paged for only under its lease's fence, checked inside every write's
transaction, so a replica that lost a hub (paused, cut off, too slow) can never write over the
replica that took it.

When the store does not answer, the keeper keeps its hubs until their leases run out and then lets
them go: a replica cut off from a shared store stops probing and paging within one lease period,
while the others take its hubs once the leases have expired. A lone replica on SQLite is the
exception, as before replicas: nobody else can take over a file that cannot be written, so it keeps
probing and paging from memory.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.monitor.lease import process_started
from loginprobe.monitor.spread import plan
from loginprobe.store import Fence, Store, hub_lease

log = structlog.get_logger("loginprobe")


def default_replica_name() -> str:
    """HOSTNAME-PID-START: START is when the process started (clock ticks since boot), so that a
    container restarted with the pid its last run had (always, behind an init such as tini) is
    told apart from it."""
    pid = os.getpid()
    return f"{socket.gethostname()}-{pid}-{process_started(pid) or 0}"


def replica_is_gone(name: str) -> bool:
    """Is `name` a replica of this machine, named by default, whose process no longer runs? A
    monitor killed with -9 (or its container) and started again takes its hubs at once instead of
    waiting out its own old leases. Another machine's replica is never presumed dead, nor one
    whose process runs. Names of the older form HOSTNAME-PID: gone when the pid does not run."""
    parts = name.rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        host, pid, started = parts
        if host == socket.gethostname():
            return process_started(int(pid)) != started
    host, _, pid = name.rpartition("-")
    if not pid.isdigit() or host != socket.gethostname():
        return False
    return not os.path.exists(f"/proc/{pid}")


NAME_CLASH_SAY_EVERY_S = 300.0


@dataclass
class Change:
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # its lease ran out or passed to another
    released: list[str] = field(default_factory=list)  # over this replica's share: handed back


class HubLeases:
    def __init__(
        self,
        store: Store,
        ttl: float,
        name: str = "",
        location: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.named = bool(name)
        self.name = name or default_replica_name()
        self.location = location
        self.clock = clock
        self.started_at = clock()
        # hub -> the fence of its lease, held by this replica. Replaced, never changed in place:
        # the event loop reads it while the renewer's thread renews.
        self.fences: dict[str, Fence] = {}
        self._lost: set[str] = set()  # found lost by a renewal, for the next tick to report
        self._lock = threading.Lock()
        self.expires_at = 0.0  # when the leases renewed last run out
        self.replicas = 1  # live replicas at the last look (this one included)
        self.shared = not store.engine.dialect.name.startswith("sqlite")
        self._foreign = 0  # beats in a row that found another's start time on this name's row
        self._name_said = -NAME_CLASH_SAY_EVERY_S
        self._unreachable_said = -math.inf
        self._unreachable_since: float | None = None  # the store's leases failed since then

    @property
    def hubs(self) -> set[str]:
        return set(self.fences)

    def fence(self, hub: str) -> Fence | None:
        return self.fences.get(hub)

    def pages_from_memory(self) -> bool:
        """May pages the store could not take go out from memory? Only for a lone replica on
        SQLite, which keeps its hubs and writes them later. Where replicas share the store, a
        replica cut off from it lets its hubs go when its leases run out, and the memory of a
        page sent meanwhile would go with them: no replica would ever send its resolve."""
        return not self.shared and self.replicas <= 1

    def renew(self) -> bool:
        """Renew the heartbeat and the hub leases (the renewer's thread calls this every third
        of the lease, whatever the event loop is busy with); hubs found lost are reported by the
        next tick. False if the store did not answer."""
        with self._lock:
            return self._renew(self.clock())

    def tick(self, hubs: Collection[str]) -> Change:
        """Renew, then follow the spread. Never raises for the store: it says what changed."""
        with self._lock:
            now = self.clock()
            change = Change()
            if self._renew(now):
                try:
                    self._spread(sorted(hubs), now, change)
                except (SQLAlchemyError, OSError) as err:
                    self._unreachable(err)
            change.lost = sorted(self._lost)
            self._lost.clear()
            return change

    def _renew(self, now: float) -> bool:
        """True if the store answered."""
        fences = self.fences
        renewed = self.expires_at - self.ttl
        try:
            other = self.store.replicas.beat(
                self.name, self.ttl, now, self.started_at, self.location
            )
            self._check_name(other, now)
            held = {f.name: f.token for f in fences.values()}
            kept = self.store.leases.renew_all(self.name, held, self.ttl, now)
        except (SQLAlchemyError, OSError) as err:
            self._unreachable(err)
            alone_on_sqlite = not self.shared and self.replicas <= 1
            # The time after the try: a connection that hung may have outlasted the leases.
            if self.fences and not alone_on_sqlite and self.clock() >= self.expires_at:
                self._lost.update(self.fences)
                self.fences = {}
            return False
        if self._unreachable_since is not None:
            log.info(
                "the store's leases are reachable again",
                away_s=round(now - self._unreachable_since, 1),
                hubs_kept=len(self.fences),
            )
            self._unreachable_since = None
            self._unreachable_said = -math.inf  # a new outage is said at once
        elif fences and now - renewed > self.ttl * 2 / 3:
            log.warning(
                "the hub leases are renewed late: this machine or the store is too slow for "
                "lease_ttl, and hubs may pass between replicas",
                late_s=round(now - renewed, 1),
                lease_ttl_s=self.ttl,
            )
        self._lost.update(h for h, f in fences.items() if f.name not in kept)
        self.fences = {h: f for h, f in fences.items() if f.name in kept}
        self.expires_at = now + self.ttl
        return True

    def _check_name(self, other: float | None, now: float) -> None:
        """Two beats in a row found another's start time on this replica's row: a live replica
        shares the name (a `replica` set in a config all replicas read), and the two would take
        each other's hubs. A predecessor restarted under the name is found once, then never."""
        self._foreign = self._foreign + 1 if other is not None else 0
        if self._foreign >= 2 and now - self._name_said >= NAME_CLASH_SAY_EVERY_S:
            self._name_said = now
            log.error(
                "another live replica has this replica's name: give each its own [monitor] "
                "replica (or leave it empty); meanwhile their hubs pass back and forth",
                replica=self.name,
            )

    def _unreachable(self, err: BaseException) -> None:
        """Said at once, then once a third of the lease, however often the renewer tries."""
        now = self.clock()
        if self._unreachable_since is None:
            self._unreachable_since = now
        if now - self._unreachable_said >= self.ttl / 3:
            self._unreachable_said = now
            log.warning("cannot reach the store's leases", error=str(err).splitlines()[0][:300])

    def _spread(self, hubs: list[str], now: float, change: Change) -> None:
        live = [r.name for r in self.store.replicas.live(now)]
        owners = {
            hub: info.holder
            for hub, info in self.store.leases.hubs().items()
            if info.expires_at > now
        }
        # Hubs of a dead predecessor on this machine (killed, restarted) are free at once.
        gone = {
            o
            for h, o in owners.items()
            if h not in self.fences and o != self.name and replica_is_gone(o)
        }
        was = dict(owners)
        owners = {h: o for h, o in owners.items() if o not in gone}
        live = [r for r in live if r == self.name or not replica_is_gone(r)]
        self.replicas = len(set(live) | {self.name})
        for hub in [h for h in self.fences if h not in hubs]:
            self._release(hub)  # removed from the config (its incidents were resolved first)
        p = plan(self.name, hubs, live, owners)
        for hub in p.release:
            if hub in self.fences:
                self._release(hub)
                change.released.append(hub)
        # A named replica restarted: the leases under its own name are its own, from before.
        mine_before = [
            h
            for h in hubs
            if owners.get(h) == self.name and h not in self.fences and h not in p.release
        ]
        take = (mine_before if self.named else []) + p.take
        for hub in take:
            info = self.store.leases.acquire(
                hub_lease(hub),
                self.name,
                self.ttl,
                now,
                steal_from=was.get(hub)
                if was.get(hub) in gone
                else self.name
                if self.named
                else None,
            )
            if info is not None:
                self.fences = {**self.fences, hub: Fence(info.name, info.holder, info.token)}
                change.gained.append(hub)

    def _release(self, hub: str) -> None:
        fence = self.fences.get(hub)
        if fence is not None:
            self.fences = {h: f for h, f in self.fences.items() if h != hub}
            self.store.leases.release(fence)

    def drop(self, hub: str) -> None:
        """The store says the hub's lease is another's now (a write was refused)."""
        with self._lock:
            self.fences = {h: f for h, f in self.fences.items() if h != hub}

    def leave(self) -> None:
        """A clean stop: hand every hub back and leave, so the others take them at once."""
        with self._lock:
            try:
                for hub in list(self.fences):
                    self._release(hub)
                self.store.replicas.leave(self.name)
            except (SQLAlchemyError, OSError):
                pass  # they expire by themselves
            self.fences = {}
