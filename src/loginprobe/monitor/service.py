"""`probe serve`: the monitor, wired from its parts.

    scheduler ─▶ browser pool (probe_hub in a shared Chromium) ─▶ pipeline ─▶ store + outbox
                                                                   outbox sender ─▶ PagerDuty
    checks (TLS, Graph, secret check) ─▶ pipeline

Every hub is probed every `interval`, start times spread; after a failing probe (and until an
incident has resolved) the next one comes after `retry_after_failure`. At most `concurrency` probes
run at once, in one shared browser with a fresh context each.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser

from loginprobe import config as cfg
from loginprobe.alerting.pagerduty import PagerDutySender
from loginprobe.model import ProbeResult
from loginprobe.monitor.checks import Checks, has_checks
from loginprobe.monitor.health import Vitals, assess
from loginprobe.monitor.heartbeat import Heartbeat
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.pipeline import Pipeline
from loginprobe.monitor.pool import HANG_GRACE_S, BrowserPool
from loginprobe.monitor.scheduler import Scheduler, checks_job_id, probe_job_id
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.login import login_key, settled
from loginprobe.monitor.tracks.track import Action, Track
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import (
    CAPTURE_TIMEOUT_S,
    CONTEXT_CLOSE_S,
    log_crash,
    probe_hub,
    prober_failed,
)
from loginprobe.store import Store

log = structlog.get_logger("loginprobe")


def make_sender(settings: Settings) -> PagerDutySender | None:
    pd = settings.loaded.config.pagerduty
    if pd is None or settings.routing_key is None:
        return None
    ca = str(settings.loaded.file(pd.ca_file)) if pd.ca_file else None
    return PagerDutySender(settings.routing_key, pd.events_url, ca)


class Monitor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.started_at = time.time()
        self.stopping = False
        self.scheduler = Scheduler()
        self.pool = BrowserPool(
            settings.loaded.config.browser.executable, settings.loaded.config.monitor.concurrency
        )
        self.outbox = OutboxSender(store, make_sender(settings), lambda: self.settings.redactor)
        self.pipeline = Pipeline(
            settings=lambda: self.settings,
            store=store,
            metrics=metrics,
            tracks=store.tracks(),
            location=lambda: self.location,
            wake_outbox=self.outbox.wake,
            clock=clock,
        )
        self.checks = Checks(
            settings=lambda: self.settings,
            pipeline=self.pipeline,
            metrics=metrics,
            probe_now=lambda hub: self._schedule(hub, 0.0),
            probing=self.probing,
            clock=clock,
        )
        self.location = settings.loaded.config.monitor.location or socket.gethostname()
        self.heartbeat = Heartbeat(lambda: self.settings.heartbeat, lambda: self.health()[0])
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._probing: set[str] = set()  # hubs with a browser probe running

    @property
    def tracks(self) -> dict[str, Track]:
        return self.pipeline.tracks

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.pool.start()
        self.scheduler.start()
        hubs = list(self.settings.loaded.config.hubs)
        for hub in hubs:
            # Spread the first probes over the first part of an interval, not all at once.
            interval = self.settings.interval(hub)
            self._schedule(hub, random.uniform(0, min(interval, 10.0 * len(hubs))))
            self._schedule_checks(hub, random.uniform(5.0, 15.0))
        self.outbox.start()
        self.heartbeat.start()
        log.info("monitor started", hubs=hubs, pagerduty=self.outbox.sender is not None)

    async def stop(self) -> None:
        """Cancel probes in flight, try the outbox once more, close the browser."""
        self.stopping = True
        await self.heartbeat.stop()
        self.scheduler.shutdown()
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=5)
        await self.outbox.stop()
        await self.pool.stop()
        log.info("monitor stopped")

    def reload(self, path: Path) -> bool:
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
        self.outbox.use(make_sender(new))
        for hub in old_hubs - new_hubs:
            self.scheduler.cancel(probe_job_id(hub))
            self.scheduler.cancel(checks_job_id(hub))
        for hub in new_hubs - old_hubs:
            self._schedule(hub, random.uniform(0, 5.0))
            self._schedule_checks(hub, random.uniform(5.0, 15.0))
        log.info(
            "config reloaded",
            hubs=sorted(new_hubs),
            added=sorted(new_hubs - old_hubs),
            removed=sorted(old_hubs - new_hubs),
        )
        return True

    # -- scheduling -----------------------------------------------------------------------------
    def _schedule(self, hub: str, delay: float) -> None:
        if not self.stopping:
            self.scheduler.run_later(probe_job_id(hub), delay, self._probe_job, hub)

    def _schedule_checks(self, hub: str, delay: float) -> None:
        if not self.stopping and has_checks(self.settings, hub):
            self.scheduler.run_later(checks_job_id(hub), delay, self._checks_job, hub)

    async def _checks_job(self, hub: str) -> None:
        try:
            await self.checks.run(hub)
        finally:
            self._schedule_checks(hub, self.settings.loaded.config.monitor.secret_check_interval)

    async def _probe_job(self, hub: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        began = time.monotonic()
        try:
            if hub not in self.settings.loaded.config.hubs:
                return  # removed by a reload while it waited
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
                period = m.retry_after_failure if fast else self.settings.interval(hub)
                # Start to start: a probe's own duration does not stretch the interval.
                self._schedule(hub, max(1.0, period - (time.monotonic() - began)))

    async def _probe(self, hub: str) -> ProbeResult:
        s = self.settings
        spec, timeout = s.loaded.config.hubs[hub], s.loaded.config.hub_timeout(hub)
        started_at, t0 = datetime.now(UTC), time.monotonic()
        m = s.loaded.config.monitor

        async def probe(browser: Browser, traces_dir: Path | None) -> ProbeResult:
            plan = plan_for(m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, traces_dir)
            return await probe_hub(
                browser,
                hub,
                spec,
                s.secrets[hub],
                timeout=timeout,
                redactor=s.redactor,
                evidence=plan,
            )

        # Past the journey's timeout a failing probe still takes its evidence (bounded) and
        # closes its context (bounded): only beyond those is it hung.
        limit = timeout + CAPTURE_TIMEOUT_S + CONTEXT_CLOSE_S + HANG_GRACE_S
        outcome = await self.pool.run(probe, limit)
        if isinstance(outcome, ProbeResult):
            return outcome
        log_crash(hub, outcome)
        return prober_failed(hub, spec, outcome, s.redactor, started_at, t0)

    # -- verdicts --------------------------------------------------------------------------------
    def handle(self, result: ProbeResult) -> list[Action]:
        return self.pipeline.on_probe(result)

    async def flush_once(self) -> bool:
        return await self.outbox.flush_once()

    async def check_tls(self, hub: str) -> list[Action]:
        return await self.checks.check_tls(hub)

    # -- what the status page shows ---------------------------------------------------------------
    def secret_expiry(self, hub: str) -> tuple[date | None, str]:
        """The client secret's end date and where it comes from ("graph" or "config")."""
        if hub in self.pipeline.graph_end:
            return self.pipeline.graph_end[hub], "graph"
        spec = self.settings.loaded.config.hubs.get(hub)
        return (spec.oauth.secret_expires if spec and spec.oauth else None), "config"

    def cert_expiry(self, hub: str) -> dict[str, datetime]:
        """host -> when the certificate it presented at the last TLS check expires."""
        return dict(self.checks.certs.get(hub, {}))

    def probing(self, hub: str) -> bool:
        return hub in self._probing

    def next_probe_at(self, hub: str) -> datetime | None:
        """When the scheduler will probe the hub next (None while a probe runs)."""
        return self.scheduler.next_run(probe_job_id(hub))

    # -- health --------------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        now = time.time()
        stats = self.store.outbox_stats(now)
        c = self.settings.loaded.config
        longest = max(
            [self.settings.interval(h) + c.hub_timeout(h) for h in c.hubs] or [c.monitor.interval]
        )
        self.metrics.outbox(stats)
        return assess(
            Vitals(
                now=now,
                started_at=self.started_at,
                last_tick=self.pipeline.last_tick,
                scheduler_running=self.scheduler.running,
                stopping=self.stopping,
                longest_cycle=longest,
                grace=HANG_GRACE_S,
                probes_in_flight=len(self._in_flight),
                outbox=stats,
                pagerduty=self.outbox.sender is not None,
                incidents_open=sorted(k for k, t in self.tracks.items() if t.is_open),
            )
        )
