"""The prober's own track: repeated `probe_error`s page about the prober, never about a hub.

Pure. Any verdict but `probe_error` is the prober working.
"""

from __future__ import annotations

from dataclasses import replace

from loginprobe.model import Code, Verdict
from loginprobe.monitor.tracks.track import Action, Thresholds, Track

PROBER_KEY = "loginprobe/prober"


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
