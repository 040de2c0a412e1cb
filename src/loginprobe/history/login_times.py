"""Login time over hours and days: a hub's healthy probes put in time buckets, and the step that
takes longest.

Pure. Only `ok` probes count (a failing probe's time says how long it took to fail). Each bucket
holds the median login time of its probes and the median time of the window's slowest step, the
step whose median over the whole window is largest.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bucket:
    start: float
    end: float
    probes: int
    median_ms: int | None  # None: no healthy probe in the bucket
    slowest_ms: int | None  # the window's slowest step, its median in this bucket


@dataclass(frozen=True)
class LoginTimes:
    start: float
    end: float
    buckets: list[Bucket]
    slowest_step: str | None
    median_ms: int | None  # over the whole window
    slowest_median_ms: int | None

    @property
    def max_ms(self) -> int:
        return max((b.median_ms or 0 for b in self.buckets), default=0)


def _median(values: Sequence[int]) -> int | None:
    return round(statistics.median(values)) if values else None


def slowest_step(probes: Iterable[Mapping[str, Any]]) -> str | None:
    by_step: dict[str, list[int]] = {}
    for p in probes:
        for name, ms in p["steps"]:
            by_step.setdefault(name, []).append(ms)
    if not by_step:
        return None
    return max(by_step, key=lambda name: (statistics.median(by_step[name]), name))


def login_times(
    probes: Sequence[Mapping[str, Any]], start: float, end: float, buckets: int
) -> LoginTimes:
    """Store.probes_since rows (started_at, code, duration_ms, steps as (name, ms)) between
    `start` and `end`, in `buckets` equal buckets."""
    healthy = [p for p in probes if p["code"] == "ok" and start <= p["started_at"] < end]
    slowest = slowest_step(healthy)
    width = (end - start) / buckets
    totals: list[list[int]] = [[] for _ in range(buckets)]
    parts: list[list[int]] = [[] for _ in range(buckets)]
    steps: list[int] = []
    for p in healthy:
        i = min(buckets - 1, int((p["started_at"] - start) // width))
        totals[i].append(int(p["duration_ms"]))
        for name, ms in p["steps"]:
            if name == slowest:
                parts[i].append(ms)
                steps.append(ms)
    out = []
    for i in range(buckets):
        median = _median(totals[i])
        part = _median(parts[i])
        out.append(
            Bucket(
                start + i * width,
                start + (i + 1) * width,
                len(totals[i]),
                median,
                None if part is None or median is None else min(part, median),
            )
        )
    every = [int(p["duration_ms"]) for p in healthy]
    return LoginTimes(start, end, out, slowest, _median(every), _median(steps))
