"""The incident state machine: when a run of verdicts becomes a page, and when the page resolves.

Pure. One login track per hub: it opens an incident after `failures_to_alert` consecutive failing
verdicts and resolves it after `successes_to_resolve` consecutive `ok`. Other causes while open
update the same incident (same dedup key) once `failures_to_alert` probes in a row have failed with
codes other than the incident's (a cause proven in one probe, or a person asking: at once), unless
the latest turns a warning into an outage (or back): that is a new incident on its own key, because
PagerDuty notifies nobody of a trigger on a key it already holds open. `probe_error` is no evidence
about the hub: it leaves the hub's track as it was (the prober's track counts it: prober.py).
"""

from __future__ import annotations

from dataclasses import replace

from loginprobe.model import Code, Severity, Verdict
from loginprobe.monitor.tracks.track import Action, Thresholds, Track


def login_key(hub: str) -> str:
    return f"loginprobe/{hub}/login"


def settled(track: Track, t: Thresholds) -> bool:
    """True when the next probe can wait a full interval: healthy, no incident, no doubts."""
    return track.failures == 0 and (not track.is_open or track.successes >= t.successes_to_resolve)


# Causes proven twice in one probe (the callback failed AND the token endpoint rejects the secret):
# no transient explains both, so they page at first sight instead of waiting for confirmation.
CONFIRMED_CAUSES = frozenset({Code.CLIENT_SECRET_EXPIRED, Code.CLIENT_SECRET_INVALID})


def incident_key(hub_key: str, verdict: Verdict) -> str:
    """Where a failing verdict pages: critical outages on the hub's login key, warnings (the test
    account, a changed login page) on a key of their own, so that a warning turning into an outage
    is a new incident that notifies someone."""
    return f"{hub_key}/warning" if verdict.severity is Severity.WARNING else hub_key


def unproven_change(
    track: Track, verdict: Verdict, key: str, failures_to_alert: int, confirmed: bool = False
) -> bool:
    """`verdict`, counted in `track`, would change its open incident's cause, and that is still
    unproven, as a first failure is: other causes than the incident's, fewer than
    `failures_to_alert` in a row (then whatever their mix: a hub down answers hub_error, timeout,
    hub_unreachable by turns; the latest is sent), or a move between warning and outage seen
    fewer times in a row. One probe racing a fix (the secret renewed between its failed callback
    and its secret check: "the hub runs another secret") must not re-page with the wrong advice,
    one blip during a warning wake someone, nor one odd page of a hub that is down turn its
    outage into a warning. A cause proven in one probe, or a person asking, is proven."""
    if track.open_code == str(verdict.code) or verdict.code in CONFIRMED_CAUSES or confirmed:
        return False
    moves = incident_key(key, verdict) != (track.open_key or key)
    return track.new_cause_seen < failures_to_alert or (
        moves and track.other_key_seen < failures_to_alert
    )


def advance_login(
    track: Track,
    verdict: Verdict,
    key: str,
    t: Thresholds,
    now: str,
    confirmed: bool = False,
    explained: bool = False,
) -> tuple[Track, list[Action]]:
    """Advance a hub's login track (`key`: loginprobe/<hub>/login) by one verdict. `confirmed`:
    a person asked to page now (`probe run --alert`), so one failing verdict is enough.
    `explained`: a shared incident (the hub's IdP's, the network's) explains this failure
    (counted in `Track.explained`; what it means for the page is shared.py's to say)."""
    if verdict.code is Code.PROBE_ERROR:
        return track, []
    if verdict.ok:
        successes = track.successes + 1
        if track.is_open and successes >= t.successes_to_resolve:
            return Track(successes=successes), [
                Action("resolve", track.open_key or key, reason="recovered")
            ]
        return replace(
            track,
            failures=0,
            successes=successes,
            explained=0,
            new_cause_seen=0,
            other_key_seen=0,
        ), []
    failures = track.failures + 1
    code = str(verdict.code)
    target = incident_key(key, verdict)
    was = track.open_key or key
    track = replace(
        track,
        failures=failures,
        successes=0,
        explained=failures if explained else track.explained,
        new_cause_seen=track.new_cause_seen + 1 if track.is_open and track.open_code != code else 0,
        other_key_seen=track.other_key_seen + 1 if track.is_open and target != was else 0,
    )
    sure = verdict.code in CONFIRMED_CAUSES or confirmed
    if not track.is_open:
        if failures >= t.failures_to_alert or sure:
            return (
                replace(track, open_code=code, opened_at=now, open_key=target),
                [Action("trigger", target, verdict, reason="opened")],
            )
        return track, []
    if unproven_change(track, verdict, key, t.failures_to_alert, confirmed):
        return track, []
    if target != was:
        # A warning became an outage (or the reverse): a new incident that notifies, and the old
        # one resolved after it, so that something is open at every moment.
        return replace(
            track, open_code=code, open_key=target, new_cause_seen=0, other_key_seen=0
        ), [
            Action("trigger", target, verdict, reason="escalated"),
            Action("resolve", was, reason="superseded"),
        ]
    if track.open_code != code:
        # e.g. callback_error -> client_secret_expired: the same incident, now better explained.
        return replace(track, open_code=code, new_cause_seen=0, other_key_seen=0), [
            Action("trigger", was, verdict, reason="changed")
        ]
    return track, []
