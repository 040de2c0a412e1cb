"""The store (SQLAlchemy Core): verdict history, incident tracks, the outbox, the lease, the inbox.

A probe's verdict, the tracks it moved and the events it caused are written in one transaction,
so a crash at any point loses nothing and doubles nothing: either all of it happened or none.
An event leaves the outbox only once PagerDuty accepted it. Default: a SQLite file; PostgreSQL
(`postgresql+psycopg://...`, psycopg 3) for a store more than one machine reaches. No secret is
ever stored (events are stored without the routing key). Opening a store brings its schema up to
date (Alembic migrations in migrations/versions/), in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    and_,
    create_engine,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import IntegrityError

from loginprobe.history import availability as av
from loginprobe.monitor.tracks.track import Track
from loginprobe.store.history import HistoryReader, HistoryWriter, HubHistory
from loginprobe.store.inbox import Inbox
from loginprobe.store.lease import Fence, Leases, Replicas, check_fence
from loginprobe.store.outbox import Outbox
from loginprobe.store.schema import (
    hourly,
    hub_state,
    hubs,
    meta,
    outbox,
    probes,
    results,
    step_names,
    tracks,
)
from loginprobe.store.sightings import Sightings
from loginprobe.store.silences import Silences
from loginprobe.store.url import shown_url, store_error_reason

# The newest migration (tests check it is Alembic's head): a store already there skips Alembic.
SCHEMA_HEAD = "0006"

# PostgreSQL's advisory lock that one store's migrations take (any number unique to loginprobe).
MIGRATION_LOCK = 0x6C6F67696E  # "login"

# The hourly rollup outlives the probes by this much (past history_max_age): a year's availability
# stays reportable.
ROLLUP_MAX_AGE_S = 400 * 86400


class StoreError(Exception):
    pass


def _engine(url: str) -> Engine:
    parsed: URL = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return create_engine(parsed)
    return create_engine(
        parsed,
        # A connection the server closed (a restart, a failover) is replaced before it is used,
        # instead of failing one write; an unreachable server is given up on within seconds, not
        # the minutes a TCP connect may hang. A server that vanished without closing (its node
        # lost) is noticed by TCP keepalives and by unacknowledged data within seconds, not the
        # quarter of an hour Linux retransmits for: a replica stuck on a dead socket would hold
        # its leases' lock and its event loop that long.
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 10_000,
        },
    )


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(conn: Connection) -> None:
    """Bring the schema up to date. A store from before migrations (its tables, no version) is
    the first revision."""
    if _current_revision(conn) == SCHEMA_HEAD:
        return
    if conn.dialect.name == "postgresql":
        # Replicas starting together on a new (or older) database would each create (or alter) the
        # tables: one migrates while the others wait here, then find the schema up to date. The
        # lock is the transaction's, let go when it ends.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        if _current_revision(conn) == SCHEMA_HEAD:
            return
    # Imported only to migrate: Alembic takes longer to import than `probe list` takes to run.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "loginprobe.store:migrations")
    config.attributes["connection"] = conn
    if _current_revision(conn) is None and inspect(conn).has_table("verdicts"):
        command.stamp(config, "0001")
    command.upgrade(config, "head")


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
        first = found[0].splitlines()[0] if found and found[0] else "no answer"
        raise StoreError(f"the state store is corrupt: {first}")


def check_writable(engine: Engine) -> None:
    """Write (and roll back) one value: a read-only file or directory, a read-only database (a
    standby) or a role without the right to write says so here, not at the first verdict."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            with conn.begin() as tx:
                conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
                tx.rollback()
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        conn.exec_driver_sql(f"PRAGMA user_version = {version}")
        conn.exec_driver_sql("ROLLBACK")


class TrackConflict(Exception):
    """Another replica moved a shared track (an IdP's group, the network) since it was read: read
    it again and react again."""


class Store:
    """One database. Its parts: `outbox` (PagerDuty events), `leases` (one holder at a time),
    `inbox` (probes handed over by `probe run --alert`); the verdict history and the tracks are
    read and written here, together. `check_pages`: SQLite's check of every page at open, for
    whoever writes; it reads the whole file (3 s of CPU for 200 hubs' 30 days), so a reader that
    shows a few rows of each hub (`probe list`, `probe history`) leaves it out — a file that is
    not a database is still refused at open."""

    def __init__(self, url: str, check_pages: bool = True) -> None:
        refuse_empty_file(url)
        try:
            self.engine: Engine = _engine(url)
            if check_pages:
                check_integrity(self.engine)
            with self.engine.begin() as conn:
                migrate(conn)
        except StoreError as err:
            raise StoreError(store_error_reason(err, url)) from None
        except Exception as err:  # a bad URL, an unreachable database, a read-only file
            shown = shown_url(url)
            reason = store_error_reason(err, url)
            raise StoreError(f"cannot open the state store {shown!r}: {reason}") from None
        self.outbox = Outbox(self.engine)
        self.leases = Leases(self.engine)
        self.replicas = Replicas(self.engine)
        self.inbox = Inbox(self.engine)
        self.silences = Silences(self.engine)
        self.sightings = Sightings(self.engine)
        self._writer = HistoryWriter()
        self._reader = HistoryReader()

    def close(self) -> None:
        self.engine.dispose()

    def tracks(self) -> dict[str, Track]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tracks.c.key, tracks.c.state)).all()
        return {key: Track.from_json(json.loads(state), key) for key, state in rows}

    def tracks_starting(self, prefixes: Sequence[str]) -> dict[str, tuple[Track, str]]:
        """The tracks whose keys start with one of `prefixes`, each with its stored text (what a
        write expecting it unchanged compares)."""
        if not prefixes:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tracks.c.key, tracks.c.state).where(
                    or_(*(tracks.c.key.startswith(p, autoescape=True) for p in prefixes))
                )
            ).all()
        return {key: (Track.from_json(json.loads(state), key), state) for key, state in rows}

    def record(
        self,
        result_json: dict[str, Any] | None,
        moved: dict[str, Track],
        events: Iterable[dict[str, Any]],
        now: float,
        now_iso: str,
        fence: Fence | Sequence[Fence] | None = None,
        expect: Mapping[str, str | None] | None = None,
    ) -> None:
        """Write a probe's result (ProbeResult.to_json(), already redacted), the tracks it moved
        and the events it caused, in one transaction. `expect`: tracks other replicas may move
        too (key -> the text read before reacting, None: absent); if one changed meanwhile,
        nothing is written (TrackConflict)."""
        expect = expect or {}
        with self.engine.begin() as conn:
            check_fence(conn, fence)
            if result_json is not None:
                self._writer.write(conn, result_json)
            for key, track in moved.items():
                state = json.dumps(track.to_json())
                query = update(tracks).where(tracks.c.key == key)
                if key in expect:
                    # Compare-and-set: on PostgreSQL a concurrent writer's update waits for the
                    # row and then finds it changed; on SQLite writers take turns anyway.
                    was = expect[key]
                    if was is None:
                        if conn.execute(select(tracks.c.key).where(tracks.c.key == key)).first():
                            raise TrackConflict(key)
                    else:
                        query = query.where(tracks.c.state == was)
                        if not conn.execute(query.values(state=state, updated_at=now_iso)).rowcount:
                            raise TrackConflict(key)
                        continue
                changed = conn.execute(query.values(state=state, updated_at=now_iso)).rowcount
                if changed:
                    continue
                try:
                    conn.execute(insert(tracks).values(key=key, state=state, updated_at=now_iso))
                except IntegrityError:
                    if key in expect:  # another replica inserted it first
                        raise TrackConflict(key) from None
                    raise
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

    def get_meta(self, key: str) -> Any:
        """A fact the monitor keeps (JSON), or None."""
        with self.engine.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else json.loads(value)

    def meta_starting(self, prefix: str) -> dict[str, Any]:
        """The facts whose keys start with `prefix`, by the rest of their key."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(meta.c.key, meta.c.value).where(
                    meta.c.key.startswith(prefix, autoescape=True)
                )
            ).all()
        return {key.removeprefix(prefix): json.loads(value) for key, value in rows}

    def set_meta(self, key: str, value: Any, now: float) -> None:
        text_value = json.dumps(value)
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(meta).where(meta.c.key == key).values(value=text_value, updated_at=now)
            ).rowcount
            if not changed:
                conn.execute(insert(meta).values(key=key, value=text_value, updated_at=now))

    def prune(self, before: float, batch: int = 5000) -> int:
        """Delete probes that started before `before` (and their whole results), a batch per
        transaction so the writer is never blocked for long; and the hourly rollup from
        ROLLUP_MAX_AGE_S before that. How many probes went."""
        gone = 0
        with self.engine.begin() as conn:
            oldest = int((before - ROLLUP_MAX_AGE_S) // av.HOUR_S)
            conn.execute(delete(hourly).where(hourly.c.hour < oldest))
        while True:
            with self.engine.begin() as conn:
                ids = (
                    conn.execute(
                        select(probes.c.id).where(probes.c.started_at < before).limit(batch)
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return gone
                conn.execute(delete(results).where(results.c.probe_id.in_(ids)))
                conn.execute(delete(probes).where(probes.c.id.in_(ids)))
            gone += len(ids)

    def history(self, hub: str, limit: int = 20, failing: bool = False) -> list[dict[str, Any]]:
        """A hub's recent verdicts (`failing`: only those that were not ok), newest first, each
        with its step timings (name, status, http status, ms) and the evidence files of a failure
        when the probe saved any."""
        with self.engine.connect() as conn:
            return self._reader.recent(conn, hub, limit, failing)

    def availability(
        self, now: float, windows: Mapping[str, float] = av.WINDOWS
    ) -> dict[str, dict[str, av.Availability]]:
        """Every hub's availability over each window (name: seconds back from `now`), from the
        hourly rollup: one aggregate query for the fleet, plus each hub's latest probe's span."""
        # One aggregate per window over only that window's hours: each hub's rows are found by the
        # primary key (hub, hour), and the 24 h and 7 d sums read their hours alone, not the 30
        # days' with a condition on each row (200 hubs x 30 days: ~2x less CPU).
        names = list(windows)
        sums_by_window = [
            select(
                literal(index).label("window_index"),
                hubs.c.name,
                *(func.sum(hourly.c[f"{kind}_s"]).label(kind) for kind in av.KINDS),
            )
            .select_from(
                hubs.join(
                    hourly,
                    and_(
                        hourly.c.hub_id == hubs.c.id,
                        hourly.c.hour >= av.window_start_hour(now, seconds),
                    ),
                )
            )
            .group_by(hubs.c.name)
            for index, seconds in enumerate(windows.values())
        ]
        with self.engine.connect() as conn:
            rows = conn.execute(union_all(*sums_by_window)).all() if sums_by_window else []
            latest = conn.execute(
                select(hubs.c.name, probes.c.started_at, probes.c.code).select_from(
                    hub_state.join(hubs, hubs.c.id == hub_state.c.hub_id).join(
                        probes, probes.c.id == hub_state.c.last_probe_id
                    )
                )
            ).all()
        sums: dict[str, dict[str, dict[str, float]]] = {}
        for row in rows:
            data = row._mapping
            window = names[row.window_index]
            sums.setdefault(row.name, {})[window] = {k: float(data[k] or 0.0) for k in av.KINDS}
        spans = {r.name: av.open_span(r.started_at, r.code, now) for r in latest}
        return {
            hub: {
                w: av.combine(sums.get(hub, {}).get(w, {}), spans.get(hub, {}), now, seconds)
                for w, seconds in windows.items()
            }
            for hub in sorted(set(sums) | set(spans))
        }

    def hours(self, hub: str, since: float) -> list[dict[str, Any]]:
        """A hub's hourly rollup rows from `since` on, oldest first: hour (Unix time // 3600),
        the seconds by kind, the number of probes and the worst verdict of those."""
        first = int(since // av.HOUR_S)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(hourly)
                .select_from(hourly.join(hubs, hubs.c.id == hourly.c.hub_id))
                .where(hubs.c.name == hub, hourly.c.hour >= first)
                .order_by(hourly.c.hour)
            ).all()
        return [
            {
                "hour": r.hour,
                "up_s": r.up_s,
                "down_s": r.down_s,
                "prober_s": r.prober_s,
                "silenced_s": r.silenced_s,
                "probes": r.probes,
                "worst": r.worst,
            }
            for r in rows
        ]

    def probes_since(self, hub: str, since: float) -> list[dict[str, Any]]:
        """A hub's probes from `since` on, oldest first, compact: start (Unix time), code,
        duration, and (step name, ms) in the order walked. For one hub's pictures (a week at
        60 s is ~10,000 small rows)."""
        with self.engine.connect() as conn:
            names = {r.id: r.name for r in conn.execute(select(step_names.c.id, step_names.c.name))}
            rows = conn.execute(
                select(probes.c.started_at, probes.c.code, probes.c.duration_ms, probes.c.steps)
                .select_from(probes.join(hubs, hubs.c.id == probes.c.hub_id))
                .where(hubs.c.name == hub, probes.c.started_at >= since)
                .order_by(probes.c.started_at, probes.c.id)
            ).all()
        out = []
        for started, code, duration, packed in rows:
            steps = []
            for pair in packed.split(","):
                if pair:
                    step_id, _, ms = pair.partition(":")
                    steps.append((names.get(int(step_id), "?"), int(ms or 0)))
            out.append(
                {"started_at": started, "code": code, "duration_ms": duration, "steps": steps}
            )
        return out

    def fleet_history(
        self,
        hubs: Sequence[str],
        limit: int,
        limit_ok: int | None = None,
        last_failures: bool = True,
    ) -> dict[str, HubHistory]:
        """For each named hub: its `limit` most recent verdicts (as history(); `limit_ok` of a
        hub whose latest probe was ok, when given), its last failure and since(), read on one
        connection in one statement per hub plus two: what the status page and `probe list`
        show of a fleet. `last_failures=False` leaves the last failures unread (None): `probe
        list` does not show them, and each is a whole result to read and parse."""
        with self.engine.connect() as conn:
            return self._reader.fleet(conn, hubs, limit, limit_ok, last_failures)

    def since(self, hub: str) -> str | None:
        """When the hub's current verdict code began: the start of the first probe of the
        newest run of probes with that code."""
        with self.engine.connect() as conn:
            return self._reader.since(conn, hub)


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


def peek_meta(url: str, key: str) -> Any:
    """A fact from a store, read without opening it as a store (no migration, no file created):
    None when there is no store, no such fact, or it cannot be read."""
    if sqlite_file_missing(url) is not None:
        return None
    try:
        engine = _engine(url)
        try:
            with engine.connect() as conn:
                if not inspect(conn).has_table("meta"):
                    return None
                value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
        finally:
            engine.dispose()
    except Exception:
        return None
    return None if value is None else json.loads(value)
