"""What a verdict does, in one place: verdict → every track → actions → events → store + outbox.

    ProbeResult / TLS notice ─▶ tracks (pure: login, prober, secret expiry, TLS)
                             ─▶ actions ─▶ PagerDuty events (pure) ─▶ store (one transaction)
                             ─▶ outbox sender (woken)

Every concern is one entry in TRACKS; adding a concern adds an entry, never a branch here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.alerting.pagerduty import build_event, build_expiry_event
from loginprobe.model import Code, ProbeResult
from loginprobe.monitor.groups import group_key, hub_groups, seen_idp_host, url_host
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.silences import Silence, WeeklyWindow, active, parse_window
from loginprobe.monitor.tracks.expiry import (
    ExpiryNotice,
    advance_expiry,
    expiry_key,
    expiry_notice,
    tls_key,
)
from loginprobe.monitor.tracks.login import advance_login, login_key
from loginprobe.monitor.tracks.prober import PROBER_KEY, advance_prober, prober_key
from loginprobe.monitor.tracks.shared import (
    NETWORK_KEY,
    Fleet,
    Sighting,
    advance_group,
    advance_network,
    covered,
    covered_by,
    explains,
    failing_from,
    hold,
    is_held,
    mark_explained,
    quorum_reason,
    sighting_of,
)
from loginprobe.monitor.tracks.track import Action, Thresholds, Track
from loginprobe.store import LeaseLost, TrackConflict

log = structlog.get_logger("loginprobe")

# Tracks about many hubs at once, which replicas sharing the hubs all move: read from the store
# before every reaction and written only if unchanged since (compare-and-set), else read again.
SHARED_PREFIXES = ("loginprobe/idp/", NETWORK_KEY, PROBER_KEY)
CONFLICT_RETRIES = 5
# The IdP host each hub's latest probe walked through (its group, when the config names none),
# kept in the store so that every replica knows the groups of the hubs the others probe.
SEEN_IDP_META = "seen-idp/"


def is_shared(key: str) -> bool:
    key = key.removeprefix("held:")
    return key.startswith("loginprobe/idp/") or key in (NETWORK_KEY, PROBER_KEY)


def track_hub(key: str, hubs: Collection[str]) -> str | None:
    """Which of `hubs` a track is about (its login, prober, expiry and TLS tracks, and their held
    pages); None for the shared tracks and for hubs not among `hubs`."""
    key = key.removeprefix("held:")
    if is_shared(key):
        return None
    for hub in hubs:
        if key.startswith(f"loginprobe/{hub}/") or key == f"{PROBER_KEY}/{hub}":
            return hub
    return None


# -- what moves the tracks ----------------------------------------------------------------------
BrowserFault = Literal["new", "seen"]


@dataclass(frozen=True)
class ProbeFact:
    """A browser probe finished. `browser_fault`: its probe_error was the browser's (it died, hung
    or would not start): "new" for the first probe a browser death took, "seen" for the others it
    took at the same time (they count once). `confirmed`: a person asked to page now
    (`probe run --alert`)."""

    result: ProbeResult
    browser_fault: BrowserFault | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class TlsFact:
    """The TLS check read the hub's certificates: the notice for the earliest, if any is due."""

    hub: str
    notice: ExpiryNotice | None


@dataclass(frozen=True)
class HubGone:
    """A reload removed the hub: whatever it has open is resolved (nobody will watch it now)."""

    hub: str


Fact = ProbeFact | TlsFact | HubGone
Reaction = tuple[dict[str, Track], list[Action]]


@dataclass(frozen=True)
class Context:
    """What the pure tracks may know besides the fact and the tracks."""

    thresholds: Thresholds
    now_iso: str
    calendar: datetime  # today, from the injectable clock (expiry dates)
    lead_days: tuple[int, ...]
    secret_expires: Mapping[str, date | None]  # hub -> the secret's end date (Graph or config)
    # The hubs' groups, the silences in force: for the incidents many hubs share (shared.py).
    fleet: Fleet = field(default_factory=lambda: Fleet(groups={}, hosts={}))


class TrackKind(Protocol):
    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction: ...


def _gone(key: str, tracks: Mapping[str, Track]) -> Reaction:
    """The hub was removed: resolve the track's incident, forget the track."""
    track = tracks.get(key)
    if track is None:
        return {}, []
    actions = (
        [Action("resolve", track.open_key or key, reason="hub removed")] if track.is_open else []
    )
    return {key: Track()}, actions


# -- the tracks, each a small pure reaction ----------------------------------------------------
class LoginTrack:
    """Is the hub's login working? (loginprobe/<hub>/login)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if isinstance(fact, HubGone):
            return _gone(login_key(fact.hub), tracks)
        if not isinstance(fact, ProbeFact):
            return {}, []
        hub, verdict = fact.result.hub, fact.result.verdict
        key = login_key(hub)
        track, actions = advance_login(
            tracks.get(key, Track()),
            verdict,
            key,
            ctx.thresholds,
            ctx.now_iso,
            fact.confirmed,
            explained=explains(hub, verdict, tracks, ctx.fleet, ctx.now_iso),
        )
        return {key: track}, actions


class HubProberTrack:
    """Do this hub's probes keep failing on our side? (loginprobe/prober/<hub>)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if isinstance(fact, HubGone):
            return _gone(prober_key(fact.hub), tracks)
        if not isinstance(fact, ProbeFact) or fact.browser_fault is not None:
            return {}, []  # the browser's fault is not this hub's
        key = prober_key(fact.result.hub)
        return _advance_prober(tracks, fact, key, ctx)


class BrowserTrack:
    """Does the browser keep dying, hanging or refusing to start? (loginprobe/prober)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if not isinstance(fact, ProbeFact) or fact.browser_fault == "seen":
            return {}, []
        if fact.browser_fault is None and fact.result.verdict.code is Code.PROBE_ERROR:
            return {}, []  # the hub's probe broke, not the browser: the hub's prober track
        return _advance_prober(tracks, fact, PROBER_KEY, ctx)


def _advance_prober(
    tracks: Mapping[str, Track], fact: ProbeFact, key: str, ctx: Context
) -> Reaction:
    track, actions = advance_prober(
        tracks.get(key, Track()), fact.result.verdict, key, ctx.thresholds, ctx.now_iso
    )
    return {key: track}, actions


class SecretExpiryTrack:
    """Is the client secret about to expire? (loginprobe/<hub>/expiry/<stage>)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if isinstance(fact, HubGone):
            return _gone(expiry_key(fact.hub), tracks)
        if not isinstance(fact, ProbeFact):
            return {}, []
        hub = fact.result.hub
        expires = ctx.secret_expires.get(hub)
        key = expiry_key(hub)
        track = tracks.get(key, Track())
        if expires is None and not track.is_open:
            return {}, []
        notice = None
        if expires is not None:
            sc = fact.result.observation.secret_check
            accepted = None if sc is None or sc.outcome == "inconclusive" else sc.outcome == "valid"
            notice = expiry_notice(hub, expires, ctx.calendar, ctx.lead_days, accepted)
        track, actions = advance_expiry(track, notice, key, ctx.now_iso)
        return {key: track}, actions


class TlsExpiryTrack:
    """Is a certificate the login needs about to expire? (loginprobe/<hub>/tls/<stage>)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if isinstance(fact, HubGone):
            return _gone(tls_key(fact.hub), tracks)
        if not isinstance(fact, TlsFact):
            return {}, []
        key = tls_key(fact.hub)
        track, actions = advance_expiry(tracks.get(key, Track()), fact.notice, key, ctx.now_iso)
        return {key: track}, actions


class GroupTrack:
    """Is the IdP a group of hubs shares failing for many of them? (loginprobe/idp/<group>/login)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if not isinstance(fact, ProbeFact | HubGone):
            return {}, []
        hub = fact.result.hub if isinstance(fact, ProbeFact) else fact.hub
        group = ctx.fleet.groups.get(hub)
        if group is None:
            return {}, []
        key = group_key(group)
        verdict = fact.result.verdict if isinstance(fact, ProbeFact) else None
        was = tracks.get(key, Track())
        started = fact.result.started_at if isinstance(fact, ProbeFact) else None
        track, actions = advance_group(
            was, group, hub, verdict, ctx.now_iso, ctx.thresholds, ctx.fleet, started
        )
        if track.is_open and not was.is_open:
            actions += covered(track.members, tracks)
            return {key: track, **mark_explained(track.members, tracks)}, actions
        return {key: track}, actions


class NetworkTrack:
    """Do hubs in different places all fail as unreachable at once? (loginprobe/prober/network)"""

    def react(self, fact: Fact, tracks: Mapping[str, Track], ctx: Context) -> Reaction:
        if not isinstance(fact, ProbeFact | HubGone):
            return {}, []
        hub = fact.result.hub if isinstance(fact, ProbeFact) else fact.hub
        verdict = fact.result.verdict if isinstance(fact, ProbeFact) else None
        was = tracks.get(NETWORK_KEY, Track())
        started = fact.result.started_at if isinstance(fact, ProbeFact) else None
        track, actions = advance_network(
            was, hub, verdict, ctx.now_iso, ctx.thresholds, ctx.fleet, started
        )
        if track.is_open and not was.is_open:
            down = [m for m in track.members if m[1] != "reached"]
            actions += covered(down, tracks)
            explained = mark_explained(down, tracks)
            for group in set(ctx.fleet.groups.values()):
                g = tracks.get(group_key(group))
                if g is not None and g.is_open and g.open_code == str(Code.IDP_UNREACHABLE):
                    actions.append(Action("trigger", group_key(group), reason="covered"))
            return {NETWORK_KEY: track, **explained}, actions
        return {NETWORK_KEY: track}, actions


SHARED_KINDS = (BrowserTrack, GroupTrack, NetworkTrack)  # they move SHARED_PREFIXES' tracks
TRACKS: tuple[TrackKind, ...] = (
    LoginTrack(),
    HubProberTrack(),
    BrowserTrack(),
    SecretExpiryTrack(),
    TlsExpiryTrack(),
    GroupTrack(),
    NetworkTrack(),
)


def react(fact: Fact, tracks: Mapping[str, Track], ctx: Context, shared: bool = True) -> Reaction:
    """Every track's reaction to one fact (pure): the tracks it moved and the actions, less what
    a shared incident or a silence holds back (shared.py). `shared`: the tracks many hubs share
    move too (not when their copy here may be out of date: then neither they nor a page they held
    back move)."""
    moved: dict[str, Track] = {}
    actions: list[Action] = []
    for kind in TRACKS if shared else tuple(k for k in TRACKS if not isinstance(k, SHARED_KINDS)):
        m, a = kind.react(fact, {**tracks, **moved}, ctx)
        moved.update(m)
        actions += a
    hub = fact.result.hub if isinstance(fact, ProbeFact) else None
    verdict = fact.result.verdict if isinstance(fact, ProbeFact) else None
    started = fact.result.started_at if isinstance(fact, ProbeFact) else None
    held, actions = hold(
        actions,
        hub,
        verdict,
        {**tracks, **moved},
        ctx.now_iso,
        ctx.fleet,
        started,
        # `probe run --alert`: a person asked to page now.
        confirm=1
        if isinstance(fact, ProbeFact) and fact.confirmed
        else ctx.thresholds.failures_to_alert,
    )
    moved.update(held)
    if not shared:
        moved = {k: t for k, t in moved.items() if not is_shared(k)}
        actions = [a for a in actions if not is_shared(a.dedup_key)]
    return moved, actions


# -- the shell: events, journal (store), outbox, logs, metrics --------------------------------
@dataclass
class Pipeline:
    """Facts in; tracks moved, events queued, everything written in one transaction (through the
    journal, which holds it in memory while the store cannot take it)."""

    settings: Callable[[], Settings]
    journal: Journal
    metrics: Metrics
    tracks: dict[str, Track]
    location: Callable[[], str]
    wake_outbox: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.time  # the calendar for expiry dates
    graph_end: dict[str, date] = field(default_factory=dict)  # secret end dates read from Graph
    last_tick: float | None = None  # when a probe's verdict was last handled
    # The silences from the store (the service rereads them every second) and the IdP host each
    # hub's latest probe walked through (its group when the config names none).
    silences: list[Silence] = field(default_factory=list)
    seen_idp: dict[str, str] = field(default_factory=dict)
    # With a quorum across locations: what every location saw last of the hubs (read before each
    # reaction, the reacting hub's), and the locations where a replica is alive.
    sightings: dict[str, list[Sighting]] = field(default_factory=dict)
    locations: frozenset[str] = frozenset()
    replica: Callable[[], str] = lambda: ""
    # No other replica can move the shared tracks (none other alive, on either database): its
    # copy in memory is the store's, and may stand in for a read the store cannot answer.
    alone: Callable[[], bool] = lambda: True
    _short_of_locations: bool = False
    _store_refused: bool = False  # this reaction's write of what was held failed
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock)
    # What fleet() takes from the config alone, for the config it was read from.
    _from_config: tuple[object, dict[str, str], dict[str, list[WeeklyWindow]], float] | None = None

    def secret_expires(self, hub: str) -> date | None:
        spec = self.settings().loaded.config.hubs.get(hub)
        declared = spec.oauth.secret_expires if spec and spec.oauth else None
        return self.graph_end.get(hub, declared)

    def fleet(self, now: float) -> Fleet:
        """The hubs' groups and hosts and the silences in force at `now`."""
        s = self.settings()
        c = s.loaded.config
        m = c.monitor
        # Asked at each verdict and by each status page: a fleet's hosts and windows are parsed
        # once per config (a reload brings a new one).
        if self._from_config is None or self._from_config[0] is not c:
            self._from_config = (
                c,
                {h: url_host(spec.url) or h for h, spec in c.hubs.items()},
                {h: [parse_window(w) for w in spec.maintenance] for h, spec in c.hubs.items()},
                max((s.interval(h) for h in c.hubs), default=m.interval),
            )
        _, hosts, maintenance, longest = self._from_config
        return Fleet(
            groups=hub_groups(c.hubs, self.seen_idp),
            hosts=hosts,
            group_min_hubs=m.group_min_hubs,
            # A hub's failure counts for its group for as long as its own page could take to
            # confirm on a busy monitor (probes late, each one taking its whole timeout).
            window_s=2 * longest + m.failures_to_alert * (m.retry_after_failure + m.timeout),
            silenced=active(self.silences, maintenance, now),
            location=self.location(),
            quorum=m.quorum,
            sightings=self.sightings,
            locations=self.locations,
            now=now,
        )

    def take_up(
        self, gained: list[str], stored: Mapping[str, Track], silences: list[Silence] | None
    ) -> None:
        """The gained hubs' tracks (and the shared ones, the first time) as the store has them
        (Journal.read_back): where the hubs' last holder left off."""
        hubs = set(self.settings().loaded.config.hubs)
        first = not self.tracks
        for key in [k for k in self.tracks if track_hub(k, hubs) in gained]:
            del self.tracks[key]
        for key, track in stored.items():
            owner = track_hub(key, hubs)
            if owner in gained or (first and owner is None):
                self.tracks[key] = track
        if silences is not None:
            self.silences = silences

    def let_go(self, hub: str) -> None:
        """Another replica probes the hub now: forget its tracks and its writes held in memory."""
        self.journal.held = [r for r in self.journal.held if r.hub != hub]
        for key in [k for k in self.tracks if track_hub(k, {hub}) == hub]:
            del self.tracks[key]

    def shared_incident_covers(self, hub: str) -> bool:
        """Is the hub part of an open incident about its IdP or the prober's network?"""
        why = covered_by(hub, self.tracks, self.fleet(time.time()))
        return why is not None and why.startswith("covered by")

    async def on_probe(
        self,
        result: ProbeResult,
        browser_fault: BrowserFault | None = None,
        confirmed: bool = False,
        tick: bool = True,
    ) -> list[Action]:
        """A probe's verdict. `tick`: it counts as this monitor probing (for /healthz)."""
        now = time.time()
        hub = result.hub
        seen = seen_idp_host(result.observation.steps, result.observation.hub_url)
        if seen is not None and self.seen_idp.get(hub) != seen:
            self.seen_idp[hub] = seen
            with contextlib.suppress(SQLAlchemyError, OSError):  # memory has it meanwhile
                await asyncio.to_thread(self.journal.store.set_meta, SEEN_IDP_META + hub, seen, now)
        if hub in self.settings().loaded.config.hubs:
            fact: Fact | None = ProbeFact(result, browser_fault, confirmed)
        else:
            fact = None  # removed by a reload while it ran: history only, its tracks are closed
        actions = await self._apply(fact, hub, result, now)
        if tick:
            self.last_tick = now
            if fact is not None and self.settings().loaded.config.monitor.quorum > 1:
                await self._record_sighting(result)
        if fact is not None:  # a removed hub's series are gone: do not bring them back
            self.metrics.observe(result, actions)
        expires = self.secret_expires(hub)
        if expires is not None:
            self.metrics.secret_expiry.labels(hub).set(
                datetime.combine(expires, dtime(0), tzinfo=UTC).timestamp()
            )
        log.info(
            "probe",
            hub=hub,
            verdict=str(result.verdict.code),
            ms=result.duration_ms,
            summary=result.verdict.summary,
        )
        return actions

    async def on_tls(self, hub: str, notice: ExpiryNotice | None) -> list[Action]:
        return await self._apply(TlsFact(hub, notice), hub, None, time.time())

    async def on_hub_removed(self, hub: str) -> list[Action]:
        return await self._apply(HubGone(hub), hub, None, time.time())

    async def _apply(
        self, fact: Fact | None, hub: str, result: ProbeResult | None, now: float
    ) -> list[Action]:
        # One fact at a time: the tracks move in the order the facts came (the database write
        # itself runs in a thread, off the event loop).
        async with self._one_at_a_time:
            return await self._apply_now(fact, hub, result, now)

    async def _apply_now(
        self, fact: Fact | None, hub: str, result: ProbeResult | None, now: float
    ) -> list[Action]:
        for attempt in range(CONFLICT_RETRIES + 1):
            read = await self._refresh_shared(hub)
            try:
                # The last attempt writes what it read without comparing.
                compare = attempt < CONFLICT_RETRIES
                return await self._react_and_write(fact, hub, result, now, read, compare)
            except TrackConflict as conflict:
                log.info("a shared track moved meanwhile; reacting again", key=str(conflict))
        raise AssertionError("unreachable: the last attempt writes without comparing")

    async def _record_sighting(self, result: ProbeResult) -> None:
        """This location's sighting of a hub it probes, for the other locations' witnesses and
        for what people are shown (the quorum itself counts this replica's verdict directly)."""
        s = sighting_of(result, self.location(), self.replica(), self.settings().redactor.text)
        self.sightings[result.hub] = [
            *(x for x in self.sightings.get(result.hub, []) if x.location != s.location),
            s,
        ]
        try:
            await asyncio.to_thread(self.journal.store.sightings.record, s)
        except (SQLAlchemyError, OSError):
            log.warning("cannot record this location's sighting of a hub", hub=result.hub)

    async def _refresh_quorum(self, hub: str) -> None:
        """The hub's sightings from every location and the live locations, before reacting."""
        if self.settings().loaded.config.monitor.quorum <= 1:
            return
        store = self.journal.store
        try:
            seen = await asyncio.to_thread(store.sightings.of, hub)
            live = await asyncio.to_thread(store.replicas.live, time.time())
        except (SQLAlchemyError, OSError):
            # Stale sightings stop counting by themselves: the quorum falls back to this
            # location's own word rather than hold pages on what the store said long ago.
            return
        self.sightings[hub] = seen
        self.locations = frozenset(r.location for r in live) | {self.location()}
        quorum = self.settings().loaded.config.monitor.quorum
        short = len(self.locations) < quorum
        if short and not self._short_of_locations:
            log.warning(
                "fewer locations alive than the quorum: their pages go out on the word of the "
                "locations still alive",
                quorum=quorum,
                locations=sorted(self.locations),
            )
        elif not short and self._short_of_locations:
            log.info(
                "enough locations alive again for the quorum", locations=sorted(self.locations)
            )
        self._short_of_locations = short

    async def _refresh_shared(self, hub: str) -> dict[str, str] | None:
        """The shared tracks as the store has them now (other replicas move them too), taken
        into memory, and the IdP hosts the other hubs' probes saw; None when they cannot be read,
        or while this replica holds writes the store cannot take yet (the store's copy is older
        than memory's then)."""
        await self._refresh_quorum(hub)
        # What is held goes first (the store may be back): the read is then the store's latest.
        self._store_refused = False
        while self.journal.held:
            try:
                if await self.journal.flush():
                    break
                # Refused (not merely busy with a record): the write waits for the next try.
                self._store_refused = not self.journal.writable
                return None
            except LeaseLost as lost:
                if lost.hub is None or lost.hub == hub:
                    raise
                # Another hub's lease, its held records gone with it (the lease round says so):
                # the rest are written.
        prefixes = [p for key in SHARED_PREFIXES for p in (key, "held:" + key)]
        store = self.journal.store
        try:
            fresh = await asyncio.to_thread(store.tracks_starting, prefixes)
            seen = await asyncio.to_thread(store.meta_starting, SEEN_IDP_META)
        except (SQLAlchemyError, OSError):
            return None
        self.seen_idp.update({h: str(v) for h, v in seen.items() if h != hub})
        for key in [k for k in self.tracks if is_shared(k) and k not in fresh]:
            del self.tracks[key]  # never written: as the store has it, absent
        texts: dict[str, str] = {}
        for key, (track, text) in fresh.items():
            if is_shared(key):
                self.tracks[key] = track
                texts[key] = text
        return texts

    async def _react_and_write(
        self,
        fact: Fact | None,
        hub: str,
        result: ProbeResult | None,
        now: float,
        read: dict[str, str] | None,
        compare: bool = True,
    ) -> list[Action]:
        s = self.settings()
        now_iso = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        ctx = Context(
            thresholds=s.thresholds,
            now_iso=now_iso,
            calendar=datetime.fromtimestamp(self.clock(), UTC),
            lead_days=tuple(s.loaded.config.monitor.expiry_warn_days),
            secret_expires={hub: self.secret_expires(hub)},
            fleet=self.fleet(now),
        )
        # The shared tracks could not be read (the store failing, or writes held): memory's copy
        # may be older than another replica's move, and writing it would undo that move (an
        # IdP's open incident closed, its resolve never sent). The hub's own tracks move; the
        # shared ones miss this fact (the next facts move them).
        shared = read is not None or self.alone()
        moved, actions = react(fact, self.tracks, ctx, shared) if fact is not None else ({}, [])
        if isinstance(fact, ProbeFact):
            self._say_held_by_quorum(hub, fact, moved, ctx.fleet)
        paging = s.routing_key is not None and s.loaded.config.pagerduty is not None
        events = [s.redactor.data(self._event(a, hub, result)) for a in actions] if paging else []
        expect = {k: read.get(k) for k in moved if is_shared(k)} if read is not None else None
        await self.journal.write(
            s.redactor.data(result.to_json()) if result is not None else None,
            moved,
            events,
            now,
            now_iso,
            hub,
            expect,
            compare=compare,
            try_now=not self._store_refused,
        )
        self.tracks.update(moved)
        self.metrics.incidents_open.set(
            sum(
                1
                for t in self.tracks.values()
                if t.is_open and not is_held(self.tracks, t.open_key)
            )
        )
        for a in actions:
            log.warning(
                "incident " + a.kind,
                dedup_key=a.dedup_key,
                reason=a.reason,
                verdict=str(a.verdict.code) if a.verdict else None,
                paging=paging,
            )
        if events:
            self.wake_outbox()
        return actions

    def _say_held_by_quorum(
        self, hub: str, fact: ProbeFact, moved: Mapping[str, Track], fleet: Fleet
    ) -> None:
        """A page newly held back because too few locations see the hub fail: a warning naming
        where it fails from."""
        if fleet.quorum <= 1 or fact.result.verdict.ok:
            return
        new = [
            t.open_key
            for k, t in moved.items()
            if k.startswith("held:") and t.open_key and not is_held(self.tracks, t.open_key)
        ]
        few = failing_from(hub, fleet, fleet.location) if new else None
        if few is not None:
            log.warning(
                f"{hub} fails from location {' and '.join(few[0])} only: its page is held "
                "back until enough locations see it fail",
                hub=hub,
                held=new,
                reason=quorum_reason(few[0], fleet.quorum),
                verdict=str(fact.result.verdict.code),
            )

    def _event(self, action: Action, hub: str, result: ProbeResult | None) -> dict[str, Any]:
        c = self.settings().loaded.config
        spec = c.hubs.get(hub)
        hub_url = spec.url if spec is not None else ""
        public_url = c.monitor.public_url or ""
        if action.kind == "trigger" and action.notice is not None:
            n = action.notice
            return build_expiry_event(
                n,
                action.dedup_key,
                hub_url=hub_url,
                location=self.location(),
                runbook_url=c.runbook(f"{n.kind}_expiring"),
                public_url=public_url,
            )
        about_hub = action.dedup_key.startswith(login_key(hub))
        shared = action.dedup_key.startswith(("loginprobe/idp/", NETWORK_KEY))
        return build_event(
            action,
            None if shared else result,
            hub_url=hub_url if about_hub else "",
            location=self.location(),
            runbook_url=c.runbook(str(action.verdict.code)) if action.verdict else "",
            public_url=public_url,
        )
