"""sandbox/pagerduty.py: the stand-in stays as strict as PagerDuty's documentation (validate), and
models PagerDuty's incidents per dedup key, so tests can assert on who would be woken.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.pagerduty import (
    IncidentModel,
    KeyIncidents,
    Notification,
    PagerDutyReceiver,
    validate,
)

ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters


def trigger(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "loginprobe/utoronto/login",
        "payload": {
            "summary": "utoronto: the OAuth client secret has expired",
            "source": "hub.example.org",
            "severity": "critical",
        },
    }
    event.update(changes)
    return event


def with_payload(**changes: Any) -> dict[str, Any]:
    event = trigger()
    event["payload"] = {**event["payload"], **changes}
    return event


def without_payload_key(key: str) -> dict[str, Any]:
    event = trigger()
    del event["payload"][key]
    return event


def without(key: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


RESOLVE = {
    "routing_key": ROUTING_KEY,
    "event_action": "resolve",
    "dedup_key": "loginprobe/utoronto/login",
}


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        pytest.param(trigger(routing_key="a" * 31), "routing_key", id="routing-key-31"),
        pytest.param(trigger(routing_key="a" * 33), "routing_key", id="routing-key-33"),
        pytest.param(without("routing_key", trigger()), "routing_key", id="routing-key-missing"),
        pytest.param(trigger(routing_key=12345), "routing_key", id="routing-key-not-string"),
        pytest.param(trigger(event_action="escalate"), "event_action", id="unknown-action"),
        pytest.param(without("event_action", trigger()), "event_action", id="no-action"),
        pytest.param(without("dedup_key", RESOLVE), "dedup_key", id="resolve-without-key"),
        pytest.param(
            {**without("dedup_key", RESOLVE), "event_action": "acknowledge"},
            "dedup_key",
            id="acknowledge-without-key",
        ),
        pytest.param(without("payload", trigger()), "payload", id="trigger-without-payload"),
        pytest.param(trigger(payload="oops"), "payload", id="payload-not-object"),
        pytest.param(without_payload_key("summary"), "summary", id="no-summary"),
        pytest.param(with_payload(summary=""), "summary", id="blank-summary"),
        pytest.param(without_payload_key("source"), "source", id="no-source"),
        pytest.param(with_payload(source=""), "source", id="blank-source"),
        pytest.param(without_payload_key("severity"), "severity", id="no-severity"),
        pytest.param(with_payload(severity="urgent"), "severity", id="severity-urgent"),
        pytest.param(with_payload(severity="CRITICAL"), "severity", id="severity-uppercase"),
        pytest.param(with_payload(summary="s" * 1025), "1024", id="summary-1025"),
        pytest.param(trigger(dedup_key="k" * 256), "dedup_key", id="dedup-key-256"),
        pytest.param(trigger(dedup_key=""), "dedup_key", id="dedup-key-empty"),
        pytest.param(trigger(dedup_key=7), "dedup_key", id="dedup-key-not-string"),
        pytest.param(trigger(priority="P1"), "priority", id="unknown-top-level-field"),
        pytest.param(with_payload(urgency="high"), "urgency", id="unknown-payload-field"),
        pytest.param(with_payload(custom_details=["a", "b"]), "custom_details", id="details-list"),
        pytest.param(with_payload(custom_details="text"), "custom_details", id="details-str"),
        pytest.param(trigger(links=[{"text": "no href"}]), "href", id="link-without-href"),
        pytest.param(trigger(links={"href": "https://x"}), "array", id="links-not-array"),
        pytest.param(
            trigger(links=[{"href": "https://x", "title": "t"}]), "links.title", id="link-title"
        ),
        pytest.param(trigger(images=[{"alt": "no src"}]), "src", id="image-without-src"),
        pytest.param(
            trigger(images=[{"src": "http://probe.example.org/a.png"}]),
            "HTTPS",
            id="image-over-http",
        ),
        pytest.param(
            trigger(images=[{"src": "https://p.example.org/a.png", "text": "t"}]),
            "images.text",
            id="image-unknown-field",
        ),
        pytest.param(
            trigger(images=[{"src": "https://p.example.org/a.png", "alt": 3}]),
            "images.alt",
            id="image-alt-not-string",
        ),
        pytest.param(["not", "an", "object"], "JSON object", id="not-an-object"),
    ],
)
def test_validate_rejects_what_pagerduty_rejects(event: Any, complaint: str) -> None:
    errors = validate(event)
    assert errors, "the receiver accepted an event PagerDuty would refuse"
    assert any(complaint in e for e in errors), errors


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(trigger(), id="minimal-trigger"),
        pytest.param(without("dedup_key", trigger()), id="trigger-without-key"),
        pytest.param(RESOLVE, id="resolve-with-key"),
        pytest.param({**RESOLVE, "event_action": "acknowledge"}, id="acknowledge-with-key"),
        pytest.param(with_payload(summary="s" * 1024), id="summary-1024"),
        pytest.param(trigger(dedup_key="k" * 255), id="dedup-key-255"),
        pytest.param(with_payload(severity="info"), id="severity-info"),
        pytest.param(with_payload(severity="warning"), id="severity-warning"),
        pytest.param(with_payload(severity="error"), id="severity-error"),
        pytest.param(
            with_payload(
                component="callback",
                group="hubs",
                timestamp="2025-01-01T00:00:00Z",
                custom_details={"steps": ["open hub: ok"], "evidence": {"http_status": 500}},
                **{"class": "client_secret_expired"},
            ),
            id="full-payload",
        ),
        pytest.param(
            trigger(
                links=[{"href": "https://hub.example.org", "text": "the hub"}],
                images=[
                    {
                        "src": "https://probe.example.org/artifacts/h/20260101T000000Z/screenshot.png",
                        "href": "https://probe.example.org/",
                        "alt": "the failing page",
                    }
                ],
                client="loginprobe",
                client_url="https://status.example.org",
            ),
            id="all-top-level-fields",
        ),
    ],
)
def test_validate_accepts_what_pagerduty_accepts(event: dict[str, Any]) -> None:
    assert validate(event) == []


def test_validate_reports_every_problem_at_once() -> None:
    event = trigger(routing_key="short", event_action="trigger", extra=1)
    event["payload"] = {"summary": "", "source": "", "severity": "urgent"}
    errors = validate(event)
    assert len(errors) == 5, errors


# -- the incident model ---------------------------------------------------------------------------
KEY = "loginprobe/utoronto/login"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def event(action: str, key: str = KEY, summary: str = "down", severity: str = "critical") -> dict:
    e: dict[str, Any] = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": key}
    if action == "trigger":
        e["payload"] = {"summary": summary, "source": "hub.example.org", "severity": severity}
    return e


@pytest.fixture
def model() -> IncidentModel:
    return IncidentModel(clock=Clock())


def test_a_trigger_with_no_open_incident_opens_one_and_notifies(model: IncidentModel) -> None:
    model.apply(event("trigger", summary="utoronto: secret expired", severity="critical"))
    assert model.notifications == [
        Notification(KEY, "utoronto: secret expired", "critical", 1_001.0, incident=1)
    ]
    assert model.incidents() == {KEY: KeyIncidents("open", incidents=1, appended=0)}


def test_a_trigger_on_an_open_incident_is_appended_and_notifies_nobody(
    model: IncidentModel,
) -> None:
    model.apply(event("trigger", summary="callback_error"))
    model.apply(event("trigger", summary="client_secret_expired"))  # a better explanation
    model.apply(event("trigger", summary="client_secret_expired"))  # a replay after a restart
    assert [n.summary for n in model.notifications] == ["callback_error"]
    assert model.incidents()[KEY] == KeyIncidents("open", incidents=1, appended=2)


def test_after_an_acknowledge_a_worse_trigger_on_the_same_key_reaches_nobody(
    model: IncidentModel,
) -> None:
    """Issue 10, defect 6: why an escalation that must reach a person needs its own key."""
    model.apply(event("trigger", "loginprobe/h/expiry", "expires in 30 days", "warning"))
    model.acknowledge("loginprobe/h/expiry")
    model.apply(event("trigger", "loginprobe/h/expiry", "expires in 1 day", "error"))
    assert [n.summary for n in model.notifications] == ["expires in 30 days"]
    assert model.incidents()["loginprobe/h/expiry"] == KeyIncidents("acknowledged", 1, 1)


def test_an_escalation_on_its_own_key_notifies_again(model: IncidentModel) -> None:
    model.apply(event("trigger", "loginprobe/h/expiry/30d", "expires in 30 days", "warning"))
    model.acknowledge("loginprobe/h/expiry/30d")
    model.apply(event("resolve", "loginprobe/h/expiry/30d"))
    model.apply(event("trigger", "loginprobe/h/expiry/1d", "expires in 1 day", "error"))
    assert [(n.dedup_key, n.severity) for n in model.notifications] == [
        ("loginprobe/h/expiry/30d", "warning"),
        ("loginprobe/h/expiry/1d", "error"),
    ]
    assert model.incidents()["loginprobe/h/expiry/30d"].state == "resolved"


def test_a_trigger_after_a_resolve_opens_a_new_incident_and_notifies(
    model: IncidentModel,
) -> None:
    model.apply(event("trigger", summary="first outage"))
    model.apply(event("resolve"))
    assert model.incidents()[KEY] == KeyIncidents("resolved", incidents=1, appended=0)
    model.apply(event("trigger", summary="second outage"))
    assert [(n.summary, n.incident) for n in model.notifications] == [
        ("first outage", 1),
        ("second outage", 2),
    ]
    assert model.incidents()[KEY] == KeyIncidents("open", incidents=2, appended=0)


def test_the_acknowledge_event_acknowledges_an_open_incident(model: IncidentModel) -> None:
    model.apply(event("trigger"))
    model.apply(event("acknowledge"))
    assert model.incidents()[KEY].state == "acknowledged"
    model.apply(event("resolve"))
    assert model.incidents()[KEY].state == "resolved"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_without_an_open_incident_changes_nothing(
    model: IncidentModel, action: str
) -> None:
    model.apply(event(action))  # never triggered
    assert model.incidents() == {}
    model.apply(event("trigger"))
    model.apply(event("resolve"))
    model.apply(event(action))  # already resolved: does not reopen or count
    assert model.incidents()[KEY] == KeyIncidents("resolved", incidents=1, appended=0)
    assert len(model.notifications) == 1


def test_on_call_can_acknowledge_only_an_open_incident(model: IncidentModel) -> None:
    with pytest.raises(ValueError, match="no open incident"):
        model.acknowledge(KEY)
    model.apply(event("trigger"))
    model.acknowledge(KEY)
    assert model.incidents()[KEY].state == "acknowledged"
    model.apply(event("resolve"))
    with pytest.raises(ValueError, match="no open incident"):
        model.acknowledge(KEY)


def test_keys_are_independent(model: IncidentModel) -> None:
    model.apply(event("trigger", "loginprobe/a/login"))
    model.apply(event("trigger", "loginprobe/b/login"))
    model.apply(event("resolve", "loginprobe/a/login"))
    assert {k: v.state for k, v in model.incidents().items()} == {
        "loginprobe/a/login": "resolved",
        "loginprobe/b/login": "open",
    }
    assert len(model.notifications) == 2


# -- the same, through the receiver's HTTPS endpoint ----------------------------------------------
@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PagerDutyReceiver]:
    r = PagerDutyReceiver(tmp_path)
    r.start()
    yield r
    r.stop()


def post(receiver: PagerDutyReceiver, body: dict[str, Any]) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(receiver.ca_file))
    request = urllib.request.Request(
        f"{receiver.url}/v2/enqueue",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=ctx, timeout=10) as answer:
        assert answer.status == 202
        reply: dict[str, Any] = json.loads(answer.read())
        return reply


def test_the_receiver_tracks_incidents_of_the_events_it_accepts(
    receiver: PagerDutyReceiver,
) -> None:
    post(receiver, event("trigger", summary="down"))
    post(receiver, event("acknowledge"))
    post(receiver, event("trigger", summary="still down"))
    receiver.wait_for(lambda _: receiver.incidents()[KEY].appended == 1, timeout=5)
    assert [n.summary for n in receiver.notifications] == ["down"]
    assert receiver.incidents()[KEY] == KeyIncidents("acknowledged", incidents=1, appended=1)
    assert [e["event_action"] for e in receiver.accepted] == ["trigger", "acknowledge", "trigger"]
    post(receiver, event("resolve"))
    post(receiver, event("trigger", summary="down again"))
    assert [(n.summary, n.incident) for n in receiver.notifications] == [
        ("down", 1),
        ("down again", 2),
    ]


def test_a_trigger_without_a_dedup_key_is_an_incident_of_its_own(
    receiver: PagerDutyReceiver,
) -> None:
    one = post(receiver, without("dedup_key", event("trigger", summary="one")))
    two = post(receiver, without("dedup_key", event("trigger", summary="two")))
    assert one["dedup_key"] != two["dedup_key"]
    assert [n.dedup_key for n in receiver.notifications] == [one["dedup_key"], two["dedup_key"]]


def test_a_rejected_event_changes_no_incident(receiver: PagerDutyReceiver) -> None:
    bad = event("trigger")
    bad["payload"]["severity"] = "urgent"
    with pytest.raises(urllib.error.HTTPError) as err:
        post(receiver, bad)
    assert err.value.code == 400
    assert receiver.incidents() == {}
    assert receiver.notifications == []


def test_reset_forgets_events_and_incidents(receiver: PagerDutyReceiver) -> None:
    post(receiver, event("trigger"))
    receiver.reset()
    assert receiver.accepted == []
    assert receiver.incidents() == {}
    assert receiver.notifications == []
    post(receiver, event("trigger"))
    assert [n.incident for n in receiver.notifications] == [1]
