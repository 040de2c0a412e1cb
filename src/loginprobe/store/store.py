"""The store (SQLAlchemy Core): verdict history, incident tracks, and the alert outbox.

A probe's verdict, the tracks it moved and the events it caused are written in one transaction,
so a crash at any point loses nothing and doubles nothing: either all of it happened or none.
An event leaves the outbox only once PagerDuty accepted it. Default: a SQLite file; any SQLAlchemy
URL works. No secret is ever stored (events are stored without the routing key).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url

from loginprobe.monitor.tracks.track import Track

metadata = MetaData()

verdicts = Table(
    "verdicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hub", String(200), nullable=False, index=True),
    Column("code", String(40), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("summary", Text, nullable=False),
    Column("step", String(80)),
    Column("started_at", String(40), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("result", Text, nullable=False),  # the probe's JSON, redacted
)

tracks = Table(
    "tracks",
    metadata,
    Column("key", String(300), primary_key=True),  # the dedup key: loginprobe/<hub>/login, ...
    Column("state", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False),
    Column("event", Text, nullable=False),  # Events API v2 body without routing_key
    Column("created_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Column("rejected", Boolean, nullable=False, default=False),
)


# One holder at a time: `probe serve` holds the row named "monitor" while it probes and pages. The
# token grows with every new holder; every write of the holder checks it (fencing), so a holder that
# lost the lease (paused, cut off) can never write over its successor.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("token", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
)

# Probes handed to the lease holder by `probe run --alert` while a monitor runs: it puts them
# through its own pipeline, so that whoever opens an incident also resolves it.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hub", String(200), nullable=False),
    Column("result", Text, nullable=False),  # the probe's JSON, redacted
    Column("created_at", Float, nullable=False),
    Column("handled_at", Float),
    Column("outcome", Text),  # what the monitor did with it, in words
)


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


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    dedup_key: str
    event: dict[str, Any]
    created_at: float
    attempts: int
    last_error: str | None = None


@dataclass(frozen=True)
class OutboxStats:
    depth: int  # events waiting to be delivered (rejected ones are set aside, not counted)
    oldest_age_s: float  # age of the oldest of those
    rejected: int  # events PagerDuty refused (400), kept for a human: `probe outbox`
    last_error: str | None


class StoreError(Exception):
    pass


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Store:
    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url)
            metadata.create_all(self.engine)
        except Exception as err:  # a bad URL, an unreachable database, a read-only file
            shown = _hide_password(url)
            reason = (str(err).replace(url, shown).splitlines() or [""])[0]
            raise StoreError(f"cannot open the state store {shown!r}: {reason}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- tracks ---------------------------------------------------------------------------------
    def tracks(self) -> dict[str, Track]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tracks.c.key, tracks.c.state)).all()
        return {key: Track.from_json(json.loads(state), key) for key, state in rows}

    # -- one probe, atomically -----------------------------------------------------------------
    def record(
        self,
        result_json: dict[str, Any] | None,
        moved: dict[str, Track],
        events: Iterable[dict[str, Any]],
        now: float,
        now_iso: str,
        fence: Fence | None = None,
    ) -> None:
        """Write a probe's result (ProbeResult.to_json(), already redacted: every column comes
        from it), the tracks it moved and the events it caused, in one transaction."""
        with self.engine.begin() as conn:
            _check_fence(conn, fence)
            if result_json is not None:
                v = result_json["verdict"]
                conn.execute(
                    insert(verdicts).values(
                        hub=result_json["hub"],
                        code=v["code"],
                        severity=v["severity"],
                        summary=v["summary"],
                        step=v["step"],
                        started_at=result_json["started_at"],
                        duration_ms=result_json["duration_ms"],
                        result=json.dumps(result_json),
                    )
                )
            for key, track in moved.items():
                state = json.dumps(track.to_json())
                changed = conn.execute(
                    update(tracks)
                    .where(tracks.c.key == key)
                    .values(state=state, updated_at=now_iso)
                ).rowcount
                if not changed:
                    conn.execute(insert(tracks).values(key=key, state=state, updated_at=now_iso))
            for event in events:
                conn.execute(
                    insert(outbox).values(
                        dedup_key=event["dedup_key"],
                        event=json.dumps(event),
                        created_at=now,
                        attempts=0,
                        next_attempt_at=now,
                        rejected=False,
                    )
                )

    # -- the outbox ----------------------------------------------------------------------------
    def next_event(self, skip: Collection[int] = ()) -> tuple[OutboxEvent, float] | None:
        """The oldest deliverable event and when it is due. Events go out strictly in order, so a
        resolve never overtakes its trigger; rejected events are set aside, not retried. `skip`:
        events already delivered whose removal has not been written yet."""
        query = select(outbox).where(outbox.c.rejected.is_(False))
        if skip:
            query = query.where(outbox.c.id.not_in(list(skip)))
        with self.engine.connect() as conn:
            row = conn.execute(query.order_by(outbox.c.id).limit(1)).first()
        if row is None:
            return None
        return _outbox_event(row), row.next_attempt_at

    def delivered(self, event_id: int, fence: Fence | None = None) -> None:
        with self.engine.begin() as conn:
            _check_fence(conn, fence)
            conn.execute(delete(outbox).where(outbox.c.id == event_id))

    def defer(
        self,
        event_id: int,
        attempts: int,
        next_attempt_at: float,
        error: str,
        fence: Fence | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            _check_fence(conn, fence)
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error)
            )

    def reject(self, event_id: int, error: str, fence: Fence | None = None) -> None:
        """Set an event aside: PagerDuty will never take it as it is (`probe outbox` shows it)."""
        with self.engine.begin() as conn:
            _check_fence(conn, fence)
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(rejected=True, last_error=error)
            )

    def outbox_stats(self, now: float) -> OutboxStats:
        waiting = outbox.c.rejected.is_(False)
        with self.engine.connect() as conn:
            depth, oldest = conn.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(waiting)
            ).one()
            rejected = conn.execute(
                select(func.count()).where(outbox.c.rejected.is_(True))
            ).scalar_one()
            last_error = conn.execute(
                select(outbox.c.last_error)
                .where(outbox.c.last_error.is_not(None))
                .order_by(outbox.c.id.desc())
                .limit(1)
            ).scalar()
        return OutboxStats(
            depth, (now - oldest) if oldest is not None else 0.0, rejected, last_error
        )

    def rejected_events(self) -> list[OutboxEvent]:
        """The events PagerDuty refused, oldest first, with what it said."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.rejected.is_(True)).order_by(outbox.c.id)
            ).all()
        return [_outbox_event(r) for r in rows]

    def retry_rejected(self, event_id: int, now: float) -> bool:
        """Put a rejected event back in line (after fixing what PagerDuty objected to)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id, outbox.c.rejected.is_(True))
                .values(rejected=False, attempts=0, next_attempt_at=now)
            ).rowcount
        return bool(changed)

    def drop_rejected(self, event_id: int) -> bool:
        with self.engine.begin() as conn:
            changed = conn.execute(
                delete(outbox).where(outbox.c.id == event_id, outbox.c.rejected.is_(True))
            ).rowcount
        return bool(changed)

    # -- the lease -------------------------------------------------------------------------------
    def acquire_lease(
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

    def release_lease(self, fence: Fence) -> None:
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

    def lease(self, name: str) -> LeaseInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        if row is None:
            return None
        return LeaseInfo(row.name, row.holder, row.token, row.expires_at, row.acquired_at)

    # -- the inbox (probe run --alert while a monitor runs) ----------------------------------------
    def hand_over(self, result_json: dict[str, Any], now: float) -> int:
        with self.engine.begin() as conn:
            key = conn.execute(
                insert(inbox).values(
                    hub=result_json["hub"], result=json.dumps(result_json), created_at=now
                )
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def handed_over(self) -> list[tuple[int, dict[str, Any]]]:
        """Probes waiting for the lease holder, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(inbox.c.id, inbox.c.result)
                .where(inbox.c.handled_at.is_(None))
                .order_by(inbox.c.id)
            ).all()
        return [(r.id, _parse(r.result)) for r in rows]

    def mark_handled(
        self, item_id: int, outcome: str, now: float, fence: Fence | None = None
    ) -> None:
        with self.engine.begin() as conn:
            _check_fence(conn, fence)
            conn.execute(
                update(inbox).where(inbox.c.id == item_id).values(handled_at=now, outcome=outcome)
            )

    def handover_outcome(self, item_id: int) -> str | None:
        """What the lease holder did with a handed-over probe; None while it has not yet."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(inbox.c.handled_at, inbox.c.outcome).where(inbox.c.id == item_id)
            ).first()
        return None if row is None or row.handled_at is None else str(row.outcome or "")

    # -- history -------------------------------------------------------------------------------
    def history(self, hub: str, limit: int = 20, failing: bool = False) -> list[dict[str, Any]]:
        """A hub's recent verdicts (`failing`: only those that were not ok), newest first, each
        with its step timings (name, status, http status, ms) and the evidence files of a failure
        when the probe saved any."""
        where = [verdicts.c.hub == hub] + ([verdicts.c.code != "ok"] if failing else [])
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    verdicts.c.code,
                    verdicts.c.severity,
                    verdicts.c.summary,
                    verdicts.c.step,
                    verdicts.c.started_at,
                    verdicts.c.duration_ms,
                    verdicts.c.result,
                )
                .where(*where)
                .order_by(verdicts.c.id.desc())
                .limit(limit)
            ).all()
        history = []
        for r in rows:
            row = dict(r._mapping)
            result = _parse(row.pop("result"))
            row["steps"] = [
                {k: s.get(k) for k in ("name", "status", "http_status", "ms")}
                for s in result.get("steps") or []
                if isinstance(s, dict)
            ]
            evidence = result.get("evidence")
            row["evidence"] = evidence if isinstance(evidence, dict) else None
            history.append(row)
        return history

    def since(self, hub: str) -> str | None:
        """When the hub's current verdict code began: the start of the first probe of the
        newest run of probes with that code."""
        with self.engine.connect() as conn:
            newest = conn.execute(
                select(verdicts.c.id, verdicts.c.code)
                .where(verdicts.c.hub == hub)
                .order_by(verdicts.c.id.desc())
                .limit(1)
            ).first()
            if newest is None:
                return None
            # Walks back from the newest row and stops at the first other code.
            last_other = conn.execute(
                select(verdicts.c.id)
                .where(verdicts.c.hub == hub, verdicts.c.code != newest.code)
                .order_by(verdicts.c.id.desc())
                .limit(1)
            ).scalar()
            first: str | None = conn.execute(
                select(verdicts.c.started_at)
                .where(verdicts.c.hub == hub, verdicts.c.id > (last_other or 0))
                .order_by(verdicts.c.id)
                .limit(1)
            ).scalar()
        return first


def _check_fence(conn: Connection, fence: Fence | None) -> None:
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


def _outbox_event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        row.id,
        row.dedup_key,
        json.loads(row.event),
        row.created_at,
        row.attempts,
        row.last_error,
    )


def _parse(result: str) -> dict[str, Any]:
    try:
        data = json.loads(result)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def sqlite_file_missing(url: str) -> str | None:
    """The path of a SQLite store that does not exist yet (opening it would create it), else
    None: readers such as `probe list` say "no probes yet" instead of creating an empty file."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    db = parsed.database
    if not parsed.drivername.startswith("sqlite") or not db or db == ":memory:":
        return None
    return None if Path(db).exists() else db
