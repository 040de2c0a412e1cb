"""The outbox: PagerDuty events waiting for delivery, strictly in order; those PagerDuty refused,
set aside for a human. Events are stored without the routing key."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

from loginprobe.store.lease import Fence, check_fence
from loginprobe.store.schema import outbox


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


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        row.id, row.dedup_key, json.loads(row.event), row.created_at, row.attempts, row.last_error
    )


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        return _event(row), row.next_attempt_at

    def delivered(self, event_id: int, fence: Fence | None = None) -> None:
        with self.engine.begin() as conn:
            check_fence(conn, fence)
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
            check_fence(conn, fence)
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error)
            )

    def reject(self, event_id: int, error: str, fence: Fence | None = None) -> None:
        """Set an event aside: PagerDuty will never take it as it is (`probe outbox` shows it)."""
        with self.engine.begin() as conn:
            check_fence(conn, fence)
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(rejected=True, last_error=error)
            )

    def stats(self, now: float) -> OutboxStats:
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

    def rejected(self) -> list[OutboxEvent]:
        """The events PagerDuty refused, oldest first, with what it said."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox).where(outbox.c.rejected.is_(True)).order_by(outbox.c.id)
            ).all()
        return [_event(r) for r in rows]

    def retry(self, event_id: int, now: float) -> bool:
        """Put a rejected event back in line (after fixing what PagerDuty objected to)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id, outbox.c.rejected.is_(True))
                .values(rejected=False, attempts=0, next_attempt_at=now)
            ).rowcount
        return bool(changed)

    def drop(self, event_id: int) -> bool:
        """Drop a rejected event for good."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                delete(outbox).where(outbox.c.id == event_id, outbox.c.rejected.is_(True))
            ).rowcount
        return bool(changed)
