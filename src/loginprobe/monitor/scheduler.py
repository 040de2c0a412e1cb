"""When to probe: one pending run per job, on APScheduler's asyncio scheduler.

Every hub has a probe job and (with `[hubs.NAME.oauth]` or an HTTPS host) a checks job. Scheduling
a job again replaces its pending run, so chains of runs never double. A run that comes due while
the same job still runs is skipped by APScheduler (one instance per job); it is tried again a
moment later rather than lost, since each run schedules the next and a lost one would end a hub's
probing for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

Job = Callable[[str], Coroutine[Any, Any, None]]

SKIPPED_RETRY_S = (
    1.0  # a run skipped because the job was still running: tried again this much later
)


def probe_job_id(hub: str) -> str:
    return f"probe:{hub}"


def checks_job_id(hub: str) -> str:
    return f"secret-check:{hub}"


class Scheduler:
    def __init__(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self._stopped = False
        self._jobs: dict[str, tuple[Job, str]] = {}  # job id -> its function and hub
        self.skipped = 0  # runs that came due while their job still ran

    @property
    def running(self) -> bool:
        return bool(self._aps.running) and not self._stopped

    def start(self) -> None:
        self._aps.start()

    def shutdown(self) -> None:
        self._stopped = True
        with contextlib.suppress(Exception):
            self._aps.shutdown(wait=False)

    def run_later(self, job_id: str, delay: float, job: Job, hub: str) -> None:
        """Run `job(hub)` in `delay` seconds, replacing the job's pending run if it has one."""
        if self._stopped:
            return
        self._jobs[job_id] = (job, hub)
        self._aps.add_job(
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

    def _skipped(self, event: JobSubmissionEvent) -> None:
        # Called while APScheduler still holds the skipped run, which it removes right after.
        self.skipped += 1
        asyncio.get_running_loop().call_soon(self._retry_skipped, event.job_id)

    def _retry_skipped(self, job_id: str) -> None:
        if self._stopped or job_id not in self._jobs:
            return
        if self._aps.get_job(job_id) is None:  # nothing has replaced the skipped run
            job, hub = self._jobs[job_id]
            self.run_later(job_id, SKIPPED_RETRY_S, job, hub)

    def cancel(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        with contextlib.suppress(Exception):
            self._aps.remove_job(job_id)

    def cancel_all(self) -> None:
        self._jobs.clear()
        with contextlib.suppress(Exception):
            self._aps.remove_all_jobs()

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next (None: no pending run, e.g. while it runs)."""
        job = self._aps.get_job(job_id) if self._aps.running else None
        when: datetime | None = job.next_run_time if job is not None else None
        return when
