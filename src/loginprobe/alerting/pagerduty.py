"""PagerDuty, in its own corner: building Events API v2 events (pure) and sending them.

Events are built without the routing key, so what sits in the outbox holds no secret; the key is
added by the `pagerduty` client at send time. Sending is synchronous (the client is), so the
caller runs it in a thread. The client's own sleeps and retries are switched off: the outbox
retries, with backoff, across restarts.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import urlsplit

import pagerduty

from loginprobe.model import Evidence, ProbeResult
from loginprobe.monitor.tracks.expiry import ExpiryNotice
from loginprobe.monitor.tracks.track import Action
from loginprobe.prober.tlscheck import tls_context

SUMMARY_LIMIT = 1024
# The client logs retries through stdlib logging; ours are the ones that count.
logging.getLogger("pagerduty").addHandler(logging.NullHandler())
logging.getLogger("pagerduty").propagate = False


def evidence_links(evidence: Evidence, public_url: str) -> dict[str, str]:
    """The URLs `probe serve` answers for a probe's evidence files (web.py: /artifacts/...)."""
    base = f"{public_url.rstrip('/')}/artifacts/{evidence.ref}"
    files = {"screenshot": evidence.screenshot, "html": evidence.html, "trace": evidence.trace}
    return {what: f"{base}/{PurePath(path).name}" for what, path in files.items() if path}


def _links_and_images(
    hub_url: str, public_url: str, runbook_url: str, result: ProbeResult | None
) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, Any]]:
    """PagerDuty's `links` ({href, text}) and `images` ({src, href, alt}; src must be HTTPS),
    and the same URLs for custom_details."""
    links = [{"href": hub_url, "text": "the hub"}] if hub_url else []
    images: list[dict[str, str]] = []
    details: dict[str, Any] = {}
    if public_url:
        status = public_url.rstrip("/") + "/"
        links.append({"href": status, "text": "loginprobe status page"})
        details["status_page"] = status
    evidence = result.evidence if result is not None else None
    if evidence is not None and public_url:
        urls = evidence_links(evidence, public_url)
        details["artifacts"] = urls
        if "screenshot" in urls:
            links.append({"href": urls["screenshot"], "text": "screenshot of the failing page"})
            if urls["screenshot"].startswith("https://"):
                alt = f"{result.hub}: the page where the probe failed" if result else "screenshot"
                images.append({"src": urls["screenshot"], "href": urls["screenshot"], "alt": alt})
        if "trace" in urls:
            links.append(
                {
                    "href": urls["trace"],
                    "text": "Playwright trace (open with playwright show-trace)",
                }
            )
        if "html" in urls:
            links.append({"href": urls["html"], "text": "HTML of the failing page"})
    elif evidence is not None:
        details["artifacts_dir"] = evidence.dir  # on the probe's machine: no public_url set
    if runbook_url:
        details["runbook"] = runbook_url
        links.append({"href": runbook_url, "text": "runbook"})
    return links, images, details


def build_event(
    action: Action,
    result: ProbeResult | None,
    *,
    hub_url: str = "",
    location: str = "",
    runbook_url: str = "",
    public_url: str = "",
) -> dict[str, Any]:
    """The Events API v2 body for an action (without routing_key)."""
    if action.kind == "resolve":
        return {"event_action": "resolve", "dedup_key": action.dedup_key}
    verdict = action.verdict
    assert verdict is not None, "a trigger carries its verdict"
    host = urlsplit(hub_url).hostname or location or "loginprobe"
    details: dict[str, Any] = {
        "verdict": str(verdict.code),
        "summary": verdict.summary,
        "failing_step": verdict.step,
        "evidence": verdict.evidence,
        "probe_location": location,
    }
    if result is not None:
        details["steps"] = [
            f"{s.name}: {s.status}"
            + (f" {s.http_status}" if s.http_status else "")
            + f" in {s.ms} ms"
            + (f" — {s.url}" if s.url else "")
            + (f" ({s.detail})" if s.detail else "")
            for s in result.observation.steps
        ]
        details["probe_started_at"] = result.started_at
        details["probe_duration_ms"] = result.duration_ms
        sc = result.observation.secret_check
        if sc is not None:
            details["secret_check"] = f"{sc.outcome}: {sc.evidence}"
    links, images, more = _links_and_images(hub_url, public_url, runbook_url, result)
    details.update(more)
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": action.dedup_key,
        "payload": {
            "summary": verdict.summary[:SUMMARY_LIMIT],
            "source": host,
            "severity": str(verdict.severity),
            "component": verdict.step or "prober",
            "class": str(verdict.code),
            "custom_details": details,
        },
    }
    if links:
        event["links"] = links
    if images:
        event["images"] = images
    return event


@dataclass(frozen=True)
class Delivery:
    outcome: Literal["accepted", "retry", "rejected"]
    status: int | None = None
    message: str = ""
    dedup_key: str | None = None


class PagerDutySender:
    """Sends one event; says whether PagerDuty took it, may take it later, or never will."""

    def __init__(
        self, routing_key: str, events_url: str, ca_file: str | None = None, timeout: int = 10
    ) -> None:
        self._client = pagerduty.EventsApiV2Client(
            routing_key, base_url=events_url, verify=tls_context(ca_file)
        )
        self._client.timeout = timeout
        self._client.max_network_attempts = 0
        self._client.sleep_timer = 0
        # One attempt each; a retry map entry also stops the client's endless 429 loop.
        self._client.retry = {429: 1, 500: 1, 502: 1, 503: 1, 504: 1}
        self._routing_key = routing_key

    def close(self) -> None:
        self._client.close()

    def send(self, event: dict[str, Any]) -> Delivery:
        body = {k: v for k, v in event.items() if k not in ("event_action", "dedup_key")}
        try:
            key = self._client.send_event(
                event["event_action"], dedup_key=event.get("dedup_key"), **body
            )
        except pagerduty.HttpError as err:
            if err.response is None:
                return Delivery("retry", None, _scrub(str(err), self._routing_key)[:300])
            status = err.response.status_code
            message = _scrub(err.response.text[:500], self._routing_key)
            if status == 429 or status >= 500:
                return Delivery("retry", status, message)
            return Delivery("rejected", status, message)
        except pagerduty.Error as err:  # network: refused, reset, TLS, timeout
            cause = err.__cause__ or err
            return Delivery(
                "retry", None, _scrub(f"{type(cause).__name__}: {cause}", self._routing_key)[:300]
            )
        return Delivery("accepted", 202, "", key)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def test_event(location: str) -> dict[str, Any]:
    """A clearly labelled event for `probe test-alert`."""
    return {
        "event_action": "trigger",
        "dedup_key": f"loginprobe/test-alert/{uuid.uuid4()}",
        "payload": {
            "summary": "loginprobe test alert — checking the routing key; resolves itself, "
            "nothing is broken",
            "source": location or "loginprobe",
            "severity": "info",
            "component": "test-alert",
            "class": "test_alert",
        },
    }


def build_expiry_event(
    notice: ExpiryNotice,
    dedup_key: str,
    *,
    hub_url: str = "",
    location: str = "",
    runbook_url: str = "",
    public_url: str = "",
) -> dict[str, Any]:
    """The trigger for a secret or certificate nearing (or past) its expiry."""
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": notice.summary[:SUMMARY_LIMIT],
            "source": urlsplit(hub_url).hostname or location or "loginprobe",
            "severity": str(notice.severity),
            "component": "oauth_client_secret" if notice.kind == "secret" else "tls_certificate",
            "class": f"{notice.kind}_expiring",
            "custom_details": {
                "expires": notice.expires.isoformat(),
                "days_left": round(notice.days_left, 1),
                "warning_stage_days": notice.stage,
                "probe_location": location,
            },
        },
    }
    links, _, more = _links_and_images(hub_url, public_url, runbook_url, None)
    event["payload"]["custom_details"].update(more)
    if links:
        event["links"] = links
    return event
