"""Is the monitor doing its job? What /healthz answers: 503 whenever a page could be missed.

Failing (503): still starting, no probe finished within two of the longest cycles (the scheduler is stuck), the
outbox sender is dead, or the store cannot be written (pages still go out, from memory; but
nothing is remembered across a restart). Degraded (200, with problems): PagerDuty rejected events,
or the outbox backs up. Standby (200): this replica probes no hub now (other replicas of
`probe serve` on the same store probe them all) and takes a share when one of them goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from loginprobe.store import LeaseInfo, OutboxStats

Role = Literal["starting", "active", "standby"]


@dataclass(frozen=True)
class Vitals:
    """The monitor's signs of life at one moment."""

    now: float
    started_at: float  # when the monitor started, or last became the active one
    last_tick: float | None  # when a probe last finished
    role: Role
    scheduler_running: bool
    stopping: bool
    longest_cycle: float  # the longest interval + timeout of any hub
    grace: float
    probes_in_flight: int
    sender_alive: bool
    outbox: OutboxStats | None  # None: the store could not be read
    store_failing_since: float | None
    store_error: str | None
    held_in_memory: int  # records the store could not take yet
    pagerduty: bool
    incidents_open: list[str]
    holder: LeaseInfo | None  # who holds the store's lease (None: unknown)
    sending: bool = True  # this replica holds that lease: it drains the outbox
    replica: str = ""  # this replica's name
    hubs: tuple[str, ...] = ()  # the hubs it probes
    witnesses: tuple[str, ...] = ()  # the hubs it probes for its location only (a quorum)


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else None


def assess(v: Vitals) -> tuple[bool, dict[str, Any]]:
    """(healthy, the /healthz body)."""
    problems = []
    failing = False
    if v.role == "starting":
        failing = True  # not doing its job yet: a container's start period covers this
        problems.append("starting: not probing yet")
    if v.role == "active":
        reference = max(v.last_tick or 0.0, v.started_at)
        if not v.scheduler_running or v.stopping:
            failing = True
            problems.append("the scheduler is not running")
        elif v.now - reference >= 2 * v.longest_cycle + v.grace:
            failing = True
            problems.append("no probe finished recently: the scheduler is stuck")
    if v.role != "starting" and v.sending and not v.sender_alive:
        failing = True
        problems.append("the outbox sender has stopped: no page would be sent")
    if v.store_failing_since is not None:
        failing = True
        problems.append(
            f"the store cannot be written since {_iso(v.store_failing_since)} "
            f"({v.store_error}); {v.held_in_memory} record(s) wait in memory"
        )
    stats = v.outbox
    if stats is None:
        problems.append("the store's outbox cannot be read")
    else:
        if stats.rejected:
            problems.append(
                f"{stats.rejected} event(s) rejected by PagerDuty (HTTP 400), set aside: "
                f"{stats.last_error} — see `probe outbox`"
            )
        if stats.depth and stats.oldest_age_s > 300:
            problems.append(f"outbox: oldest undelivered event is {stats.oldest_age_s:.0f}s old")
    if v.role == "standby":
        status = "standby"
    elif v.role == "starting":
        status = "starting"
    else:
        status = "failing" if failing else ("degraded" if problems else "ok")
    body: dict[str, Any] = {
        "status": status,
        "problems": problems,
        "role": v.role,
        "scheduler_running": v.scheduler_running,
        "probes_in_flight": v.probes_in_flight,
        "last_tick": _iso(v.last_tick),
        "sender_alive": v.sender_alive,
        "store": {
            "writable": v.store_failing_since is None,
            "failing_since": _iso(v.store_failing_since),
            "error": v.store_error,
            "held_in_memory": v.held_in_memory,
        },
        "outbox": (
            {
                "depth": stats.depth,
                "oldest_age_s": round(stats.oldest_age_s, 1),
                "rejected": stats.rejected,
                "last_error": stats.last_error,
            }
            if stats is not None
            else None
        ),
        "pagerduty": v.pagerduty,
        "incidents_open": v.incidents_open,
        "lease": (
            {"holder": v.holder.holder, "expires_at": _iso(v.holder.expires_at)}
            if v.holder is not None
            else None
        ),
        "replica": {
            "name": v.replica,
            "hubs": list(v.hubs),
            "witnesses": list(v.witnesses),
            "drains_outbox": v.sending,
        },
    }
    return not failing, body
