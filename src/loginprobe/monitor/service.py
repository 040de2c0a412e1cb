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
import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import structlog
from playwright.async_api import Browser
from sqlalchemy.exc import SQLAlchemyError

from loginprobe import config as cfg
from loginprobe.model import ProbeResult
from loginprobe.monitor.checks import Checks, has_checks
from loginprobe.monitor.health import Role, Vitals, assess
from loginprobe.monitor.heartbeat import Heartbeat
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.pace import Pace
from loginprobe.monitor.pipeline import BrowserFault, Pipeline, track_hub
from loginprobe.monitor.pool import HANG_GRACE_S, BrowserPool, Launcher, Outcome
from loginprobe.monitor.replica import HubLeases
from loginprobe.monitor.scheduler import Scheduler, checks_job_id, probe_job_id
from loginprobe.monitor.settings import Settings, make_sender
from loginprobe.monitor.silences import Silence
from loginprobe.monitor.tracks.login import login_key, settled
from loginprobe.monitor.tracks.track import Track
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import (
    CAPTURE_TIMEOUT_S,
    CONTEXT_CLOSE_S,
    log_crash,
    probe_hub,
    prober_failed,
)
from loginprobe.store import LeaseLost, OutboxStats, Store

log = structlog.get_logger("loginprobe")

INBOX_POLL_S = 1.0
PRUNE_JOB, PRUNE_EVERY_S = "prune-history", 3600.0
# Settings `probe serve` reads once, at start.
RESTART_KEYS: dict[str, Callable[[cfg.Config], str]] = {
    "monitor.state": lambda c: c.monitor.state,
    "monitor.listen": lambda c: c.monitor.listen,
    "browser.executable": lambda c: c.browser.executable,
}
T = TypeVar("T")
# The event loop has not come round to the leases for this long (or two leases): it is stuck.
LOOP_STUCK_S = 60.0
# What runs one probe of one hub in a browser: probe_hub, or a fake in tests.
HubProbe = Callable[..., Coroutine[Any, Any, ProbeResult]]


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
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.started_at = time.time()
        self.stopping = False
        self.role: Role = "starting"
        self._probe_hub = probe
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
            on_lease_lost=self._outbox_lost,
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
        )
        self.checks = Checks(
            settings=lambda: self.settings,
            pipeline=self.pipeline,
            metrics=metrics,
            probe_now=self._probe_now,
            probing=self.probing,
            clock=clock,
        )
        self.heartbeat = Heartbeat(
            lambda: self.settings.heartbeat,
            lambda: self.health()[0] and self.role == "active",
        )
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._probing: set[str] = set()  # hubs with a browser probe running
        self._deaths_counted: list[int] = []  # browser generations already counted
        self._due: dict[str, float] = {}  # hub -> when its pending probe is due (monotonic)
        self._asked: dict[str, float] = {}  # hub -> delay asked for while its probe ran
        self._trace_next: set[str] = set()  # hubs whose next probe records a trace
        self.pace = Pace(
            lambda: self.settings, store, self.pool.slots, metrics, lambda: self.role == "active"
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_task: dict[str, asyncio.Task[Any]] = {}  # hub -> its probe job running
        self._mine: set[str] = set()  # the hubs this replica has started probing
        self._removing: set[str] = set()  # removed by a reload, their incidents being resolved
        self._wake_lease = asyncio.Event()
        self._lease_thread = ThreadPoolExecutor(1, thread_name_prefix="leases")
        self._renewer_stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_leases, name="renewer", daemon=True)
        self._sending = False  # the outbox was started on the "monitor" lease
        self._loop_seen = time.monotonic()  # the event loop's last round of the leases

    @property
    def location(self) -> str:
        return self.settings.loaded.config.monitor.location or socket.gethostname()

    @property
    def tracks(self) -> dict[str, Track]:
        return self.pipeline.tracks

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.pool.start()
        self.scheduler.start()
        self._tasks = [
            asyncio.create_task(self._keep_lease(), name="lease"),
            asyncio.create_task(self._read_inbox(), name="inbox"),
            asyncio.create_task(self.pace.measure(lambda: self.stopping), name="costs"),
        ]
        self.heartbeat.start()  # pings only while this monitor is active and healthy
        # Take the leases now if they are free, so a lone monitor starts probing at once.
        await self._tick()
        self._renewer.start()

    async def stop(self) -> None:
        """Cancel probes in flight, try the outbox once more, hand the lease over, close up."""
        self.stopping = True
        self._renewer_stop.set()
        await self.heartbeat.stop()
        for task in self._tasks:
            task.cancel()
        self.scheduler.shutdown()
        await self._cancel_probes()
        await self.outbox.stop()
        await self.pool.stop()
        self.hubs.leave()
        if self.lease.held:
            self.lease.release()
        self._lease_thread.shutdown(wait=False)
        log.info("monitor stopped")

    async def _keep_lease(self) -> None:
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_lease.wait(), self.lease.ttl / 3)
            self._wake_lease.clear()
            try:
                await self._tick()
            except Exception:
                log.error("keeping the leases failed", exc_info=True)

    def _renew_leases(self) -> None:
        """The renewer's thread: every third of the lease, whatever the event loop is busy with
        (a CPU-starved loop must not cost a live replica its hubs). Taking and handing back
        hubs, and acting on what was lost, is the loop's `_tick`."""
        while not self._renewer_stop.wait(self.lease.ttl / 3) and not self.stopping:
            stuck = time.monotonic() - self._loop_seen
            if stuck > max(2 * self.lease.ttl, LOOP_STUCK_S):
                # A loop that no longer runs probes nor pages must not keep its hubs and the
                # outbox from the other replicas: let the leases run out.
                log.error("the event loop is stuck: not renewing the leases", stuck_s=round(stuck))
                continue
            try:
                self.hubs.renew()
                if self.lease.held:
                    self.lease.renew()  # "lost": the loop's next tick stops the outbox
            except Exception:
                log.error("renewing the leases failed", exc_info=True)

    async def _tick(self) -> None:
        """Renew or take the outbox's lease, then this replica's share of the hubs."""
        self._loop_seen = time.monotonic()
        if self.stopping:
            return
        if self._sending and not self.lease.held:
            self._outbox_lost()  # found lost by the renewer
        if self.lease.held:
            if await self._off_loop(self.lease.renew) == "lost":
                self._outbox_lost()
        elif await self._off_loop(self.lease.acquire):
            self._start_outbox()
        hubs = list(self.settings.loaded.config.hubs)
        # A hub removed by a reload stays leased until its open incidents are resolved, and
        # while its probe runs, until its verdict is in.
        hubs += [h for h in self._probing | self._removing if h not in hubs and h in self.hubs.hubs]
        change = await self._off_loop(lambda: self.hubs.tick(hubs))
        for hub in change.lost:
            await self._drop_hub(hub, "its lease ran out or passed to another replica")
        for hub in change.released:
            await self._drop_hub(hub, "handed back: over this replica's share of the hubs")
        if change.gained:
            self._take_up(change.gained, *await asyncio.to_thread(self._read_stored))
            self._start_hubs(change.gained)
        if self.role == "starting" and not self.hubs.hubs:
            self.role = "standby"
            holder = self.lease.current_holder()
            log.warning(
                "other replicas probe every hub; standing by to take a share",
                replica=self.hubs.name,
                outbox_holder=holder.holder if holder else None,
                lease_ttl_s=self.lease.ttl,
            )

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """The leases' own thread: a renewal never queues behind the probes' database work in
        the shared worker threads (a busy store must not cost a replica its hubs)."""
        return await asyncio.get_running_loop().run_in_executor(self._lease_thread, work)

    def take_over(self) -> bool:
        """Take the store's lease and every hub, and read where the last holder left off (no
        probing yet)."""
        if not self.lease.acquire():
            return False
        self.hubs.tick(list(self.settings.loaded.config.hubs))
        self._load(sorted(self.hubs.hubs))
        self.role = "active"
        return True

    def _load(self, gained: list[str]) -> None:
        """Read where the hubs' last holder left off, and take it up (no probing yet)."""
        self._take_up(gained, *self._read_stored())

    def _read_stored(self) -> tuple[dict[str, Track], list[Silence] | None]:
        """The stored tracks and the silences (in a worker thread: store reads only)."""
        try:
            stored = self.store.tracks()
        except (SQLAlchemyError, OSError):
            log.error("cannot read the incident tracks; starting from none", exc_info=True)
            stored = {}
        try:
            silences: list[Silence] | None = self.store.silences.current(time.time())
        except (SQLAlchemyError, OSError):
            log.error("cannot read the silences; none until the store answers", exc_info=True)
            silences = None
        return stored, silences

    def _take_up(
        self, gained: list[str], stored: dict[str, Track], silences: list[Silence] | None
    ) -> None:
        """The gained hubs' tracks (and the shared ones, the first time) from the store: on the
        event loop, which reads the pipeline's tracks while probes react."""
        hubs = set(self.settings.loaded.config.hubs)
        first = not self.tracks
        for key in [k for k in self.tracks if track_hub(k, hubs) in gained]:
            del self.pipeline.tracks[key]
        for key, track in stored.items():
            owner = track_hub(key, hubs)
            if owner in gained or (first and owner is None):
                self.pipeline.tracks[key] = track
        if silences is not None:
            self.pipeline.silences = silences

    def _start_hubs(self, gained: list[str]) -> None:
        starting = self.role != "active"
        if starting:
            self.role = "active"
            self.started_at = time.time()
        self._mine.update(gained)
        for hub in gained:
            interval = self.settings.interval(hub)
            if starting:
                # Spread the first probes over the first part of an interval, not all at once.
                delay = random.uniform(0, min(interval, 10.0 * len(gained)))
            else:
                # Taken over from another replica: its last probe may be an interval old.
                delay = random.uniform(0, min(interval / 4, 5.0))
            self._schedule(hub, delay)
            self._schedule_checks(hub, random.uniform(5.0, 15.0))
        self.pace.say_capacity()
        log.info(
            "monitor active" if starting else "took over hubs",
            replica=self.hubs.name,
            hubs=sorted(gained),
            pagerduty=self.outbox.configured,
            incidents_open=sorted(
                k
                for k, t in self.tracks.items()
                if t.is_open and track_hub(k, set(gained)) is not None
            ),
        )

    def _start_outbox(self) -> None:
        """This replica now drains the outbox (one replica at a time) and prunes the history."""
        self._sending = True
        self.scheduler.run_later(PRUNE_JOB, 60.0, self._prune_job, "")
        self.outbox.start()
        self.outbox.wake()
        log.info("draining the outbox", replica=self.hubs.name, lease=self.lease.holder)

    def _outbox_lost(self) -> None:
        if self.lease.info is not None or self.outbox.alive:
            log.error("another replica drains the outbox now: this one sends no more pages")
        self.lease.info = None
        self._sending = False
        self.scheduler.cancel(PRUNE_JOB)

    async def _drop_hub(self, hub: str, why: str) -> None:
        """No longer this replica's hub: no more probes, writes or pages about it."""
        self.hubs.drop(hub)
        if hub not in self._mine:
            return  # already let go (a refused write and the next round of leases both say it)
        self._mine.discard(hub)
        self.scheduler.cancel(probe_job_id(hub))
        self.scheduler.cancel(checks_job_id(hub))
        task = self._probe_task.get(hub)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.journal.held = [r for r in self.journal.held if r.hub != hub]
        for key in [k for k in self.tracks if track_hub(k, {hub}) == hub]:
            del self.pipeline.tracks[key]  # its new holder moves them now
        log.warning("no longer probing a hub", hub=hub, replica=self.hubs.name, reason=why)
        if not self.hubs.hubs and self.role == "active":
            self.role = "standby"

    def _lease_lost(self, lost: LeaseLost | None = None) -> None:
        if lost is not None and lost.hub is not None:
            task = asyncio.ensure_future(
                self._drop_hub(lost.hub, "another replica holds its lease")
            )
        else:
            self._outbox_lost()
            return
        self._tasks.append(task)

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
        self._wake_lease.set()
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
        self._trace_next.add(hub)
        self._schedule(hub, 0.0)

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
        s = self.settings
        spec, timeout = s.loaded.config.hubs[hub], s.loaded.config.hub_timeout(hub)
        started_at, t0 = datetime.now(UTC), time.monotonic()
        m = s.loaded.config.monitor
        due = self._due.pop(hub, t0)
        # A confirming retry of a failing hub goes before the routine probes waiting for a slot,
        # unless a shared incident (its IdP's, the prober's network) already speaks for it: eighty
        # hubs of a failing IdP must not starve the probes of the hubs of the other IdPs.
        retry = not settled(
            self.tracks.get(login_key(hub), Track()), s.thresholds
        ) and not self.pipeline.shared_incident_covers(hub)

        async def probe(browser: Browser, traces_dir: Path | None) -> ProbeResult:
            began = time.monotonic()
            self.pace.started_late(hub, began - due)
            # Like Playwright's "on first retry": a healthy hub's probes record no trace (it costs
            # CPU on every probe); after a failure, the confirming retry records one. A monitor
            # that pages at the first failure has no retry to wait for: every probe records one.
            trace = retry or s.thresholds.failures_to_alert <= 1 or hub in self._trace_next
            self._trace_next.discard(hub)
            plan = plan_for(
                m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, traces_dir, trace=trace
            )
            try:
                return await self._probe_hub(
                    browser,
                    hub,
                    spec,
                    s.secrets[hub],
                    timeout=timeout,
                    redactor=s.redactor,
                    evidence=plan,
                )
            finally:
                self.pace.costs.probe_finished(time.monotonic() - began)

        # Past the journey's timeout a failing probe still takes its evidence (bounded) and
        # closes its context (bounded): only beyond those is it hung.
        limit = timeout + CAPTURE_TIMEOUT_S + CONTEXT_CLOSE_S + HANG_GRACE_S
        outcome = await self.pool.run(probe, limit, due=due, retry=retry)
        fault = self._browser_fault(outcome)
        if outcome.result is not None:
            return outcome.result, fault
        err = outcome.error or RuntimeError("the probe gave no result")
        log_crash(hub, err)
        return prober_failed(hub, spec, err, s.redactor, started_at, t0), fault

    def _browser_fault(self, outcome: Outcome) -> BrowserFault | None:
        """One browser death counts once, however many probes it took."""
        death = outcome.browser_death
        if death is None:
            return None
        if death in self._deaths_counted:
            return "seen"
        self._deaths_counted = [*self._deaths_counted[-15:], death]
        return "new"

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
                await self.take_handovers()
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

    async def take_handovers(self) -> None:
        items = await asyncio.to_thread(self.store.inbox.waiting)
        for item_id, data in items:
            result = ProbeResult.from_json(data)
            fence = self.lease.fence()
            if result is None or result.hub not in self.settings.loaded.config.hubs:
                if fence is None:
                    continue  # the outbox's holder answers it
                outcome = "not a probe of a hub this monitor knows: ignored"
            elif result.hub not in self.hubs.hubs:
                continue  # the hub's replica takes it
            else:
                fence = self.hubs.fence(result.hub)
                actions = await self.pipeline.on_probe(result, confirmed=True, tick=False)
                outcome = (
                    "; ".join(f"{a.kind} {a.dedup_key}" for a in actions)
                    or "nothing to page: the monitor's incident state already says it"
                )
                track = self.tracks.get(login_key(result.hub), Track())
                if not settled(track, self.settings.thresholds) and not self.probing(result.hub):
                    # Look again soon, as after a failure of its own: to confirm, or to resolve.
                    m = self.settings.loaded.config.monitor
                    self._schedule(result.hub, m.retry_after_failure)
            self.store.inbox.handled(item_id, outcome, time.time(), fence)

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
        stats: OutboxStats | None
        try:
            stats = self.store.outbox.stats(now)
            self.metrics.outbox(stats)
        except (SQLAlchemyError, OSError):
            stats = None
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
                holder=self.lease.info if self.lease.held else self.lease.current_holder(),
                sending=self.lease.held,
                replica=self.hubs.name,
                hubs=tuple(sorted(self.hubs.hubs)),
            )
        )
        self.metrics.healthy.set(1 if healthy else 0)
        lag = self.pace.lag()
        self.metrics.schedule_lag.set(lag)
        body["capacity"] = self.pace.capacity().to_json()
        body["schedule_lag_s"] = round(lag, 1)
        return healthy, body
