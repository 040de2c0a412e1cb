"""`probe test-alert` and `probe run --alert` against the local PagerDuty receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import Sandbox
from tests.integration.conftest import Prober

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def _fresh_receiver(sandbox: Sandbox) -> Iterator[None]:
    sandbox.pagerduty.accepted.clear()
    sandbox.pagerduty.set_mode("ok")
    yield
    sandbox.pagerduty.set_mode("ok")


def test_test_alert_triggers_and_resolves_a_labelled_event(prober: Prober) -> None:
    run = prober.run("test-alert")
    assert run.code == 0, run.stderr
    events = prober.sandbox.pagerduty.accepted
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert events[0]["dedup_key"] == events[1]["dedup_key"]
    assert events[0]["dedup_key"].startswith("loginprobe/test-alert/")
    assert events[0]["payload"]["severity"] == "info"
    assert "test alert" in events[0]["payload"]["summary"]
    assert events[0]["routing_key"] == prober.sandbox.routing_key


def test_test_alert_says_clearly_when_pagerduty_is_unreachable(prober: Prober) -> None:
    prober.sandbox.pagerduty.set_mode("refuse")
    run = prober.run("test-alert")
    assert run.code == 1
    assert "PagerDuty did not accept the test trigger" in run.stderr
    assert "Traceback" not in run.stderr


def test_run_alert_pages_a_failing_hub_once(prober: Prober) -> None:
    prober.sandbox.set_fault("secret_expired")
    run = prober.run("run", "sandbox", "--alert")
    assert run.code == 1
    assert "paged PagerDuty: trigger loginprobe/sandbox/login" in run.stderr
    (event,) = prober.sandbox.pagerduty.accepted
    assert event["dedup_key"] == "loginprobe/sandbox/login"
    assert event["payload"]["class"] == "client_secret_expired"
    assert event["payload"]["component"] == "oauth_callback"


def test_run_alert_on_a_healthy_hub_sends_nothing(prober: Prober) -> None:
    run = prober.run("run", "sandbox", "--alert")
    assert run.code == 0
    assert "no page sent: the hub is healthy" in run.stderr
    assert prober.sandbox.pagerduty.accepted == []


def test_test_alert_json_reports_each_event_and_hides_the_routing_key(prober: Prober) -> None:
    run = prober.run("test-alert", "--json")
    assert run.code == 0, run.stderr
    report = run.json
    assert report["ok"] is True
    assert [(e["event_action"], e["outcome"], e["http_status"]) for e in report["events"]] == [
        ("trigger", "accepted", 202),
        ("resolve", "accepted", 202),
    ]
    assert report["dedup_key"] == prober.sandbox.pagerduty.accepted[0]["dedup_key"]
    prober.sandbox.pagerduty.set_mode("refuse")
    failed = prober.run("test-alert", "--json")
    assert failed.code == 1
    assert failed.json["ok"] is False
    assert failed.json["events"][0]["outcome"] == "retry"
