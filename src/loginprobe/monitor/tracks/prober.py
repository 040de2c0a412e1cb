"""The prober's own tracks: repeated `probe_error`s page about the prober, never about a hub.

Pure. Two concerns:
- `loginprobe/prober/<hub>`: this hub's probes keep failing on our side (its flow crashes on a
  changed IdP page, its TOTP seed or our clock is off). Another hub being healthy says nothing
  about this one, so each hub counts on its own.
- `loginprobe/prober`: the browser itself (it will not start, it keeps dying, it hangs). One death
  takes every probe in flight with it; it counts once, however many probes it took.
Any verdict but `probe_error` is the prober working for that hub (and the browser working).
Severity `error`: lower than a hub outage's `critical`.
"""

from __future__ import annotations

from dataclasses import replace

from loginprobe.model import Code, Verdict
from loginprobe.monitor.tracks.track import Action, Thresholds, Track

PROBER_KEY = "loginprobe/prober"


def prober_key(hub: str) -> str:
    return f"{PROBER_KEY}/{hub}"


def advance_prober(
    track: Track, verdict: Verdict, key: str, t: Thresholds, now: str
) -> tuple[Track, list[Action]]:
    """Advance a prober track by one verdict: `probe_error` counts towards a page, anything else
    is the prober working."""
    if verdict.code is Code.PROBE_ERROR:
        failures = track.failures + 1
        if not track.is_open and failures >= t.failures_to_alert:
            return (
                Track(
                    failures=failures, open_code=str(Code.PROBE_ERROR), opened_at=now, open_key=key
                ),
                [Action("trigger", key, verdict, reason="opened")],
            )
        return replace(track, failures=failures, successes=0), []
    successes = track.successes + 1
    if track.is_open and successes >= t.successes_to_resolve:
        return Track(successes=successes), [
            Action("resolve", track.open_key or key, reason="recovered")
        ]
    return replace(track, failures=0, successes=successes), []
