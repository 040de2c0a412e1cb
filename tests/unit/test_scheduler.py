"""The scheduler over APScheduler: a run that comes due while its job still runs is not lost."""

from __future__ import annotations

import asyncio

from loginprobe.monitor.scheduler import Scheduler
from tests.unit.fakes import until


def test_a_run_due_while_the_job_still_runs_is_retried_not_lost() -> None:
    runs: list[str] = []
    release = asyncio.Event()

    async def job(hub: str) -> None:
        runs.append(hub)
        if len(runs) == 1:
            await release.wait()

    async def scenario() -> None:
        scheduler = Scheduler()
        scheduler.start()
        try:
            scheduler.run_later("probe:a", 0.0, job, "a")
            await until(lambda: len(runs) == 1, what="the first run")
            # Due at once, while the first run still runs: APScheduler skips it.
            scheduler.run_later("probe:a", 0.0, job, "a")
            await until(lambda: scheduler.skipped == 1, what="the skip")
            release.set()
            await until(lambda: len(runs) == 2, timeout=10, what="the skipped run, retried")
        finally:
            scheduler.shutdown()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_cancelled_job_is_not_retried() -> None:
    runs: list[str] = []
    release = asyncio.Event()

    async def job(hub: str) -> None:
        runs.append(hub)
        await release.wait()

    async def scenario() -> None:
        scheduler = Scheduler()
        scheduler.start()
        try:
            scheduler.run_later("probe:a", 0.0, job, "a")
            await until(lambda: len(runs) == 1, what="the first run")
            scheduler.run_later("probe:a", 0.0, job, "a")
            await until(lambda: scheduler.skipped == 1, what="the skip")
            scheduler.cancel("probe:a")  # a reload removed the hub
            release.set()
            await asyncio.sleep(1.5)  # longer than the retry delay: the absence is what is tested
            assert runs == ["a"]
        finally:
            scheduler.shutdown()

    asyncio.run(asyncio.wait_for(scenario(), 30))
