"""The journal and the outbox sender against a real SQLite store and PagerDuty in memory: a store
that cannot be written never silences a page, and the sender never dies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import event

from loginprobe.alerting.pagerduty import PagerDutySender
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.tracks.track import Track
from loginprobe.redact import Redactor
from loginprobe.store import Store
from tests.unit.fakes import ROUTING_KEY, FakePagerDuty, until

NOW = 1_700_000_000.0
ISO = "2023-11-14T22:13:20+00:00"


def trigger(key: str) -> dict[str, object]:
    return {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": f"{key} is down", "source": "hub", "severity": "critical"},
    }


def verdict(hub: str) -> dict[str, object]:
    return {
        "hub": hub,
        "verdict": {"code": "hub_error", "severity": "critical", "summary": "x", "step": None},
        "started_at": ISO,
        "duration_ms": 1,
    }


def read_only(store: Store, on: bool = True) -> None:
    """SQLite refuses every write on this store's connections from now on (query_only), as it
    does for a read-only file; `on=False` lets it write again."""
    store.engine.dispose()
    event.remove(store.engine, "connect", _query_only) if not on else event.listen(
        store.engine, "connect", _query_only
    )


def _query_only(dbapi_connection: object, _: object) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/state.sqlite")
    yield s
    s.close()


@pytest.fixture
def pd() -> FakePagerDuty:
    return FakePagerDuty()


def sender_for(pd: FakePagerDuty) -> PagerDutySender:
    return PagerDutySender(ROUTING_KEY, "https://events.example.org", transport=pd.transport)


def outbox(store: Store, journal: Journal, pd: FakePagerDuty, **kw: object) -> OutboxSender:
    return OutboxSender(
        store,
        journal,
        sender_for(pd),
        lambda: Redactor(),
        retry_delay=lambda n: 0.01,
        **kw,  # type: ignore[arg-type]
    )


async def drain(o: OutboxSender) -> None:
    while await o.flush_once():
        pass


# -- the journal --------------------------------------------------------------------------------
def test_a_write_the_store_refuses_is_held_in_order_and_counted(store: Store) -> None:
    errors: list[int] = []
    journal = Journal(store, on_error=lambda: errors.append(1), clock=lambda: NOW)
    read_only(store)
    asyncio.run(journal.write(verdict("a"), {"k": Track(failures=1)}, [trigger("k")], NOW, ISO))
    asyncio.run(journal.write(verdict("a"), {"k": Track(failures=2)}, [], NOW + 1, ISO))
    assert not journal.writable and journal.failing_since == NOW
    assert "readonly" in (journal.last_error or "")
    assert len(journal.held) == 2 and len(errors) == 2
    assert [e.dedup_key for e in journal.due()] == ["k"]


def test_a_store_that_cannot_be_read_at_take_up_is_one_line_not_a_traceback(
    store: Store, tmp_path: Path
) -> None:
    """A monitor taking up hubs while the store is away: it starts from no tracks and says so
    in one line each, with the store's own words."""
    journal = Journal(store)
    store.engine.dispose()
    (tmp_path / "state.sqlite").unlink()
    (tmp_path / "state.sqlite").mkdir()  # no file SQLite can open there now
    with structlog.testing.capture_logs() as logs:
        tracks, silences = journal.read_back(NOW)
    assert tracks == {} and silences is None
    said = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in said] == [
        "cannot read the incident tracks; starting from none",
        "cannot read the silences; none until the store answers",
    ]
    assert all("exc_info" not in e and "unable to open" in e["error"] for e in said), said


def test_when_the_store_recovers_everything_held_is_written_without_what_was_delivered(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    read_only(store)
    asyncio.run(
        journal.write(
            verdict("a"), {"k": Track(failures=2, open_code="x")}, [trigger("k")], NOW, ISO
        )
    )
    asyncio.run(journal.write(verdict("b"), {}, [trigger("k2")], NOW, ISO))
    o = outbox(store, journal, pd)
    asyncio.run(drain(o))  # both go out from memory while the store refuses writes
    assert pd.brief() == ["trigger k", "trigger k2"]
    read_only(store, on=False)
    assert asyncio.run(journal.flush())
    assert journal.writable and journal.held == []
    assert store.tracks()["k"].open_code == "x"
    assert [h["code"] for h in store.history("a")] == ["hub_error"]
    assert store.outbox.next_event() is None  # delivered from memory: not queued again
    asyncio.run(drain(o))
    assert pd.brief() == ["trigger k", "trigger k2"]  # nothing sent twice


def test_an_event_held_in_memory_is_retried_until_pagerduty_takes_it(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    read_only(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    pd.mode = "500"
    o = outbox(store, journal, pd)
    assert not asyncio.run(o.flush_once())
    assert journal.due()[0].attempts == 1
    pd.mode = "ok"

    async def later() -> None:
        await asyncio.sleep(0.02)
        await drain(o)

    asyncio.run(later())
    assert pd.brief() == ["trigger k"]


# -- the sender -----------------------------------------------------------------------------------
def test_the_sender_survives_an_error_that_is_not_pagerdutys_and_delivers_afterwards(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    o = outbox(store, journal, pd)
    pd.mode = "raise"  # e.g. "client has been closed", a decoding error, a database error

    async def go() -> None:
        o.start()
        await until(lambda: o.crashes >= 2, what="two crashes")
        assert o.alive
        pd.mode = "ok"
        o.wake()
        await until(lambda: bool(pd.accepted), what="the delivery")
        assert o.alive
        await o.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert pd.brief() == ["trigger k"]
    assert store.outbox.stats(NOW).depth == 0


def test_a_rejected_event_is_set_aside_and_the_ones_behind_it_go_out(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    asyncio.run(journal.write(None, {}, [trigger("bad")], NOW, ISO))
    asyncio.run(journal.write(None, {}, [trigger("good")], NOW, ISO))
    o = outbox(store, journal, pd)
    pd.mode = "400"
    assert asyncio.run(o.flush_once())  # set aside: look again at once
    pd.mode = "ok"
    asyncio.run(drain(o))
    assert pd.brief() == ["trigger good"]
    stats = store.outbox.stats(NOW)
    assert (stats.depth, stats.rejected) == (0, 1)
    (rejected,) = store.outbox.rejected()
    assert rejected.dedup_key == "bad" and "HTTP 400" in (rejected.last_error or "")
    assert store.outbox.retry(rejected.id, NOW)
    asyncio.run(drain(o))
    assert pd.brief() == ["trigger good", "trigger bad"]


def test_an_event_delivered_while_the_store_cannot_record_it_is_not_sent_again(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    o = outbox(store, journal, pd)
    read_only(store)
    asyncio.run(drain(o))
    asyncio.run(drain(o))
    assert pd.brief() == ["trigger k"]
    read_only(store, on=False)
    asyncio.run(o.flush_once())  # now the removal is written
    assert store.outbox.next_event() is None
    assert pd.brief() == ["trigger k"]


def test_a_reload_never_closes_the_client_under_a_send_in_flight(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    o = outbox(store, journal, pd)
    pd.mode = "block"
    second = FakePagerDuty()

    async def go() -> None:
        send = asyncio.ensure_future(o.flush_once())
        await until(pd.entered.is_set, what="the send in flight, in its thread")
        o.use(sender_for(second))  # SIGHUP: a new config's client
        await asyncio.sleep(0.05)
        pd.unblock.set()
        assert await send  # the send in flight finished on its own client
        await journal.write(None, {}, [trigger("k2")], NOW, ISO)
        await drain(o)

    asyncio.run(asyncio.wait_for(go(), 30))
    assert pd.brief() == ["trigger k"]
    assert second.brief() == ["trigger k2"]


def test_nothing_is_sent_while_the_lease_says_no(store: Store, pd: FakePagerDuty) -> None:
    journal = Journal(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    o = outbox(store, journal, pd, may_send=lambda: False)
    asyncio.run(drain(o))
    assert pd.accepted == []


def test_where_replicas_share_the_store_pages_it_cannot_take_wait_for_it(
    store: Store, pd: FakePagerDuty
) -> None:
    journal = Journal(store)
    read_only(store)
    asyncio.run(journal.write(None, {}, [trigger("k")], NOW, ISO))
    o = outbox(store, journal, pd, from_memory=lambda: False)
    asyncio.run(drain(o))
    assert pd.accepted == []  # a replica losing its hubs would forget it ever sent this
    read_only(store, on=False)
    assert asyncio.run(journal.flush())
    asyncio.run(drain(o))
    assert pd.brief() == ["trigger k"]  # once in the store, it goes out from there


def test_a_record_taken_out_while_the_store_wrote_another_leaves_the_rest_held(
    store: Store,
) -> None:
    """A hub handed to another replica drops its held records while the store writes another
    hub's: the written record leaves memory, not the one that happens to be first by then."""
    journal = Journal(store)
    read_only(store)
    asyncio.run(journal.write(verdict("a"), {}, [], NOW, ISO, "a"))
    asyncio.run(journal.write(verdict("b"), {}, [], NOW + 1, ISO, "b"))
    read_only(store, on=False)
    first = journal.held[0]

    def record(*args: object) -> None:
        journal.held = [r for r in journal.held if r is not first]  # hub a handed over
        real(*args)

    real = store.record
    store.record = record  # type: ignore[method-assign]
    assert asyncio.run(journal.flush())  # nothing held any more
    assert [h["code"] for h in store.history("b")] == ["hub_error"]  # b's verdict was written
