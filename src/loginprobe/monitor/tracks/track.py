"""A track: what the monitor remembers about one concern of one hub between probes, and the
actions (PagerDuty triggers and resolves) that moving it causes. Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loginprobe.model import Verdict

if TYPE_CHECKING:
    from loginprobe.monitor.tracks.expiry import ExpiryNotice


@dataclass(frozen=True)
class Thresholds:
    failures_to_alert: int = 2
    successes_to_resolve: int = 2


@dataclass(frozen=True)
class Track:
    """One concern's state (stored, survives restarts)."""

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
    """Something to tell PagerDuty: a trigger carries what it is about (a verdict, or an expiry
    notice); a resolve needs only its key."""

    kind: Literal["trigger", "resolve"]
    dedup_key: str
    verdict: Verdict | None = None  # for triggers about a probe's verdict
    reason: str = ""  # why, for logs: "opened", "changed", "recovered"
    notice: ExpiryNotice | None = None  # for triggers about a secret or certificate expiring
