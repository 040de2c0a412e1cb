"""store: verdict history, incident tracks and the outbox, in a real SQLite file and a real
PostgreSQL database (each test that takes `store` or `store_url` runs on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.alerting.pagerduty import build_event
from loginprobe.model import (
    Code,
    Failure,
    FailureKind,
    Observation,
    ProbeResult,
    SecretCheck,
    Severity,
    Step,
    Verdict,
)
from loginprobe.monitor.tracks.login import login_key
from loginprobe.monitor.tracks.prober import PROBER_KEY
from loginprobe.monitor.tracks.track import Action, Track
from loginprobe.prober.classify import ok_summary
from loginprobe.redact import Redactor
from loginprobe.store import OutboxStats, Store, StoreError, TrackConflict, sqlite_file_missing
from loginprobe.store.store import check_writable
from tests.postgres import PASSWORD, PostgresServer

HUB = "utoronto"
KEY = login_key(HUB)
NOW = 1_700_000_000.0
NOW_ISO = "2023-11-14T22:13:20+00:00"
HUB_URL = "https://hub.example.org/hub/"


def result(
    code: Code = Code.CALLBACK_ERROR,
    hub: str = HUB,
    summary: str = "",
    started_at: str = NOW_ISO,
    detail: str = "500 : Internal Server Error",
) -> ProbeResult:
    ok = code is Code.OK
    verdict = Verdict(
        code=code,
        severity=Severity.INFO if ok else Severity.CRITICAL,
        summary=summary or f"{hub}: {code}",
        step=None if ok else "callback",
        evidence={} if ok else {"http_status": 500},
    )
    steps = (
        Step("open hub", "ok", 200, f"{HUB_URL}login", 100),
        Step("callback", "ok" if ok else "failed", 200 if ok else 500, f"{HUB_URL}x", 50, detail),
    )
    failure = None if ok else Failure(FailureKind.HTTP, "callback", detail, 500)
    obs = Observation(hub, steps, failure, SecretCheck("valid", 400, "invalid_grant"), HUB_URL)
    return ProbeResult(hub, verdict, obs, started_at, 1234)


def trigger_event(r: ProbeResult, key: str = KEY) -> dict[str, Any]:
    return build_event(Action("trigger", key, r.verdict, "opened"), r, hub_url=HUB_URL)


def resolve_event(key: str = KEY) -> dict[str, Any]:
    return build_event(Action("resolve", key, reason="recovered"), None)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    try:
        yield s
    finally:
        s.close()


def everything_stored(url: str) -> bytes:
    """All the store holds: a SQLite file's every byte (free pages too); every row of every
    table of a PostgreSQL database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        return Path(parsed.database).read_bytes()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = [
                "\t".join(map(str, row)).encode()
                for table in inspect(conn).get_table_names()
                for row in conn.execute(text(f'SELECT * FROM "{table}"'))
            ]
    finally:
        engine.dispose()
    return b"\n".join(rows)


def record(
    store: Store,
    r: ProbeResult | None,
    moved: dict[str, Track] | None = None,
    events: list[dict[str, Any]] | None = None,
    now: float = NOW,
) -> None:
    store.record(r.to_json() if r else None, moved or {}, events or [], now, NOW_ISO)


# -- record ------------------------------------------------------------------------------------


def test_new_store_is_empty(store: Store) -> None:
    assert store.tracks() == {}
    assert store.outbox.next_event() is None
    assert store.history(HUB) == []
    assert store.outbox.stats(NOW) == OutboxStats(0, 0.0, 0, None)


def test_record_writes_verdict_tracks_and_events_together(store: Store) -> None:
    r = result()
    open_track = Track(failures=2, open_code="callback_error", opened_at=NOW_ISO, open_key=KEY)
    record(store, r, {KEY: open_track, PROBER_KEY: Track(successes=3)}, [trigger_event(r)])
    [row] = store.history(HUB)
    assert row == {
        "code": "callback_error",
        "severity": "critical",
        "summary": "utoronto: callback_error",
        "step": "callback",
        "started_at": NOW_ISO,
        "duration_ms": 1234,
        "steps": [
            {"name": "open hub", "status": "ok", "http_status": 200, "ms": 100},
            {"name": "callback", "status": "failed", "http_status": 500, "ms": 50},
        ],
        "evidence": None,
    }
    assert store.tracks() == {KEY: open_track, PROBER_KEY: Track(successes=3)}
    got = store.outbox.next_event()
    assert got is not None
    event, due = got
    assert event.dedup_key == KEY
    assert event.event == trigger_event(r)
    assert event.attempts == 0
    assert event.created_at == NOW
    assert due == NOW


def test_record_is_atomic_when_an_event_cannot_be_stored(store: Store) -> None:
    record(store, result(), {KEY: Track(failures=1)})
    bad_event = {"event_action": "trigger"}  # no dedup_key: the insert fails mid-transaction
    with pytest.raises(KeyError):
        record(
            store, result(Code.HUB_ERROR), {KEY: Track(failures=2)}, [resolve_event(), bad_event]
        )
    assert [h["code"] for h in store.history(HUB)] == ["callback_error"]
    assert store.tracks() == {KEY: Track(failures=1)}
    assert store.outbox.next_event() is None


def test_a_hub_first_written_by_a_write_rolled_back_is_written_whole_by_the_next(
    store: Store,
) -> None:
    # Replicas: the first verdict of a new hub loses a race on a shared track (TrackConflict,
    # after its hub's row was inserted in the same transaction): that row never was.
    with pytest.raises(TrackConflict):
        store.record(
            result(hub="new").to_json(),
            {"shared": Track()},
            [],
            NOW,
            NOW_ISO,
            None,
            {"shared": "x"},
        )
    record(store, result(hub="new"))
    record(store, result(hub="newer"))
    assert [h["summary"] for h in store.history("new")] == ["new: callback_error"]
    assert [h["summary"] for h in store.history("newer")] == ["newer: callback_error"]


def test_record_without_a_result_moves_tracks_only(store: Store) -> None:
    store.record(None, {KEY: Track(failures=1)}, [resolve_event()], NOW, NOW_ISO)
    assert store.history(HUB) == []
    assert store.tracks() == {KEY: Track(failures=1)}
    assert store.outbox.next_event() is not None


def test_tracks_are_updated_in_place(store: Store) -> None:
    record(store, None, {KEY: Track(failures=1)})
    record(
        store,
        None,
        {KEY: Track(failures=2, open_code="hub_error", opened_at=NOW_ISO, open_key=KEY)},
    )
    record(store, None, {PROBER_KEY: Track(successes=1)})
    assert store.tracks() == {
        KEY: Track(failures=2, open_code="hub_error", opened_at=NOW_ISO, open_key=KEY),
        PROBER_KEY: Track(successes=1),
    }


# -- the outbox --------------------------------------------------------------------------------


def test_next_event_returns_events_strictly_in_id_order(store: Store) -> None:
    r = result()
    record(store, r, events=[trigger_event(r), resolve_event()])
    record(store, r, events=[trigger_event(r, "loginprobe/other/login")], now=NOW - 100)
    seen: list[tuple[str, str]] = []
    while (got := store.outbox.next_event()) is not None:
        event, _ = got
        seen.append((event.event["event_action"], event.dedup_key))
        store.outbox.delivered(event.id)
    # The third was created "earlier" by the clock, but went in last: it comes out last.
    assert seen == [("trigger", KEY), ("resolve", KEY), ("trigger", "loginprobe/other/login")]


def test_next_event_stays_on_a_deferred_event(store: Store) -> None:
    r = result()
    record(store, r, events=[trigger_event(r), resolve_event()])
    got = store.outbox.next_event()
    assert got is not None
    first, _ = got
    store.outbox.defer(first.id, 1, NOW + 60, "HTTP 500")
    again = store.outbox.next_event()
    assert again is not None
    assert again[0].id == first.id  # a resolve never overtakes its trigger
    assert again[1] == NOW + 60


def test_next_event_skips_rejected_events(store: Store) -> None:
    r = result()
    record(store, r, events=[trigger_event(r), resolve_event()])
    got = store.outbox.next_event()
    assert got is not None
    store.outbox.reject(got[0].id, "400 invalid event")
    nxt = store.outbox.next_event()
    assert nxt is not None
    assert nxt[0].event == resolve_event()
    store.outbox.delivered(nxt[0].id)
    assert store.outbox.next_event() is None


def test_defer_records_attempts_due_time_and_error(store: Store) -> None:
    record(store, None, events=[resolve_event()])
    got = store.outbox.next_event()
    assert got is not None
    store.outbox.defer(got[0].id, 3, NOW + 120, "retry: HTTP 429")
    again = store.outbox.next_event()
    assert again is not None
    event, due = again
    assert event.attempts == 3
    assert due == NOW + 120
    assert store.outbox.stats(NOW).last_error == "retry: HTTP 429"


def test_delivered_deletes_the_event(store: Store) -> None:
    record(store, None, events=[resolve_event()])
    got = store.outbox.next_event()
    assert got is not None
    store.outbox.delivered(got[0].id)
    assert store.outbox.next_event() is None
    assert store.outbox.stats(NOW).depth == 0


def test_outbox_stats_count_depth_age_rejected_and_last_error(store: Store) -> None:
    record(store, None, events=[resolve_event("a")], now=NOW - 300)
    record(store, None, events=[resolve_event("b")], now=NOW - 100)
    record(store, None, events=[resolve_event("c")], now=NOW - 10)
    a = store.outbox.next_event()
    assert a is not None
    store.outbox.reject(a[0].id, "400: invalid event")
    b = store.outbox.next_event()
    assert b is not None
    store.outbox.defer(b[0].id, 1, NOW + 30, "500: Internal Server Error")
    stats = store.outbox.stats(NOW)
    assert stats.depth == 2  # the rejected one is set aside: not waiting, not aging
    assert stats.oldest_age_s == pytest.approx(100.0)
    assert stats.rejected == 1
    assert stats.last_error == "500: Internal Server Error"  # the newest event's error


# -- history -----------------------------------------------------------------------------------


def test_history_is_newest_first_limited_and_per_hub(store: Store) -> None:
    codes = [Code.OK, Code.CALLBACK_ERROR, Code.CLIENT_SECRET_EXPIRED, Code.OK, Code.HUB_ERROR]
    for i, code in enumerate(codes):
        record(store, result(code, started_at=f"2025-01-01T00:0{i}:00+00:00"))
    record(store, result(Code.TIMEOUT, hub="other"))
    assert [h["code"] for h in store.history(HUB)] == [str(c) for c in reversed(codes)]
    assert [h["code"] for h in store.history(HUB, limit=2)] == ["hub_error", "ok"]
    assert store.history(HUB, limit=2)[0]["started_at"] == "2025-01-01T00:04:00+00:00"
    assert [h["code"] for h in store.history("other")] == ["timeout"]
    assert store.history("nobody") == []


def test_history_can_list_only_failures(store: Store) -> None:
    codes = [Code.HUB_ERROR, Code.OK, Code.TIMEOUT, Code.OK]
    for i, code in enumerate(codes):
        record(store, result(code, started_at=f"2025-01-01T00:0{i}:00+00:00"))
    failures = store.history(HUB, 5, failing=True)
    assert [(h["code"], h["started_at"]) for h in failures] == [
        ("timeout", "2025-01-01T00:02:00+00:00"),
        ("hub_error", "2025-01-01T00:00:00+00:00"),
    ]


def test_history_carries_the_evidence_files_a_probe_saved(store: Store) -> None:
    data = result().to_json()
    data["evidence"] = {"dir": "utoronto/20250101T000000Z", "screenshot": "screenshot.png"}
    store.record(data, {}, [], NOW, NOW_ISO)
    [row] = store.history(HUB)
    assert row["evidence"] == data["evidence"]


def test_since_is_the_start_of_the_current_run_of_one_verdict(store: Store) -> None:
    assert store.since(HUB) is None
    codes = [Code.OK, Code.HUB_ERROR, Code.OK, Code.OK, Code.OK]
    for i, code in enumerate(codes):
        record(store, result(code, started_at=f"2025-01-01T00:0{i}:00+00:00"))
    record(store, result(Code.HUB_ERROR, hub="other", started_at="2025-01-01T00:09:00+00:00"))
    assert store.since(HUB) == "2025-01-01T00:02:00+00:00"
    record(store, result(Code.TIMEOUT, started_at="2025-01-01T00:05:00+00:00"))
    assert store.since(HUB) == "2025-01-01T00:05:00+00:00"
    assert store.since("other") == "2025-01-01T00:09:00+00:00"


def test_a_hub_that_never_changed_is_in_its_state_since_its_first_probe(store: Store) -> None:
    for i in range(3):
        record(store, result(Code.OK, started_at=f"2025-01-01T00:0{i}:00+00:00"))
    assert store.since(HUB) == "2025-01-01T00:00:00+00:00"


def plain_ok(hub: str, started_at: str) -> dict[str, Any]:
    """A healthy probe as the prober words it: stored as a compact row."""
    data = result(Code.OK, hub=hub, started_at=started_at).to_json()
    data["verdict"]["summary"] = ok_summary(hub, sum(s["ms"] for s in data["steps"]))
    return data


def test_a_fleets_history_read_at_once_is_what_each_hub_read_alone_says(store: Store) -> None:
    # a: failing now, a failure older than its last 2 probes; b: healthy, failed long ago;
    # c: never failed; d: configured, never probed.
    plan = {
        "a": [Code.HUB_ERROR, Code.OK, Code.OK, Code.TIMEOUT, Code.TIMEOUT],
        "b": [Code.CALLBACK_ERROR, Code.OK, Code.OK, Code.OK, Code.OK],
        "c": [Code.OK] * 5,
    }
    for i in range(5):
        for hub, codes in plan.items():
            at = f"2025-01-01T00:0{i}:00+00:00"
            data = plain_ok(hub, at) if codes[i] is Code.OK else result(codes[i], hub, "", at)
            store.record(data if isinstance(data, dict) else data.to_json(), {}, [], NOW, NOW_ISO)
    hubs = ["a", "b", "c", "d"]
    for limit, limit_ok in ((3, None), (1, None), (3, 1), (10, 2)):
        fleet = store.fleet_history(hubs, limit, limit_ok)
        assert list(fleet) == hubs
        for hub in hubs:
            n = limit_ok if limit_ok and hub in ("b", "c") else limit
            assert fleet[hub].recent == store.history(hub, n), (hub, limit, limit_ok)
            failures = [r for r in fleet[hub].recent if r["code"] != "ok"]
            assert fleet[hub].last_failure == (failures or store.history(hub, 1, True) or [None])[0]
            assert fleet[hub].since == store.since(hub)
    fleet = store.fleet_history(hubs, 2)
    assert (
        fleet["b"].last_failure is not None and fleet["b"].last_failure["code"] == "callback_error"
    )
    assert fleet["c"].last_failure is None and fleet["d"].recent == [] and fleet["d"].since is None
    # The compact rows come back with their step names, as history() gives them.
    assert [s["name"] for s in fleet["c"].recent[0]["steps"]] == ["open hub", "callback"]


def test_a_fleets_history_without_last_failures_reads_the_rest_alike(store: Store) -> None:
    # b's failure is older than its latest probe: only the read of last failures finds it.
    for i, (hub, code) in enumerate(
        [("a", Code.TIMEOUT), ("b", Code.CALLBACK_ERROR), ("b", Code.OK)]
    ):
        at = f"2025-01-01T00:0{i}:00+00:00"
        data = plain_ok(hub, at) if code is Code.OK else result(code, hub, "", at).to_json()
        store.record(data, {}, [], NOW, NOW_ISO)
    full = store.fleet_history(["a", "b"], 1)
    lean = store.fleet_history(["a", "b"], 1, last_failures=False)
    assert full["b"].last_failure is not None and full["a"].last_failure is not None
    for hub in ("a", "b"):
        assert lean[hub].recent == full[hub].recent and lean[hub].since == full[hub].since
        assert lean[hub].last_failure is None


def test_a_step_first_seen_after_a_fleet_read_still_has_its_name(store: Store) -> None:
    store.record(plain_ok("a", "2025-01-01T00:00:00+00:00"), {}, [], NOW, NOW_ISO)
    assert store.fleet_history(["a"], 5)["a"].recent  # the step names are now known
    later = plain_ok("a", "2025-01-01T00:01:00+00:00")
    later["steps"].append({**later["steps"][0], "name": "a new step", "ms": 7})
    later["verdict"]["summary"] = ok_summary("a", sum(s["ms"] for s in later["steps"]))
    store.record(later, {}, [], NOW, NOW_ISO)
    store.record(plain_ok("a", "2025-01-01T00:02:00+00:00"), {}, [], NOW, NOW_ISO)
    [_, compact, _] = store.fleet_history(["a"], 5)["a"].recent
    assert [s["name"] for s in compact["steps"]] == ["open hub", "callback", "a new step"]


def test_a_missing_sqlite_file_is_recognised_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    assert sqlite_file_missing(f"sqlite:///{missing}") == str(missing)
    assert not missing.exists()
    Store(f"sqlite:///{missing}").close()
    assert sqlite_file_missing(f"sqlite:///{missing}") is None
    assert sqlite_file_missing("sqlite://") is None  # in memory
    assert sqlite_file_missing("postgresql://u:p@db/x") is None


# -- durability and errors ---------------------------------------------------------------------


def test_state_survives_closing_and_reopening(store_url: str) -> None:
    url = store_url
    first = Store(url)
    r = result()
    open_track = Track(failures=2, open_code="callback_error", opened_at=NOW_ISO, open_key=KEY)
    record(first, r, {KEY: open_track}, [trigger_event(r), resolve_event()])
    got = first.outbox.next_event()
    assert got is not None
    first.outbox.defer(got[0].id, 2, NOW + 60, "refused")
    first.close()

    second = Store(url)
    try:
        assert second.tracks() == {KEY: open_track}
        assert [h["code"] for h in second.history(HUB)] == ["callback_error"]
        again = second.outbox.next_event()
        assert again is not None
        assert again[0].event == trigger_event(r)
        assert again[0].attempts == 2
        assert again[1] == NOW + 60
        assert second.outbox.stats(NOW) == OutboxStats(2, 0.0, 0, "refused")
    finally:
        second.close()


def test_bad_url_raises_store_error_naming_the_url() -> None:
    with pytest.raises(StoreError) as info:
        Store("nosuchdb://x")
    message = str(info.value)
    assert "nosuchdb://x" in message
    assert "\n" not in message


def test_unwritable_location_raises_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no/such/dir/s.sqlite"
    with pytest.raises(StoreError) as info:
        Store(url)
    assert url in str(info.value)


# -- secrets -----------------------------------------------------------------------------------

SECRET = "hunter2-client-secret-9f8e7d6c"


def test_events_stored_in_the_outbox_hold_no_routing_key(store: Store, store_url: str) -> None:
    routing_key = "R0ut1ngK3ySecretR0ut1ngK3ySecret"
    r = result()
    record(store, r, {KEY: Track(failures=2)}, [trigger_event(r), resolve_event()])
    store.close()
    raw = everything_stored(store_url)
    assert routing_key.encode() not in raw
    assert b"routing_key" not in raw
    assert b"loginprobe/utoronto/login" in raw  # sanity: the events are in this file


def test_redacted_result_details_keep_the_secret_out_of_the_file(
    store: Store, store_url: str
) -> None:
    r = result(detail=f"token endpoint said: bad client_secret={SECRET}")
    redactor = Redactor([SECRET])
    store.record(redactor.data(r.to_json()), {KEY: Track(failures=1)}, [], NOW, NOW_ISO)
    store.close()
    raw = everything_stored(store_url)
    assert b"token endpoint said" in raw  # sanity: the result is in this file
    assert SECRET.encode() not in raw


def test_secret_in_a_verdict_summary_never_reaches_the_file(store: Store, store_url: str) -> None:
    # The summary quotes the token endpoint's error_description, which the secret check keeps
    # unredacted; the caller hands record() the redacted JSON, as monitor.handle does.
    r = result(summary=f'{HUB}: client secret rejected (invalid_client "bad secret {SECRET}")')
    redactor = Redactor([SECRET])
    store.record(redactor.data(r.to_json()), {KEY: Track(failures=1)}, [], NOW, NOW_ISO)
    store.close()
    raw = everything_stored(store_url)
    assert b"client secret rejected" in raw  # sanity: the verdict is in this file
    assert SECRET.encode() not in raw


def test_store_error_never_shows_a_database_password() -> None:
    with pytest.raises(StoreError) as info:
        Store("postgresql://probe:hunter2-db-password@127.0.0.1:1/loginprobe")
    message = str(info.value)
    assert "hunter2-db-password" not in message
    assert "postgresql://probe:***@127.0.0.1:1/loginprobe" in message
    assert "\n" not in message


def test_an_empty_file_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"")
    with pytest.raises(StoreError) as info:
        Store(f"sqlite:///{path}")
    assert "empty file (0 bytes)" in str(info.value) and "\n" not in str(info.value)
    assert path.stat().st_size == 0  # nothing was created in it


def _corrupt_store(tmp_path: Path) -> Path:
    """A store of 200 verdicts whose pages past the header and the schema are scribbled over."""
    path = tmp_path / "state.sqlite"
    store = Store(f"sqlite:///{path}")
    for i in range(200):
        record(store, result(Code.OK, started_at=f"2025-01-01T00:00:{i % 60:02d}+00:00"))
    store.close()
    data = bytearray(path.read_bytes())
    for i in range(4096 * 2, len(data), 3):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))
    return path


def test_a_store_with_corrupt_pages_is_refused_at_open(tmp_path: Path) -> None:
    path = _corrupt_store(tmp_path)
    with pytest.raises(StoreError) as info:
        Store(f"sqlite:///{path}")
    assert "\n" not in str(info.value)


def test_a_reader_skips_the_page_check_and_corrupt_pages_fail_its_reads(tmp_path: Path) -> None:
    path = _corrupt_store(tmp_path)
    reader = Store(f"sqlite:///{path}", check_pages=False)  # no walk through the whole file
    with pytest.raises(SQLAlchemyError):
        reader.fleet_history([HUB], 10)
    reader.close()


# -- PostgreSQL: what goes wrong says so in one line, without the password ----------------------


@pytest.mark.parametrize(
    ("password", "database", "reason"),
    [
        ("wrong-password", "postgres", 'password authentication failed for user "loginprobe"'),
        (PASSWORD, "no_such_db", 'database "no_such_db" does not exist'),
    ],
)
def test_a_postgresql_store_that_refuses_us_says_why_in_one_line_without_the_password(
    postgres_server: PostgresServer, password: str, database: str, reason: str
) -> None:
    url = postgres_server.url(database, password)
    with pytest.raises(StoreError) as info:
        Store(url)
    shown = url.replace(f":{password}@", ":***@")
    assert str(info.value) == f"cannot open the state store {shown!r}: {reason}"
    assert password not in str(info.value)


def test_a_postgresql_server_that_is_not_there_says_so_in_one_line() -> None:
    url = f"postgresql+psycopg://loginprobe:{PASSWORD}@127.0.0.1:1/loginprobe"
    with pytest.raises(StoreError) as info:
        Store(url)
    assert str(info.value) == (
        "cannot open the state store 'postgresql+psycopg://loginprobe:***@127.0.0.1:1/loginprobe': "
        "Connection refused"
    )


def test_a_read_only_postgresql_database_is_found_before_the_first_verdict(
    postgres_server: PostgresServer,
) -> None:
    from loginprobe.preflight import store_problem

    url = postgres_server.fresh_store_database()
    name = make_url(url).database
    engine = create_engine(postgres_server.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # What a hot standby, or a database an operator froze, answers to every write.
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    finally:
        engine.dispose()
    store = Store(url)  # at the newest schema: opening it reads only
    try:
        with pytest.raises(SQLAlchemyError, match="read-only transaction"):
            check_writable(store.engine)
    finally:
        store.close()
    problem = store_problem(url)
    assert problem is not None
    assert problem.startswith("the state store is not writable: ")
    assert "read-only transaction" in problem and PASSWORD not in problem


def test_a_writable_postgresql_store_passes_the_write_check(store_url: str) -> None:
    store = Store(store_url)
    try:
        check_writable(store.engine)
        assert store.tracks() == {}  # the check's write was rolled back, the store still works
    finally:
        store.close()


def test_connections_the_postgresql_server_dropped_are_replaced_before_use(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.fresh_store_database()
    store = Store(url)
    try:
        record(store, result())  # a pooled connection now exists
        admin = create_engine(postgres_server.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                # What a server restart or a failover does to every open connection.
                dropped = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db"
                    ),
                    {"db": make_url(url).database},
                ).scalar()
        finally:
            admin.dispose()
        assert dropped == 1
        record(store, result(Code.OK), now=NOW + 60)  # no error: not a lost write
        assert [h["code"] for h in store.history(HUB)] == ["ok", "callback_error"]
    finally:
        store.close()
