"""Benchmark: the store on SQLite and on PostgreSQL, side by side, doing what `probe serve` does.

Writes the same history into a fresh SQLite file and a fresh PostgreSQL database, every probe
through Store.record (the verdict, its hourly rollup and the tracks, in one transaction, as the
monitor writes), then measures on each: a write's time, the fleet's availability, and the status
page and /api/status through the real aiohttp app. Both run in one process one after the other, so
the machine's load weighs on both alike; compare the columns, not this run with another machine.

PostgreSQL: `--url postgresql+psycopg://...` of an empty database, or by default a throwaway
server started like the tests' (tests/postgres.py: Debian's postgresql package, a temporary
cluster on a free port, removed at the end; as root it runs as the `postgres` user). That server
runs with fsync off, as the tests' does: its writes are cheaper than a durable server's.

    .venv/bin/python benchmarks/store_engines.py                  # 50 hubs x 60 probes each
    .venv/bin/python benchmarks/store_engines.py --hubs 200 --probes 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from status_page import Timeline, failure_result, healthy_result, measure_web

from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import Store
from loginprobe.store.history import to_iso
from loginprobe.store.url import shown_url


def fill(store: Store, hubs: list[str], probes: int, interval: int) -> list[float]:
    """The history, written probe by probe, oldest first and hub after hub within each interval;
    each write's seconds."""
    rng = random.Random(7)
    lines = [Timeline(n, probes, interval, rng) for n in range(len(hubs))]
    t0 = time.time() - probes * interval
    took = []
    for s in range(probes):
        for n, hub in enumerate(hubs):
            started = t0 + s * interval + n * interval / len(hubs)
            code = lines[n].bad.get(s, "ok")
            moved: dict[str, Track] = {}
            if code == "ok":
                result = healthy_result(hub, started, rng)
            else:
                result = failure_result(hub, code, started, rng)
                moved = {f"loginprobe/{hub}/login": Track(1, 0, code, to_iso(started))}
            t = time.perf_counter()
            store.record(result, moved, [], started, to_iso(started))
            took.append(time.perf_counter() - t)
    return took


def measure(url: str, hubs: list[str], probes: int, interval: int, runs: int) -> dict[str, Any]:
    where = Path(tempfile.mkdtemp(prefix="lp-engines-"))
    config = where / "config.toml"
    config.write_text(
        f'[monitor]\nstate = "{url}"\n'
        + "".join(
            f'[hubs.{h}]\nurl = "https://{h}.example.org"\nflow = "generic_oidc"\n'
            'username_env = "U"\npassword_env = "P"\n'
            for h in hubs
        )
    )
    settings = Settings.load(config)
    store = Store(url)
    writes = fill(store, hubs, probes, interval)
    availability = []
    for _ in range(runs):
        t = time.perf_counter()
        store.availability(time.time())
        availability.append(time.perf_counter() - t)
    web = asyncio.run(measure_web(Monitor(settings, store, Metrics()), runs))
    store.close()
    return {
        "Store.record": writes,
        "Store.availability": availability,
        # measure_web gives milliseconds
        "/": [t / 1000 for t in web["/"][0]],
        "/api/status": [t / 1000 for t in web["/api/status"][0]],
    }


def ms(samples: list[float]) -> str:
    if len(samples) == 1:
        return f"{samples[0] * 1000:.0f} ms"
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    return f"median {statistics.median(samples) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=50)
    ap.add_argument("--probes", type=int, default=60, help="probes of each hub")
    ap.add_argument("--interval", type=int, default=60, help="seconds between a hub's probes")
    ap.add_argument("--runs", type=int, default=20, help="reads of each kind")
    ap.add_argument("--url", help="an empty PostgreSQL database (default: a throwaway server)")
    args = ap.parse_args()
    os.environ.update(U="bench-user", P="bench-password")
    hubs = [f"hub{n}" for n in range(args.hubs)]
    server = None
    url = args.url
    if url is None:
        from tests.postgres import start_server

        server = start_server()
        url = server.fresh_database()
    try:
        sqlite_url = f"sqlite:///{tempfile.mkdtemp(prefix='lp-engines-')}/state.sqlite"
        found = {
            "SQLite": measure(sqlite_url, hubs, args.probes, args.interval, args.runs),
            "PostgreSQL": measure(url, hubs, args.probes, args.interval, args.runs),
        }
    finally:
        if server is not None:
            server.stop()
    print(
        f"{args.hubs} hubs x {args.probes} probes ({args.hubs * args.probes:,} writes); "
        f"PostgreSQL at {shown_url(url)}"
    )
    for what in found["SQLite"]:
        print(
            f"  {what}: SQLite {ms(found['SQLite'][what])}; PostgreSQL {ms(found['PostgreSQL'][what])}"
        )
    print(f"  load average meanwhile: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
