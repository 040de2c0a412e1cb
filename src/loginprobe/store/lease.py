"""The lease: one holder of the store at a time, with expiry and a fencing token.

The token grows with every new holder. A holder's writes carry its Fence; `check_fence` runs inside
the write's transaction, so a holder that lost the lease can never write over its successor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select, update

from loginprobe.store.schema import leases


@dataclass(frozen=True)
class Fence:
    """A lease holder's proof: its writes go through only while the lease is still its own."""

    name: str
    holder: str
    token: int


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    token: int
    expires_at: float
    acquired_at: float


class LeaseLost(Exception):
    """Another holder has the lease: this one must stop probing and paging."""


def check_fence(conn: Connection, fence: Fence | None) -> None:
    """Inside a write transaction: go on only while the lease is still the writer's. The update
    also takes the write lock first, so no other holder can slip in before the commit."""
    if fence is None:
        return
    held = conn.execute(
        update(leases)
        .where(
            leases.c.name == fence.name,
            leases.c.holder == fence.holder,
            leases.c.token == fence.token,
        )
        .values(token=fence.token)
    ).rowcount
    if not held:
        raise LeaseLost(f"the {fence.name} lease has passed to another holder")


class Leases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(
        self,
        name: str,
        holder: str,
        ttl: float,
        now: float,
        token: int | None = None,
        steal_from: str | None = None,
    ) -> LeaseInfo | None:
        """Take (or, with the token it holds, renew) the lease; None while another holds it.
        `steal_from`: a holder known to be dead, whose lease is taken before it expires."""
        with self.engine.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
            if row is None:
                conn.execute(
                    insert(leases).values(
                        name=name, holder=holder, token=1, expires_at=now + ttl, acquired_at=now
                    )
                )
                return LeaseInfo(name, holder, 1, now + ttl, now)
            mine = row.holder == holder and row.token == token
            dead = steal_from is not None and row.holder == steal_from
            if not mine and not dead and row.expires_at > now:
                return None
            new_token = row.token if mine else row.token + 1
            acquired_at = row.acquired_at if mine else now
            changed = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.token == row.token)
                .values(
                    holder=holder, token=new_token, expires_at=now + ttl, acquired_at=acquired_at
                )
            ).rowcount
        return LeaseInfo(name, holder, new_token, now + ttl, acquired_at) if changed else None

    def release(self, fence: Fence) -> None:
        """Give the lease up at once (a clean stop): a standby takes over without waiting."""
        with self.engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(
                    leases.c.name == fence.name,
                    leases.c.holder == fence.holder,
                    leases.c.token == fence.token,
                )
                .values(expires_at=0.0)
            )

    def get(self, name: str) -> LeaseInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        if row is None:
            return None
        return LeaseInfo(row.name, row.holder, row.token, row.expires_at, row.acquired_at)
