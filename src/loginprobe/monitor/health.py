"""Is the monitor doing its job? What /healthz answers (and the outbox gauges it refreshes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loginprobe.store import OutboxStats


@dataclass(frozen=True)
class Vitals:
    """The monitor's signs of life at one moment."""

    now: float
    started_at: float
    last_tick: float | None  # when a probe last finished
    scheduler_running: bool
    stopping: bool
    longest_cycle: float  # the longest interval + timeout of any hub
    grace: float
    probes_in_flight: int
    outbox: OutboxStats
    pagerduty: bool
    incidents_open: list[str]


def assess(v: Vitals) -> tuple[bool, dict[str, Any]]:
    """(alive, the /healthz body). Alive: the scheduler runs and a probe finished within two of
    the longest cycles."""
    reference = v.last_tick or v.started_at
    alive = (
        v.scheduler_running
        and not v.stopping
        and (v.now - reference < 2 * v.longest_cycle + v.grace)
    )
    stats = v.outbox
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
        "scheduler_running": v.scheduler_running,
        "probes_in_flight": v.probes_in_flight,
        "last_tick": (
            datetime.fromtimestamp(v.last_tick, UTC).isoformat(timespec="seconds")
            if v.last_tick
            else None
        ),
        "outbox": {
            "depth": stats.depth,
            "oldest_age_s": round(stats.oldest_age_s, 1),
            "rejected": stats.rejected,
            "last_error": stats.last_error,
        },
        "pagerduty": v.pagerduty,
        "incidents_open": v.incidents_open,
    }
    return alive, body
