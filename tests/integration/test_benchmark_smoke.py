"""The benchmarks still run against the code as it is today.

Nothing else imports them, and they reach into the store's writer and the monitor: a change there
broke benchmarks/status_page.py once without any test noticing (HistoryWriter.hub_id, gone in
85c586b). Small runs: the status page on two hubs over one day (a few seconds), the throughput
benchmark's paired rounds on two hubs (about a minute, its own sandbox), one login a side of the
per-login cost benchmark. Their figures are not checked here (benchmarks, not timed tests): only
that each side logged in at all.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_status_page_benchmark_runs_on_a_small_fleet(tmp_path: Path) -> None:
    small = ["--hubs", "2", "--days", "1", "--runs", "1", "--store", str(tmp_path / "fleet")]
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "status_page.py"), *small],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "2 hubs x 1 days at 60 s: 2,880 probes" in out, out[-2000:]
    for figure in ("  /: median", "  probe list: median", "  database: ", "targets: page_ms"):
        assert figure in out, (figure, out[-2000:])


@pytest.mark.sandbox
@pytest.mark.parametrize("together", [False, True], ids=["in-turn", "together"])
def test_the_throughput_benchmark_runs_paired_rounds(together: bool) -> None:
    small = ["--rounds", "2", "--concurrency", "1", "--hubs", "2", "--interval", "3"]
    short = ["--warmup", "3", "--seconds", "15", *(["--together"] if together else [])]
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *small, *short],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    rounds = re.findall(r"^round \d: floor (\d+)/min .*, serve (\d+)/min ", out, re.M)
    assert len(rounds) == 2, out[-2000:]
    # Both sides logged in within some round's window (a busy machine may fit none in one).
    assert any(int(floor) > 0 and int(serve) > 0 for floor, serve in rounds), out[-2000:]
    # Medians over the rounds with logins on both sides (some, on a busy machine).
    assert re.search(r"^median of (1 of )?2 rounds: throughput ", out, re.M), out[-2000:]
    within = r"^rounds within target: throughput (\d|n/a together) of [12], CPU \d of [12]$"
    assert re.search(within, out, re.M), out[-2000:]
    # Where a login's time goes, step by step: the floor's calls, the probe's stored steps.
    floor = r"^  steps, median ms: the floor: goto \d+, .*, landed \d+, outside steps \d+$"
    serve = (
        r"^    serve: hub_start \d+, hub_login \d+, .*oauth_callback \d+, .*outside steps -?\d+$"
    )
    assert re.search(floor, out, re.M) and re.search(serve, out, re.M), out[-2000:]


def _probe_cost(*args: str) -> str:
    """benchmarks/probe_cost.py's output, run with `args`; it must succeed."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "probe_cost.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


@pytest.mark.sandbox
def test_the_probe_cost_benchmark_measures_each_side() -> None:
    out = _probe_cost("--logins", "1", "--warmup", "0", "--sides", "floor,probe")
    # Each side logged in (a failed login has no figures) and the probe is set against the floor.
    assert re.search(r"^\| floor \| \d+\.\d+ \| .* \| 0 \|$", out, re.M), out[-2000:]
    assert re.search(
        r"^\| probe \| \d+\.\d+ \| .* \| [+-]\d+\.\d+ \(\d+\.\d+x\) \| 0 \|$", out, re.M
    ), out[-2000:]


@pytest.mark.sandbox
def test_the_probe_cost_benchmark_measures_each_side_at_a_concurrency() -> None:
    out = _probe_cost(
        *("--concurrency", "2", "--seconds", "4", "--rounds", "1", "--sides", "floor,probe")
    )
    # A phase of each side with logins and none failed, and the probe set against the floor.
    for side in ("floor", "probe"):
        line = rf"^round 1: {side} \d+\.\d/min, \d+\.\d+ CPU-s a login, 0 failed$"
        assert re.search(line, out, re.M), out[-2000:]
    table = r"^\| probe \| \d+\.\d+ \| \d+\.\d \| \d+\.\d+x, \d+\.\d+x \|$"
    assert re.search(table, out, re.M), out[-2000:]
