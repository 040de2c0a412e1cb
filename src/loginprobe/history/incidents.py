"""A hub's incident timeline, replayed from its verdict history.

Pure. The store keeps each probe's verdict, not the pages sent (the outbox forgets an event once
PagerDuty took it), so the timeline puts the probes through the login track's own state machine
(monitor/tracks/login.py) with the monitor's thresholds: an incident is what that track opened,
from the first failing probe of its run to the first `ok` of the run that resolved it; its time to
page runs from that first failing probe's start to the end of the probe that opened it (as
`loginprobe_time_to_page_seconds` measures it). Runs of failures too short to page are counted,
not listed. A probe_error is no evidence about the hub, here as in the track.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loginprobe.model import Code, Severity, Verdict
from loginprobe.monitor.tracks.login import advance_login
from loginprobe.monitor.tracks.track import Thresholds, Track
from loginprobe.prober.classify import SEVERITY

_KEY = "loginprobe/hub/login"


@dataclass
class Incident:
    started_at: float  # the first failing probe's start
    paged_at: float  # the end of the probe that opened it
    severity: str  # "critical" (an outage) or "warning" (the test account, a changed login page)
    codes: list[str] = field(default_factory=list)  # the causes, in the order they were seen
    ended_at: float | None = None  # the first ok probe's start; None while it lasts
    resolved_at: float | None = None  # the end of the probe that resolved it

    @property
    def cause(self) -> str:
        return self.codes[-1] if self.codes else ""

    @property
    def time_to_page_s(self) -> float:
        return self.paged_at - self.started_at

    def duration_s(self, now: float) -> float:
        return (self.ended_at if self.ended_at is not None else now) - self.started_at

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "cause": self.cause,
            "codes": list(self.codes),
            "severity": self.severity,
            "duration_s": round(self.duration_s(now), 1),
            "time_to_page_s": round(self.time_to_page_s, 1),
            "paged_at": self.paged_at,
            "resolved_at": self.resolved_at,
        }


@dataclass
class Timeline:
    incidents: list[Incident]
    blips: int  # runs of failing probes that ended before they paged


def _verdict(code: str) -> Verdict:
    try:
        c = Code(code)
    except ValueError:
        c = Code.HUB_ERROR  # a code this version does not know: still a failure
    return Verdict(c, SEVERITY.get(c, Severity.CRITICAL), "")


def replay(probes: Iterable[Mapping[str, Any]], thresholds: Thresholds) -> Timeline:
    """The incidents of probes given oldest first (Store.probes_since rows: started_at, code,
    duration_ms)."""
    track = Track()
    incidents: list[Incident] = []
    blips = 0
    run_start: float | None = None  # the first failing probe since the last ok
    ok_start: float | None = None  # the first ok of the current run of oks
    current: Incident | None = None
    verdicts: dict[str, Verdict] = {}
    for p in probes:
        code = str(p["code"])
        if code == Code.OK and track.failures == 0 and not track.is_open:
            continue  # a healthy hub staying healthy: nothing the timeline needs moves
        verdict = verdicts.get(code) or verdicts.setdefault(code, _verdict(code))
        if verdict.code is Code.PROBE_ERROR:
            continue
        started = float(p["started_at"])
        ended = started + int(p.get("duration_ms") or 0) / 1000
        if verdict.ok:
            if track.successes == 0:
                ok_start = started
                if current is None and run_start is not None:
                    blips += 1
                run_start = None
        elif track.failures == 0:
            run_start = started
            ok_start = None
        track, actions = advance_login(track, verdict, _KEY, thresholds, "")
        for action in actions:
            if action.kind == "trigger" and current is None:
                current = Incident(
                    started_at=run_start if run_start is not None else started,
                    paged_at=ended,
                    severity=str(verdict.severity),
                    codes=[str(verdict.code)],
                )
                incidents.append(current)
            elif action.kind == "trigger" and current is not None:
                if current.codes[-1] != str(verdict.code):
                    current.codes.append(str(verdict.code))
                if verdict.severity is Severity.CRITICAL:
                    current.severity = str(Severity.CRITICAL)
            elif action.kind == "resolve" and action.reason == "recovered" and current:
                current.ended_at = ok_start if ok_start is not None else started
                current.resolved_at = ended
                current = None
                run_start = None
    return Timeline(incidents, blips)
