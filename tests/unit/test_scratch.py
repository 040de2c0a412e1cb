"""Scratch directories: private, locked by their process, and swept once that process is dead,
however it died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loginprobe.prober.scratch import UNLOCKED_GRACE_S, ScratchDir, sweep

HOLD = """
import sys, time
from pathlib import Path
from loginprobe.prober.scratch import ScratchDir
d = ScratchDir("traces", Path(sys.argv[1]))
(d.path / "trace.network").write_text("pw=hunter2hunter2")
print(d.path, flush=True)
time.sleep(600)
"""


def test_a_scratch_dir_is_private_and_gone_after_use(tmp_path: Path) -> None:
    with ScratchDir("browser", tmp_path) as path:
        assert path.name.startswith("loginprobe-browser-")
        assert path.stat().st_mode & 0o777 == 0o700
    assert not path.exists()


def test_sweep_removes_what_a_killed_process_left_and_keeps_a_living_ones(tmp_path: Path) -> None:
    mine = ScratchDir("evidence", tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        theirs = Path(proc.stdout.readline().strip())
        assert sweep(tmp_path) == []  # both owners alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert sweep(tmp_path) == [theirs]
        assert not theirs.exists() and mine.path.exists()
    finally:
        proc.kill()
        mine.remove()


def test_sweep_leaves_names_it_does_not_own_and_young_unlocked_dirs(tmp_path: Path) -> None:
    other = tmp_path / "loginprobe-sandbox-abc"
    young = tmp_path / "loginprobe-traces-young"
    old = tmp_path / "loginprobe-traces-old"  # made before scratch dirs were locked
    for d in (other, young, old):
        d.mkdir()
    past = time.time() - UNLOCKED_GRACE_S - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert sweep(tmp_path) == [old]
    assert other.exists() and young.exists()
