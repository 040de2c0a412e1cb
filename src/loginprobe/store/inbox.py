"""The inbox: probes `probe run --alert` hands to the running monitor, which puts them through its
own pipeline (so that whoever opens an incident also resolves it) and says what it did."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, insert, select, update

from loginprobe.store.lease import Fence, check_fence
from loginprobe.store.schema import inbox


class Inbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, result_json: dict[str, Any], now: float) -> int:
        with self.engine.begin() as conn:
            key = conn.execute(
                insert(inbox).values(
                    hub=result_json["hub"], result=json.dumps(result_json), created_at=now
                )
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def waiting(self) -> list[tuple[int, dict[str, Any]]]:
        """Probes waiting for the lease holder, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(inbox.c.id, inbox.c.result)
                .where(inbox.c.handled_at.is_(None))
                .order_by(inbox.c.id)
            ).all()
        out = []
        for r in rows:
            try:
                data = json.loads(r.result)
            except ValueError:
                data = {}
            out.append((r.id, data if isinstance(data, dict) else {}))
        return out

    def handled(self, item_id: int, outcome: str, now: float, fence: Fence | None = None) -> None:
        with self.engine.begin() as conn:
            check_fence(conn, fence)
            conn.execute(
                update(inbox).where(inbox.c.id == item_id).values(handled_at=now, outcome=outcome)
            )

    def outcome(self, item_id: int) -> str | None:
        """What the lease holder did with a handed-over probe; None while it has not yet."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(inbox.c.handled_at, inbox.c.outcome).where(inbox.c.id == item_id)
            ).first()
        return None if row is None or row.handled_at is None else str(row.outcome or "")
