"""Benchmark: the status page and `probe list` at fleet size, from a full SQLite store.

Fills a store with HUBS hubs probed every INTERVAL seconds for DAYS days (200 x 30 days at 60 s:
8.6 million probes) in the layout the store writes: healthy probes as compact rows, failures
(outages of minutes to hours, scattered single failures, a few hubs failing or warning now) with
their whole result JSON, built by the real classifier. The history is written oldest first and
hub after hub within each minute, the order `probe serve` writes it; the last probes of each hub
go through Store.record itself, so the latest rows, `hub_state` and the tracks are the store's own.

Then it measures the real aiohttp app (a Monitor that is never started) and the real CLI:
`/` and `/api/status` over --runs requests, `probe list` --runs times (a new process each time,
as a person runs it: its wall and its CPU time, user + system, the figure that does not depend on
what else the machine runs), and the database file's size. Targets (issue 11): `/` median <= 100
ms, `probe list` <= 1 s of CPU, the file <= 1.5 GiB.

    .venv/bin/python benchmarks/status_page.py                      # 200 hubs x 30 days
    .venv/bin/python benchmarks/status_page.py --hubs 20 --days 1   # a quick run
    .venv/bin/python benchmarks/status_page.py --store /tmp/fleet   # keep/reuse the filled store
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aiohttp.test_utils import TestClient, TestServer
from sandbox_steps import STEPS

from loginprobe.model import (
    Evidence,
    Failure,
    FailureKind,
    Observation,
    ProbeResult,
    SecretCheck,
    Step,
)
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.track import Track
from loginprobe.prober.classify import classify
from loginprobe.store import Store
from loginprobe.store.history import HistoryWriter, rollup, to_iso
from loginprobe.store.schema import hub_state
from loginprobe.web.app import make_app

LAST = 10  # the newest probes of each hub, written through Store.record
TARGETS = {"page_ms": 100.0, "list_s": 1.0, "size_gib": 1.5}


def step_list(hub: str, rng: random.Random, upto: int, fail: Failure | None) -> list[Step]:
    steps = []
    for i, (name, ms) in enumerate(STEPS[: upto + 1]):
        failed = fail if i == upto else None
        steps.append(
            Step(
                name=name,
                status="failed" if failed else "ok",
                http_status=failed.http_status if failed else 200,
                url=f"https://{hub}.example.org/hub/{name.replace('_', '/')}?next=%2Fhub%2F",
                ms=int(ms * rng.uniform(0.8, 1.4)),
                detail=failed.detail if failed else "",
            )
        )
    return steps


def failure_result(hub: str, code: str, started: float, rng: random.Random) -> dict[str, Any]:
    """A failing probe's whole result, as the prober makes it (the classifier words it)."""
    base = f"https://{hub}.example.org"
    secret: SecretCheck | None = None
    if code == "hub_unreachable":
        fail = Failure(
            FailureKind.NETWORK,
            "hub_start",
            f"net::ERR_CONNECTION_REFUSED at {base}/hub/",
            url=f"{base}/hub/",
        )
        upto = 0
    elif code == "client_secret_expired":
        fail = Failure(
            FailureKind.HTTP,
            "oauth_callback",
            "500 : Internal Server Error",
            http_status=500,
            url=f"{base}/hub/oauth_callback?code=[redacted]&state=[redacted]",
        )
        secret = SecretCheck(
            "expired", 400, "invalid_client", "client secret has expired", "rejected", 120
        )
        upto = 5
    elif code == "login_rejected":
        fail = Failure(
            FailureKind.LOGIN_REJECTED,
            "idp_login",
            "Invalid username or password.",
            url="https://idp.example.org/interaction/abc/login",
            where="idp",
        )
        upto = 3
    else:  # idp_error
        fail = Failure(
            FailureKind.IDP_ERROR,
            "idp_page",
            "The redirect URI in the request does not match the registered ones",
            code="invalid_redirect_uri",
            url="https://idp.example.org/auth?client_id=hub&redirect_uri=...",
            where="idp",
        )
        upto = 2
    obs = Observation(hub, tuple(step_list(hub, rng, upto, fail)), fail, secret, f"{base}/")
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y%m%dT%H%M%SZ")
    where = f"/var/lib/loginprobe/artifacts/{hub}/{stamp}"
    evidence = Evidence(
        where,
        f"{hub}/{stamp}",
        f"{where}/screenshot.png",
        f"{where}/page.html",
        f"{where}/trace.zip",
    )
    result = ProbeResult(
        hub, classify(obs), obs, to_iso(started), 3000 + rng.randrange(4000), evidence
    )
    return result.to_json()


def healthy_result(hub: str, started: float, rng: random.Random) -> dict[str, Any]:
    obs = Observation(hub, tuple(step_list(hub, rng, len(STEPS) - 1, None)), None)
    return ProbeResult(
        hub, classify(obs), obs, to_iso(started), 1500 + rng.randrange(800)
    ).to_json()


class Timeline:
    """Which probes of one hub fail, and how: a couple of outages a month (5 min to 3 h), one
    probe in 500 failing alone, and for a few hubs a failure that is still going on."""

    CODES = ("hub_unreachable", "client_secret_expired", "idp_error", "hub_unreachable")

    def __init__(self, n: int, slots: int, interval: int, rng: random.Random) -> None:
        self.bad: dict[int, str] = {}
        for _ in range(rng.choice([0, 1, 2, 2, 3])):
            length = rng.randint(300, 3 * 3600) // interval + 1
            start = rng.randrange(max(1, slots - length))
            code = rng.choice(self.CODES)
            self.bad.update((s, code) for s in range(start, start + length))
        for s in range(slots):
            if rng.random() < 0.002:
                self.bad[s] = rng.choice(self.CODES)
        now_failing = n % 50 in (7, 23, 41)  # 3 in 50 hubs are down now,
        now_warning = n % 50 == 12  # 1 in 50 has a locked test account
        if now_failing or now_warning:
            code = "login_rejected" if now_warning else self.CODES[n % 3]
            length = (2 + n % 40) * 60 // interval + LAST
            self.bad.update((s, code) for s in range(max(0, slots - length), slots))


def fill(store: Store, hubs: list[str], days: float, interval: int, seed: int = 11) -> int:
    rng = random.Random(seed)
    now = time.time()
    slots = int(days * 86400 / interval)
    t0 = now - slots * interval
    lines = [Timeline(n, slots, interval, rng) for n in range(len(hubs))]
    writer = HistoryWriter()
    with store.engine.begin() as conn:
        hub_ids = [writer._id(conn, writer.t.hubs, writer._hub_ids, h, {}) for h in hubs]
        step_ids = [
            writer._id(conn, writer.t.step_names, writer._step_ids, s, {}) for s, _ in STEPS
        ]
    state: list[list[Any]] = [[None, 0.0, 0, None] for _ in hubs]  # code, since, last, last fail
    raw = store.engine.raw_connection()
    db: Any = raw.driver_connection
    assert isinstance(db, sqlite3.Connection)
    db.execute("PRAGMA synchronous=OFF")  # only the speed of filling; the file is the same
    next_id = 1 + (db.execute("SELECT max(id) FROM probes").fetchone()[0] or 0)
    bulk = slots - LAST
    written = 0
    for day_start in range(0, bulk, 1440):
        probes_rows: list[tuple[Any, ...]] = []
        result_rows: list[tuple[int, str]] = []
        for s in range(day_start, min(bulk, day_start + 1440)):
            for n, hub in enumerate(hubs):
                started = round(t0 + s * interval + n * interval / len(hubs), 3)
                code = lines[n].bad.get(s, "ok")
                if code == "ok":
                    pairs = ",".join(
                        f"{i}:{int(ms * rng.uniform(0.8, 1.4))}"
                        for i, (_, ms) in zip(step_ids, STEPS, strict=True)
                    )
                    probes_rows.append((next_id, hub_ids[n], started, "ok", 1800, pairs))
                else:
                    result = failure_result(hub, code, started, rng)
                    pairs = ",".join(
                        f"{step_ids[[x for x, _ in STEPS].index(st['name'])]}:{st['ms']}"
                        for st in result["steps"]
                    )
                    probes_rows.append(
                        (next_id, hub_ids[n], started, code, result["duration_ms"], pairs)
                    )
                    result_rows.append((next_id, json.dumps(result)))
                    state[n][3] = next_id
                st = state[n]
                if st[0] != code:
                    st[0], st[1] = code, started
                st[2] = next_id
                next_id += 1
        db.executemany(
            "INSERT INTO probes (id, hub_id, started_at, code, duration_ms, steps) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            probes_rows,
        )
        db.executemany("INSERT INTO results (probe_id, result) VALUES (?, ?)", result_rows)
        db.commit()
        written += len(probes_rows)
        print(f"\r  {written:,} probes written", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    raw.close()
    with store.engine.begin() as conn:
        for n, (code, since, last, last_fail) in enumerate(state):
            if code is not None:
                conn.execute(
                    hub_state.insert().values(
                        hub_id=hub_ids[n],
                        code=code,
                        since=since,
                        last_probe_id=last,
                        last_failure_id=last_fail,
                    )
                )
    # The newest probes: the store's own writes, with the tracks the pipeline would leave.
    for s in range(max(0, bulk), slots):
        for n, hub in enumerate(hubs):
            started = t0 + s * interval + n * interval / len(hubs)
            code = lines[n].bad.get(s, "ok")
            if code == "ok":
                result = healthy_result(hub, started, rng)
                moved: dict[str, Track] = {}
            else:
                result = failure_result(hub, code, started, rng)
                key = f"loginprobe/{hub}/login" + ("/warning" if code == "login_rejected" else "")
                opened = to_iso(started - (s - bulk) * interval)
                moved = {key: Track(s - bulk + 1, 0, code, opened, key)}
            store.record(result, moved, [], started, to_iso(started))
            written += 1
    return written


def fill_hourly(store: Store) -> int:
    """The hourly rollup of every probe in the store, as writing them one by one leaves it
    (`probe serve` writes it with each probe; `fill` writes the probes in bulk): what `/`,
    `/api/status` and `probe list` sum availability from. Returns the rows written."""
    raw = store.engine.raw_connection()
    db: Any = raw.driver_connection
    db.execute("PRAGMA synchronous=OFF")
    db.execute("DELETE FROM hourly")
    written = 0
    for (hub_id,) in db.execute("SELECT id FROM hubs ORDER BY id").fetchall():
        probes = db.execute(
            "SELECT started_at, code FROM probes WHERE hub_id = ? ORDER BY started_at, id",
            (hub_id,),
        ).fetchall()
        rows = rollup((hub_id, started, code) for started, code in probes)
        db.executemany(
            "INSERT INTO hourly (hub_id, hour, up_s, down_s, prober_s, silenced_s, probes, worst) "
            "VALUES (:hub_id, :hour, :up_s, :down_s, :prober_s, :silenced_s, :probes, :worst)",
            rows,
        )
        db.commit()
        written += len(rows)
        print(f"\r  {written:,} hourly rows written", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    raw.close()
    return written


def median_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms"


PATHS = ("/", "/api/status", "/?q=hub1")


async def measure_web(monitor: Monitor, runs: int) -> dict[str, Any]:
    """Per path: wall ms per request, CPU ms per request (this process: the server, its worker
    thread and the client), and the body's size."""
    async with TestClient(TestServer(make_app(monitor))) as client:
        figures: dict[str, Any] = {}
        for path in PATHS:
            times, cpu, size = [], [], 0
            for _ in range(runs):
                t, c = time.perf_counter(), time.process_time()
                answer = await client.get(path)
                body = await answer.read()
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                assert answer.status == 200, (path, answer.status)
                size = len(body)
            figures[path] = (times, cpu, size)
        return figures


def probe_list(config: Path, runs: int) -> tuple[list[float], list[float], int]:
    """`probe list` in a new process each time: wall s, CPU s (user + system), lines printed.
    With its bytecode compiled, as an installed package has it (pip compiles at install; this
    checkout may run with PYTHONDONTWRITEBYTECODE): the first, compiling run is not counted."""
    probe = Path(sys.executable).with_name("probe")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(COLUMNS="160", PYTHONPYCACHEPREFIX=str(config.parent / "pycache"))
    times, cpu, lines = [], [], 0
    for n in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(
            [str(probe), "--config", str(config), "list"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if n:
            times.append(wall)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        lines = len(proc.stdout.splitlines())
    return times, cpu, lines


def query_plans(store: Store) -> Iterator[str]:
    """The plans of the history reads the page makes, for the record: none may scan a hub's past."""
    with store.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        for label, sql in (
            (
                "recent probes",
                "SELECT p.steps, r.result FROM probes p LEFT JOIN results r ON r.probe_id = p.id "
                "WHERE p.hub_id = 1 ORDER BY p.started_at DESC, p.id DESC LIMIT 10",
            ),
            (
                "recent failures",
                "SELECT p.steps, r.result FROM probes p LEFT JOIN results r ON r.probe_id = p.id "
                "WHERE p.hub_id = 1 AND p.code != 'ok' ORDER BY p.started_at DESC, p.id DESC "
                "LIMIT 20",
            ),
            (
                "availability, one window",
                "SELECT h.name, sum(y.up_s) FROM hubs h JOIN hourly y ON y.hub_id = h.id "
                "AND y.hour >= 0 GROUP BY h.name",
            ),
        ):
            plan = " / ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql))
            yield f"  {label}: {plan}"


def reference_loop() -> tuple[float, float]:
    """Wall and CPU seconds of a fixed piece of pure Python: how fast this machine is right now
    (other work on its cores slows every figure above alike)."""
    t, c = time.perf_counter(), time.process_time()
    sum(range(10**7))
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", type=int, default=200)
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--interval", type=int, default=60, help="seconds between a hub's probes")
    ap.add_argument(
        "--runs", type=int, default=20, help="requests per endpoint, and runs of `probe list`"
    )
    ap.add_argument("--store", type=Path, help="a directory to keep the filled store in (reused)")
    args = ap.parse_args()
    where = args.store or Path(tempfile.mkdtemp(prefix="lp-bench-"))
    where.mkdir(parents=True, exist_ok=True)
    os.environ.update(U="bench-user", P="bench-password")  # secrets are 8 or more characters
    hubs = [f"hub{n}" for n in range(args.hubs)]
    config = where / "config.toml"
    db = where / "state.sqlite"
    config.write_text(
        f'[monitor]\nstate = "sqlite:///{db}"\n'
        + "".join(
            f'[hubs.{h}]\nurl = "https://{h}.example.org"\nflow = "generic_oidc"\n'
            'username_env = "U"\npassword_env = "P"\n'
            for h in hubs
        )
    )
    settings = Settings.load(config)
    filled = db.exists()
    store = Store(settings.loaded.config.monitor.state)
    if not filled:
        t = time.perf_counter()
        count = fill(store, hubs, args.days, args.interval)
        print(f"filled {count:,} probes in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with store.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        probes = raw.execute("SELECT count(*) FROM probes").fetchone()[0]
        results = raw.execute("SELECT count(*) FROM results").fetchone()[0]
        hours = raw.execute("SELECT count(*) FROM hourly").fetchone()[0]
    if hours < probes // 120:  # fewer than one row per hub and hour: a store filled without it
        t = time.perf_counter()
        hours = fill_hourly(store)
        print(f"filled the hourly rollup in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    size = sum(p.stat().st_size for p in where.glob("state.sqlite*"))
    monitor = Monitor(settings, store, Metrics())
    web = asyncio.run(measure_web(monitor, args.runs))
    availability_wall, availability_cpu = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        store.availability(time.time())
        availability_wall.append((time.perf_counter() - t) * 1000)
        availability_cpu.append((time.process_time() - c) * 1000)
    store.close()
    list_times, list_cpu, list_lines = probe_list(config, args.runs)

    gib = size / 2**30
    print(
        f"{args.hubs} hubs x {args.days:g} days at {args.interval} s: {probes:,} probes "
        f"({results:,} with their whole result), {hours:,} hourly rollup rows"
    )
    print(f"  database: {gib:.2f} GiB ({size / probes:.0f} bytes per probe)")
    for path in PATHS:
        times, cpu, body = web[path]
        print(
            f"  {path}: {median_ms(times)} over {args.runs} requests; CPU median "
            f"{statistics.median(cpu):.0f} ms; {body / 1024:.0f} KiB"
        )
    print(
        f"  Store.availability (24 h, 7 d, 30 d of every hub): {median_ms(availability_wall)}; "
        f"CPU median {statistics.median(availability_cpu):.0f} ms"
    )
    print(
        f"  probe list: median {statistics.median(list_times):.2f} s, "
        f"max {max(list_times):.2f} s wall; CPU median {statistics.median(list_cpu):.2f} s "
        f"({list_lines} lines)"
    )
    page_times = web["/"][0]
    print("\n".join(query_plans(Store(settings.loaded.config.monitor.state))))
    ref_wall, ref_cpu = reference_loop()
    print(
        f"  this machine meanwhile: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
        f"CPUs; a fixed loop (sum(range(10**7))) took {ref_cpu:.2f} s CPU, {ref_wall:.2f} s wall"
    )
    met = {
        "page_ms": statistics.median(page_times) <= TARGETS["page_ms"],
        "list_s": statistics.median(list_cpu) <= TARGETS["list_s"],
        "size_gib": gib <= TARGETS["size_gib"],
    }
    print(
        "targets: "
        + ", ".join(f"{k} <= {TARGETS[k]:g} {'met' if ok else 'MISSED'}" for k, ok in met.items())
    )


if __name__ == "__main__":
    main()
