"""Leases: one holder at a time, with expiry and a fencing token.

The row named "monitor" is held by the one `probe serve` replica that drains the outbox; each hub's
row (`hub:<name>`) by the replica that probes that hub. The token grows with every new holder. A
holder's writes carry its Fence; `check_fence` runs inside the write's transaction, so a holder
that lost the lease can never write over its successor. The `replicas` table says which replicas
are alive (each renews its row), for spreading the hubs over them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, select, true, tuple_, update
from sqlalchemy.exc import IntegrityError

from loginprobe.store.schema import leases, replicas

HUB_PREFIX = "hub:"


def hub_lease(hub: str) -> str:
    """The name of a hub's lease row."""
    return HUB_PREFIX + hub


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


@dataclass(frozen=True)
class ReplicaInfo:
    name: str
    expires_at: float
    started_at: float
    location: str


class LeaseLost(Exception):
    """Another holder has the lease: this one must stop probing and paging (for what it covers:
    `name` is the lease, "monitor" or `hub:<name>`)."""

    def __init__(
        self, message: str, name: str = "", reason: str = "another replica holds its lease"
    ) -> None:
        super().__init__(message)
        self.name = name
        self.reason = reason  # in the replica's log: why it stopped probing the hub

    @property
    def hub(self) -> str | None:
        return self.name.removeprefix(HUB_PREFIX) if self.name.startswith(HUB_PREFIX) else None


def check_fence(conn: Connection, fence: Fence | Sequence[Fence] | None) -> None:
    """Inside a write transaction: go on only while the lease (every lease given) is still the
    writer's. The update also takes the write lock first (the row's lock on PostgreSQL), so no
    other holder can slip in before the commit."""
    if fence is None:
        return
    for f in [fence] if isinstance(fence, Fence) else fence:
        held = conn.execute(
            update(leases)
            .where(
                leases.c.name == f.name,
                leases.c.holder == f.holder,
                leases.c.token == f.token,
            )
            .values(token=f.token)
        ).rowcount
        if not held:
            raise LeaseLost(f"the {f.name} lease has passed to another holder", f.name)


# Leases renewed by one statement: two parameters each, well under the oldest SQLite's 999.
RENEW_CHUNK = 200


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
        try:
            return self._acquire(name, holder, ttl, now, token, steal_from)
        except IntegrityError:
            return None  # another holder created the lease's row first: it holds it

    def _acquire(
        self,
        name: str,
        holder: str,
        ttl: float,
        now: float,
        token: int | None,
        steal_from: str | None,
    ) -> LeaseInfo | None:
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
            # Compare-and-set on the row as read: the read may run outside the update's
            # transaction (pysqlite begins one only at the first write; PostgreSQL reads
            # committed), and a renewal meanwhile keeps the token but moves the expiry — a
            # takeover must then fail, not steal a lease its holder has just renewed.
            changed = conn.execute(
                update(leases)
                .where(
                    leases.c.name == name,
                    leases.c.holder == row.holder,
                    leases.c.token == row.token,
                    # (A renewal of one's own lease need not compare the expiry: two renewals
                    # by the same holder at once both stand.)
                    true() if mine else leases.c.expires_at == row.expires_at,
                )
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

    def hubs(self) -> dict[str, LeaseInfo]:
        """Every hub's lease (expired ones too), by hub."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(leases).where(leases.c.name.startswith(HUB_PREFIX, autoescape=True))
            ).all()
        return {
            r.name.removeprefix(HUB_PREFIX): LeaseInfo(
                r.name, r.holder, r.token, r.expires_at, r.acquired_at
            )
            for r in rows
        }

    def starting(self, prefix: str) -> dict[str, LeaseInfo]:
        """The leases whose names start with `prefix` (expired ones too), by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(leases).where(leases.c.name.startswith(prefix, autoescape=True))
            ).all()
        return {
            r.name: LeaseInfo(r.name, r.holder, r.token, r.expires_at, r.acquired_at) for r in rows
        }

    def renew_all(self, holder: str, held: Mapping[str, int], ttl: float, now: float) -> set[str]:
        """Renew many leases (name -> the token held) in one transaction; the names still held.
        One statement per RENEW_CHUNK leases where the database says which rows it changed (a
        statement per lease took ~0.4 ms of CPU each: 170 hubs' leases, renewed twice every
        third of `lease_ttl`, kept 1-2% of a core busy)."""
        kept: set[str] = set()
        items = list(held.items())
        with self.engine.begin() as conn:
            if not self.engine.dialect.update_returning:
                for name, token in items:
                    if self._renew_one(conn, holder, name, token, now + ttl):
                        kept.add(name)
                return kept
            for start in range(0, len(items), RENEW_CHUNK):
                chunk = items[start : start + RENEW_CHUNK]
                rows = conn.execute(
                    update(leases)
                    .where(
                        leases.c.holder == holder,
                        tuple_(leases.c.name, leases.c.token).in_(chunk),
                    )
                    .values(expires_at=now + ttl)
                    .returning(leases.c.name)
                )
                kept.update(row.name for row in rows)
        return kept

    @staticmethod
    def _renew_one(conn: Connection, holder: str, name: str, token: int, expires_at: float) -> bool:
        return bool(
            conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder, leases.c.token == token)
                .values(expires_at=expires_at)
            ).rowcount
        )


class Replicas:
    """The replicas' heartbeats: a row each, renewed with its leases."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def beat(
        self, name: str, ttl: float, now: float, started_at: float, location: str
    ) -> float | None:
        """Renew the replica's row; the start time a live row of that name had before, if it was
        another's (a predecessor under the same name, or another replica given this name)."""
        with self.engine.begin() as conn:
            was = conn.execute(
                select(replicas.c.started_at, replicas.c.expires_at).where(replicas.c.name == name)
            ).first()
            changed = conn.execute(
                update(replicas)
                .where(replicas.c.name == name)
                .values(expires_at=now + ttl, started_at=started_at, location=location)
            ).rowcount
            if not changed:
                conn.execute(
                    insert(replicas).values(
                        name=name, expires_at=now + ttl, started_at=started_at, location=location
                    )
                )
        if was is None or was.expires_at <= now or was.started_at == started_at:
            return None
        return float(was.started_at)

    def live(self, now: float) -> list[ReplicaInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(replicas).where(replicas.c.expires_at > now).order_by(replicas.c.name)
            ).all()
        return [ReplicaInfo(r.name, r.expires_at, r.started_at, r.location) for r in rows]

    def leave(self, name: str) -> None:
        """A clean stop: the others spread its hubs at once."""
        with self.engine.begin() as conn:
            conn.execute(delete(replicas).where(replicas.c.name == name))
