"""Verdict history, compact: how a probe's result is written, and read back.

A healthy probe with the usual summary is one small row in `probes` (hub id, start time, code,
ms per step by step id). Anything else — a failure, an `ok` that says something unusual (the secret
check is misconfigured), and every hub's latest probe — also keeps its whole result (redacted
JSON) in `results`. Reading gives the same rows either way: a compact row's summary is rebuilt the
way classify words it, and its steps have their names and ms (no URL or HTTP status).
`hub_state` keeps, per hub, the latest code, since when, and the latest probe and failure, so that
no question of the status page walks a hub's past.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from loginprobe.history import availability
from loginprobe.history.availability import Span
from loginprobe.prober.classify import ok_summary
from loginprobe.store import schema

# Where a hub's silences come from when its probes' time is credited (hub id, from, to): none yet.
# When the store holds silences (issue 12), this reads them; silenced time then counts neither way.
Silences = Callable[[Connection, int, float, float], list[Span]]


def no_silences(conn: Connection, hub_id: int, start: float, end: float) -> list[Span]:
    return []


def live_tables() -> SimpleNamespace:
    return SimpleNamespace(
        hubs=schema.hubs,
        step_names=schema.step_names,
        probes=schema.probes,
        results=schema.results,
        hub_state=schema.hub_state,
        hourly=schema.hourly,
    )


def to_unix(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return 0.0
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def to_iso(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def _steps(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in result.get("steps") or [] if isinstance(s, dict) and s.get("name")]


def is_plain(result: dict[str, Any]) -> bool:
    """A healthy probe that says nothing but the usual: its compact row tells it all."""
    verdict = result.get("verdict") or {}
    if verdict.get("code") != "ok" or result.get("evidence"):
        return False
    ms = sum(int(s.get("ms") or 0) for s in _steps(result))
    return bool(verdict.get("summary") == ok_summary(str(result.get("hub")), ms))


@dataclass
class HistoryWriter:
    """Writes results in the compact layout. `t`: the tables (a migration passes its own)."""

    t: SimpleNamespace = field(default_factory=live_tables)
    silences: Silences = no_silences
    _hub_ids: dict[str, int] = field(default_factory=dict)
    _step_ids: dict[str, int] = field(default_factory=dict)

    def _id(
        self,
        conn: Connection,
        table: Table,
        cache: dict[str, int],
        name: str,
        fresh: dict[str, int],
    ) -> int:
        """The name's id, its row inserted if need be. Only ids found already written are
        cached: one inserted by this write (`fresh`) is cached by a later write that finds it,
        since this write's transaction may yet be rolled back (a fence refused, a shared track
        moved meanwhile, the database gone mid-write), and a cached id whose row never was would
        fail every later write of that hub (on SQLite: file its probes under the next new hub)."""
        if name in cache:
            return cache[name]
        if name in fresh:
            return fresh[name]
        found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
        if found is not None:
            cache[name] = int(found)
            return cache[name]
        key = conn.execute(insert(table).values(name=name)).inserted_primary_key
        assert key is not None
        fresh[name] = int(key[0])
        return fresh[name]

    def write(self, conn: Connection, result: dict[str, Any]) -> int:
        """One probe's result (ProbeResult.to_json(), redacted). The probe's id."""
        t = self.t
        hub = str(result.get("hub") or "")
        fresh_hubs: dict[str, int] = {}
        fresh_steps: dict[str, int] = {}
        hub_id = self._id(conn, t.hubs, self._hub_ids, hub, fresh_hubs)
        code = str((result.get("verdict") or {}).get("code") or "")
        started = to_unix(result.get("started_at"))
        steps = ",".join(
            f"{self._id(conn, t.step_names, self._step_ids, str(s['name']), fresh_steps)}:"
            f"{int(s.get('ms') or 0)}"
            for s in _steps(result)
        )
        key = conn.execute(
            insert(t.probes).values(
                hub_id=hub_id,
                started_at=started,
                code=code,
                duration_ms=int(result.get("duration_ms") or 0),
                steps=steps,
            )
        ).inserted_primary_key
        assert key is not None
        probe_id = int(key[0])
        conn.execute(insert(t.results).values(probe_id=probe_id, result=json.dumps(result)))
        state = conn.execute(select(t.hub_state).where(t.hub_state.c.hub_id == hub_id)).first()
        failing = code != "ok"
        if getattr(t, "hourly", None) is not None:
            previous_start = (
                conn.execute(
                    select(t.probes.c.started_at).where(t.probes.c.id == state.last_probe_id)
                ).scalar()
                if state is not None
                else None
            )
            spans = {}
            if previous_start is not None and state is not None:
                spans = availability.credit(
                    previous_start,
                    state.code,
                    started,
                    self.silences(conn, hub_id, previous_start, started),
                )
            add_hourly(conn, t.hourly, hub_id, spans, started, code)
        if state is None:
            conn.execute(
                insert(t.hub_state).values(
                    hub_id=hub_id,
                    code=code,
                    since=started,
                    last_probe_id=probe_id,
                    last_failure_id=probe_id if failing else None,
                )
            )
            return probe_id
        # The previous latest keeps its whole result only if it needs it.
        previous = conn.execute(
            select(t.results.c.result).where(t.results.c.probe_id == state.last_probe_id)
        ).scalar()
        if previous is not None and is_plain(_loads(previous)):
            conn.execute(delete(t.results).where(t.results.c.probe_id == state.last_probe_id))
        conn.execute(
            update(t.hub_state)
            .where(t.hub_state.c.hub_id == hub_id)
            .values(
                code=code,
                since=state.since if state.code == code else started,
                last_probe_id=probe_id,
                last_failure_id=probe_id if failing else state.last_failure_id,
            )
        )
        return probe_id


def add_hourly(
    conn: Connection,
    table: Table,
    hub_id: int,
    spans: Mapping[int, Mapping[str, float]],
    started: float,
    code: str,
) -> None:
    """Add a probe to the hub's hourly rollup: the seconds the previous probe spoke for (`spans`,
    availability.credit), and this probe's verdict to its hour's count and worst."""
    hours = dict.fromkeys(spans, False)
    hours[int(started // availability.HOUR_S)] = True
    for hour, is_probe_hour in sorted(hours.items()):
        seconds = {f"{k}_s": v for k, v in spans.get(hour, {}).items()}
        where = (table.c.hub_id == hub_id) & (table.c.hour == hour)
        row = conn.execute(select(table.c.worst, table.c.probes).where(where)).first()
        if row is None:
            conn.execute(
                insert(table).values(
                    hub_id=hub_id,
                    hour=hour,
                    up_s=seconds.get("up_s", 0.0),
                    down_s=seconds.get("down_s", 0.0),
                    prober_s=seconds.get("prober_s", 0.0),
                    silenced_s=seconds.get("silenced_s", 0.0),
                    probes=1 if is_probe_hour else 0,
                    worst=code if is_probe_hour else None,
                )
            )
            continue
        values: dict[str, Any] = {k: table.c[k] + v for k, v in seconds.items()}
        if is_probe_hour:
            values["probes"] = table.c.probes + 1
            values["worst"] = availability.worst([row.worst, code])
        conn.execute(update(table).where(where).values(**values))


def rollup(rows: Iterable[tuple[int, float, str]]) -> list[dict[str, Any]]:
    """The `hourly` rows for probes given as (hub id, start, code), each hub's oldest first: what
    writing them one by one would have left (a store's first rollup, benchmarks)."""
    table: dict[tuple[int, int], dict[str, Any]] = {}
    previous: dict[int, tuple[float, str]] = {}

    def row(hub_id: int, hour: int) -> dict[str, Any]:
        found = table.get((hub_id, hour))
        if found is None:
            found = table[(hub_id, hour)] = {
                "hub_id": hub_id,
                "hour": hour,
                **{f"{k}_s": 0.0 for k in availability.KINDS},
                "probes": 0,
                "worst": None,
            }
        return found

    for hub_id, started, code in rows:
        if hub_id in previous:
            before, before_code = previous[hub_id]
            for hour, kinds in availability.credit(before, before_code, started).items():
                target = row(hub_id, hour)
                for kind, seconds in kinds.items():
                    target[f"{kind}_s"] += seconds
        this = row(hub_id, int(started // availability.HOUR_S))
        this["probes"] += 1
        this["worst"] = availability.worst([this["worst"], code])
        previous[hub_id] = (started, code)
    return list(table.values())


@dataclass
class HubHistory:
    """What the status page shows of a hub's past: its recent probes (newest first), its last
    failure (a history row, or None) and since when its current code holds (ISO, or None)."""

    recent: list[dict[str, Any]] = field(default_factory=list)
    last_failure: dict[str, Any] | None = None
    since: str | None = None


def _recent_query() -> Any:
    """A hub's newest probes, by hub id: built once, so a fleet's reads only bind and run it."""
    p, r = schema.probes, schema.results
    return (
        select(p.c.id, p.c.started_at, p.c.code, p.c.duration_ms, p.c.steps, r.c.result)
        .select_from(p.outerjoin(r, r.c.probe_id == p.c.id))
        .where(p.c.hub_id == bindparam("hub_id"))
        .order_by(p.c.started_at.desc(), p.c.id.desc())
        .limit(bindparam("n"))
    )


class HistoryReader:
    """A hub's recent probes, since when, its last failure: each a bounded read."""

    def __init__(self) -> None:
        self._step_names: dict[int, str] = {}
        self._recent = _recent_query()

    def fleet(
        self,
        conn: Connection,
        hubs: Sequence[str],
        limit: int,
        limit_ok: int | None = None,
        last_failures: bool = True,
    ) -> dict[str, HubHistory]:
        """Every named hub's recent probes, last failure and since-when, on one connection: one
        statement for all hubs' state, one indexed read of `limit` rows per hub (`limit_ok` for
        a hub whose latest probe was ok, when given), and one for the last failures not among
        the recent rows (`last_failures=False`: not read, each hub's last_failure is None). A
        hub never probed gets an empty one."""
        h, st = schema.hubs, schema.hub_state
        wanted = set(hubs)
        states = [
            row
            for row in conn.execute(
                select(
                    h.c.name,
                    h.c.id,
                    st.c.code,
                    st.c.since,
                    st.c.last_probe_id,
                    st.c.last_failure_id,
                ).select_from(h.outerjoin(st, st.c.hub_id == h.c.id))
            )
            if row.name in wanted and row.code is not None
        ]
        counts = {
            s.name: limit_ok if limit_ok is not None and s.code == "ok" else limit for s in states
        }
        # A hub's latest probe is hub_state's: those asked for one probe are read all at once.
        latest = self._by_id(conn, {s.last_probe_id: s.name for s in states if counts[s.name] == 1})
        rows = {
            s.name: [latest[s.last_probe_id]]
            if counts[s.name] == 1
            else conn.execute(self._recent, {"hub_id": s.id, "n": counts[s.name]}).all()
            for s in states
        }
        names = self._step_names or self._names(conn)
        if any(
            name is None
            for found in rows.values()
            for row in found
            if row.result is None
            for name, _ in self._timings(row.steps, names, None)
        ):  # a step new to us
            names = self._names(conn)
        out = {name: HubHistory() for name in hubs}
        missing: dict[int, str] = {}
        for s in states:
            hist = out[s.name]
            hist.recent = [self._row(s.name, row, names, "?") for row in rows[s.name]]
            hist.since = to_iso(s.since) if s.since is not None else None
            if not last_failures:
                continue
            shown = next((x for x in hist.recent if x["code"] != "ok"), None)
            if shown is not None:
                hist.last_failure = shown
            elif s.last_failure_id is not None:
                missing[s.last_failure_id] = s.name
        for probe_id, row in self._by_id(conn, missing).items():
            out[missing[probe_id]].last_failure = self._row(missing[probe_id], row, names, "?")
        return out

    def _by_id(self, conn: Connection, ids: Mapping[int, str]) -> dict[int, Any]:
        """Probes (with their whole result, if kept) by id, in one statement."""
        if not ids:
            return {}
        p, r = schema.probes, schema.results
        query = (
            select(p.c.id, p.c.started_at, p.c.code, p.c.duration_ms, p.c.steps, r.c.result)
            .select_from(p.outerjoin(r, r.c.probe_id == p.c.id))
            .where(p.c.id.in_(list(ids)))
        )
        return {row.id: row for row in conn.execute(query)}

    @staticmethod
    def _timings(
        steps: str, names: Mapping[int, str], unknown: str | None
    ) -> list[tuple[str | None, int]]:
        return [
            (names.get(int(i), unknown), int(ms)) for i, ms in (p.split(":") for p in _pairs(steps))
        ]

    def _names(self, conn: Connection) -> dict[int, str]:
        rows = conn.execute(select(schema.step_names.c.id, schema.step_names.c.name)).all()
        self._step_names = {r.id: r.name for r in rows}
        return self._step_names

    def hub_id(self, conn: Connection, hub: str) -> int | None:
        return conn.execute(select(schema.hubs.c.id).where(schema.hubs.c.name == hub)).scalar()

    def recent(
        self, conn: Connection, hub: str, limit: int, failing: bool = False
    ) -> list[dict[str, Any]]:
        hub_id = self.hub_id(conn, hub)
        if hub_id is None:
            return []
        p, r = schema.probes, schema.results
        query = (
            select(p.c.id, p.c.started_at, p.c.code, p.c.duration_ms, p.c.steps, r.c.result)
            .select_from(p.outerjoin(r, r.c.probe_id == p.c.id))
            .where(p.c.hub_id == hub_id)
        )
        if failing:
            if limit == 1:  # the status page's question: the latest failure, from hub_state
                last = conn.execute(
                    select(schema.hub_state.c.last_failure_id).where(
                        schema.hub_state.c.hub_id == hub_id
                    )
                ).scalar()
                if last is None:
                    return []
                query = query.where(p.c.id == last)
            else:
                query = query.where(p.c.code != "ok")
        rows = conn.execute(query.order_by(p.c.started_at.desc(), p.c.id.desc()).limit(limit)).all()
        names = self._step_names
        if any(int(pair.split(":")[0]) not in names for row in rows for pair in _pairs(row.steps)):
            names = self._names(conn)
        return [self._row(hub, row, names, "?") for row in rows]

    def _row(
        self, hub: str, row: Any, names: dict[int, str], unknown: str | None = None
    ) -> dict[str, Any]:
        if row.result is not None:
            result = _parse(row.result)
            verdict = result.get("verdict") or {}
            steps = [
                {k: s.get(k) for k in ("name", "status", "http_status", "ms")}
                for s in _steps(result)
            ]
            evidence = result.get("evidence")
            return {
                "code": verdict.get("code", row.code),
                "severity": verdict.get("severity"),
                "summary": verdict.get("summary", ""),
                "step": verdict.get("step"),
                "started_at": result.get("started_at") or to_iso(row.started_at),
                "duration_ms": row.duration_ms,
                "steps": steps,
                "evidence": evidence if isinstance(evidence, dict) else None,
            }
        timings = self._timings(row.steps, names, unknown)
        steps = [
            {"name": name, "status": "ok", "http_status": None, "ms": ms} for name, ms in timings
        ]
        return {
            "code": "ok",
            "severity": "info",
            "summary": ok_summary(hub, sum(ms for _, ms in timings)),
            "step": None,
            "started_at": to_iso(row.started_at),
            "duration_ms": row.duration_ms,
            "steps": steps,
            "evidence": None,
        }

    def since(self, conn: Connection, hub: str) -> str | None:
        hub_id = self.hub_id(conn, hub)
        if hub_id is None:
            return None
        since = conn.execute(
            select(schema.hub_state.c.since).where(schema.hub_state.c.hub_id == hub_id)
        ).scalar()
        return to_iso(since) if since is not None else None


def _pairs(steps: str) -> Iterable[str]:
    return (pair for pair in steps.split(",") if pair)


def _loads(text: str) -> Any:
    """json.loads, ~3x faster (a fleet's page reads hundreds of kept results); ValueError as it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what only Python's json reads (NaN, Infinity, 1e400)


def _parse(text: str) -> dict[str, Any]:
    try:
        data = _loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
