"""The store's schema moves forward in place: a store written by an older loginprobe opens, is
converted (compact history), and reads back the same; a new one starts at the newest revision."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from loginprobe.history.availability import COVER_S
from loginprobe.model import Code
from loginprobe.store import Store
from loginprobe.store.schema import metadata
from loginprobe.store.store import SCHEMA_HEAD
from tests.unit.fakes import verdict_result

# The tables as loginprobe made them before migrations (store.py's create_all, 2026-11).
V1 = """
CREATE TABLE verdicts (id INTEGER PRIMARY KEY AUTOINCREMENT, hub VARCHAR(200) NOT NULL,
  code VARCHAR(40) NOT NULL, severity VARCHAR(20) NOT NULL, summary TEXT NOT NULL,
  step VARCHAR(80), started_at VARCHAR(40) NOT NULL, duration_ms INTEGER NOT NULL,
  result TEXT NOT NULL);
CREATE INDEX ix_verdicts_hub ON verdicts (hub);
CREATE TABLE tracks (key VARCHAR(300) PRIMARY KEY, state TEXT NOT NULL,
  updated_at VARCHAR(40) NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, dedup_key VARCHAR(300) NOT NULL,
  event TEXT NOT NULL, created_at FLOAT NOT NULL, attempts INTEGER NOT NULL,
  next_attempt_at FLOAT NOT NULL, last_error TEXT, rejected BOOLEAN NOT NULL);
"""


def _old_store(path: Path) -> list[dict[str, object]]:
    """A store as the old code left it: three hubs' verdicts, an open track, a queued event."""
    db = sqlite3.connect(path)
    db.executescript(V1)
    written = []
    codes = [Code.OK, Code.OK, Code.HUB_ERROR, Code.HUB_ERROR, Code.OK]
    for i, code in enumerate(codes):
        for hub in ("a", "b"):
            result = verdict_result(hub, code).to_json()
            result["started_at"] = f"2026-11-2{i}T10:00:00+00:00"
            result["steps"] = [
                {"name": "hub_start", "status": "ok", "http_status": 200, "url": "", "ms": 100 + i},
                {"name": "idp_login", "status": "ok", "http_status": 200, "url": "", "ms": 900},
            ]
            if code is Code.OK:
                result["verdict"]["summary"] = (
                    f"{hub}: logged in and landed on the hub in {(1000 + i) / 1000:.1f}s"
                )
            v = result["verdict"]
            db.execute(
                "INSERT INTO verdicts (hub, code, severity, summary, step, started_at, "
                "duration_ms, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    hub,
                    v["code"],
                    v["severity"],
                    v["summary"],
                    v["step"],
                    result["started_at"],
                    result["duration_ms"],
                    json.dumps(result),
                ),
            )
            written.append(result)
    db.execute(
        "INSERT INTO tracks VALUES ('loginprobe/a/login', ?, '2026-11-23T10:00:00+00:00')",
        (json.dumps({"failures": 2, "successes": 0, "open_code": "hub_error"}),),
    )
    db.execute(
        "INSERT INTO outbox (dedup_key, event, created_at, attempts, next_attempt_at, rejected) "
        'VALUES (\'loginprobe/a/login\', \'{"event_action": "resolve", '
        '"dedup_key": "loginprobe/a/login"}\', 1.0, 0, 1.0, 0)'
    )
    db.commit()
    db.close()
    return written


def test_an_old_store_is_converted_in_place_and_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path)
    store = Store(f"sqlite:///{path}")
    try:
        history = store.history("a", 10)
        assert [h["code"] for h in history] == ["ok", "hub_error", "hub_error", "ok", "ok"]
        assert history[0]["summary"] == "a: logged in and landed on the hub in 1.0s"
        assert history[0]["steps"] == [
            {"name": "hub_start", "status": "ok", "http_status": 200, "ms": 104},
            {"name": "idp_login", "status": "ok", "http_status": 200, "ms": 900},
        ]
        # An older healthy probe kept only its compact row: names and ms, no HTTP status.
        assert history[3]["steps"][0] == {
            "name": "hub_start",
            "status": "ok",
            "http_status": None,
            "ms": 101,
        }
        assert history[3]["summary"] == "a: logged in and landed on the hub in 1.0s"
        assert store.history("a", 1, failing=True)[0]["started_at"].startswith("2026-11-23")
        assert store.since("a") == "2026-11-24T10:00:00+00:00"
        assert store.tracks()["loginprobe/a/login"].open_code == "hub_error"
        item = store.outbox.next_event()
        assert item is not None and item[0].dedup_key == "loginprobe/a/login"
        # The rollup is made from the probes (a day apart: each speaks for COVER_S, the last
        # for nothing yet).
        hours = store.hours("a", 0)
        assert [h["worst"] for h in hours] == ["ok", "ok", "hub_error", "hub_error", "ok"]
        assert [h["up_s"] + h["down_s"] for h in hours] == [COVER_S] * 4 + [0.0]
        assert sum(h["down_s"] for h in hours) == 2 * COVER_S
        tables = set(inspect(store.engine).get_table_names())
        assert "verdicts" not in tables and {"probes", "results", "hub_state"} <= tables
    finally:
        store.close()


def test_a_healthy_probe_keeps_only_its_compact_row_once_another_follows(store_url: str) -> None:
    store = Store(store_url)
    try:
        for _ in range(3):
            result = verdict_result("a", Code.OK).to_json()
            result["verdict"]["summary"] = "a: logged in and landed on the hub in 0.0s"
            store.record(result, {}, [], 1.0, "t")
        with store.engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT count(*) FROM results").scalar()
        assert kept == 1  # the latest only
        assert len(store.history("a")) == 3
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with nothing in it yet: every migration runs, from the first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/new.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_the_store_knows_the_newest_revision(empty_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", "loginprobe.store:migrations")
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD
    store = Store(empty_url)
    with store.engine.connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == SCHEMA_HEAD
        )
    store.close()


def test_the_migrations_from_empty_make_exactly_the_tables_the_code_uses(empty_url: str) -> None:
    store = Store(empty_url)
    try:
        with store.engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        store.close()
    assert drift == []


def test_history_older_than_the_limit_is_pruned_with_its_results(store_url: str) -> None:
    store = Store(store_url)
    try:
        for i, code in enumerate([Code.HUB_ERROR, Code.OK, Code.OK]):
            result = verdict_result("a", code).to_json()
            result["started_at"] = f"2026-11-0{i + 1}T00:00:00+00:00"
            store.record(result, {}, [], 1.0, "t")
        cutoff = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
        assert store.prune(cutoff, batch=1) == 1
        assert [h["code"] for h in store.history("a")] == ["ok", "ok"]
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM results").scalar() == 1
    finally:
        store.close()


def test_replicas_starting_at_once_on_an_empty_postgresql_database_all_open_it(
    postgres_url: str,
) -> None:
    # Two pods of a new deployment start together: each would create the tables.
    opened: list[Store] = []
    failed: list[BaseException] = []

    def open_store() -> None:
        try:
            opened.append(Store(postgres_url))
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=open_store, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # Without a lock they deadlock on each other's new tables, or one fails on a duplicate.
    assert not any(t.is_alive() for t in threads), "the migrations hang"
    for store in opened:
        store.close()
    assert failed == []
    assert len(opened) == 3
