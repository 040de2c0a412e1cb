"""Benchmark: one healthy `probe run` on the sandbox, N times.

Prints the wall time of each run, the median, and the peak memory of the probe's process tree
(the Python process, Playwright's driver and every Chromium process), sampled every 20 ms.

    .venv/bin/python benchmarks/probe_run.py [--runs 5] [--no-trace] [--provider azuread --totp]

--no-trace sets `artifacts_dir = ""`: no trace is recorded, to measure what tracing costs.
--provider logs in through LemonLDAP::NG (lemonldap, a second real IdP) or a provider stand-in
(azuread, github, cilogon) instead of oidc-provider; --totp gives the test account a TOTP seed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sandbox import Sandbox

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_memory(root: int) -> tuple[int, int]:
    """(summed RSS, summed PSS) of a process and all its descendants. RSS counts pages shared
    between Chromium's processes once per process; PSS splits them, so it sums to what is used."""
    tree, rss, pss, todo = _children(), 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            pss += _pss(pid)
        except OSError:
            pass
        todo.extend(tree.get(pid, []))
    return rss, pss


def run_once(config: Path, env: dict[str, str]) -> tuple[float, int, int, int]:
    probe = Path(sys.executable).with_name("probe")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(probe), "--config", str(config), "run", "sandbox", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        rss, pss = tree_memory(proc.pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.02)
    return time.perf_counter() - start, peak_rss, peak_pss, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-trace", action="store_true", help="evidence (and tracing) off")
    parser.add_argument(
        "--provider", default="oidc", help="oidc, lemonldap, azuread, github or cilogon"
    )
    parser.add_argument("--totp", action="store_true", help="the test account has a TOTP seed")
    args = parser.parse_args()
    with (
        Sandbox(provider=args.provider, totp=args.totp) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        monitor = f'artifacts_dir = "{"" if args.no_trace else Path(tmp) / "artifacts"}"'
        config = sb.write_config(Path(tmp) / "config.toml", monitor=monitor)
        env = {**os.environ, **sb.probe_env()}
        run_once(config, env)  # warm-up: disk caches, JupyterHub's first request
        walls, peaks, psses = [], [], []
        for i in range(args.runs):
            wall, peak, pss, code = run_once(config, env)
            if code != 0:
                print(
                    f"run {i + 1}: probe exited {code}; the sandbox is not healthy", file=sys.stderr
                )
                return 1
            walls.append(wall)
            peaks.append(peak)
            psses.append(pss)
            print(
                f"run {i + 1}: {wall:.2f} s wall, peak process tree: PSS {pss / 2**20:.0f} MiB, "
                f"summed RSS {peak / 2**20:.0f} MiB"
            )
    print(
        f"healthy probe run ({args.provider}{', TOTP' if args.totp else ''}): median {statistics.median(walls):.2f} s, max {max(walls):.2f} s "
        f"over {args.runs} runs; peak process-tree PSS max {max(psses) / 2**20:.0f} MiB "
        f"(summed RSS max {max(peaks) / 2**20:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
