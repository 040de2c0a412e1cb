"""The incident state machine: when a run of verdicts becomes a page, and when the page resolves.

Pure. One Track per hub (concern "login") and one for the prober itself. A hub's track opens an
incident after `failures_to_alert` consecutive failing verdicts and resolves it after
`successes_to_resolve` consecutive `ok`; a different failing verdict while open updates the same
incident (same dedup key). `probe_error` is no evidence about the hub: it leaves the hub's track as
it was and counts on the prober's track instead, which pages about the prober at lower severity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from loginprobe.model import Code, Verdict

PROBER_KEY = "loginprobe/prober"


def login_key(hub: str) -> str:
    return f"loginprobe/{hub}/login"


@dataclass(frozen=True)
class Thresholds:
    failures_to_alert: int = 2
    successes_to_resolve: int = 2


@dataclass(frozen=True)
class Track:
    """What we remember about one concern between probes (stored, survives restarts)."""

    failures: int = 0  # consecutive failing verdicts
    successes: int = 0  # consecutive ok verdicts
    open_code: str | None = None  # the verdict code of the open incident; None: no incident
    opened_at: str | None = None

    @property
    def is_open(self) -> bool:
        return self.open_code is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "successes": self.successes,
            "open_code": self.open_code,
            "opened_at": self.opened_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Track:
        return cls(
            failures=int(data.get("failures") or 0),
            successes=int(data.get("successes") or 0),
            open_code=data.get("open_code"),
            opened_at=data.get("opened_at"),
        )


@dataclass(frozen=True)
class Action:
    """Something to tell PagerDuty."""

    kind: Literal["trigger", "resolve"]
    dedup_key: str
    verdict: Verdict | None = None  # for triggers
    reason: str = ""  # why, for logs: "opened", "changed", "recovered"


def settled(track: Track, t: Thresholds) -> bool:
    """True when the next probe can wait a full interval: healthy, no incident, no doubts."""
    return track.failures == 0 and (not track.is_open or track.successes >= t.successes_to_resolve)


# Causes proven twice in one probe (the callback failed AND the token endpoint rejects the secret):
# no transient explains both, so they page at first sight instead of waiting for confirmation.
CONFIRMED_CAUSES = frozenset({Code.CLIENT_SECRET_EXPIRED, Code.CLIENT_SECRET_INVALID})


def step_login(
    track: Track, verdict: Verdict, key: str, t: Thresholds, now: str
) -> tuple[Track, list[Action]]:
    """Advance a hub's login track by one verdict."""
    if verdict.code is Code.PROBE_ERROR:
        return track, []
    if verdict.ok:
        successes = track.successes + 1
        if track.is_open and successes >= t.successes_to_resolve:
            return Track(successes=successes), [Action("resolve", key, reason="recovered")]
        return replace(track, failures=0, successes=successes), []
    failures = track.failures + 1
    track = replace(track, failures=failures, successes=0)
    if not track.is_open:
        if failures >= t.failures_to_alert or verdict.code in CONFIRMED_CAUSES:
            return (
                replace(track, open_code=str(verdict.code), opened_at=now),
                [Action("trigger", key, verdict, reason="opened")],
            )
        return track, []
    if track.open_code != str(verdict.code):
        # e.g. callback_error -> client_secret_expired: the same incident, now better explained.
        return replace(track, open_code=str(verdict.code)), [
            Action("trigger", key, verdict, reason="changed")
        ]
    return track, []


def step_prober(
    track: Track, verdict: Verdict, t: Thresholds, now: str
) -> tuple[Track, list[Action]]:
    """Advance the prober's own track: any verdict but probe_error is the prober working."""
    if verdict.code is Code.PROBE_ERROR:
        failures = track.failures + 1
        if not track.is_open and failures >= t.failures_to_alert:
            return (
                Track(failures=failures, open_code=str(Code.PROBE_ERROR), opened_at=now),
                [Action("trigger", PROBER_KEY, verdict, reason="opened")],
            )
        return replace(track, failures=failures, successes=0), []
    successes = track.successes + 1
    if track.is_open and successes >= t.successes_to_resolve:
        return Track(successes=successes), [Action("resolve", PROBER_KEY, reason="recovered")]
    return replace(track, failures=0, successes=successes), []
