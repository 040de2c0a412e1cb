"""Benchmark: `probe report --since 30d` (and `probe list`, and the fleet's availability query that
/api/status runs) on a month of history at the fleet's size: HUBS hubs probed every INTERVAL
seconds for DAYS days, in a SQLite store built as `probe serve` would have left it.

    .venv/bin/python benchmarks/report.py [--hubs 200] [--days 30] [--interval 60] [--runs 3]

Each hub: the sandbox's seven steps; one outage a day (10 probes of hub_error, retried every 20 s
as the monitor does), and a probe_error now and then. The probes are written in bulk and the hourly
rollup made from them with the function migration 0003 uses (store/history.py, `rollup`);
tests/unit/test_availability.py checks it agrees with the rollup written probe by probe. Also timed:
writing one more probe with its rollup (Store.record) into the full store, and one hub's page.
Each command's CPU time is printed beside its wall time: on a shared machine the wall time says
more about the load than about the command.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox_steps import STEPS

from loginprobe.model import Code
from loginprobe.monitor.tracks.track import Thresholds
from loginprobe.store import Store
from loginprobe.store.history import rollup
from loginprobe.web import hub_page
from loginprobe.web.app import hub_view
from tests.unit.fakes import timed_result


def hub_probes(hub_id: int, start: float, end: float, interval: float) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    t = start + (hub_id * 7.3) % interval  # spread out, as the scheduler does
    n = 0
    while t < end:
        n += 1
        day_offset = (t - start) % 86400
        outage_at = (hub_id * 977) % 80000
        if outage_at <= day_offset < outage_at + 200:
            out.append((t, str(Code.HUB_ERROR)))
            t += 20
            continue
        out.append((t, str(Code.PROBE_ERROR) if n % 997 == 0 else str(Code.OK)))
        t += interval
    return out


def build(path: Path, hubs: int, days: int, interval: float, now: float) -> int:
    Store(f"sqlite:///{path}").close()  # the schema, at its newest revision
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO step_names (id, name) VALUES (?, ?)", enumerate((s for s, _ in STEPS), 1)
    )
    steps = ",".join(f"{i}:{ms}" for i, (_, ms) in enumerate(STEPS, 1))
    total = sum(ms for _, ms in STEPS)
    count = 0
    for hub_id in range(1, hubs + 1):
        db.execute("INSERT INTO hubs (id, name) VALUES (?, ?)", (hub_id, f"hub{hub_id:03d}"))
        probes = hub_probes(hub_id, now - days * 86400, now, interval)
        db.executemany(
            "INSERT INTO probes (hub_id, started_at, code, duration_ms, steps) VALUES (?,?,?,?,?)",
            ((hub_id, t, code, total, steps) for t, code in probes),
        )
        last_id = db.execute("SELECT max(id) FROM probes").fetchone()[0]
        db.execute(
            "INSERT INTO hub_state (hub_id, code, since, last_probe_id) VALUES (?, ?, ?, ?)",
            (hub_id, probes[-1][1], probes[-1][0], last_id),
        )
        rows = rollup((hub_id, t, code) for t, code in probes)
        db.executemany(
            "INSERT INTO hourly (hub_id, hour, up_s, down_s, prober_s, silenced_s, probes, worst) "
            "VALUES (:hub_id, :hour, :up_s, :down_s, :prober_s, :silenced_s, :probes, :worst)",
            rows,
        )
        count += len(probes)
        db.commit()
    db.close()
    return count


def config(path: Path, store: Path, hubs: int) -> Path:
    text = f'[monitor]\nstate = "sqlite:///{store}"\n'
    for i in range(1, hubs + 1):
        text += (
            f'[hubs.hub{i:03d}]\nurl = "https://hub{i:03d}.example.org"\nflow = "generic_oidc"\n'
            'username_env = "U"\npassword_env = "P"\n'
        )
    path.write_text(text)
    return path


def timed(args: list[str], runs: int) -> tuple[list[float], list[float], str]:
    """Wall and CPU (user + system) seconds of each run, and the last run's output."""
    env = {**os.environ, "U": "u", "P": "p", "COLUMNS": "160"}
    times, cpu, output = [], [], ""
    for _ in range(runs):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
        times.append(time.perf_counter() - began)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
        output = proc.stdout
    return times, cpu, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "state.sqlite"
        now = time.time()
        began = time.perf_counter()
        count = build(store_path, a.hubs, a.days, a.interval, now)
        size = store_path.stat().st_size / 2**20
        print(
            f"store: {a.hubs} hubs x {a.days} days at {a.interval:.0f} s = {count:,} probes, "
            f"{size:.0f} MiB, built in {time.perf_counter() - began:.0f} s"
        )
        cfg = config(Path(tmp) / "config.toml", store_path, a.hubs)
        probe = [sys.executable, "-m", "loginprobe", "--config", str(cfg)]
        for label, extra in (
            ("probe report --since 30d", ["report", "--since", "30d"]),
            ("probe report --since 30d --csv", ["report", "--since", "30d", "--csv"]),
            ("probe list", ["list"]),
            ("probe --help (Python start, for comparison)", ["--help"]),
        ):
            times, cpu, output = timed(probe + extra, a.runs)
            print(
                f"{label}: median {statistics.median(times):.2f} s wall "
                f"({statistics.median(cpu):.2f} s CPU), max {max(times):.2f} s over {a.runs} runs"
            )
            if extra[-1] == "--csv":
                print(f"  {output.splitlines()[1]}")
        store = Store(f"sqlite:///{store_path}")
        query = []
        for _ in range(a.runs):
            began = time.perf_counter()
            fleet = store.availability(time.time())
            query.append(time.perf_counter() - began)
        print(
            f"Store.availability (24h, 7d, 30d for every hub; /api/status and probe list run it): "
            f"median {statistics.median(query) * 1000:.0f} ms over {a.runs} runs, {len(fleet)} hubs"
        )
        writes = []
        t = time.time()
        for i in range(200):
            result = timed_result(f"hub{i % a.hubs + 1:03d}", Code.OK, t + 60, STEPS)
            began = time.perf_counter()
            store.record(result, {}, [], t, "x")
            writes.append(time.perf_counter() - began)
        print(
            f"Store.record of one probe with its rollup, into the full store: median "
            f"{statistics.median(writes) * 1000:.1f} ms, max {max(writes) * 1000:.1f} ms "
            f"over {len(writes)} probes"
        )
        week, pages = [], []
        for _ in range(a.runs):
            began = time.perf_counter()
            rows = store.probes_since("hub001", time.time() - 7 * 86400)
            week.append(time.perf_counter() - began)
            began = time.perf_counter()
            html = hub_page.render(
                hub_view(
                    store, "hub001", "https://hub001.example.org", Thresholds(2, 2), time.time()
                )
            )
            pages.append(time.perf_counter() - began)
        print(
            f"/hub/NAME, one hub's week ({len(rows):,} probes): reading and drawing median "
            f"{statistics.median(pages) * 1000:.0f} ms ({len(html) / 1024:.0f} KiB), of which "
            f"Store.probes_since {statistics.median(week) * 1000:.0f} ms"
        )
        store.close()


if __name__ == "__main__":
    main()
