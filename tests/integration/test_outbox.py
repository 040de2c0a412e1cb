"""The monitor's outbox against the local HTTPS PagerDuty receiver (no browser needed):
delivery order, retry with backoff, and what happens to an event PagerDuty rejects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loginprobe.monitor.outbox import backoff
from loginprobe.monitor.service import Monitor
from sandbox.pagerduty import PagerDutyReceiver
from tests.integration.conftest import TEST_ROUTING_KEY, drain, offline_monitor


@pytest.fixture
def monitor(
    tmp_path: Path, receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Monitor]:
    m = offline_monitor(tmp_path, receiver, monkeypatch)
    yield m
    m.store.close()


def trigger(key: str, severity: str = "critical") -> dict[str, object]:
    return {
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": f"{key} is down", "source": "hub.example", "severity": severity},
    }


def enqueue(m: Monitor, *events: dict[str, object]) -> None:
    m.store.record(None, {}, list(events), time.time(), "2026-11-26T00:00:00+00:00")


def flush_all(m: Monitor) -> None:
    asyncio.run(drain(m))


def test_events_go_out_in_order_and_leave_the_outbox_only_when_accepted(
    monitor: Monitor, receiver: PagerDutyReceiver
) -> None:
    enqueue(
        monitor,
        trigger("loginprobe/a/login"),
        {"event_action": "resolve", "dedup_key": "loginprobe/a/login"},
    )
    flush_all(monitor)
    assert [receiver.brief(e) for e in receiver.accepted] == [
        "trigger loginprobe/a/login",
        "resolve loginprobe/a/login",
    ]
    assert receiver.accepted[0]["routing_key"] == TEST_ROUTING_KEY
    assert monitor.store.outbox_stats(time.time()).depth == 0


def test_a_failed_delivery_is_kept_and_retried_after_a_backoff(
    monitor: Monitor, receiver: PagerDutyReceiver
) -> None:
    enqueue(monitor, trigger("loginprobe/a/login"))
    receiver.set_mode("500")
    flush_all(monitor)
    item = monitor.store.next_event()
    assert item is not None
    event, due = item
    assert event.attempts == 1
    assert due - time.time() == pytest.approx(backoff(1), abs=1.0)
    receiver.set_mode("ok")
    flush_all(monitor)  # not due yet: nothing goes out early
    assert receiver.accepted == []
    assert [backoff(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_a_rejected_event_is_kept_for_a_human_and_shown_on_healthz_and_metrics(
    monitor: Monitor, receiver: PagerDutyReceiver
) -> None:
    enqueue(
        monitor, trigger("loginprobe/a/login", severity="urgent"), trigger("loginprobe/b/login")
    )
    flush_all(monitor)
    # The bad event is set aside; the good one behind it still goes out.
    assert [receiver.brief(e) for e in receiver.accepted] == ["trigger loginprobe/b/login"]
    stats = monitor.store.outbox_stats(time.time())
    assert (stats.depth, stats.rejected) == (1, 1)
    _, body = monitor.health()
    assert body["status"] in ("degraded", "failing")
    assert any("rejected by PagerDuty" in p and "severity" in p for p in body["problems"])
    assert b"loginprobe_outbox_rejected_events 1.0" in monitor.metrics.render()
