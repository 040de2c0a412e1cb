"""Incidents about a cause many hubs share (pure): one page for an IdP that fails for a whole group
of hubs, one page when the prober's own network fails, and the holding back of the hubs' own pages
while such an incident (or a silence) covers them.

- `loginprobe/idp/<group>/login`: at least `threshold` of a group's hubs fail IdP-side (unreachable,
  an error page, 5xx, a timeout at an IdP step), each seen within one confirm window. Agreeing hubs
  confirm each other, so it opens at the first failing probe of the last of them, without waiting
  for any hub's own `failures_to_alert`. It resolves when fewer than `threshold` still fail and
  `successes_to_resolve` probes of its hubs in a row logged in.
- `loginprobe/prober/network`: hubs in different places (groups, hosts) all fail as unreachable at
  once and no probe since reached anything: the monitor's own network or DNS. Severity `error`.

Holding: a hub's trigger that such an open incident explains (an IdP-side verdict under its group's
incident, an unreachable one under the network's) or that a silence covers is not sent; the page is
remembered as *held* (`held:<dedup key>`). A resolve of a held page is dropped (PagerDuty never
heard of it). When nothing covers it any more and the hub still fails, its next probe sends the page,
once, saying since when. A hub-side cause (callback_error, client_secret_*, hub_error,
access_denied, login_rejected) is never held by a group's incident; but one that follows failures
a shared incident explained must confirm on its own (`failures_to_alert` of them since), rather
than page at once as the next failure of a streak that was the shared incident's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from loginprobe.model import Code, ProbeResult, Severity, Verdict
from loginprobe.monitor.groups import group_key, group_threshold, idp_side, unreachable
from loginprobe.monitor.silences import silenced_until
from loginprobe.monitor.tracks.login import (
    CONFIRMED_CAUSES,
    incident_key,
    login_key,
    unproven_change,
)
from loginprobe.monitor.tracks.track import Action, Thresholds, Track

NETWORK_KEY = "loginprobe/prober/network"
Member = tuple[str, str, str, str]  # hub, code, since, last seen (ISO 8601)


@dataclass(frozen=True)
class Sighting:
    """What one location saw of a hub at its latest probe there (`[monitor] quorum` above 1)."""

    hub: str
    location: str
    replica: str
    code: str
    ok: bool
    summary: str
    at: float  # Unix time the probe started

    @property
    def says_something(self) -> bool:
        """A probe that broke on our side (probe_error) says nothing about the hub."""
        return self.code != Code.PROBE_ERROR

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "replica": self.replica,
            "code": self.code,
            "ok": self.ok,
            "summary": self.summary,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class Fleet:
    """What the shared tracks know about the hubs besides one verdict."""

    groups: Mapping[str, str]  # hub -> its group (hubs whose IdP is unknown are absent)
    hosts: Mapping[str, str]  # hub -> its own host
    group_min_hubs: int = 3
    window_s: float = 120.0  # one confirm window: a hub's failure older than this is stale
    silenced: Mapping[str, float] | None = None  # target -> until (silences.active)
    location: str = ""
    # Locations and quorum (`[monitor] quorum`): the hubs' sightings from every location (hub ->
    # one per location), the locations where a replica is alive now (empty: not known), and
    # the time the sightings are judged at (Unix time).
    quorum: int = 1
    sightings: Mapping[str, Sequence[Sighting]] | None = None
    locations: frozenset[str] = frozenset()
    now: float = 0.0

    def size(self, group: str) -> int:
        return sum(1 for g in self.groups.values() if g == group)


def held_key(dedup_key: str) -> str:
    return f"held:{dedup_key}"


def is_held(tracks: Mapping[str, Track], dedup_key: str | None) -> bool:
    """Was this page held back (not sent to PagerDuty)?"""
    if dedup_key is None:
        return False
    t = tracks.get(held_key(dedup_key))
    return t is not None and t.open_key is not None


def _t(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%H:%M UTC")


def _update(members: tuple[Member, ...], hub: str, code: str | None, now: str) -> list[Member]:
    """The members with `hub`'s latest verdict (`code`; None drops the hub)."""
    out = [m for m in members if m[0] != hub]
    if code is not None:
        was = next((m for m in members if m[0] == hub and m[1] == code), None)
        out.append((hub, code, was[2] if was else now, now))
    return out


def _fresh(members: list[Member], now: str, window_s: float) -> list[Member]:
    return [m for m in members if _t(now) - _t(m[3]) <= window_s]


def began_before_resolve(track: Track, started: str | None) -> bool:
    """Did a failing probe begin before the track's incident last resolved? Such a probe, still
    running on another replica while the IdP came back, must not open the incident again: a
    second page a second after the resolve. Compared to the second (the resolve's precision):
    a failure that began in the same second as the resolve waits for its hub's next probe."""
    if track.is_open or track.resolved_at is None or started is None:
        return False
    return _t(started) < _t(track.resolved_at) + 1.0


# -- an IdP's group ---------------------------------------------------------------------------------
def group_verdict(group: str, members: tuple[Member, ...], details: str = "") -> Verdict:
    """The group incident's page: which hubs, what they see, since when."""
    codes = Counter(m[1] for m in members)
    code = codes.most_common(1)[0][0] if codes else str(Code.IDP_ERROR)
    since = min((m[2] for m in members), default="")
    why = f"{code}" + (f" ({details})" if details else "")
    n = len(members)
    summary = f"{group} is failing for {n} hub{'s' if n != 1 else ''}: {why}"
    if since:
        summary += f" — since {_hhmm(since)}"
    return Verdict(
        code=_code(code),
        severity=Severity.CRITICAL,
        summary=summary,
        step=None,
        evidence={
            "group": group,
            "failing_hubs": sorted(m[0] for m in members),
            "codes": dict(codes),
            "since": since,
        },
    )


def advance_group(
    track: Track,
    group: str,
    hub: str,
    verdict: Verdict | None,
    now: str,
    t: Thresholds,
    fleet: Fleet,
    started: str | None = None,
) -> tuple[Track, list[Action]]:
    """Move a group's track by one of its hubs' verdicts (None: the hub was removed; `started`:
    when the probe began)."""
    threshold = group_threshold(fleet.group_min_hubs, fleet.size(group))
    if verdict is not None and verdict.code is Code.PROBE_ERROR:
        return track, []  # no evidence about the IdP
    if verdict is not None and not verdict.ok and began_before_resolve(track, started):
        return track, []
    failing = verdict is not None and idp_side(verdict)
    code = str(verdict.code) if failing and verdict is not None else None
    members = _fresh(_update(track.members, hub, code, now), now, fleet.window_s)
    successes = 0 if failing else track.successes + (1 if verdict is not None and verdict.ok else 0)
    moved = replace(track, members=tuple(members), successes=successes)
    key = group_key(group)
    detail = str(verdict.evidence.get("detail") or "") if failing and verdict else ""
    if threshold is None:
        if track.is_open:  # the group shrank to one hub: its own page speaks for it now
            return Track(members=tuple(members), resolved_at=now), [
                Action("resolve", key, reason="group shrank")
            ]
        return moved, []
    if not track.is_open:
        if len(members) >= threshold:
            gv = group_verdict(group, moved.members, detail)
            opened = replace(moved, open_code=str(gv.code), opened_at=now, open_key=key)
            return opened, [Action("trigger", key, gv, reason="opened")]
        return moved, []
    if len(members) < threshold and successes >= t.successes_to_resolve:
        return Track(successes=successes, members=tuple(members), resolved_at=now), [
            Action("resolve", key, reason="recovered")
        ]
    if failing and hub not in {m[0] for m in track.members}:
        # One more hub: the same incident, its list of hubs brought up to date (PagerDuty appends
        # it to the open incident and notifies nobody).
        return moved, [Action("trigger", key, group_verdict(group, moved.members, detail), "grew")]
    return moved, []


# -- the prober's own network -------------------------------------------------------------------
def network_verdict(members: list[Member], places: list[str], location: str) -> Verdict:
    since = min(m[2] for m in members)
    where = f" at {location}" if location else ""
    return Verdict(
        code=Code.PROBE_ERROR,
        severity=Severity.ERROR,
        summary=(
            f"the prober{where} cannot reach {len(members)} hubs and IdPs in {len(places)} "
            f"places ({', '.join(places[:5])}{', ...' if len(places) > 5 else ''}) — its own "
            f"network or DNS is the likely cause, not the hubs — since {_hhmm(since)}"
        ),
        step=None,
        evidence={
            "probe_location": location,
            "unreachable_hubs": sorted(m[0] for m in members),
            "places": places,
            "since": since,
        },
    )


def _place(m: Member, fleet: Fleet) -> str:
    if m[1] == Code.IDP_UNREACHABLE:
        return fleet.groups.get(m[0]) or fleet.hosts.get(m[0]) or m[0]
    return fleet.hosts.get(m[0]) or m[0]


def advance_network(
    track: Track,
    hub: str,
    verdict: Verdict | None,
    now: str,
    t: Thresholds,
    fleet: Fleet,
    started: str | None = None,
) -> tuple[Track, list[Action]]:
    """Move the network track by one verdict. Every hub's latest verdict is a member (code "ok"
    for anything that reached a hub or IdP)."""
    if verdict is not None and verdict.code is Code.PROBE_ERROR:
        return track, []
    if verdict is not None and unreachable(verdict) and began_before_resolve(track, started):
        return track, []
    down = verdict is not None and unreachable(verdict)
    code = None if verdict is None else (str(verdict.code) if down else "reached")
    members = _fresh(_update(track.members, hub, code, now), now, fleet.window_s)
    out = [m for m in members if m[1] != "reached"]
    successes = 0 if down else track.successes + (1 if verdict is not None else 0)
    moved = replace(track, members=tuple(members), successes=successes)
    if track.is_open:
        if not down and successes >= t.successes_to_resolve:
            return Track(successes=successes, members=tuple(members), resolved_at=now), [
                Action("resolve", NETWORK_KEY, reason="reached again")
            ]
        return moved, []
    if not out:
        return moved, []
    first = min(m[2] for m in out)
    reached_since = any(m[1] == "reached" and _t(m[3]) >= _t(first) for m in members)
    places = sorted({_place(m, fleet) for m in out})
    need = max(2, min(fleet.group_min_hubs, len(fleet.hosts) or 2))
    if not reached_since and len(out) >= need and len(places) >= 2:
        nv = network_verdict(out, places, fleet.location)
        opened = replace(moved, open_code="network", opened_at=now, open_key=NETWORK_KEY)
        return opened, [Action("trigger", NETWORK_KEY, nv, reason="opened")]
    return moved, []


# -- locations and quorum ------------------------------------------------------------------------
def sighting_of(
    result: ProbeResult, location: str, replica: str, redact: Callable[[str], str]
) -> Sighting:
    v = result.verdict
    return Sighting(
        hub=result.hub,
        location=location,
        replica=replica,
        code=str(v.code),
        ok=v.ok,
        summary=redact(v.summary)[:500],
        at=datetime.fromisoformat(result.started_at).timestamp(),
    )


def failing_from(hub: str, fleet: Fleet, here: str | None) -> tuple[list[str], int] | None:
    """Where the hub is seen failing, and how many locations must agree, when that is too few
    for `fleet.quorum` (None: enough agree, or no quorum). `here`: the location whose own probe
    just failed (the hub's replica's), counted failing whatever it recorded; None: judge by the
    sightings alone (what people are shown).

    Only fresh sightings (within one confirm window) of live locations that say something about
    the hub vote: a location gone, or whose witness has not seen the hub lately (just started,
    its browser broken), abstains. So the quorum needed is never more than the locations that can
    see, and a location gone never means silence."""
    if fleet.quorum <= 1:
        return None
    voters: set[str] = set() if here is None else {here}
    failing: set[str] = set(voters)
    for s in (fleet.sightings or {}).get(hub, ()):
        if s.location == here or not s.says_something or fleet.now - s.at > fleet.window_s:
            continue
        if fleet.locations and s.location not in fleet.locations:
            continue
        voters.add(s.location)
        if not s.ok:
            failing.add(s.location)
    need = min(fleet.quorum, len(voters))
    if not failing or len(failing) >= need:
        return None
    return sorted(failing), need


def quorum_reason(failing: list[str], quorum: int) -> str:
    where = " and ".join(failing)
    whose = f"{where}'s network" if len(failing) == 1 else "their networks"
    return f"failing from {where} only (quorum {quorum}): likely {whose}, not the hub"


# -- holding back what a shared incident or a silence covers --------------------------------------
def cover(hub: str, verdict: Verdict, tracks: Mapping[str, Track], fleet: Fleet) -> str | None:
    """What covers a page about `hub` with `verdict`, in words, or None: it pages."""
    if not verdict.ok and verdict.code is not Code.PROBE_ERROR:
        few = failing_from(hub, fleet, fleet.location)
        if few is not None:
            return quorum_reason(few[0], fleet.quorum)
    network = tracks.get(NETWORK_KEY)
    if network is not None and network.is_open and unreachable(verdict):
        return "the prober's network incident"
    group = fleet.groups.get(hub)
    side = idp_side(verdict)
    if group is not None and side:
        g = tracks.get(group_key(group))
        if g is not None and g.is_open:
            return f"the {group} incident"
    until = silenced_until(fleet.silenced or {}, hub, group, side)
    if until is not None:
        return "silenced until " + datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return None


def _recent(track: Track | None, now: str, fleet: Fleet) -> bool:
    """Is this shared incident open, or resolved within one confirm window?"""
    if track is None:
        return False
    if track.is_open:
        return True
    return track.resolved_at is not None and _t(now) - _t(track.resolved_at) <= fleet.window_s


def explains(
    hub: str, verdict: Verdict, tracks: Mapping[str, Track], fleet: Fleet, now: str
) -> bool:
    """Does a shared incident open now, or resolved within one confirm window, explain this
    failing verdict of the hub: its IdP's group's (an IdP-side failure) or the prober's
    network's (unreachable)?"""
    if verdict.ok or verdict.code is Code.PROBE_ERROR:
        return False
    if unreachable(verdict) and _recent(tracks.get(NETWORK_KEY), now, fleet):
        return True
    group = fleet.groups.get(hub)
    g = tracks.get(group_key(group)) if group is not None else None
    return idp_side(verdict) and _recent(g, now, fleet)


def mark_explained(members: Sequence[Member], tracks: Mapping[str, Track]) -> dict[str, Track]:
    """A shared incident just opened: the failures its hubs' login tracks count so far are its."""
    out = {}
    for m in members:
        t = tracks.get(login_key(m[0]))
        if t is not None and t.failures and t.explained < t.failures:
            out[login_key(m[0])] = replace(t, explained=t.failures)
    return out


def unconfirmed_new_cause(
    hub: str,
    verdict: Verdict,
    tracks: Mapping[str, Track],
    fleet: Fleet,
    now: str,
    failures_to_alert: int,
) -> bool:
    """A failure of another kind right after failures a shared incident explained — the hub's
    callback timing out once as its IdP comes back — is a cause of the hub's own, seen fewer than
    `failures_to_alert` times: it must confirm on its own before it pages (the streak it
    continues was the shared incident's). A cause proven in one probe (an expired secret) pages
    at once; a failure the shared incident explains is what held it decides."""
    if verdict.ok or verdict.code in CONFIRMED_CAUSES or verdict.code is Code.PROBE_ERROR:
        return False
    track = tracks.get(login_key(hub))
    if track is None or not track.explained or explains(hub, verdict, tracks, fleet, now):
        return False
    return track.failures - track.explained < failures_to_alert


def _hub_of(key: str, hub: str) -> bool:
    return key in (login_key(hub), login_key(hub) + "/warning")


def hold(
    actions: list[Action],
    hub: str | None,
    verdict: Verdict | None,
    tracks: Mapping[str, Track],
    now: str,
    fleet: Fleet,
    started: str | None = None,
    confirm: int = 1,
) -> tuple[dict[str, Track], list[Action]]:
    """Hold back what is covered, drop resolves of held pages, release held pages nothing covers
    any more (`hub`'s, if it still fails, by a probe begun after what covered them resolved).
    `tracks`: every track, as moved by this fact; `started`: when its probe began; `confirm`:
    failures_to_alert, for a new cause after a shared incident's (unconfirmed_new_cause)."""
    moved: dict[str, Track] = {}
    out: list[Action] = []
    acted: set[str] = set()

    def view() -> Mapping[str, Track]:
        return {**tracks, **moved}

    covering = [NETWORK_KEY] + [k for k in [group_key_of(hub or "", fleet)] if k is not None]
    stale = any(began_before_resolve(view().get(k, Track()), started) for k in covering)
    for a in actions:
        acted.add(a.dedup_key)
        if a.kind == "resolve":
            if is_held(view(), a.dedup_key):
                moved[held_key(a.dedup_key)] = Track()
                continue
            out.append(a)
            continue
        if a.reason == "changed" and not is_held(view(), a.dedup_key):
            # PagerDuty has this incident open: its better explanation goes to it (notifying
            # nobody). Held, the incident's resolve would be dropped too, and it would stay open.
            out.append(a)
            continue
        if a.reason == "covered":  # a page already out, now part of a shared incident
            moved[held_key(a.dedup_key)] = Track(opened_at=now, open_key=a.dedup_key)
            out.append(Action("resolve", a.dedup_key, reason="covered by a shared incident"))
            continue
        why = _cover_action(a, hub, view(), fleet)
        if why is None and stale and _late_for_shared(a, hub):
            why = "a probe begun before its IdP's (or the network's) incident resolved"
        if why is None and _new_cause(a, hub, view(), fleet, now, confirm):
            why = "a new cause after a shared incident, not yet confirmed"
        if why is None:
            if is_held(view(), a.dedup_key):  # the page goes out now: no longer held
                moved[held_key(a.dedup_key)] = Track()
            out.append(a)
            continue
        was = view().get(held_key(a.dedup_key))
        since = was.opened_at if was is not None and was.open_key else now
        moved[held_key(a.dedup_key)] = Track(opened_at=since, open_key=a.dedup_key)
    if hub is not None and verdict is not None and not verdict.ok and not stale:
        for key in (login_key(hub), login_key(hub) + "/warning", group_key_of(hub, fleet)):
            if key is None or key in acted or not is_held(view(), key):
                continue
            # A hub's warning is open on its login track (open_key .../warning).
            open_track = view().get(login_key(hub) if _hub_of(key, hub) else key)
            if open_track is None or not open_track.is_open or open_track.open_key != key:
                continue
            release = _release_verdict(key, hub, verdict, open_track, view(), fleet)
            if release is None:
                continue
            if _hub_of(key, hub) and _unconfirmed(
                release, hub, open_track, view(), fleet, now, confirm
            ):
                continue
            since = view()[held_key(key)].opened_at or now
            moved[held_key(key)] = Track()
            note = f" — failing since {_hhmm(since)}, held back until now"
            out.append(
                Action("trigger", key, replace(release, summary=release.summary + note), "released")
            )
    return moved, out


def _unconfirmed(
    release: Verdict,
    hub: str,
    track: Track,
    tracks: Mapping[str, Track],
    fleet: Fleet,
    now: str,
    confirm: int,
) -> bool:
    """A hub's held page whose verdict must confirm before it goes out: a streak begun after a
    success, a new cause after a shared incident's, or another cause than the held incident's
    (login.advance_login changes the incident once that is confirmed, and moves it between
    warning and outage: never sent on the held key)."""
    key = track.open_key or login_key(hub)
    if incident_key(login_key(hub), release) != key:
        return True  # an outage on a held warning's key, or the reverse: login.py escalates it
    if release.code in CONFIRMED_CAUSES:
        return False
    return (
        _new_cause(Action("trigger", key, release), hub, tracks, fleet, now, confirm)
        or track.failures < confirm
        or unproven_change(track, release, login_key(hub), confirm)
    )


def _late_for_shared(a: Action, hub: str | None) -> bool:
    """A hub's own page whose verdict a shared incident would have covered (IdP-side or
    unreachable): from a probe begun before that incident resolved, it waits for the hub's next
    probe (which sends it, if the hub still fails)."""
    v = a.verdict
    return (
        hub is not None
        and v is not None
        and _hub_of(a.dedup_key, hub)
        and (idp_side(v) or unreachable(v))
    )


def _new_cause(
    a: Action, hub: str | None, tracks: Mapping[str, Track], fleet: Fleet, now: str, confirm: int
) -> bool:
    """The hub's own page about a cause that followed a shared incident's failures, not yet
    seen `confirm` times."""
    if hub is None or a.verdict is None or a.kind != "trigger" or not _hub_of(a.dedup_key, hub):
        return False
    return unconfirmed_new_cause(hub, a.verdict, tracks, fleet, now, confirm)


def group_key_of(hub: str, fleet: Fleet) -> str | None:
    group = fleet.groups.get(hub)
    return group_key(group) if group is not None else None


def _cover_action(
    a: Action, hub: str | None, tracks: Mapping[str, Track], fleet: Fleet
) -> str | None:
    if a.verdict is None:
        return None  # expiry notices: a date, not an outage; never held
    if hub is not None and _hub_of(a.dedup_key, hub):
        return cover(hub, a.verdict, tracks, fleet)
    shared = a.dedup_key.startswith("loginprobe/idp/")
    if shared and hub is not None:
        # An IdP seen failing from too few locations: that location's path to
        # it, not the IdP; held like the hubs' own pages until enough locations agree.
        few = failing_from(hub, fleet, fleet.location)
        if few is not None:
            return quorum_reason(few[0], fleet.quorum)
    group = next((g for g in set(fleet.groups.values()) if group_key(g) == a.dedup_key), None)
    if group is not None:
        network = tracks.get(NETWORK_KEY)
        if network is not None and network.is_open and a.verdict.code is Code.IDP_UNREACHABLE:
            return "the prober's network incident"
        until = (fleet.silenced or {}).get("idp:" + group)
        if until is not None:
            return "silenced until " + datetime.fromtimestamp(until, UTC).strftime("%H:%M UTC")
    return None


def _release_verdict(
    key: str,
    hub: str,
    verdict: Verdict,
    track: Track,
    tracks: Mapping[str, Track],
    fleet: Fleet,
) -> Verdict | None:
    """The page to send now for a held `key`, or None while something still covers it."""
    if _hub_of(key, hub):
        if verdict.code is Code.PROBE_ERROR or cover(hub, verdict, tracks, fleet) is not None:
            return None
        return verdict
    group = fleet.groups.get(hub)
    if group is None or not track.members:
        return None
    gv = group_verdict(group, track.members)
    probe = Action("trigger", key, gv)
    if _cover_action(probe, hub, tracks, fleet) is not None:
        return None
    return gv


def covered(
    members: tuple[Member, ...] | list[Member], tracks: Mapping[str, Track]
) -> list[Action]:
    """When a shared incident opens: the hubs among `members` whose own page is already out are
    resolved into it (reason "covered", so hold() records them as held and sends the resolve)."""
    out = []
    for m in members:
        t = tracks.get(login_key(m[0]))
        if t is not None and t.is_open and t.open_key and not is_held(tracks, t.open_key):
            out.append(Action("trigger", t.open_key, _covered_verdict(m), reason="covered"))
    return out


def _covered_verdict(m: Member) -> Verdict:
    return Verdict(_code(m[1]), Severity.CRITICAL, f"{m[0]}: covered by a shared incident")


def _code(text: str) -> Code:
    try:
        return Code(text)
    except ValueError:
        return Code.IDP_ERROR


# -- what people are shown ----------------------------------------------------------------------------
def covered_by(hub: str, tracks: Mapping[str, Track], fleet: Fleet | None) -> str | None:
    """What covers the hub now, in words for the status page and `probe list`: a shared incident
    it is part of, or a silence in force."""
    if fleet is None:
        return None
    network = tracks.get(NETWORK_KEY)
    if network is not None and network.is_open and _member(network, hub, down_only=True):
        return "covered by the prober's network incident"
    group = fleet.groups.get(hub)
    g = tracks.get(group_key(group)) if group is not None else None
    if g is not None and g.is_open and _member(g, hub):
        return f"covered by the {group} incident"
    until = silenced_until(fleet.silenced or {}, hub, group, idp_side=True)
    if until is not None:
        return "silenced until " + datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if any(is_held(tracks, k) for k in (login_key(hub), login_key(hub) + "/warning")):
        few = failing_from(hub, fleet, None)
        if few is not None:
            return "held back: " + quorum_reason(few[0], fleet.quorum)
        t = tracks.get(login_key(hub))
        if t is not None and 0 < t.explained < t.failures:
            return "held back: a new cause right after a shared incident, confirming"
    return None


def seen_from(hub: str, fleet: Fleet | None) -> list[Sighting]:
    """What each location saw of the hub last, by location (none without a quorum)."""
    if fleet is None or fleet.quorum <= 1:
        return []
    return sorted((fleet.sightings or {}).get(hub, ()), key=lambda s: s.location)


def seen_from_text(sightings: Sequence[Sighting] | Sequence[Mapping[str, Any]]) -> str:
    """ "A ok · B hub_unreachable 12:01" (the time of each location's latest probe, UTC)."""
    parts = []
    for s in sightings:
        d = s.to_json() if isinstance(s, Sighting) else s
        at = datetime.fromisoformat(str(d["at"])).astimezone(UTC).strftime("%H:%M")
        parts.append(f"{d['location']} {d['code']} {at}")
    return " · ".join(parts)


def sharing(hub: str, tracks: Mapping[str, Track], fleet: Fleet) -> dict[str, Any] | None:
    """The open shared incident the hub is part of, as one of its incidents (status.py)."""
    network = tracks.get(NETWORK_KEY)
    group = fleet.groups.get(hub)
    for key, t, what in (
        (NETWORK_KEY, network, "the prober's network"),
        (
            group_key(group) if group else "",
            tracks.get(group_key(group)) if group else None,
            f"the {group} IdP",
        ),
    ):
        if t is not None and t.is_open and _member(t, hub, down_only=key == NETWORK_KEY):
            n = sum(1 for m in t.members if m[1] != "reached")
            return {
                "key": key,
                "concern": f"{what}, failing for {n} hubs",
                "code": t.open_code,
                "opened_at": t.opened_at,
                "failures": 0,
                "held": is_held(tracks, key),
            }
    return None


def _member(t: Track, hub: str, down_only: bool = False) -> bool:
    return any(m[0] == hub and not (down_only and m[1] == "reached") for m in t.members)
