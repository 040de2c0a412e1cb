"""Benchmark (soak): does a monitor that runs for months grow? N probes in one monitor process.

Starts the sandbox, then one monitor process (the Monitor that `probe serve` runs, two hubs on the
sandbox's hub, a 1 s interval, concurrency 2, evidence and traces as configured by default) and
lets it probe. After a warm-up, every 100 probes, and after N, with no probe in flight, it takes:
RSS of the Python process; RSS, PSS and USS (private memory, which other programs' Chromium on the
machine cannot blur as it does PSS) of its whole process tree (Python, Playwright's driver,
Chromium); open files (the Python process and the tree); Chromium processes; zombies (ended
children nobody reaped); listeners on the shared browser; the Playwright pages, contexts and
journeys still alive; the store's size on disk; and prints the growth.

    .venv/bin/python benchmarks/soak.py [--probes 2000] [--warmup 20] [--every 100]

Target: flat, every figure within 5% apart from the store (which grows by its history).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probe_run import PAGE, _children, tree_memory  # the process-tree accounting, shared

HUBS = ("one", "two")


@dataclass
class Snapshot:
    probes: int
    python_rss: int
    tree_rss: int
    tree_pss: int
    tree_uss: int
    python_files: int
    tree_files: int
    chromium: int
    chromium_types: str
    zombies: int
    listeners: int
    pages: int
    contexts: int
    journeys: int
    store_bytes: int


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _store_bytes(state: Path) -> int:
    """The SQLite file with its write-ahead log."""
    return sum(p.stat().st_size for p in state.parent.glob(state.name + "*") if p.is_file())


def _tree(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _uss(pid: int) -> int:
    """Memory only this process uses (private pages): unlike PSS, it does not shrink when other
    programs on the machine map the same Chromium binary."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return sum(
        int(line.split()[1]) * 1024 for line in text.splitlines() if line.startswith("Private_")
    )


def _files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _chromium_type(pid: int) -> str | None:
    """ "browser", "renderer", "gpu-process", "utility", "zygote", ... for a Chromium process."""
    try:
        # Chromium rewrites its command line into one space-separated string.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return None
    if not argv:
        return None
    if b"chrom" not in os.path.basename(argv[0]):
        return None
    kind = next((a[7:].decode() for a in argv if a.startswith(b"--type=")), "browser")
    sub = next(
        (a.decode().split("=", 1)[1] for a in argv if a.startswith(b"--utility-sub-type=")), ""
    )
    return f"{kind}:{sub.rsplit('.', 1)[-1]}" if sub else kind


def snapshot(probes: int, state: Path) -> Snapshot:
    from playwright._impl.browser import Browser
    from playwright._impl.browser_context import BrowserContext
    from playwright._impl.page import Page

    from loginprobe.prober.journey import Journey

    gc.collect()
    objects = gc.get_objects()
    browsers = [o for o in objects if isinstance(o, Browser)]
    pids = _tree(os.getpid())
    rss, pss = tree_memory(os.getpid())
    kinds = [k for p in pids if (k := _chromium_type(p)) is not None]
    return Snapshot(
        probes=probes,
        python_rss=int(Path("/proc/self/statm").read_text().split()[1]) * PAGE,
        tree_rss=rss,
        tree_pss=pss,
        tree_uss=sum(_uss(p) for p in pids),
        python_files=_files(os.getpid()),
        tree_files=sum(_files(p) for p in pids),
        chromium=len(kinds),
        chromium_types=", ".join(f"{k} {n}" for k, n in sorted(Counter(kinds).items())),
        zombies=sum(_zombie(p) for p in pids),
        listeners=sum(b.listener_count(e) for b in browsers for e in b.event_names()),
        pages=sum(isinstance(o, Page) for o in objects),
        contexts=sum(isinstance(o, BrowserContext) for o in objects),
        journeys=sum(isinstance(o, Journey) for o in objects),
        store_bytes=_store_bytes(state),
    )


async def monitor_main(config: Path, warmup: int, n: int, every: int) -> int:
    """The monitor process: probe, and measure itself after `warmup` probes, every `every`
    probes after that, and after `n` more."""
    from loginprobe.logs import configure_logging
    from loginprobe.monitor.metrics import Metrics
    from loginprobe.monitor.service import Monitor
    from loginprobe.monitor.settings import Settings
    from loginprobe.store import Store

    settings = Settings.load(config)
    configure_logging("warning", settings.redactor)
    metrics = Metrics()
    monitor = Monitor(settings, Store(settings.loaded.config.monitor.state), metrics)
    state = Path(settings.loaded.config.monitor.state.removeprefix("sqlite:///"))

    def probes() -> int:
        return int(
            sum(
                s.value
                for m in metrics.registry.collect()
                if m.name == "loginprobe_probes"
                for s in m.samples
                if s.name == "loginprobe_probes_total"
            )
        )

    async def quiet_snapshot(at: int) -> Snapshot:
        """Wait for the count, then for a moment with no probe in flight (a Chromium renderer
        per running probe would be counted otherwise), then measure."""
        began = time.monotonic()
        while probes() < at or any(monitor.probing(h) for h in HUBS):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling the monitor from inside its own loop
        took = time.monotonic() - began
        snap = snapshot(probes(), state)
        print(f"  {snap.probes} probes ({took:.0f}s): {fmt(snap)}", file=sys.stderr, flush=True)
        return snap

    await monitor.start()
    try:
        start = end = await quiet_snapshot(warmup)
        while end.probes < start.probes + n:  # the curve between, not only its ends
            end = await quiet_snapshot(min(end.probes + every, start.probes + n))
    finally:
        await monitor.stop()
        monitor.store.close()
    report(start, end, probes_measured=end.probes - start.probes)
    codes: dict[str, int] = {}
    for m in metrics.registry.collect():
        for s in m.samples:
            if s.name == "loginprobe_probes_total":
                codes[s.labels["code"]] = codes.get(s.labels["code"], 0) + int(s.value)
    print(f"verdicts of all {probes()} probes: {codes}")
    return 0


def fmt(s: Snapshot) -> str:
    return (
        f"python RSS {s.python_rss / 2**20:.1f} MiB, tree PSS {s.tree_pss / 2**20:.1f} MiB, "
        f"tree USS {s.tree_uss / 2**20:.1f} MiB, "
        f"files {s.python_files}/{s.tree_files}, chromium {s.chromium} ({s.chromium_types}), "
        f"zombies {s.zombies}, listeners {s.listeners}, pages {s.pages}, "
        f"contexts {s.contexts}, store {s.store_bytes / 2**20:.1f} MiB"
    )


def report(start: Snapshot, end: Snapshot, probes_measured: int) -> None:
    labels = {
        "python_rss": "Python process RSS (MiB)",
        "tree_rss": "process tree RSS, summed (MiB)",
        "tree_pss": "process tree PSS (MiB)",
        "tree_uss": "process tree USS, private (MiB)",
        "python_files": "open files, Python process",
        "tree_files": "open files, process tree",
        "chromium": "Chromium processes",
        "zombies": "zombie processes",
        "listeners": "listeners on the browser",
        "pages": "Playwright pages alive",
        "contexts": "browser contexts alive",
        "journeys": "journeys alive",
        "store_bytes": "store on disk (MiB; grows by design)",
    }
    print(f"\n{'':34} {'start':>10} {'end':>10} {'growth':>8}")
    print(f"{'probes':34} {start.probes:>10} {end.probes:>10} {'+' + str(probes_measured):>8}")
    for f in fields(Snapshot):
        if f.name in ("probes", "chromium_types"):
            continue
        a, b = getattr(start, f.name), getattr(end, f.name)
        mib = ("python_rss", "tree_rss", "tree_pss", "tree_uss", "store_bytes")
        scale = 2**20 if f.name in mib else 1
        growth = f"{(b - a) / a * 100:+.1f}%" if a else ("0" if b == 0 else f"+{b}")
        fa, fb = (f"{a / scale:.1f}", f"{b / scale:.1f}") if scale > 1 else (str(a), str(b))
        print(f"{labels[f.name]:34} {fa:>10} {fb:>10} {growth:>8}")


def two_hub_config(sb: object, path: Path, state: Path) -> Path:
    """The sandbox's config with its one hub twice: two probes at once, as concurrency allows."""
    from sandbox import Sandbox

    assert isinstance(sb, Sandbox)
    monitor = (
        f'interval = "1s"\nretry_after_failure = "1s"\nconcurrency = 2\n'
        f'state = "sqlite:///{state}"\nartifacts_dir = "{path.parent / "artifacts"}"'
    )
    first = sb.config_text(hub=HUBS[0], monitor=monitor)
    second = sb.config_text(hub=HUBS[1], monitor=monitor)
    path.write_text(first + second[second.index(f"[hubs.{HUBS[1]}]") :])
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--probes", type=int, default=2000, help="probes between the first and last snapshots"
    )
    parser.add_argument("--warmup", type=int, default=20, help="probes before the first snapshot")
    parser.add_argument("--every", type=int, default=100, help="probes between snapshots")
    parser.add_argument("--monitor", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.monitor is not None:
        return asyncio.run(monitor_main(args.monitor, args.warmup, args.probes, args.every))

    from sandbox import Sandbox

    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="loginprobe-soak-") as tmp:
        config = two_hub_config(sb, Path(tmp) / "config.toml", Path(tmp) / "state.sqlite")
        print(
            f"{args.warmup} warm-up probes, then {args.probes} more: two hubs, interval 1s, "
            "concurrency 2",
            flush=True,
        )
        started = time.monotonic()
        # The monitor in a process of its own: the sandbox's servers are not part of its tree.
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--monitor",
                str(config),
                "--warmup",
                str(args.warmup),
                "--probes",
                str(args.probes),
                "--every",
                str(args.every),
            ],
            env={**os.environ, **sb.probe_env()},
            cwd=tmp,
        )
        print(f"({time.monotonic() - started:.0f}s)")
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
