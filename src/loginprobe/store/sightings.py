"""The sightings table: what each location saw of each hub at its latest probe there, for the
quorum across locations (`[monitor] quorum`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update

from loginprobe.monitor.tracks.shared import Sighting
from loginprobe.store.schema import sightings


class Sightings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, s: Sighting) -> None:
        """Overwrite the location's sighting of the hub."""
        values = {
            "replica": s.replica,
            "code": s.code,
            "ok": s.ok,
            "summary": s.summary,
            "at": s.at,
        }
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(sightings)
                .where(sightings.c.hub == s.hub, sightings.c.location == s.location)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(sightings).values(hub=s.hub, location=s.location, **values))

    def of(self, hub: str) -> list[Sighting]:
        """The hub's sightings, one per location, by location."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sightings).where(sightings.c.hub == hub).order_by(sightings.c.location)
            ).all()
        return [_sighting(r) for r in rows]

    def all(self) -> dict[str, list[Sighting]]:
        """Every hub's sightings (hub -> one per location, by location)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sightings).order_by(sightings.c.hub, sightings.c.location)
            ).all()
        out: dict[str, list[Sighting]] = {}
        for r in rows:
            out.setdefault(r.hub, []).append(_sighting(r))
        return out

    def forget(self, hub: str) -> None:
        """A hub removed from the config: what was seen of it no longer counts."""
        with self.engine.begin() as conn:
            conn.execute(delete(sightings).where(sightings.c.hub == hub))


def _sighting(r: Row[Any]) -> Sighting:
    return Sighting(
        hub=r.hub,
        location=r.location,
        replica=r.replica,
        code=r.code,
        ok=bool(r.ok),
        summary=r.summary,
        at=float(r.at),
    )
