"""The checks between browser probes, per hub on their own schedule: the TLS certificates' expiry,
the client secret's end date from Microsoft Graph, and the secret check (one POST).

A secret check that turns to rejecting the secret asks for a browser probe at once, whose verdict
(callback failed + secret rejected) pages at first sight; if logins still work, that probe says the
check is misconfigured instead.

The latest secret check also stands for the healthy browser probes' own (`recent`): they send the
token endpoint nothing, and only a probe whose login failed takes a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import structlog

from loginprobe.model import SecretCheck
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.pipeline import Pipeline
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.expiry import tls_notice
from loginprobe.monitor.tracks.track import Action
from loginprobe.prober.graph import GraphExpiry, graph_secret_expiry
from loginprobe.prober.hub_probe import run_secret_check
from loginprobe.prober.tlscheck import cert_expiry, https_endpoint, tls_context

log = structlog.get_logger("loginprobe")


def tls_hosts(settings: Settings, hub: str) -> list[tuple[str, int]]:
    """The HTTPS hosts a login depends on: the hub's, and the token endpoint's."""
    spec = settings.loaded.config.hubs[hub]
    urls = [spec.url] + ([spec.oauth.token_url] if spec.oauth else [])
    return list(dict.fromkeys(e for e in map(https_endpoint, urls) if e is not None))


def has_checks(settings: Settings, hub: str) -> bool:
    spec = settings.loaded.config.hubs.get(hub)
    return spec is not None and (bool(tls_hosts(settings, hub)) or spec.oauth is not None)


@dataclass(frozen=True)
class _Taken:
    """A secret check, when it was taken and with which client and secrets."""

    at: float  # monotonic
    on: float  # the calendar (seconds since the epoch)
    oauth: object
    secrets: object
    result: SecretCheck


@dataclass
class Checks:
    settings: Callable[[], Settings]
    pipeline: Pipeline
    metrics: Metrics
    probe_now: Callable[[str], None]  # asks for a browser probe of the hub at once
    probing: Callable[[str], bool]  # is a browser probe of the hub running?
    clock: Callable[[], float]  # the calendar for expiry dates
    certs: dict[str, dict[str, datetime]] = field(default_factory=dict)  # hub -> host -> not_after
    _secret_outcome: dict[str, str] = field(default_factory=dict)  # the last check's outcome
    _graph_said: set[str] = field(default_factory=set)  # hubs whose Graph problem was logged
    _latest: dict[str, _Taken] = field(default_factory=dict)  # each hub's latest secret check
    ticks: Callable[[], float] = time.monotonic  # the clock for a check's age

    def recent(self, hub: str) -> SecretCheck | None:
        """The hub's latest secret check while it is current, for its browser probes: taken
        within two intervals (a busy machine runs checks late), with the client and secret of
        the config in force (after any reload, the next check), and not before the secret's
        end date if that has passed since."""
        s = self.settings()
        taken, spec = self._latest.get(hub), s.loaded.config.hubs.get(hub)
        if taken is None or spec is None:
            return None
        if taken.oauth is not spec.oauth or taken.secrets is not s.secrets.get(hub):
            return None
        if self.ticks() - taken.at > 2 * s.loaded.config.monitor.secret_check_interval:
            return None
        expires = self.pipeline.secret_expires(hub)
        if expires is not None:
            # Taken before the secret's end and read after it: it says nothing of the secret now
            # (a "still accepted" from the evening before would say the date is wrong).
            end = datetime.combine(expires, datetime.min.time(), tzinfo=UTC).timestamp()
            if taken.on < end <= self.clock():
                return None
        return taken.result

    async def run(self, hub: str) -> None:
        """All of a hub's checks, each on its own: one crashing never stops the others."""
        try:
            await self.check_tls(hub)
        except Exception:
            log.error("TLS check crashed", hub=hub, exc_info=True)
        try:
            await self.check_graph(hub)
        except Exception:
            log.error("Graph lookup crashed", hub=hub, exc_info=True)
        try:
            await self.check_secret(hub)
        except Exception:
            log.error("secret check crashed", hub=hub, exc_info=True)

    async def check_graph(self, hub: str) -> GraphExpiry | None:
        """Azure AD hubs with graph = true: the secret's real end date, when Graph tells it."""
        s = self.settings()
        spec = s.loaded.config.hubs.get(hub)
        secrets = s.secrets.get(hub)
        if (
            spec is None
            or spec.oauth is None
            or not spec.oauth.graph
            or secrets is None
            or secrets.client_secret is None
        ):
            return None
        o = spec.oauth
        async with httpx.AsyncClient(timeout=15.0, verify=tls_context()) as client:
            found = await graph_secret_expiry(
                client,
                authority=o.authority_url,
                graph_url=o.graph_url,
                tenant=str(o.tenant),
                client_id=o.client_id,
                client_secret=secrets.client_secret.get_secret_value(),
            )
        if found.end is not None:
            self.pipeline.graph_end[hub] = found.end.date()
            self._graph_said.discard(hub)
            log.info("graph secret expiry", hub=hub, expires=found.end.isoformat())
        else:
            self.pipeline.graph_end.pop(hub, None)
            if hub not in self._graph_said:  # say it once, not every five minutes
                self._graph_said.add(hub)
                log.warning(
                    "Graph gave no secret expiry; using the declared secret_expires",
                    hub=hub,
                    problem=s.redactor.text(found.error or ""),
                    declared=str(o.secret_expires),
                )
        return found

    async def check_tls(self, hub: str) -> list[Action]:
        """Certificate expiry of the hub's hosts: a warning at each lead time, like secrets."""
        s = self.settings()
        c = s.loaded.config
        if hub not in c.hubs:
            return []
        infos = [await cert_expiry(host, port) for host, port in tls_hosts(s, hub)]
        dated = [i for i in infos if i.not_after is not None]
        self.certs[hub] = {i.host: i.not_after for i in dated if i.not_after is not None}
        for info in infos:
            if info.not_after is not None:
                self.metrics.cert_expiry.labels(hub, info.host).set(info.not_after.timestamp())
            else:
                log.warning("TLS check failed", hub=hub, host=info.host, error=info.error)
        if not dated:
            return []  # nothing to say: an unreachable or invalid host is the browser probe's
        earliest = min(dated, key=lambda i: i.not_after or datetime.max.replace(tzinfo=UTC))
        assert earliest.not_after is not None
        now = datetime.fromtimestamp(self.clock(), UTC)
        notice = tls_notice(
            hub, earliest.host, earliest.not_after, now, tuple(c.monitor.expiry_warn_days)
        )
        return await self.pipeline.on_tls(hub, notice)

    async def check_secret(self, hub: str) -> None:
        s = self.settings()
        spec = s.loaded.config.hubs.get(hub)
        if spec is None or hub not in s.secrets or spec.oauth is None:
            return
        result = await run_secret_check(spec, s.secrets[hub], s.loaded.config.hub_timeout(hub))
        if result is None:
            return
        self._latest[hub] = _Taken(self.ticks(), self.clock(), spec.oauth, s.secrets[hub], result)
        self.metrics.secret_check.labels(hub, result.outcome).inc()
        log.info(
            "secret check",
            hub=hub,
            outcome=result.outcome,
            evidence=s.redactor.text(result.evidence),
        )
        previous = self._secret_outcome.get(hub)
        self._secret_outcome[hub] = result.outcome
        rejected = result.outcome in ("expired", "invalid")
        # Only when it turns: a check that stays rejected while logins work is misconfigured,
        # and one probe has already said so.
        if rejected and previous != result.outcome and not self.probing(hub):
            log.warning(
                "secret check rejected the client secret; probing the hub now",
                hub=hub,
                outcome=result.outcome,
            )
            self.probe_now(hub)
