"""Benchmark: `/metrics` for a fleet of HUBS hubs in its steady state — how many series Prometheus
stores from it, how long rendering takes, and how long a scrape holds up the monitor's event loop
(where probe steps are timed) when rendered on it or in a worker thread, as `probe serve` does.

    .venv/bin/python benchmarks/metrics_scrape.py [--hubs 200] [--runs 20]

Each hub: the sandbox's seven steps probed many times, one failure code seen besides ok, its secret
checked and dated, the certificates of its host and its IdP read; one outage paged so far.
tests/unit/test_metrics.py counts the same fleet against the README's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when tests import this module
import prometheus_client.metrics
from sandbox_steps import STEPS

from loginprobe.model import Code, Observation, ProbeResult, Severity, Step, Verdict
from loginprobe.monitor.metrics import Metrics
from loginprobe.store import OutboxStats


def probe(hub: str, code: Code = Code.OK) -> ProbeResult:
    ok = code is Code.OK
    steps = tuple(Step(name, "ok", 200, ms=ms) for name, ms in STEPS)
    if not ok:
        steps = (steps[0], replace(steps[1], status="failed", http_status=500))
    verdict = Verdict(code, Severity.INFO if ok else Severity.CRITICAL, f"{hub}: {code}")
    return ProbeResult(
        hub, verdict, Observation(hub, steps, None), "2026-11-30T00:00:00+00:00", 1451
    )


def fleet(hubs: int) -> Metrics:
    m = Metrics()
    for i in range(hubs):
        hub = f"hub{i:03d}"
        m.observe(probe(hub, Code.HUB_ERROR))
        m.observe(probe(hub))
        m.secret_expiry.labels(hub).set(1.8e9)
        m.secret_check.labels(hub, "valid").inc()
        for host in (f"{hub}.example.org", "login.example.org"):
            m.cert_expiry.labels(hub, host).set(1.8e9)
    m.time_to_page.observe(41.0)
    m.outbox(OutboxStats(depth=0, oldest_age_s=0.0, rejected=0, last_error=None))
    m.incidents_open.set(1)
    m.healthy.set(1)
    return m


def series(m: Metrics) -> Counter[str]:
    """Series per sample name, as Prometheus stores them (one per sample line)."""
    counts: Counter[str] = Counter()
    for line in m.render().decode().splitlines():
        if line and not line.startswith("#"):
            counts[re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group()] += 1  # type: ignore[union-attr]
    return counts


async def stall(m: Metrics, runs: int, how: str) -> float:
    """The longest the event loop waited for a 1 ms timer while `runs` scrapes were rendered
    ("loop", "thread"), or as long without scrapes ("none": what the machine's load alone does)."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - t - 0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for _ in range(runs):
        if how == "thread":
            await asyncio.to_thread(m.render)
        elif how == "loop":
            m.render()
        else:
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.005)
    done = True
    await task
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hubs", type=int, default=200)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    m = fleet(args.hubs)
    counts = series(m)
    prometheus_client.metrics.disable_created_metrics()
    lean = sum(series(m).values())
    prometheus_client.metrics.enable_created_metrics()
    print(f"{args.hubs} hubs: {sum(counts.values())} series ({lean} without _created series)")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {name}")
    times, cpu, size = [], [], 0
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        size = len(m.render())
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(
        f"render: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        f" (CPU time: median {statistics.median(cpu) * 1000:.0f} ms), {size / 1024:.0f} KiB"
    )
    for how, what in (
        ("none", "without scrapes"),
        ("loop", "scrapes rendered on the event loop"),
        ("thread", "scrapes rendered in a worker thread"),
    ):
        worst = asyncio.run(stall(m, args.runs, how))
        print(f"longest event-loop stall, {what}: {worst * 1000:.0f} ms")


if __name__ == "__main__":
    main()
