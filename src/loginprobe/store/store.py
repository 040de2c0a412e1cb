"""The store (SQLAlchemy Core): verdict history, incident tracks, and the alert outbox.

A probe's verdict, the tracks it moved and the events it caused are written in one transaction,
so a crash at any point loses nothing and doubles nothing: either all of it happened or none.
An event leaves the outbox only once PagerDuty accepted it. Default: a SQLite file; any SQLAlchemy
URL works. No secret is ever stored (events are stored without the routing key).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
from sqlalchemy.engine import Engine, make_url

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


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    dedup_key: str
    event: dict[str, Any]
    created_at: float
    attempts: int


@dataclass(frozen=True)
class OutboxStats:
    depth: int  # events waiting, rejected ones included
    oldest_age_s: float
    rejected: int
    last_error: str | None


class StoreError(Exception):
    pass


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store's URL; None for other databases and in-memory ones."""
    try:
        parsed = make_url(url)
    except Exception:
        return None
    db = parsed.database
    if not parsed.drivername.startswith("sqlite") or not db or db == ":memory:":
        return None
    if parsed.query.get("uri") == "true" and db.startswith("file:"):
        db = db.removeprefix("file:").split("?")[0]  # sqlite:///file:PATH?mode=ro&uri=true
    return Path(db)


def refuse_empty_file(url: str) -> None:
    """A 0-byte SQLite file is a store that lost everything (a failed copy, a full disk), not a
    fresh start: opening it would silently forget every open incident."""
    path = sqlite_path(url)
    try:
        empty = path is not None and path.is_file() and path.stat().st_size == 0
    except OSError:
        return  # opening it says what is wrong
    if empty:
        raise StoreError(
            f"the state store {str(path)!r} is an empty file (0 bytes): it has lost its open "
            "incidents and undelivered pages; restore it from a backup, or delete it to start "
            "afresh"
        )


def check_integrity(engine: Engine) -> None:
    """SQLite's own check of a store's pages: a corrupt file is refused at the start, not found
    by a traceback in the middle of a probe."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        found = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check").all()]
    if found != ["ok"]:
        raise StoreError(f"the state store is corrupt: {found[0] if found else 'no answer'}")


def check_writable(engine: Engine) -> None:
    """Write (and roll back) one value of the file's header: a read-only file or directory
    says so here, not at the first verdict."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        conn.exec_driver_sql(f"PRAGMA user_version = {version}")
        conn.exec_driver_sql("ROLLBACK")


class Store:
    def __init__(self, url: str) -> None:
        refuse_empty_file(url)
        try:
            self.engine: Engine = create_engine(url)
            metadata.create_all(self.engine)
            check_integrity(self.engine)
        except StoreError as err:
            raise StoreError(str(err).replace(url, _hide_password(url))) from None
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
        return {key: Track.from_json(json.loads(state)) for key, state in rows}

    # -- one probe, atomically -----------------------------------------------------------------
    def record(
        self,
        result_json: dict[str, Any] | None,
        moved: dict[str, Track],
        events: Iterable[dict[str, Any]],
        now: float,
        now_iso: str,
    ) -> None:
        """Write a probe's result (ProbeResult.to_json(), already redacted: every column comes
        from it), the tracks it moved and the events it caused, in one transaction."""
        with self.engine.begin() as conn:
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
    def next_event(self) -> tuple[OutboxEvent, float] | None:
        """The oldest deliverable event and when it is due. Events go out strictly in order, so a
        resolve never overtakes its trigger; rejected events are set aside, not retried."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(outbox).where(outbox.c.rejected.is_(False)).order_by(outbox.c.id).limit(1)
            ).first()
        if row is None:
            return None
        return (
            OutboxEvent(row.id, row.dedup_key, json.loads(row.event), row.created_at, row.attempts),
            row.next_attempt_at,
        )

    def delivered(self, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(outbox).where(outbox.c.id == event_id))

    def defer(self, event_id: int, attempts: int, next_attempt_at: float, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error)
            )

    def reject(self, event_id: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == event_id)
                .values(rejected=True, last_error=error)
            )

    def outbox_stats(self, now: float) -> OutboxStats:
        with self.engine.connect() as conn:
            depth, oldest = conn.execute(select(func.count(), func.min(outbox.c.created_at))).one()
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
