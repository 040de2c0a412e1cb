"""`probe serve`: the scheduler, the incident tracker, the outbox sender and the HTTP endpoints.

    APScheduler (asyncio) ─▶ probe_hub (shared with `probe run`) ─▶ incidents (pure) ─▶ store
                                                                                         │ outbox
                                                              PagerDuty ◀── sender loop ─┘

Every hub is probed every `interval`, start times spread; after a failing probe (and until an
incident has resolved) the next one comes after `retry_after_failure`. At most `concurrency` probes
run at once, in one shared browser with a fresh context each; a crashed browser is relaunched and
the probe it took down is a `probe_error`, never a hub failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from playwright.async_api import Browser, Playwright, async_playwright

from loginprobe import config as cfg
from loginprobe.alerting.pagerduty import PagerDutySender, build_event, build_expiry_event
from loginprobe.model import ProbeResult
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.tracks.expiry import (
    ExpiryNotice,
    expiry_key,
    expiry_notice,
    step_expiry,
    tls_key,
    tls_notice,
)
from loginprobe.monitor.tracks.login import (
    PROBER_KEY,
    Action,
    Thresholds,
    Track,
    login_key,
    settled,
    step_login,
    step_prober,
)
from loginprobe.prober.browser import open_browser
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.graph import GraphExpiry, graph_secret_expiry
from loginprobe.prober.hub_probe import (
    CAPTURE_TIMEOUT_S,
    CONTEXT_CLOSE_S,
    probe_hub,
    prober_failed,
    run_secret_check,
)
from loginprobe.prober.journey import BrowserGone
from loginprobe.prober.tlscheck import cert_expiry, https_endpoint, tls_context
from loginprobe.redact import Redactor
from loginprobe.store import Store

log = structlog.get_logger("loginprobe")

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 30.0
# A probe past its own timeout by this much is hung (a wedged browser): cut it.
HANG_GRACE_S = 15.0


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...) of an undelivered event."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1)))


@dataclass
class Settings:
    """What a config reload swaps in, all at once."""

    loaded: cfg.LoadedConfig
    secrets: dict[str, cfg.HubSecrets]
    routing_key: str | None
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        values = [v for s in self.secrets.values() for v in s.values()]
        self.redactor = Redactor([*values, *([self.routing_key] if self.routing_key else [])])

    @classmethod
    def load(cls, path: Any) -> Settings:
        loaded = cfg.load(path)
        secrets = cfg.resolve_secrets(loaded, loaded.config.hubs)
        return cls(loaded, secrets, cfg.resolve_routing_key(loaded))

    @property
    def thresholds(self) -> Thresholds:
        m = self.loaded.config.monitor
        return Thresholds(m.failures_to_alert, m.successes_to_resolve)


class Monitor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock  # the calendar for expiry dates; injectable so tests can move it
        self.store = store
        self.metrics = metrics
        self.tracks: dict[str, Track] = store.tracks()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.sender = self._make_sender(settings)
        self.location = settings.loaded.config.monitor.location or socket.gethostname()
        self.last_tick: float | None = None  # when a probe last finished
        self.started_at = time.time()
        self.stopping = asyncio.Event()
        self._sem = asyncio.Semaphore(settings.loaded.config.monitor.concurrency)
        self._outbox_wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._probing: set[str] = set()  # hubs with a browser probe running
        self._secret_outcome: dict[str, str] = {}  # the last scheduled secret check's outcome
        self._graph_end: dict[str, date] = {}  # secret end dates read from Microsoft Graph
        self._graph_said: set[str] = set()  # hubs whose Graph problem was already logged
        self._certs: dict[str, dict[str, datetime]] = {}  # hub -> host -> certificate not_after
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._browser_stack = AsyncExitStack()
        self._browser_lock = asyncio.Lock()
        self._traces_dir: Path | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._pw = await async_playwright().start()
        self.scheduler.start()
        hubs = list(self.settings.loaded.config.hubs)
        for hub in hubs:
            # Spread the first probes over the first part of an interval, not all at once.
            interval = self._interval(hub)
            self._schedule(hub, random.uniform(0, min(interval, 10.0 * len(hubs))))
            self._schedule_secret_check(hub, random.uniform(5.0, 15.0))
        self._outbox_task = asyncio.create_task(self._outbox_loop(), name="outbox")
        log.info("monitor started", hubs=hubs, pagerduty=self.sender is not None)

    async def stop(self) -> None:
        """Cancel probes in flight, try the outbox once more, close the browser."""
        self.stopping.set()
        self._outbox_wake.set()
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=5)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._outbox_task, timeout=5)
        await self._close_browser()
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await self._pw.stop()
        if self.sender is not None:
            self.sender.close()
        log.info("monitor stopped")

    def reload(self, path: Any) -> bool:
        """Swap in a new config; an invalid one is logged and ignored (the last good one runs)."""
        try:
            new = Settings.load(path)
        except cfg.ConfigError as err:
            log.error(
                "config reload rejected; still running the previous config", problems=err.lines
            )
            return False
        old_hubs = set(self.settings.loaded.config.hubs)
        new_hubs = set(new.loaded.config.hubs)
        if new.loaded.config.monitor.state != self.settings.loaded.config.monitor.state:
            log.warning("monitor.state changed; the store moves only on restart")
        self.settings = new
        old_sender, self.sender = self.sender, self._make_sender(new)
        if old_sender is not None:
            old_sender.close()
        for hub in old_hubs - new_hubs:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(self._job_id(hub))
        for hub in old_hubs - new_hubs:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(self._secret_job_id(hub))
        for hub in new_hubs - old_hubs:
            self._schedule(hub, random.uniform(0, 5.0))
            self._schedule_secret_check(hub, random.uniform(5.0, 15.0))
        log.info(
            "config reloaded",
            hubs=sorted(new_hubs),
            added=sorted(new_hubs - old_hubs),
            removed=sorted(old_hubs - new_hubs),
        )
        return True

    def _make_sender(self, settings: Settings) -> PagerDutySender | None:
        pd = settings.loaded.config.pagerduty
        if pd is None or settings.routing_key is None:
            return None
        ca = str(settings.loaded.file(pd.ca_file)) if pd.ca_file else None
        return PagerDutySender(settings.routing_key, pd.events_url, ca)

    # -- scheduling -----------------------------------------------------------------------------
    def _interval(self, hub: str) -> float:
        c = self.settings.loaded.config
        return c.hubs[hub].interval or c.monitor.interval

    @staticmethod
    def _job_id(hub: str) -> str:
        return f"probe:{hub}"

    def _schedule(self, hub: str, delay: float) -> None:
        self._run_later(self._probe_job, hub, self._job_id(hub), delay)

    def _run_later(
        self, job: Callable[[str], Coroutine[Any, Any, None]], hub: str, job_id: str, delay: float
    ) -> None:
        """One pending run per job id: scheduling again replaces it, so chains never double."""
        if self.stopping.is_set():
            return
        self.scheduler.add_job(
            job,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=delay),
            args=[hub],
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    @staticmethod
    def _secret_job_id(hub: str) -> str:
        return f"secret-check:{hub}"

    def _schedule_secret_check(self, hub: str, delay: float) -> None:
        spec = self.settings.loaded.config.hubs.get(hub)
        if spec is None or (not self._tls_hosts(hub) and not spec.oauth):
            return
        self._run_later(self._checks_job, hub, self._secret_job_id(hub), delay)

    def _tls_hosts(self, hub: str) -> list[tuple[str, int]]:
        """The HTTPS hosts a login depends on: the hub's, and the token endpoint's."""
        spec = self.settings.loaded.config.hubs[hub]
        urls = [spec.url] + ([spec.oauth.token_url] if spec.oauth else [])
        return list(dict.fromkeys(e for e in map(https_endpoint, urls) if e is not None))

    async def _checks_job(self, hub: str) -> None:
        try:
            await self.check_tls(hub)
        except Exception:
            log.error("TLS check crashed", hub=hub, exc_info=True)
        try:
            await self.check_graph(hub)
        except Exception:
            log.error("Graph lookup crashed", hub=hub, exc_info=True)
        await self._secret_job(hub)

    async def check_graph(self, hub: str) -> GraphExpiry | None:
        """Azure AD hubs with graph = true: the secret's real end date, when Graph tells it."""
        spec = self.settings.loaded.config.hubs.get(hub)
        secrets = self.settings.secrets.get(hub)
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
            self._graph_end[hub] = found.end.date()
            self._graph_said.discard(hub)
            log.info("graph secret expiry", hub=hub, expires=found.end.isoformat())
        else:
            self._graph_end.pop(hub, None)
            if hub not in self._graph_said:  # say it once, not every five minutes
                self._graph_said.add(hub)
                log.warning(
                    "Graph gave no secret expiry; using the declared secret_expires",
                    hub=hub,
                    problem=self.settings.redactor.text(found.error or ""),
                    declared=str(o.secret_expires),
                )
        return found

    async def check_tls(self, hub: str) -> list[Action]:
        """Certificate expiry of the hub's hosts: a warning at each lead time, like secrets."""
        s, c = self.settings, self.settings.loaded.config
        if hub not in c.hubs:
            return []
        infos = [await cert_expiry(host, port) for host, port in self._tls_hosts(hub)]
        dated = [i for i in infos if i.not_after is not None]
        self._certs[hub] = {i.host: i.not_after for i in dated if i.not_after is not None}
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
        key = tls_key(hub)
        track, actions = step_expiry(
            self.tracks.get(key, Track()), notice, key, now.isoformat(timespec="seconds")
        )
        events = (
            self._expiry_events(actions, notice, key, c.hubs[hub].url)
            if self.sender is not None
            else []
        )
        wall = time.time()
        self.store.record(
            None,
            {key: track},
            [s.redactor.data(e) for e in events],
            wall,
            datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds"),
        )
        self.tracks[key] = track
        for a in actions:
            log.warning(
                "incident " + a.kind, dedup_key=key, reason=a.reason, paging=self.sender is not None
            )
        if events:
            self._outbox_wake.set()
        return actions

    async def _secret_job(self, hub: str) -> None:
        """The secret check between browser probes: one POST. A rejected secret sends a browser
        probe at once, whose verdict (callback failed + secret rejected) pages at first sight; if
        logins still work, that probe says the check is misconfigured instead."""
        s = self.settings
        try:
            spec = s.loaded.config.hubs.get(hub)
            if spec is None or hub not in s.secrets or spec.oauth is None:
                return
            result = await run_secret_check(spec, s.secrets[hub], s.loaded.config.hub_timeout(hub))
            if result is None:
                return
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
            if rejected and previous != result.outcome and hub not in self._probing:
                log.warning(
                    "secret check rejected the client secret; probing the hub now",
                    hub=hub,
                    outcome=result.outcome,
                )
                self._schedule(hub, 0.0)
        except Exception:
            log.error("secret check crashed", hub=hub, exc_info=True)
        finally:
            self._schedule_secret_check(hub, s.loaded.config.monitor.secret_check_interval)

    async def _probe_job(self, hub: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        began = time.monotonic()
        try:
            if hub not in self.settings.loaded.config.hubs:
                return  # removed by a reload while it waited
            async with self._sem:
                self._probing.add(hub)
                result = await self._probe(hub)
            self.handle(result)
        finally:
            self._probing.discard(hub)
            self._in_flight.discard(task)
            if hub in self.settings.loaded.config.hubs:
                track = self.tracks.get(login_key(hub), Track())
                fast = not settled(track, self.settings.thresholds)
                m = self.settings.loaded.config.monitor
                period = m.retry_after_failure if fast else self._interval(hub)
                # Start to start: a probe's own duration does not stretch the interval.
                self._schedule(hub, max(1.0, period - (time.monotonic() - began)))

    async def _probe(self, hub: str) -> ProbeResult:
        s = self.settings
        spec, timeout = s.loaded.config.hubs[hub], s.loaded.config.hub_timeout(hub)
        started_at, t0 = datetime.now(UTC), time.monotonic()
        try:
            browser = await self._ensure_browser()
            m = s.loaded.config.monitor
            plan = plan_for(
                m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, self._traces_dir
            )
            result = await self._watch(
                probe_hub(
                    browser,
                    hub,
                    spec,
                    s.secrets[hub],
                    timeout=timeout,
                    redactor=s.redactor,
                    evidence=plan,
                ),
                browser,
                # Past the journey's timeout a failing probe still takes its evidence (bounded)
                # and closes its context (bounded): only beyond those is it hung.
                timeout + CAPTURE_TIMEOUT_S + CONTEXT_CLOSE_S + HANG_GRACE_S,
            )
            if isinstance(result, ProbeResult):
                return result
            err: Exception = result
        except Exception as e:
            err = e
            log.debug("probe crashed", hub=hub, exc_info=True)
        if self._browser is not None and not self._browser.is_connected():
            await self._close_browser()
        return prober_failed(hub, spec, err, s.redactor, started_at, t0)

    async def _watch(
        self, probe: Coroutine[Any, Any, ProbeResult], browser: Browser, limit: float
    ) -> ProbeResult | Exception:
        """Run a probe, but stop waiting the moment its browser dies or it hangs past `limit`:
        some Playwright calls in flight when Chromium dies never return."""
        gone = asyncio.get_running_loop().create_future()

        def on_disconnect(_: object) -> None:
            if not gone.done():
                gone.set_result(None)

        browser.on("disconnected", on_disconnect)
        task = asyncio.ensure_future(probe)
        try:
            done, _ = await asyncio.wait(
                {task, gone}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            browser.remove_listener("disconnected", on_disconnect)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=5)  # let it unwind; its outcome no longer matters
        if gone in done:
            return BrowserGone("the browser died during the probe")
        await self._close_browser()  # a wedged browser is no use to the next probe
        return TimeoutError(f"the probe hung {HANG_GRACE_S:g}s past its timeout")

    async def _ensure_browser(self) -> Browser:
        async with self._browser_lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            await self._close_browser_unlocked()
            assert self._pw is not None
            # Playwright's working files of traces, private and gone with the browser.
            self._traces_dir = Path(
                self._browser_stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="loginprobe-traces-")
                )
            )
            self._browser = await self._browser_stack.enter_async_context(
                open_browser(
                    self._pw, self.settings.loaded.config.browser.executable, self._traces_dir
                )
            )
            return self._browser

    async def _close_browser(self) -> None:
        async with self._browser_lock:
            await self._close_browser_unlocked()

    async def _close_browser_unlocked(self) -> None:
        self._browser = None
        self._traces_dir = None
        with contextlib.suppress(Exception):
            await self._browser_stack.aclose()
        self._browser_stack = AsyncExitStack()

    # -- what the status page shows ---------------------------------------------------------------
    def secret_expiry(self, hub: str) -> tuple[date | None, str]:
        """The client secret's end date and where it comes from ("graph" or "config")."""
        if hub in self._graph_end:
            return self._graph_end[hub], "graph"
        spec = self.settings.loaded.config.hubs.get(hub)
        return (spec.oauth.secret_expires if spec and spec.oauth else None), "config"

    def cert_expiry(self, hub: str) -> dict[str, datetime]:
        """host -> when the certificate it presented at the last TLS check expires."""
        return dict(self._certs.get(hub, {}))

    def probing(self, hub: str) -> bool:
        return hub in self._probing

    def next_probe_at(self, hub: str) -> datetime | None:
        """When the scheduler will probe the hub next (None while a probe runs)."""
        job = self.scheduler.get_job(self._job_id(hub)) if self.scheduler.running else None
        when: datetime | None = job.next_run_time if job is not None else None
        return when

    # -- verdict -> incidents -> store + outbox ----------------------------------------------------
    def handle(self, result: ProbeResult) -> list[Action]:
        s = self.settings
        now = time.time()
        now_iso = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        key = login_key(result.hub)
        login, login_actions = step_login(
            self.tracks.get(key, Track()), result.verdict, key, s.thresholds, now_iso
        )
        prober, prober_actions = step_prober(
            self.tracks.get(PROBER_KEY, Track()), result.verdict, s.thresholds, now_iso
        )
        c = s.loaded.config
        hub_url = c.hubs[result.hub].url
        events = [
            build_event(
                a,
                result if a.dedup_key == key else None,
                hub_url=hub_url if a.dedup_key == key else "",
                location=self.location,
                runbook_url=c.runbook(str(a.verdict.code)) if a.verdict else "",
                public_url=c.monitor.public_url or "",
            )
            for a in login_actions + prober_actions
        ]
        moved = {key: login, PROBER_KEY: prober}
        expiry_actions = self._expiry(result, now, now_iso, moved, events)
        actions = login_actions + prober_actions + expiry_actions
        events = [s.redactor.data(e) for e in events] if self.sender is not None else []
        self.store.record(s.redactor.data(result.to_json()), moved, events, now, now_iso)
        self.tracks.update(moved)
        self.last_tick = now
        self.metrics.observe(result)
        self.metrics.incidents_open.set(sum(1 for t in self.tracks.values() if t.is_open))
        log.info(
            "probe",
            hub=result.hub,
            verdict=str(result.verdict.code),
            ms=result.duration_ms,
            summary=result.verdict.summary,
        )
        for a in actions:
            log.warning(
                "incident " + a.kind,
                dedup_key=a.dedup_key,
                reason=a.reason,
                verdict=str(a.verdict.code) if a.verdict else None,
                paging=self.sender is not None,
            )
        if events:
            self._outbox_wake.set()
        return actions

    def _expiry(
        self,
        result: ProbeResult,
        now: float,
        now_iso: str,
        moved: dict[str, Track],
        events: list[dict[str, Any]],
    ) -> list[Action]:
        """The declared-expiry warning for the probed hub: adds its track and events."""
        c = self.settings.loaded.config
        hub = c.hubs[result.hub]
        declared = hub.oauth.secret_expires if hub.oauth else None
        expires = self._graph_end.get(result.hub, declared)
        key = expiry_key(result.hub)
        track = self.tracks.get(key, Track())
        if expires is None and not track.is_open:
            return []
        notice = None
        if expires is not None:
            self.metrics.secret_expiry.labels(result.hub).set(
                datetime.combine(expires, dtime(0), tzinfo=UTC).timestamp()
            )
            sc = result.observation.secret_check
            accepted = None if sc is None or sc.outcome == "inconclusive" else sc.outcome == "valid"
            # The calendar comes from the injectable clock; the outbox keeps to real time.
            notice = expiry_notice(
                result.hub,
                expires,
                datetime.fromtimestamp(self.clock(), UTC),
                tuple(c.monitor.expiry_warn_days),
                accepted,
            )
        moved[key], actions = step_expiry(track, notice, key, now_iso)
        events += self._expiry_events(actions, notice, key, hub.url)
        return actions

    def _expiry_events(
        self, actions: list[Action], notice: ExpiryNotice | None, key: str, hub_url: str
    ) -> list[dict[str, Any]]:
        """A trigger carries the notice (secret or certificate); a resolve needs only the key."""
        c = self.settings.loaded.config
        return [
            build_expiry_event(
                notice,
                key,
                hub_url=hub_url,
                location=self.location,
                runbook_url=c.runbook(f"{notice.kind}_expiring"),
                public_url=c.monitor.public_url or "",
            )
            if a.kind == "trigger" and notice is not None
            else build_event(a, None)
            for a in actions
        ]

    # -- the outbox sender --------------------------------------------------------------------------
    async def _outbox_loop(self) -> None:
        while True:
            delivered_any = await self.flush_once()
            if self.stopping.is_set():
                return
            if delivered_any:
                continue
            item = self.store.next_event()
            wait = 5.0 if item is None else max(0.05, min(5.0, item[1] - time.time()))
            self._outbox_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_wake.wait(), wait)

    async def flush_once(self) -> bool:
        """Send the oldest due event, if any. True if one was delivered (look again at once)."""
        if self.sender is None:
            return False
        item = self.store.next_event()
        if item is None or item[1] > time.time():
            return False
        event, _ = item
        sender = self.sender
        delivery = await asyncio.to_thread(sender.send, event.event)
        redactor = self.settings.redactor
        if delivery.outcome == "accepted":
            self.store.delivered(event.id)
            log.info(
                "pagerduty accepted",
                dedup_key=event.dedup_key,
                action=event.event["event_action"],
                attempts=event.attempts + 1,
            )
            return True
        message = redactor.text(delivery.message)
        if delivery.outcome == "rejected":
            # PagerDuty will never take this event: a bug in what we send. Keep it, say it loudly.
            self.store.reject(event.id, f"HTTP {delivery.status}: {message}")
            log.error(
                "pagerduty rejected an event; it is kept in the outbox and will not be retried",
                dedup_key=event.dedup_key,
                status=delivery.status,
                pagerduty_says=message,
            )
            return True
        attempts = event.attempts + 1
        delay = backoff(attempts)
        self.store.defer(
            event.id,
            attempts,
            time.time() + delay,
            f"HTTP {delivery.status}: {message}" if delivery.status else message,
        )
        log.warning(
            "pagerduty delivery failed; will retry",
            dedup_key=event.dedup_key,
            status=delivery.status,
            error=message,
            attempts=attempts,
            retry_in_s=delay,
        )
        return False

    # -- health --------------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        now = time.time()
        stats = self.store.outbox_stats(now)
        c = self.settings.loaded.config
        longest = max(
            [self._interval(h) + c.hub_timeout(h) for h in c.hubs] or [c.monitor.interval]
        )
        # Alive: the scheduler runs and a probe finished within two of the longest cycles.
        reference = self.last_tick or self.started_at
        alive = (
            bool(self.scheduler.running)
            and not self.stopping.is_set()
            and (now - reference < 2 * longest + HANG_GRACE_S)
        )
        problems = []
        if not alive:
            problems.append("no probe finished recently: the scheduler is stuck or stopped")
        if stats.rejected:
            problems.append(
                f"{stats.rejected} event(s) rejected by PagerDuty (HTTP 400): {stats.last_error}"
            )
        if stats.depth and stats.oldest_age_s > 300:
            problems.append(f"outbox: oldest undelivered event is {stats.oldest_age_s:.0f}s old")
        body = {
            "status": "ok" if not problems else ("degraded" if alive else "failing"),
            "problems": problems,
            "scheduler_running": bool(self.scheduler.running),
            "probes_in_flight": len(self._in_flight),
            "last_tick": (
                datetime.fromtimestamp(self.last_tick, UTC).isoformat(timespec="seconds")
                if self.last_tick
                else None
            ),
            "outbox": {
                "depth": stats.depth,
                "oldest_age_s": round(stats.oldest_age_s, 1),
                "rejected": stats.rejected,
                "last_error": stats.last_error,
            },
            "pagerduty": self.sender is not None,
            "incidents_open": sorted(k for k, t in self.tracks.items() if t.is_open),
        }
        self.metrics.outbox(stats)
        return alive, body
