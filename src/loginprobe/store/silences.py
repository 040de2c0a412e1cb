"""The silences table: who silenced what, until when, and why (`probe silence`)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update

from loginprobe.monitor.silences import Silence
from loginprobe.store.schema import silences


class Silences:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, s: Silence) -> Silence:
        with self.engine.begin() as conn:
            key = conn.execute(
                insert(silences).values(
                    target=s.target,
                    starts=s.starts,
                    until=s.until,
                    reason=s.reason,
                    created_by=s.created_by,
                )
            ).inserted_primary_key
        assert key is not None
        return Silence(s.target, s.starts, s.until, s.reason, s.created_by, int(key[0]))

    def current(self, now: float) -> list[Silence]:
        """Silences not yet over at `now` (in force, or starting later), soonest end first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(silences)
                .where(silences.c.until > now, silences.c.ended_at.is_(None))
                .order_by(silences.c.until, silences.c.id)
            ).all()
        return [
            Silence(r.target, r.starts, r.until, r.reason, r.created_by, int(r.id)) for r in rows
        ]

    def end(self, target_or_id: str, now: float) -> int:
        """End the current silences of a target (a hub, `idp:GROUP`) or the one with that id, at
        once; how many ended."""
        cond = (
            silences.c.id == int(target_or_id)
            if target_or_id.isdigit()
            else silences.c.target == target_or_id
        )
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    update(silences)
                    .where(cond, silences.c.until > now, silences.c.ended_at.is_(None))
                    .values(ended_at=now, until=now)
                ).rowcount
            )
