"""paging: Events API v2 bodies (pure) and PagerDutySender against the sandbox's real HTTPS receiver.

`loginprobe.alerting.pagerduty.test_event` is reached through the module: imported by name, pytest would
collect it as a test.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from loginprobe.alerting import pagerduty as paging
from loginprobe.alerting.pagerduty import (
    SUMMARY_LIMIT,
    Delivery,
    PagerDutySender,
    build_event,
    tls_context,
)
from loginprobe.model import (
    Code,
    Evidence,
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
from loginprobe.monitor.tracks.track import Action
from sandbox.pagerduty import PagerDutyReceiver, validate

HUB = "utoronto"
HUB_URL = "https://hub.utoronto.example.org:8443/hub/"
KEY = login_key(HUB)
ROUTING_KEY = "R0ut1ngK3ySecretR0ut1ngK3ySecret"  # 32 characters, as PagerDuty demands
LOCATION = "probe-eu-1"
RUNBOOK = "https://wiki.example.org/runbooks/hub-login"

STEPS = (
    Step("open hub", "ok", 200, "https://hub.utoronto.example.org:8443/hub/login", 120),
    Step("idp login", "ok", 200, "https://idp.example.org/login", 800),
    Step(
        "callback",
        "failed",
        500,
        "https://hub.utoronto.example.org:8443/hub/oauth_callback?code=***&state=***",
        95,
        "500 : Internal Server Error",
    ),
)
SECRET_CHECK = SecretCheck(
    "expired",
    401,
    "invalid_client",
    "client secret is expired",
    "the token endpoint says the client secret has expired",
    ms=40,
)
VERDICT = Verdict(
    code=Code.CLIENT_SECRET_EXPIRED,
    severity=Severity.CRITICAL,
    summary=f'{HUB}: the OAuth client secret has expired (token endpoint: invalid_client "client secret is expired")',
    step="callback",
    evidence={"http_status": 500, "error": "invalid_client"},
)


def probe_result(verdict: Verdict = VERDICT) -> ProbeResult:
    obs = Observation(
        hub=HUB,
        steps=STEPS,
        failure=Failure(FailureKind.HTTP, "callback", "500", 500, STEPS[2].url),
        secret_check=SECRET_CHECK,
        hub_url=HUB_URL,
    )
    return ProbeResult(HUB, verdict, obs, "2025-01-01T00:00:00+00:00", 1100)


def trigger(verdict: Verdict = VERDICT) -> Action:
    return Action("trigger", KEY, verdict, reason="opened")


def trigger_event(**kwargs: Any) -> dict[str, Any]:
    return build_event(trigger(), probe_result(), hub_url=HUB_URL, location=LOCATION, **kwargs)


# -- build_event: the trigger body -------------------------------------------------------------


def test_trigger_event_follows_the_events_api_contract() -> None:
    event = trigger_event()
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "loginprobe/utoronto/login"
    payload = event["payload"]
    assert payload["summary"] == VERDICT.summary
    assert payload["source"] == "hub.utoronto.example.org"
    assert payload["severity"] == "critical"
    assert payload["component"] == "callback"
    assert payload["class"] == "client_secret_expired"
    assert set(event) <= {"event_action", "dedup_key", "payload", "links", "images", "client"}


def test_trigger_event_custom_details_carry_the_timeline_and_evidence() -> None:
    details = trigger_event()["payload"]["custom_details"]
    steps = details["steps"]
    assert isinstance(steps, list)
    assert all(isinstance(s, str) for s in steps)
    assert len(steps) == len(STEPS)
    for line, step in zip(steps, STEPS, strict=True):
        assert line.startswith(step.name)
        assert step.status in line
        assert f"{step.ms} ms" in line
    assert "500" in steps[2]
    assert "Internal Server Error" in steps[2]
    assert details["evidence"] == VERDICT.evidence
    assert details["probe_location"] == LOCATION
    assert "expired" in details["secret_check"]
    assert "invalid_client" in details["secret_check"]
    assert details["verdict"] == "client_secret_expired"
    assert details["failing_step"] == "callback"
    assert details["probe_duration_ms"] == 1100
    assert "runbook" not in details


def test_trigger_event_links_to_the_hub() -> None:
    event = trigger_event()
    assert [link["href"] for link in event["links"]] == [HUB_URL]


def test_runbook_url_adds_a_link_and_a_detail() -> None:
    event = trigger_event(runbook_url=RUNBOOK)
    assert [link["href"] for link in event["links"]] == [HUB_URL, RUNBOOK]
    assert event["payload"]["custom_details"]["runbook"] == RUNBOOK


def test_trigger_event_never_holds_a_routing_key() -> None:
    for event in (
        trigger_event(runbook_url=RUNBOOK),
        build_event(Action("resolve", KEY, reason="recovered"), None),
    ):
        assert "routing_key" not in json.dumps(event)


def test_long_summary_is_truncated_to_pagerduty_limit() -> None:
    long = Verdict(Code.CALLBACK_ERROR, Severity.ERROR, f"{HUB}: " + "x" * 3000, step="callback")
    event = build_event(trigger(long), probe_result(long), hub_url=HUB_URL)
    assert SUMMARY_LIMIT == 1024
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"] == long.summary[:1024]


def test_trigger_without_step_or_result_still_has_the_required_fields() -> None:
    bare = Verdict(Code.PROBE_ERROR, Severity.WARNING, "prober: browser crashed")
    event = build_event(Action("trigger", "loginprobe/prober", bare), None, location=LOCATION)
    payload = event["payload"]
    assert payload["summary"] == "prober: browser crashed"
    assert payload["source"] == LOCATION  # no hub URL: the probe's location
    assert payload["severity"] == "warning"
    assert payload["component"] == "prober"
    assert payload["class"] == "probe_error"
    assert "links" not in event
    assert "steps" not in payload["custom_details"]


def test_resolve_event_is_exactly_action_and_key() -> None:
    action = Action("resolve", KEY, reason="recovered")
    assert build_event(action, probe_result(), hub_url=HUB_URL, runbook_url=RUNBOOK) == {
        "event_action": "resolve",
        "dedup_key": KEY,
    }


def test_test_event_is_clearly_labelled_as_a_test() -> None:
    event = paging.test_event(LOCATION)
    assert event["event_action"] == "trigger"
    assert "test" in event["payload"]["summary"].lower()
    assert event["payload"]["severity"] == "info"
    assert event["payload"]["source"] == LOCATION
    assert event["dedup_key"].startswith("loginprobe/test-alert/")
    assert paging.test_event(LOCATION)["dedup_key"] != event["dedup_key"]
    assert "routing_key" not in event


def test_tls_context_keeps_verification_on() -> None:
    ctx = tls_context()
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname


# -- PagerDutySender against the real local receiver --------------------------------------------


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PagerDutyReceiver]:
    rx = PagerDutyReceiver(tmp_path)
    rx.start()
    try:
        yield rx
    finally:
        rx.stop()


@pytest.fixture
def sender(
    receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PagerDutySender]:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    s = PagerDutySender(ROUTING_KEY, receiver.url, ca_file=str(receiver.ca_file), timeout=5)
    try:
        yield s
    finally:
        s.close()


def assert_no_routing_key(delivery: Delivery) -> None:
    assert ROUTING_KEY not in delivery.message
    assert ROUTING_KEY not in repr(delivery)


def test_trigger_is_accepted_and_recorded_with_the_routing_key(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    delivery = sender.send(trigger_event(runbook_url=RUNBOOK))
    assert delivery == Delivery("accepted", 202, "", KEY)
    [got] = receiver.accepted
    assert got["routing_key"] == ROUTING_KEY
    assert len(got["routing_key"]) == 32
    assert got["event_action"] == "trigger"
    assert got["dedup_key"] == KEY
    assert got["payload"]["class"] == "client_secret_expired"
    assert got["links"][0]["href"] == HUB_URL


def test_resolve_is_accepted_with_the_same_key(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    assert sender.send(trigger_event()).outcome == "accepted"
    delivery = sender.send(build_event(Action("resolve", KEY, reason="recovered"), None))
    assert delivery.outcome == "accepted"
    assert delivery.dedup_key == KEY
    assert [(e["event_action"], e["dedup_key"]) for e in receiver.accepted] == [
        ("trigger", KEY),
        ("resolve", KEY),
    ]


def test_long_summary_event_is_accepted(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    long = Verdict(Code.CALLBACK_ERROR, Severity.ERROR, "y" * 5000, step="callback")
    delivery = sender.send(build_event(trigger(long), probe_result(long), hub_url=HUB_URL))
    assert delivery.outcome == "accepted"
    assert len(receiver.accepted[0]["payload"]["summary"]) == 1024


def test_test_event_is_accepted(receiver: PagerDutyReceiver, sender: PagerDutySender) -> None:
    event = paging.test_event(LOCATION)
    delivery = sender.send(event)
    assert delivery.outcome == "accepted"
    assert delivery.dedup_key == event["dedup_key"]


def test_server_error_is_retried_later(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    receiver.set_mode("500")
    delivery = sender.send(trigger_event())
    assert delivery.outcome == "retry"
    assert delivery.status == 500
    assert receiver.accepted == []
    assert_no_routing_key(delivery)


def test_rate_limit_is_retried_later_and_returns_promptly(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    receiver.set_mode("429")
    started = time.monotonic()
    delivery = sender.send(trigger_event())
    elapsed = time.monotonic() - started
    assert delivery.outcome == "retry"
    assert delivery.status == 429
    assert elapsed < 8, f"a 429 held the sender for {elapsed:.1f}s"
    assert receiver.accepted == []
    assert_no_routing_key(delivery)


def test_refused_connection_is_retried_later(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    receiver.set_mode("refuse")
    delivery = sender.send(trigger_event())
    assert delivery.outcome == "retry"
    assert delivery.status is None
    assert delivery.message
    assert_no_routing_key(delivery)


def test_delivery_resumes_once_the_receiver_is_back(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    receiver.set_mode("refuse")
    assert sender.send(trigger_event()).outcome == "retry"
    receiver.set_mode("ok")
    assert sender.send(trigger_event()).outcome == "accepted"
    assert len(receiver.accepted) == 1


def test_invalid_event_is_rejected_with_pagerduty_error_text(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    event = trigger_event()
    event["payload"]["severity"] = "urgent"
    delivery = sender.send(event)
    assert delivery.outcome == "rejected"
    assert delivery.status == 400
    assert "payload.severity" in delivery.message
    assert "invalid" in delivery.message
    assert receiver.accepted == []
    assert_no_routing_key(delivery)


def test_routing_key_echoed_by_the_server_is_scrubbed_from_the_message(
    receiver: PagerDutyReceiver, sender: PagerDutySender
) -> None:
    # The receiver names unknown top-level fields in its error; make one of them the key itself.
    event = {**trigger_event(), ROUTING_KEY: "x"}
    delivery = sender.send(event)
    assert delivery.outcome == "rejected"
    assert delivery.status == 400
    assert "is not a valid field" in delivery.message
    assert_no_routing_key(delivery)


def test_sender_without_the_test_ca_fails_tls_verification(
    receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    s = PagerDutySender(ROUTING_KEY, receiver.url, ca_file=None, timeout=5)
    try:
        delivery = s.send(trigger_event())
    finally:
        s.close()
    assert delivery.outcome == "retry"
    assert delivery.status is None
    assert "certificate" in delivery.message.lower() or "ssl" in delivery.message.lower()
    assert receiver.accepted == []
    assert_no_routing_key(delivery)


def test_tls_context_honours_ssl_cert_file(
    receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.ca_file))
    s = PagerDutySender(ROUTING_KEY, receiver.url, ca_file=None, timeout=5)
    try:
        delivery = s.send(trigger_event())
    finally:
        s.close()
    assert delivery.outcome == "accepted"
    assert len(receiver.accepted) == 1


def test_tls_context_is_built_once_per_set_of_ca_files_and_follows_the_environment(
    receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    plain = tls_context()
    assert tls_context() is plain  # not the CA bundle read again at every secret check
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.ca_file))
    trusting = tls_context()
    assert len(trusting.get_ca_certs()) == len(plain.get_ca_certs()) + 1
    assert tls_context() is trusting
    monkeypatch.delenv("SSL_CERT_FILE")
    # A directory of CAs by their hash names (as `openssl rehash` makes it) is trusted too.
    ca_dir = receiver.ca_file.parent / "ca-dir"
    ca_dir.mkdir()
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(receiver.ca_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(receiver.ca_file, ca_dir / f"{subject_hash}.0")
    monkeypatch.setenv("SSL_CERT_DIR", str(ca_dir))
    sender = PagerDutySender(ROUTING_KEY, receiver.url, ca_file=None, timeout=5)
    try:
        assert sender.send(trigger_event()).outcome == "accepted"
    finally:
        sender.close()


def test_a_ca_file_changed_in_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "proxy-ca.pem"
    old, new = trustme.CA(), trustme.CA()
    old.cert_pem.write_to_path(str(path))
    before = tls_context(str(path))
    assert tls_context(str(path)) is before
    new.cert_pem.write_to_path(str(path))  # the proxy's CA rotated; then the config reloads
    after = tls_context(str(path))
    new_der = ssl.PEM_cert_to_DER_cert(new.cert_pem.bytes().decode())
    assert new_der in after.get_ca_certs(binary_form=True)


# -- links to the evidence, the status page and the runbook -------------------------------------
PUBLIC = "https://probe.example.org"
EVIDENCE = Evidence(
    dir="/var/lib/loginprobe/artifacts/utoronto/20250101T000000Z",
    ref="utoronto/20250101T000000Z",
    screenshot="/var/lib/loginprobe/artifacts/utoronto/20250101T000000Z/screenshot.png",
    html="/var/lib/loginprobe/artifacts/utoronto/20250101T000000Z/page.html",
    trace="/var/lib/loginprobe/artifacts/utoronto/20250101T000000Z/trace.zip",
)


def event_with_evidence(evidence: Evidence | None = EVIDENCE, **kwargs: Any) -> dict[str, Any]:
    result = dataclasses.replace(probe_result(), evidence=evidence)
    return build_event(trigger(), result, hub_url=HUB_URL, location=LOCATION, **kwargs)


def test_public_url_links_the_status_page_and_every_evidence_file() -> None:
    event = event_with_evidence(public_url=PUBLIC, runbook_url=RUNBOOK)
    base = f"{PUBLIC}/artifacts/utoronto/20250101T000000Z"
    hrefs = [link["href"] for link in event["links"]]
    assert hrefs == [
        HUB_URL,
        f"{PUBLIC}/",
        f"{base}/screenshot.png",
        f"{base}/trace.zip",
        f"{base}/page.html",
        RUNBOOK,
    ]
    assert all(link["text"] for link in event["links"])
    assert event["images"] == [
        {
            "src": f"{base}/screenshot.png",
            "href": f"{base}/screenshot.png",
            "alt": "utoronto: the page where the probe failed",
        }
    ]
    details = event["payload"]["custom_details"]
    assert details["status_page"] == f"{PUBLIC}/"
    assert details["artifacts"]["trace"] == f"{base}/trace.zip"
    assert validate({**event, "routing_key": ROUTING_KEY}) == []


def test_a_plain_http_public_url_gets_links_but_no_image() -> None:
    # PagerDuty shows images only from HTTPS sources.
    event = event_with_evidence(public_url="http://probe.internal:9464")
    assert "images" not in event
    assert "http://probe.internal:9464/artifacts/utoronto/20250101T000000Z/trace.zip" in [
        link["href"] for link in event["links"]
    ]
    assert validate({**event, "routing_key": ROUTING_KEY}) == []


def test_without_public_url_the_event_names_the_evidence_directory_only() -> None:
    event = event_with_evidence()
    assert [link["href"] for link in event["links"]] == [HUB_URL]
    assert "images" not in event
    assert event["payload"]["custom_details"]["artifacts_dir"] == EVIDENCE.dir


def test_evidence_missing_a_file_links_only_what_exists() -> None:
    partial = dataclasses.replace(EVIDENCE, screenshot=None, html=None)
    event = event_with_evidence(partial, public_url=PUBLIC)
    assert "images" not in event
    assert [link["href"].rsplit("/", 1)[-1] for link in event["links"][2:]] == ["trace.zip"]


def test_a_probe_without_evidence_still_links_the_status_page() -> None:
    event = event_with_evidence(None, public_url=PUBLIC)
    assert [link["href"] for link in event["links"]] == [HUB_URL, f"{PUBLIC}/"]
    assert "artifacts" not in event["payload"]["custom_details"]


def test_expiry_event_links_status_page_and_runbook() -> None:
    from datetime import date

    from loginprobe.monitor.tracks.expiry import ExpiryNotice

    notice = ExpiryNotice(
        kind="secret",
        hub=HUB,
        expires=date(2025, 2, 1),
        days_left=6.5,
        stage=7,
        severity=Severity.ERROR,
        summary=f"{HUB}: client secret expires in 7 days",
    )
    event = paging.build_expiry_event(
        notice,
        "loginprobe/utoronto/expiry",
        hub_url=HUB_URL,
        public_url=PUBLIC,
        runbook_url=RUNBOOK,
    )
    assert [link["href"] for link in event["links"]] == [HUB_URL, f"{PUBLIC}/", RUNBOOK]
    assert event["payload"]["custom_details"]["runbook"] == RUNBOOK
    assert validate({**event, "routing_key": ROUTING_KEY}) == []
