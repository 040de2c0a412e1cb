"""sandbox/pagerduty.py validate(): the stand-in stays as strict as PagerDuty's documentation."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.pagerduty import validate

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
