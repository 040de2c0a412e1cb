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
    # The dedup key PagerDuty holds open for this incident (a concern may escalate to a new key:
    # PagerDuty notifies nobody of a trigger on a key that is already open).
    open_key: str | None = None
    # A track about many hubs (an IdP's group, the prober's network): each hub's latest verdict
    # that counts, as (hub, code, since, last seen), ISO 8601 times.
    members: tuple[tuple[str, str, str, str], ...] = ()
    # When a track about many hubs last resolved: a probe started before then (still running on
    # another replica as the IdP came back) is too late to open it again.
    resolved_at: str | None = None
    # A hub's login track: how many of its failing streak's failures, up to the latest such one,
    # a shared incident explained (the IdP's, the network's: open or just resolved, or opening
    # with them). The failures after them are the hub's own cause, which must confirm on its own
    # (shared.unconfirmed_new_cause).
    explained: int = 0
    # A hub's login track with an incident open: failing verdicts in a row whose code is not the
    # incident's (any mix of other codes). Another cause changes the incident only once they
    # reach failures_to_alert, as failures must to open one (login.advance_login).
    new_cause_seen: int = 0
    # Of those, the ones in a row that would page on the other key (an outage while a warning is
    # open, or the reverse): a move between warning and outage needs failures_to_alert of them.
    other_key_seen: int = 0

    @property
    def is_open(self) -> bool:
        return self.open_code is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "failures": self.failures,
            "successes": self.successes,
            "open_code": self.open_code,
            "opened_at": self.opened_at,
            "open_key": self.open_key,
        }
        if self.members:
            out["members"] = [list(m) for m in self.members]
        if self.resolved_at:
            out["resolved_at"] = self.resolved_at
        if self.explained:
            out["explained"] = self.explained
        if self.new_cause_seen:
            out["new_cause_seen"] = self.new_cause_seen
        if self.other_key_seen:
            out["other_key_seen"] = self.other_key_seen
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], key: str | None = None) -> Track:
        """`key`: the track's own key, where a track stored before keys could escalate had its
        incident open."""
        open_code = data.get("open_code")
        return cls(
            failures=int(data.get("failures") or 0),
            successes=int(data.get("successes") or 0),
            open_code=open_code,
            opened_at=data.get("opened_at"),
            open_key=data.get("open_key") or (key if open_code else None),
            members=tuple(
                (str(m[0]), str(m[1]), str(m[2]), str(m[3])) for m in data.get("members") or []
            ),
            resolved_at=data.get("resolved_at"),
            explained=int(data.get("explained") or 0),
            new_cause_seen=int(data.get("new_cause_seen") or 0),
            other_key_seen=int(data.get("other_key_seen") or 0),
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
