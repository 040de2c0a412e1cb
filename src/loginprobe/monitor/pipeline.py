"""What a verdict does, in one place: verdict → every track → actions → events → store + outbox.

    ProbeResult / TLS notice ─▶ tracks (pure: login, prober, secret expiry, TLS)
                             ─▶ actions ─▶ PagerDuty events (pure) ─▶ store (one transaction)
                             ─▶ outbox sender (woken)

Every concern is one entry in TRACKS; adding a concern adds an entry, never a branch here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any, Protocol

import structlog

from loginprobe.alerting.pagerduty import build_event, build_expiry_event
from loginprobe.model import ProbeResult
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.expiry import (
    ExpiryNotice,
    expiry_key,
    expiry_notice,
    step_expiry,
    tls_key,
)
from loginprobe.monitor.tracks.login import login_key, step_login
from loginprobe.monitor.tracks.prober import PROBER_KEY, step_prober
from loginprobe.monitor.tracks.track import Action, Thresholds, Track
from loginprobe.store import Store

log = structlog.get_logger("loginprobe")


# -- what moves the tracks ----------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeFact:
    """A browser probe finished."""

    result: ProbeResult


@dataclass(frozen=True)
class TlsFact:
    """The TLS check read the hub's certificates: the notice for the earliest, if any is due."""

    hub: str
    notice: ExpiryNotice | None


Fact = ProbeFact | TlsFact


@dataclass(frozen=True)
class Context:
    """What the pure tracks may know besides the fact and the tracks."""

    thresholds: Thresholds
    now_iso: str
    calendar: datetime  # today, from the injectable clock (expiry dates)
    lead_days: tuple[int, ...]
    secret_expires: Mapping[str, date | None]  # hub -> the secret's end date (Graph or config)


class TrackKind(Protocol):
    def react(
        self, fact: Fact, tracks: Mapping[str, Track], ctx: Context
    ) -> tuple[dict[str, Track], list[Action]]: ...


# -- the tracks, each a small pure reaction ----------------------------------------------------
class LoginTrack:
    def react(
        self, fact: Fact, tracks: Mapping[str, Track], ctx: Context
    ) -> tuple[dict[str, Track], list[Action]]:
        if not isinstance(fact, ProbeFact):
            return {}, []
        key = login_key(fact.result.hub)
        track, actions = step_login(
            tracks.get(key, Track()), fact.result.verdict, key, ctx.thresholds, ctx.now_iso
        )
        return {key: track}, actions


class ProberTrack:
    def react(
        self, fact: Fact, tracks: Mapping[str, Track], ctx: Context
    ) -> tuple[dict[str, Track], list[Action]]:
        if not isinstance(fact, ProbeFact):
            return {}, []
        track, actions = step_prober(
            tracks.get(PROBER_KEY, Track()), fact.result.verdict, ctx.thresholds, ctx.now_iso
        )
        return {PROBER_KEY: track}, actions


class SecretExpiryTrack:
    def react(
        self, fact: Fact, tracks: Mapping[str, Track], ctx: Context
    ) -> tuple[dict[str, Track], list[Action]]:
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
        track, actions = step_expiry(track, notice, key, ctx.now_iso)
        return {key: track}, actions


class TlsExpiryTrack:
    def react(
        self, fact: Fact, tracks: Mapping[str, Track], ctx: Context
    ) -> tuple[dict[str, Track], list[Action]]:
        if not isinstance(fact, TlsFact):
            return {}, []
        key = tls_key(fact.hub)
        track, actions = step_expiry(tracks.get(key, Track()), fact.notice, key, ctx.now_iso)
        return {key: track}, actions


TRACKS: tuple[TrackKind, ...] = (LoginTrack(), ProberTrack(), SecretExpiryTrack(), TlsExpiryTrack())


def react(
    fact: Fact, tracks: Mapping[str, Track], ctx: Context
) -> tuple[dict[str, Track], list[Action]]:
    """Every track's reaction to one fact (pure): the tracks it moved and the actions."""
    moved: dict[str, Track] = {}
    actions: list[Action] = []
    for kind in TRACKS:
        m, a = kind.react(fact, {**tracks, **moved}, ctx)
        moved.update(m)
        actions += a
    return moved, actions


# -- the shell: events, store, outbox, logs, metrics --------------------------------------------
@dataclass
class Pipeline:
    settings: Callable[[], Settings]
    store: Store
    metrics: Metrics
    tracks: dict[str, Track]
    location: Callable[[], str]
    wake_outbox: Callable[[], None]
    clock: Callable[[], float] = time.time  # the calendar for expiry dates
    graph_end: dict[str, date] = field(default_factory=dict)  # secret end dates read from Graph
    last_tick: float | None = None  # when a probe's verdict was last handled

    def secret_expires(self, hub: str) -> date | None:
        spec = self.settings().loaded.config.hubs.get(hub)
        declared = spec.oauth.secret_expires if spec and spec.oauth else None
        return self.graph_end.get(hub, declared)

    def _context(self, now: float, hubs: list[str]) -> Context:
        s = self.settings()
        return Context(
            thresholds=s.thresholds,
            now_iso=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            calendar=datetime.fromtimestamp(self.clock(), UTC),
            lead_days=tuple(s.loaded.config.monitor.expiry_warn_days),
            secret_expires={h: self.secret_expires(h) for h in hubs},
        )

    def on_probe(self, result: ProbeResult) -> list[Action]:
        now = time.time()
        actions = self._apply(ProbeFact(result), result.hub, result, now)
        self.last_tick = now
        self.metrics.observe(result)
        expires = self.secret_expires(result.hub)
        if expires is not None:
            self.metrics.secret_expiry.labels(result.hub).set(
                datetime.combine(expires, dtime(0), tzinfo=UTC).timestamp()
            )
        log.info(
            "probe",
            hub=result.hub,
            verdict=str(result.verdict.code),
            ms=result.duration_ms,
            summary=result.verdict.summary,
        )
        return actions

    def on_tls(self, hub: str, notice: ExpiryNotice | None) -> list[Action]:
        return self._apply(TlsFact(hub, notice), hub, None, time.time())

    def _apply(self, fact: Fact, hub: str, result: ProbeResult | None, now: float) -> list[Action]:
        s = self.settings()
        ctx = self._context(now, [hub])
        moved, actions = react(fact, self.tracks, ctx)
        paging = s.routing_key is not None and s.loaded.config.pagerduty is not None
        events = [s.redactor.data(self._event(a, hub, result)) for a in actions] if paging else []
        self.store.record(
            s.redactor.data(result.to_json()) if result is not None else None,
            moved,
            events,
            now,
            ctx.now_iso,
        )
        self.tracks.update(moved)
        self.metrics.incidents_open.set(sum(1 for t in self.tracks.values() if t.is_open))
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
        about_hub = action.dedup_key == login_key(hub)
        return build_event(
            action,
            result if about_hub else None,
            hub_url=hub_url if about_hub else "",
            location=self.location(),
            runbook_url=c.runbook(str(action.verdict.code)) if action.verdict else "",
            public_url=public_url,
        )
