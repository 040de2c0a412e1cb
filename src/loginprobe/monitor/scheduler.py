"""When to probe: one pending run per job, on APScheduler's asyncio scheduler.

Every hub has a probe job and (with `[hubs.NAME.oauth]` or an HTTPS host) a checks job. Scheduling
a job again replaces its pending run, so chains of runs never double.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

Job = Callable[[str], Coroutine[Any, Any, None]]


def probe_job_id(hub: str) -> str:
    return f"probe:{hub}"


def checks_job_id(hub: str) -> str:
    return f"secret-check:{hub}"


class Scheduler:
    def __init__(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._stopped = False

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

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(Exception):
            self._aps.remove_job(job_id)

    def next_run(self, job_id: str) -> datetime | None:
        """When the job runs next (None: no pending run, e.g. while it runs)."""
        job = self._aps.get_job(job_id) if self._aps.running else None
        when: datetime | None = job.next_run_time if job is not None else None
        return when
