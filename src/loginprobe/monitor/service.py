"""`probe serve`: the monitor, wired from its parts.

    hub leases ─▶ scheduler (this replica's hubs) ─▶ browser pool (probe_hub) ─▶ pipeline ─▶ store
                  checks (TLS, Graph, secret) ─▶ pipeline                                    │
                  inbox (`probe run --alert`) ─▶ pipeline                                    ▼ outbox
    the "monitor" lease ─▶ (its holder only) outbox sender ─▶ PagerDuty

Every hub is probed every `interval`, start times spread; after a failing probe (and until an
incident has resolved) the next one comes after `retry_after_failure`. At most `concurrency` probes
run at once, in one shared browser with a fresh context each. Replicas of `probe serve` on one
store share the hubs: each probes the hubs whose leases it holds (replica.py, spread.py), and the
one holding the store's "monitor" lease also drains the outbox. A replica holding no hub (more
replicas than hubs, or a second one beside a lone hub's) stands by.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx2
import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe import config as cfg
from loginprobe.model import ProbeResult
from loginprobe.monitor.checks import Checks, has_checks
from loginprobe.monitor.health import Role, Vitals, assess
from loginprobe.monitor.heartbeat import Heartbeat
from loginprobe.monitor.inbox import Inbox
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.pace import Pace
from loginprobe.monitor.pipeline import BrowserFault, Pipeline, track_hub
from loginprobe.monitor.pool import HANG_GRACE_S, BrowserPool, Launcher
from loginprobe.monitor.replica import HubLeases
from loginprobe.monitor.runner import HubProbe, ProbeRunner
from loginprobe.monitor.scheduler import Scheduler, checks_job_id, probe_job_id
from loginprobe.monitor.settings import Settings, make_sender
from loginprobe.monitor.share import Share
from loginprobe.monitor.tracks.login import login_key, settled
from loginprobe.monitor.tracks.track import Track
from loginprobe.monitor.witness import Witness
from loginprobe.prober.hub_probe import (
    probe_hub,
)
from loginprobe.store import LeaseInfo, LeaseLost, OutboxStats, Store

log = structlog.get_logger("loginprobe")

INBOX_POLL_S = 1.0
STORE_VITALS_EVERY_S = 2.0
PRUNE_JOB, PRUNE_EVERY_S = "prune-history", 3600.0
# Settings `probe serve` reads once, at start.
RESTART_KEYS: dict[str, Callable[[cfg.Config], str]] = {
    "monitor.state": lambda c: c.monitor.state,
    "monitor.listen": lambda c: c.monitor.listen,
    "monitor.location": lambda c: c.monitor.location,
    "browser.executable": lambda c: c.browser.executable,
}


class Monitor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        *,
        probe: HubProbe = probe_hub,
        launcher: Launcher | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        """`probe`, `launcher` and `transport` are the edges: what runs one probe, what opens
        the browser, where PagerDuty requests go. Tests pass fakes; the defaults are real."""
        c = settings.loaded.config
        self._location = c.monitor.location or socket.gethostname()
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.started_at = time.time()
        self.stopping = False
        self.role: Role = "starting"
        self._transport = transport
        self.scheduler = Scheduler()
        self.pool = BrowserPool(c.browser.executable, c.monitor.concurrency, launcher)
        # The "monitor" lease: its holder drains the outbox (and prunes the history).
        self.lease = LeaseKeeper(store, c.monitor.lease_ttl)
        self.hubs = HubLeases(store, c.monitor.lease_ttl, c.monitor.replica, self.location)
        self.journal = Journal(store, on_error=metrics.store_errors.inc, hub_fence=self.hubs.fence)
        self.outbox = OutboxSender(
            store,
            self.journal,
            make_sender(settings, transport),
            lambda: self.settings.redactor,
            may_send=self.lease.may_send,
            fence=self.lease.fence,
            on_lease_lost=lambda: self.share.outbox_lost(),
            from_memory=self.hubs.pages_from_memory,
        )
        self.pipeline = Pipeline(
            settings=lambda: self.settings,
            journal=self.journal,
            metrics=metrics,
            tracks={},
            location=lambda: self.location,
            wake_outbox=self.outbox.wake,
            clock=clock,
            replica=lambda: self.hubs.name,
            # No other replica alive at the last look: none can move the shared tracks (a new
            # one takes no hub while this one's leases run).
            alone=lambda: self.hubs.replicas <= 1,
        )
        self.checks = Checks(
            settings=lambda: self.settings,
            pipeline=self.pipeline,
            metrics=metrics,
            probe_now=self._probe_now,
            probing=self.probing,
            clock=clock,
        )
        self.inbox = Inbox(
            lambda: self.settings, store, self.pipeline, self.lease, self.hubs, self._look_again
        )
        self.heartbeat = Heartbeat(
            lambda: self.settings.heartbeat,
            lambda: self.health()[0] and self.role == "active",
        )
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._probing: set[str] = set()  # hubs with a browser probe running
        self._due: dict[str, float] = {}  # hub -> when its pending probe is due (monotonic)
        self._asked: dict[str, float] = {}  # hub -> delay asked for while its probe ran
        self.pace = Pace(
            lambda: self.settings,
            store,
            self.pool.slots,
            metrics,
            lambda: self.role == "active",
            share=self._capacity_share,
        )
        self.runner = ProbeRunner(
            lambda: self.settings, self.pool, self.pace, probe, recent_secret=self.checks.recent
        )
        # With a quorum across locations: the other locations' hubs this replica also probes.
        self.witness = Witness(
            lambda: self.settings,
            store,
            self.scheduler,
            self.runner,
            lambda: self.hubs.name,
            lambda: self.location,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._store_vitals: tuple[OutboxStats | None, LeaseInfo | None] | None = None
        self._probe_task: dict[str, asyncio.Task[Any]] = {}  # hub -> its probe job running
        self._mine: set[str] = set()  # the hubs this replica has started probing
        self._removing: set[str] = set()  # removed by a reload, their incidents being resolved
        # This replica's share: its hubs' leases, and the outbox for the "monitor" lease's holder.
        self.share = Share(self.lease, self.hubs, self)

    @property
    def location(self) -> str:
        """Where this replica probes from, as it started (its heartbeat, leases and sightings
        carry it: a reload does not move a running replica)."""
        return self._location

    @property
    def tracks(self) -> dict[str, Track]:
        return self.pipeline.tracks

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.pool.start()
        self.scheduler.start()
        self._tasks = [
            asyncio.create_task(self._watch_store(), name="store-vitals"),
            asyncio.create_task(self._read_inbox(), name="inbox"),
            asyncio.create_task(self.pace.measure(lambda: self.stopping), name="costs"),
        ]
        self.heartbeat.start()  # pings only while this monitor is active and healthy
        self._tasks += await self.share.start()
        self.witness.start()

    async def stop(self) -> None:
        """Cancel probes in flight, try the outbox once more, hand the lease over, close up."""
        self.stopping = True
        self.share.stopping = True
        await self.heartbeat.stop()
        for task in self._tasks:
            task.cancel()
        await self.witness.stop()
        self.scheduler.shutdown()
        await self._cancel_probes()
        await self.outbox.stop()
        await self.pool.stop()
        self.share.stop()
        log.info("monitor stopped")

    def take_over(self) -> bool:
        """Take the store's lease and every hub, and read where the last holder left off (no
        probing yet)."""
        if not self.lease.acquire():
            return False
        self.hubs.tick(list(self.settings.loaded.config.hubs))
        self.pipeline.take_up(sorted(self.hubs.hubs), *self.journal.read_back(time.time()))
        self.role = "active"
        return True

    # -- this replica's share changes (share.Hooks) ------------------------------------------------
    def wanted(self) -> list[str]:
        hubs = list(self.settings.loaded.config.hubs)
        # A hub removed by a reload stays leased until its open incidents are resolved, and
        # while its probe runs, until its verdict is in.
        return hubs + [
            h for h in self._probing | self._removing if h not in hubs and h in self.hubs.hubs
        ]

    async def gained(self, hubs: list[str]) -> None:
        read = await asyncio.to_thread(self.journal.read_back, time.time())
        self.pipeline.take_up(hubs, *read)
        starting = self.role != "active"
        if starting:
            self.role = "active"
            self.started_at = time.time()
        self._mine.update(hubs)
        if starting:
            # Each hub's first probe records a trace, and so types the password stand-in: an
            # IdP page that the stand-in cannot pass (one that hashes the password) shows at
            # start (runner.ProbeRunner._without_stand_in), not first in the confirming retry
            # of some other failure. Not for hubs taken over: their probes stay cheap then.
            self.runner.trace_next.update(hubs)
        for hub in hubs:
            interval = self.settings.interval(hub)
            if starting:
                # Spread the first probes over the first part of an interval, not all at once.
                delay = random.uniform(0, min(interval, 10.0 * len(hubs)))
            else:
                # Taken over from another replica: its last probe may be an interval old.
                delay = random.uniform(0, min(interval / 4, 5.0))
            self._schedule(hub, delay)
            self._schedule_checks(hub, random.uniform(5.0, 15.0))
        self.pace.say_capacity()
        log.info(
            "monitor active" if starting else "took over hubs",
            replica=self.hubs.name,
            hubs=sorted(hubs),
            pagerduty=self.outbox.configured,
            incidents_open=sorted(
                k
                for k, t in self.tracks.items()
                if t.is_open and track_hub(k, set(hubs)) is not None
            ),
        )

    async def lost(self, hub: str, why: str) -> None:
        # Its fence is already gone (the round's, or _lease_lost's): a hub lost and taken back in
        # one round holds a new one now, which the gained hook right after goes on with.
        if hub not in self._mine:
            return  # already let go (a refused write and the next round of leases both say it)
        self._mine.discard(hub)
        self.scheduler.cancel(probe_job_id(hub))
        self.scheduler.cancel(checks_job_id(hub))
        task = self._probe_task.get(hub)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.pipeline.let_go(hub)  # its new holder moves its tracks now
        log.warning("no longer probing a hub", hub=hub, replica=self.hubs.name, reason=why)
        if not self.hubs.hubs and self.role == "active":
            self.role = "standby"

    def sending(self, on: bool) -> None:
        """Draining the outbox (one replica at a time) goes with pruning the history."""
        if not on:
            self.scheduler.cancel(PRUNE_JOB)
            return
        self.scheduler.run_later(PRUNE_JOB, 60.0, self._prune_job, "")
        self.outbox.start()
        self.outbox.wake()
        log.info("draining the outbox", replica=self.hubs.name, lease=self.lease.holder)

    async def idle(self) -> None:
        self.role = "standby"
        holder = await asyncio.to_thread(self.lease.current_holder)
        log.warning(
            "other replicas probe every hub; standing by to take a share",
            replica=self.hubs.name,
            outbox_holder=holder.holder if holder else None,
            lease_ttl_s=self.lease.ttl,
        )

    def _lease_lost(self, lost: LeaseLost | None = None) -> None:
        """A write was refused: the hub (or the outbox) is another replica's now."""
        if lost is None or lost.hub is None:
            self.share.outbox_lost()
            return
        self.hubs.drop(lost.hub)
        self._tasks.append(asyncio.ensure_future(self.lost(lost.hub, lost.reason)))

    async def _cancel_probes(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=5)

    async def reload(self, path: Path) -> bool:
        """Swap in a new config, all or nothing: everything is built and checked first; an invalid
        one is logged and ignored (the last good one runs on)."""
        try:
            new = Settings.load(path)
            sender = make_sender(new, self._transport)
        except cfg.ConfigError as err:
            log.error(
                "config reload rejected; still running the previous config", problems=err.lines
            )
            return False
        except Exception as err:  # e.g. a CA file that is not a certificate
            log.error(
                "config reload rejected; still running the previous config",
                problems=[f"{path}: {type(err).__name__}: {err}"],
            )
            return False
        old = self.settings
        old_hubs, new_hubs = set(old.loaded.config.hubs), set(new.loaded.config.hubs)
        self._removing |= old_hubs - new_hubs
        restart = [
            k for k, get in RESTART_KEYS.items() if get(old.loaded.config) != get(new.loaded.config)
        ]
        self.settings = new
        self.outbox.use(sender)
        self.lease.ttl = new.loaded.config.monitor.lease_ttl
        self.pool.slots.resize(new.loaded.config.monitor.concurrency)
        for hub in sorted(old_hubs - new_hubs):
            self.scheduler.cancel(probe_job_id(hub))
            self.scheduler.cancel(checks_job_id(hub))
            self.metrics.forget(hub)
            if hub in self.hubs.hubs:  # its holder resolves what it had open, then lets it go
                try:
                    await self.pipeline.on_hub_removed(hub)
                except LeaseLost as lost:
                    self._lease_lost(lost)
            self._removing.discard(hub)
        self.hubs.ttl = self.lease.ttl
        # New hubs are leased (and removed ones handed back) by the next round of the leases.
        self.share.wake()
        if restart:
            log.warning(
                "these settings changed but take effect only when probe serve restarts",
                keys=restart,
            )
        self.pace.say_capacity()
        log.info(
            "config reloaded",
            hubs=sorted(new_hubs),
            added=sorted(new_hubs - old_hubs),
            removed=sorted(old_hubs - new_hubs),
        )
        return True

    # -- scheduling -----------------------------------------------------------------------------
    def _probe_now(self, hub: str) -> None:
        """The secret check turned to rejecting: probe at once, and record a trace, since a
        login failing at the callback now pages at first sight."""
        self.runner.trace_next.add(hub)
        self._schedule(hub, 0.0)

    def _look_again(self, hub: str) -> None:
        """A handed-over probe failed: probe again soon, as after a failure of its own."""
        if not self.probing(hub):
            self._schedule(hub, self.settings.loaded.config.monitor.retry_after_failure)

    def _schedule(self, hub: str, delay: float) -> None:
        if self.stopping or hub not in self.hubs.hubs:
            return
        if hub in self._probing:
            # Its probe is running: the next one starts that much after it ends (a run due
            # meanwhile would be skipped by the scheduler, one instance per job).
            self._asked[hub] = min(delay, self._asked.get(hub, delay))
            return
        self._due[hub] = time.monotonic() + delay
        self.scheduler.run_later(probe_job_id(hub), delay, self._probe_job, hub)

    def _schedule_checks(self, hub: str, delay: float) -> None:
        if not self.stopping and hub in self.hubs.hubs and has_checks(self.settings, hub):
            self.scheduler.run_later(checks_job_id(hub), delay, self._checks_job, hub)

    async def _checks_job(self, hub: str) -> None:
        try:
            await self.checks.run(hub)
        except LeaseLost as lost:
            self._lease_lost(lost)
        finally:
            self._schedule_checks(hub, self.settings.loaded.config.monitor.secret_check_interval)

    async def _probe_job(self, hub: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        self._probe_task[hub] = task
        began = time.monotonic()
        try:
            if hub not in self.settings.loaded.config.hubs or hub not in self.hubs.hubs:
                return  # removed by a reload while it waited, or no longer ours to probe
            self._probing.add(hub)
            result, fault = await self._probe(hub)
            try:
                await self.pipeline.on_probe(result, fault)
            except LeaseLost as lost:
                self._lease_lost(lost)
        except asyncio.CancelledError:
            if not self.stopping and hub in self.hubs.hubs:
                raise
            # Cancelled by a stop or a hub handed over: expected, not the scheduler's to log.
        finally:
            self._probing.discard(hub)
            self._in_flight.discard(task)
            if self._probe_task.get(hub) is task:
                del self._probe_task[hub]
            asked = self._asked.pop(hub, None)
            if hub in self.settings.loaded.config.hubs:
                track = self.tracks.get(login_key(hub), Track())
                fast = not settled(track, self.settings.thresholds)
                m = self.settings.loaded.config.monitor
                period = m.retry_after_failure if fast else self.settings.interval(hub)
                # Start to start: a probe's own duration does not stretch the interval (but a
                # probe that overran it does not start the next one at once either).
                delay = max(min(1.0, period), period - (time.monotonic() - began))
                # Never 0 from here: this run still counts as running until it returns.
                self._schedule(hub, delay if asked is None else max(0.2, min(asked, delay)))

    async def _probe(self, hub: str) -> tuple[ProbeResult, BrowserFault | None]:
        due = self._due.pop(hub, time.monotonic())
        # A confirming retry of a failing hub goes before the routine probes waiting for a slot,
        # unless a shared incident (its IdP's, the prober's network) already speaks for it: eighty
        # hubs of a failing IdP must not starve the probes of the hubs of the other IdPs.
        retry = not settled(
            self.tracks.get(login_key(hub), Track()), self.settings.thresholds
        ) and not self.pipeline.shared_incident_covers(hub)
        return await self.runner.run(hub, due, retry)

    async def _prune_job(self, _: str) -> None:
        """History older than history_max_age goes, hourly, in a thread (never the loop)."""
        keep = self.settings.loaded.config.monitor.history_max_age
        try:
            gone = await asyncio.to_thread(self.store.prune, time.time() - keep)
            if gone:
                log.info("old probe history deleted", probes=gone, older_than_s=keep)
        except (SQLAlchemyError, OSError) as err:
            log.warning(
                "could not delete old probe history; trying again in an hour",
                error=str(err).splitlines()[0][:300],
            )
        finally:
            if self.lease.held and not self.stopping:
                self.scheduler.run_later(PRUNE_JOB, PRUNE_EVERY_S, self._prune_job, "")

    # -- `probe run --alert` while this monitor runs ----------------------------------------------
    async def _read_inbox(self) -> None:
        while not self.stopping:
            await asyncio.sleep(INBOX_POLL_S)
            if self.role != "active" and not self.lease.held:
                continue
            try:
                await self.read_silences()
                await self.inbox.take()
            except LeaseLost as lost:
                self._lease_lost(lost)
            except (SQLAlchemyError, OSError) as err:
                # Every second while the store is away: one line, not a traceback each time.
                log.warning("cannot read the store's inbox", error=str(err).splitlines()[0][:300])
            except Exception:
                log.error("reading handed-over probes failed", exc_info=True)

    async def read_silences(self) -> None:
        """`probe silence` writes to the store; the pipeline holds pages by what is read here."""
        self.pipeline.silences = await asyncio.to_thread(self.store.silences.current, time.time())

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

    def _capacity_share(self) -> set[str] | None:
        """The hubs this replica probes, for its capacity: its own, and those it witnesses for
        its location (None: every hub, a lone replica)."""
        mine = self.hubs.hubs | self.witness.hubs
        return mine if self.hubs.replicas > 1 or self.witness.hubs else None

    # -- health --------------------------------------------------------------------------------------
    def _read_store_vitals(self) -> tuple[OutboxStats | None, LeaseInfo | None]:
        """The outbox's figures and who drains it, as the store has them (store reads)."""
        stats: OutboxStats | None = None
        try:
            stats = self.store.outbox.stats(time.time())
            self.metrics.outbox(stats)
        except (SQLAlchemyError, OSError):
            pass
        return stats, None if self.lease.held else self.lease.current_holder()

    async def _watch_store(self) -> None:
        while not self.stopping:
            self._store_vitals = await asyncio.to_thread(self._read_store_vitals)
            await asyncio.sleep(STORE_VITALS_EVERY_S)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz, the heartbeat, the status page: from memory only, once running (the store's
        part is read in a thread every STORE_VITALS_EVERY_S; a store that hangs must not hang
        the event loop with it)."""
        now = time.time()
        vitals = self._store_vitals
        if vitals is None or not self._tasks:  # not running: nobody else reads them
            vitals = self._store_vitals = self._read_store_vitals()
        stats, holder = vitals
        c = self.settings.loaded.config
        longest = max(
            [self.settings.interval(h) + c.hub_timeout(h) for h in c.hubs] or [c.monitor.interval]
        )
        healthy, body = assess(
            Vitals(
                now=now,
                started_at=self.started_at,
                last_tick=self.pipeline.last_tick,
                role=self.role,
                scheduler_running=self.scheduler.running,
                stopping=self.stopping,
                longest_cycle=longest,
                grace=HANG_GRACE_S,
                probes_in_flight=len(self._in_flight),
                sender_alive=self.outbox.alive,
                outbox=stats,
                store_failing_since=self.journal.failing_since,
                store_error=self.journal.last_error,
                held_in_memory=len(self.journal.held),
                pagerduty=self.outbox.configured,
                incidents_open=sorted(k for k, t in self.tracks.items() if t.is_open),
                holder=self.lease.info if self.lease.held else holder,
                sending=self.lease.held,
                replica=self.hubs.name,
                hubs=tuple(sorted(self.hubs.hubs)),
                witnesses=tuple(sorted(self.witness.hubs)),
            )
        )
        self.metrics.healthy.set(1 if healthy else 0)
        lag = self.pace.lag()
        self.metrics.schedule_lag.set(lag)
        body["capacity"] = self.pace.capacity().to_json()
        body["schedule_lag_s"] = round(lag, 1)
        return healthy, body
