"""A PagerDuty Events API v2 receiver on loopback, as strict as PagerDuty documents it.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ — POST /v2/enqueue with a JSON
body: routing_key (32 characters), event_action (trigger | acknowledge | resolve), dedup_key (up to
255 characters; required but for triggers), and for triggers a payload with summary (up to 1024
characters), source and severity (critical | error | warning | info). Answers 202
{"status": "success", "message": "Event processed", "dedup_key": ...}, or 400 {"status": "invalid
event", "message": "Event object is invalid", "errors": [...]}.

HTTPS with a certificate from a CA made here (trustme): the `pagerduty` client refuses anything
else. Switches: answer 500, answer 429, or refuse connections; every accepted event is recorded.

Behind the endpoint, PagerDuty's incident model decides who is woken, and tests assert on that,
not on events (https://support.pagerduty.com/docs/event-management, "Deduplicate Alerts"): per
dedup key, a trigger with no open incident opens one and notifies on-call; a trigger while an
incident is open (even acknowledged) is appended to its alert log and notifies no one; acknowledge
and resolve change an open incident and are ignored otherwise; after a resolve, the next trigger
opens a new incident and notifies again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import trustme

from sandbox.https import JsonHandler, serve_https, server_context, stop_https

Mode = Literal["ok", "500", "429", "refuse"]
IncidentState = Literal["open", "acknowledged", "resolved"]
SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}
TOP_LEVEL = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "links",
    "images",
    "client",
    "client_url",
}
PAYLOAD_KEYS = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}


def validate(event: Any) -> list[str]:
    """PagerDuty's checks on an event; empty when it would be accepted."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = [f"'{k}' is not a valid field" for k in event if k not in TOP_LEVEL]
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > 255):
        errors.append("'dedup_key' must be a non-empty string of at most 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append(f"'dedup_key' is required for event_action {action}")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or invalid")
        else:
            errors += [
                f"'payload.{k}' is not a valid field" for k in payload if k not in PAYLOAD_KEYS
            ]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary:
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append(
                    "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
                )
            if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
                errors.append("'payload.custom_details' must be an object")
        errors += _links_and_images(event)
    return errors


def _links_and_images(event: dict[str, Any]) -> list[str]:
    """links: [{href, text?}]; images: [{src, href?, alt?}], src served over HTTPS (PagerDuty's
    Events API v2 documentation)."""
    errors = []
    links, images = event.get("links", []), event.get("images", [])
    if not isinstance(links, list):
        return ["'links' must be an array"]
    if not isinstance(images, list):
        return ["'images' must be an array"]
    for link in links:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str) or not link["href"]:
            errors.append("'links' entries need an 'href'")
            continue
        errors += [f"'links.{k}' is not a valid field" for k in link if k not in ("href", "text")]
        if "text" in link and not isinstance(link["text"], str):
            errors.append("'links.text' must be a string")
    for image in images:
        if not isinstance(image, dict) or not isinstance(image.get("src"), str):
            errors.append("'images' entries need a 'src'")
            continue
        if not image["src"].startswith("https://"):
            errors.append("'images.src' must be served over HTTPS")
        errors += [
            f"'images.{k}' is not a valid field" for k in image if k not in ("src", "href", "alt")
        ]
        errors += [
            f"'images.{k}' must be a string"
            for k in ("href", "alt")
            if k in image and not isinstance(image[k], str)
        ]
    return errors


@dataclass(frozen=True)
class Notification:
    """What a person was told: an incident opened."""

    dedup_key: str
    summary: str
    severity: str
    at: float  # Unix time
    incident: int  # which incident of this key it opened: 1, 2, ...


@dataclass(frozen=True)
class KeyIncidents:
    """One dedup key as PagerDuty sees it."""

    state: IncidentState  # of its latest incident
    incidents: int  # incidents opened on this key so far (each one notified someone)
    appended: int  # triggers folded into an open incident of this key (nobody notified)


@dataclass
class _Key:
    state: IncidentState
    incidents: int = 1
    appended: int = 0


class IncidentModel:
    """PagerDuty's incidents, per dedup key, from the events it accepted. Not thread-safe: the
    receiver calls it under its lock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self.notifications: list[Notification] = []

    def apply(self, event: dict[str, Any]) -> None:
        """An accepted event (validated, its dedup_key filled in)."""
        key, action = event["dedup_key"], event["event_action"]
        current = self._keys.get(key)
        is_open = current is not None and current.state != "resolved"
        if action == "trigger":
            if current is not None and is_open:
                current.appended += 1
                return
            if current is None:
                self._keys[key] = current = _Key("open")
            else:
                current.state, current.incidents = "open", current.incidents + 1
            payload = event["payload"]
            self.notifications.append(
                Notification(
                    key, payload["summary"], payload["severity"], self._clock(), current.incidents
                )
            )
        elif action == "acknowledge":
            if current is not None and current.state == "open":
                current.state = "acknowledged"
        elif action == "resolve" and current is not None and is_open:
            current.state = "resolved"

    def acknowledge(self, key: str) -> None:
        """On-call presses "Acknowledge" on the key's open incident."""
        current = self._keys.get(key)
        if current is None or current.state == "resolved":
            raise ValueError(f"no open incident to acknowledge for {key!r}")
        current.state = "acknowledged"

    def incidents(self) -> dict[str, KeyIncidents]:
        return {k: KeyIncidents(v.state, v.incidents, v.appended) for k, v in self._keys.items()}


class PagerDutyReceiver:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ca = trustme.CA()
        self.ca_file = workdir / "pagerduty-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._ctx = server_context(self.ca)
        self.mode: Mode = "ok"
        self.accepted: list[dict[str, Any]] = []  # every event answered 202, in order
        self.rejected: list[tuple[dict[str, Any], list[str]]] = []
        self.refused_or_failed = 0  # requests answered 500/429
        self.model = IncidentModel()
        # Reentrant (Condition's default lock): wait_for's predicate may read notifications.
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                if self.path != "/v2/enqueue":
                    self.answer(404, {"status": "not found"})
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._handle(self, raw)

        self._server = serve_https(Handler, self._ctx, self.port)
        self.port = self._server.server_address[1]

    def _handle(self, handler: Any, raw: bytes) -> None:
        if self.mode == "500":
            with self._cond:
                self.refused_or_failed += 1
            handler.answer(500, {"status": "error", "message": "Internal Server Error"})
            return
        if self.mode == "429":
            with self._cond:
                self.refused_or_failed += 1
            handler.answer(
                429,
                {
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly. Please retry later.",
                },
            )
            return
        try:
            event = json.loads(raw)
        except ValueError:
            handler.answer(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["body is not JSON"],
                },
            )
            return
        errors = validate(event)
        if errors:
            with self._cond:
                self.rejected.append((event, errors))
            handler.answer(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
            return
        key = event.get("dedup_key") or uuid.uuid4().hex
        with self._cond:
            self.accepted.append({**event, "dedup_key": key, "_received_at": time.time()})
            self.model.apply({**event, "dedup_key": key})
            self._cond.notify_all()
        handler.answer(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    # -- what a person would see -------------------------------------------------------------
    @property
    def notifications(self) -> list[Notification]:
        """Every incident that notified on-call, in order."""
        with self._cond:
            return list(self.model.notifications)

    def incidents(self) -> dict[str, KeyIncidents]:
        """Per dedup key: its latest incident's state, incidents so far, triggers appended."""
        with self._cond:
            return self.model.incidents()

    def acknowledge(self, key: str) -> None:
        """On-call acknowledges the key's open incident (ValueError if none is open)."""
        with self._cond:
            self.model.acknowledge(key)
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget every event and incident (a shared receiver between tests)."""
        with self._cond:
            self.accepted.clear()
            self.rejected.clear()
            self.refused_or_failed = 0
            self.model = IncidentModel()

    def stop(self) -> None:
        if self._server is not None:
            stop_https(self._server)
            self._server = None

    def set_mode(self, mode: Mode) -> None:
        """'refuse' closes the port (connection refused); any other mode reopens it."""
        if mode == "refuse":
            self.stop()
        elif self._server is None:
            self.start()  # the same port: the client's URL stays valid
        self.mode = mode

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """Block until predicate(accepted events) holds; the events, or TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.accepted):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"PagerDuty receiver: condition not met in {timeout}s; "
                        f"accepted so far: {[self.brief(e) for e in self.accepted]}"
                    )
                self._cond.wait(left)
            return list(self.accepted)

    @staticmethod
    def brief(event: dict[str, Any]) -> str:
        cls = (event.get("payload") or {}).get("class", "")
        return f"{event['event_action']} {event['dedup_key']} {cls}".strip()
