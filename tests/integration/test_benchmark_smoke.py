"""The status-page benchmark still runs against the store as the code writes it today.

Nothing else imports benchmarks/status_page.py, and it reaches into the store's writer: a change
there broke it once without any test noticing (HistoryWriter.hub_id, gone in 85c586b). Two hubs
over one day: a few seconds. Its figures are not checked here (a benchmark, not a timed test).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
