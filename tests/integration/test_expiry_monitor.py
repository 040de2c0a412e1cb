"""Declared expiry through the monitor: probes over weeks of (injected) calendar, events in the
outbox, delivered to the HTTPS PagerDuty stand-in; resolved when the config is updated."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loginprobe.model import Code, Observation, ProbeResult, SecretCheck, Severity, Verdict
from loginprobe.monitor.service import Monitor
from sandbox.pagerduty import PagerDutyReceiver
from tests.integration.conftest import drain, offline_monitor

HUB = """[hubs.h]
url = "https://hub.example.org"
flow = "generic_oidc"
username_env = "T_USER"
password_env = "T_PASS"
[hubs.h.oauth]
token_url = "https://idp.example.org/token"
client_id = "hub"
client_secret_env = "T_SECRET"
secret_expires = 2027-09-01
"""


class Calendar:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()


def ok_result() -> ProbeResult:
    verdict = Verdict(Code.OK, Severity.INFO, "h: logged in")
    obs = Observation(
        "h", (), None, SecretCheck("valid", 400, "invalid_grant"), "https://hub.example.org"
    )
    return ProbeResult("h", verdict, obs, "2027-08-01T00:00:00+00:00", 1500)


async def probe_and_drain(monitor: Monitor) -> None:
    await monitor.pipeline.on_probe(ok_result())
    await drain(monitor)


def test_expiry_pages_once_per_lead_time_and_resolves_when_the_date_is_updated(
    tmp_path: Path, receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calendar = Calendar(datetime(2027, 7, 20, tzinfo=UTC))
    monitor = offline_monitor(
        tmp_path, receiver, monkeypatch, HUB, env={"T_SECRET": "s-value-long"}, clock=calendar
    )

    # A probe every 12 hours from 43 days before the date to the day before it.
    while calendar.now < datetime(2027, 8, 31, 12, tzinfo=UTC):
        asyncio.run(probe_and_drain(monitor))
        calendar.now += timedelta(hours=12)
    # Each stage is a new incident on its own key (so it notifies someone even when the one
    # before was acknowledged), opened before the previous stage is resolved.
    sent = [
        (e["event_action"], e["dedup_key"], e.get("payload", {}).get("severity"))
        for e in receiver.accepted
    ]
    k = "loginprobe/h/expiry"
    assert sent == [
        ("trigger", f"{k}/30d", "warning"),
        ("trigger", f"{k}/14d", "warning"),
        ("resolve", f"{k}/30d", None),
        ("trigger", f"{k}/7d", "error"),
        ("resolve", f"{k}/14d", None),
        ("trigger", f"{k}/1d", "error"),
        ("resolve", f"{k}/7d", None),
    ]
    triggers = [e for e in receiver.accepted if e["event_action"] == "trigger"]
    assert {e["payload"]["class"] for e in triggers} == {"secret_expiring"}
    assert "expires in 1 day (on 2027-09-01)" in triggers[-1]["payload"]["summary"]
    assert b'oauth_client_secret_expiry_timestamp_seconds{hub="h"} 1.8' in monitor.metrics.render()

    # Rotated: the config now says 2029; the next probe resolves the warning.
    config = monitor.settings.loaded.path
    config.write_text(config.read_text().replace("2027-09-01", "2029-09-01"))
    assert asyncio.run(monitor.reload(config))
    asyncio.run(probe_and_drain(monitor))
    assert receiver.brief(receiver.accepted[-1]) == f"resolve {k}/1d"
    assert len(receiver.accepted) == 8
    monitor.store.close()
