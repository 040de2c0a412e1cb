"""Whether the monitor keeps pace: what a probe costs here (measured while it runs), what the
machine sustains against what the config asks (said at start, on reload, in `/healthz`), and how
late probes start for want of a browser slot (`loginprobe_schedule_lag_seconds`, a warning)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

import structlog
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.monitor.capacity import COSTS_KEY, Capacity, CostMeter, estimate, process_tree_cpu
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.pool import Slots
from loginprobe.monitor.settings import Settings
from loginprobe.store import Store

log = structlog.get_logger("loginprobe")

COSTS_EVERY_S = 60.0
LAG_WARN_EVERY_S = 300.0


class Pace:
    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        slots: Slots,
        metrics: Metrics,
        active: Callable[[], bool],
        share: Callable[[], Collection[str] | None] = lambda: None,
    ) -> None:
        self._settings, self._store, self._slots, self._metrics = settings, store, slots, metrics
        self._active = active  # only the replica probing hubs keeps the costs for `probe check`
        self._share = share  # the hubs this replica probes (None: every hub)
        self.costs = CostMeter()
        self._last_lag = 0.0  # how late the last probe got its slot
        self._lag_said = 0.0  # when a late start was last logged

    def capacity(self) -> Capacity:
        return estimate(
            self._settings().loaded.config,
            self.costs.wall_s,
            self.costs.cpu_s,
            share=self._share(),
        )

    def say_capacity(self) -> None:
        cap = self.capacity()
        (log.info if cap.enough else log.warning)("capacity", summary=cap.line())

    def lag(self) -> float:
        """How late probes start now: the longest-waiting queued probe, else the last one."""
        oldest = self._slots.oldest_due()
        waiting = time.monotonic() - oldest if oldest is not None else 0.0
        return max(waiting, self._last_lag)

    def started_late(self, hub: str, lag: float) -> None:
        self._last_lag = max(0.0, lag)
        self._metrics.schedule_lag.set(self.lag())
        settings = self._settings()
        interval = settings.interval(hub) if hub in settings.loaded.config.hubs else 60.0
        now = time.monotonic()
        if lag > max(30.0, interval / 2) and now - self._lag_said > LAG_WARN_EVERY_S:
            self._lag_said = now
            log.warning(
                "probes are starting late: the machine does not keep up",
                hub=hub,
                late_s=round(lag, 1),
                capacity=self.capacity().line(),
            )

    async def measure(self, stopping: Callable[[], bool]) -> None:
        """Once a minute: the process tree's CPU per probe; kept in the store for `probe check`."""
        while not stopping():
            try:
                self.costs.sample_cpu(await asyncio.to_thread(process_tree_cpu))
                if self._active() and self.costs.cpu_s is not None:
                    cap = self.capacity()
                    value = {"wall_s": cap.wall_s, "cpu_s": cap.cpu_s, "cpus": cap.cpus}
                    await asyncio.to_thread(self._store.set_meta, COSTS_KEY, value, time.time())
            except (SQLAlchemyError, OSError):
                pass  # the journal already says when the store fails
            except Exception:
                log.error("measuring what a probe costs failed", exc_info=True)
            await asyncio.sleep(COSTS_EVERY_S)
