"""The incident state machine: when a run of verdicts becomes a page, and when the page resolves.

Pure. One login track per hub: it opens an incident after `failures_to_alert` consecutive failing
verdicts and resolves it after `successes_to_resolve` consecutive `ok`; a different failing verdict
while open updates the same incident (same dedup key). `probe_error` is no evidence about the hub:
it leaves the hub's track as it was (the prober's track counts it: prober.py).
"""

from __future__ import annotations

from dataclasses import replace

from loginprobe.model import Code, Verdict
from loginprobe.monitor.tracks.track import Action, Thresholds, Track


def login_key(hub: str) -> str:
    return f"loginprobe/{hub}/login"


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
