"""One holder at a time: the store's lease, kept by the monitor that probes and pages.

A second `probe serve` on the same store stands by and takes over within one lease period
(`lease_ttl`, renewed every third of it) when the holder dies; a clean stop hands it over at once.
Every write of the holder carries the lease's fencing token (store.Fence), so a holder that lost
the lease (paused, cut off) can never write over its successor, and it sends nothing to PagerDuty
unless its lease is good for a while yet.

When the lease cannot be renewed because the store fails (a full disk, a read-only file), a SQLite
store cannot be taken over by anyone else either: the holder keeps probing and paging from memory.
A shared database (PostgreSQL) can be: there the holder stands down once its lease has expired.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.store import Fence, LeaseInfo, Store

log = structlog.get_logger("loginprobe")

LEASE_NAME = "monitor"
Renewal = Literal["held", "lost", "unknown"]


_HOLDER = re.compile(
    r" on (?P<host>\S+) \(pid (?P<pid>\d+), started (?P<started>\d+), (?P<id>[0-9a-f]+)\)$"
)


def process_started(pid: int) -> str | None:
    """When the process started (clock ticks since boot, from /proc), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def holder_name(what: str = "probe serve") -> str:
    pid = os.getpid()
    started = process_started(pid) or "0"
    return (
        f"{what} on {socket.gethostname()} (pid {pid}, started {started}, {uuid.uuid4().hex[:8]})"
    )


def holder_is_gone(holder: str, me: str) -> bool:
    """Is the holder a process of this machine that no longer runs? (A monitor killed with -9 and
    restarted, its container too: its successor need not wait out the lease.) A holder on another
    machine is never presumed dead; a pid that now belongs to a process started at another time
    (a container's restarted pid 1, say) is."""
    theirs, mine = _HOLDER.search(holder), _HOLDER.search(me)
    if theirs is None or mine is None or theirs["host"] != mine["host"]:
        return False
    return process_started(int(theirs["pid"])) != theirs["started"]


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        ttl: float,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.holder = holder or holder_name()
        self.clock = clock
        self.info: LeaseInfo | None = None
        self.shared = not store.engine.dialect.name.startswith("sqlite")

    @property
    def held(self) -> bool:
        return self.info is not None

    def fence(self) -> Fence | None:
        info = self.info
        return Fence(info.name, info.holder, info.token) if info is not None else None

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or its holder is gone (or renew it, if held)."""
        token = self.info.token if self.info is not None else None
        try:
            current = self.store.leases.get(LEASE_NAME)
            gone = (
                current.holder
                if current is not None
                and current.holder != self.holder
                and holder_is_gone(current.holder, self.holder)
                else None
            )
            info = self.store.leases.acquire(
                LEASE_NAME, self.holder, self.ttl, self.clock(), token, steal_from=gone
            )
        except (SQLAlchemyError, OSError) as err:
            log.warning("cannot reach the store's lease", error=str(err).splitlines()[0][:300])
            return False
        if info is not None:
            self.info = info
        return info is not None

    def renew(self) -> Renewal:
        """held: renewed; lost: another holder has it; unknown: the store did not answer.
        (The renewer's thread calls this too: it reads `info` once.)"""
        held = self.info
        if held is None:
            return "lost"
        try:
            info = self.store.leases.acquire(
                LEASE_NAME, self.holder, self.ttl, self.clock(), held.token
            )
        except (SQLAlchemyError, OSError):
            if self.shared and self.clock() > held.expires_at:
                self.info = None
                return "lost"  # a shared database may have given it to another replica by now
            return "unknown"
        if info is None or info.token != held.token:
            self.info = None
            return "lost"
        if self.info is held:  # not let go meanwhile
            self.info = info
        return "held"

    def may_send(self) -> bool:
        """Good for a while yet, and the store (when it can be read) still names this holder: a
        page is never sent on a lease that has passed, or is about to pass, to another."""
        info = self.info
        if info is None:
            return False
        if self.shared and self.clock() >= info.expires_at - self.ttl / 3:
            return False
        current = self.current_holder()
        return current is None or (current.holder, current.token) == (info.holder, info.token)

    def release(self) -> None:
        fence = self.fence()
        self.info = None
        if fence is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):  # else it expires by itself
                self.store.leases.release(fence)

    def current_holder(self) -> LeaseInfo | None:
        try:
            return self.store.leases.get(LEASE_NAME)
        except (SQLAlchemyError, OSError):
            return None
