"""`probe run` on a terminal shows the login step by step as it happens; through a pipe it prints
what it always printed, with no control sequences."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Prober, Run

pytestmark = pytest.mark.sandbox

CONTROL = re.compile(r"\x1b[\[\]()]|\r(?!\n)")  # CSI/OSC escapes, a bare carriage return
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEPS = ("hub_start", "hub_login", "idp_page", "idp_login", "oauth_callback", "hub_landing")


def run_in_terminal(prober: Prober, *args: str, timeout: float = 120) -> Run:
    """The real `probe` with a pseudo-terminal as stdout (and stdin), stderr a pipe."""
    work = prober.tmp / f"pty-{len(prober.tmpdirs)}"
    work.mkdir()
    # Short, as in Prober.run: Chromium's Unix sockets live in TMPDIR.
    tmpdir = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
    prober.tmpdirs.append(tmpdir)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FORCE_", "NO_COLOR"))},
        **prober.sandbox.probe_env(),
        "HOME": str(work),
        "TMPDIR": str(tmpdir),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "LINES": "40",
    }
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        ["probe", "--config", str(prober.config()), *args],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=env,
        cwd=work,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "probe run never finished on the terminal"
        ready, _, _ = select.select([controller], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode(errors="replace")
    code = proc.wait(timeout=30)
    run = Run(code, b"".join(chunks).decode(errors="replace"), stderr, work, tmpdir)
    prober.assert_no_secrets(run)
    return run


def test_run_on_a_terminal_shows_each_step_live_then_the_table(prober: Prober) -> None:
    run = run_in_terminal(prober, "run", "sandbox")
    assert run.code == 0, run.stdout + run.stderr
    out = run.stdout
    assert CONTROL.search(out), "no live display: nothing was redrawn"
    out = ANSI.sub("", out)  # colours and cursor moves between the words
    assert "starting Chromium" in out
    # The live display's lines: a tick, the step and its ms, drawn while the probe ran.
    live = [m.group(1) for m in re.finditer(r"✓ (\w+)\s+\d+ ms", out)]
    assert set(STEPS) <= set(live), live
    assert live.index("hub_start") < live.index("idp_login") < live.index("hub_landing")
    # A step shown as running with its elapsed time before it finished.
    assert re.search(r"idp_login\s+\d+\.\d s", out)
    # Then the usual table and verdict, as without a terminal.
    assert "probe sandbox" in out and "ok: sandbox: logged in and landed on the hub" in out


def test_run_on_a_terminal_with_json_prints_only_json(prober: Prober) -> None:
    run = run_in_terminal(prober, "run", "sandbox", "--json")
    assert run.code == 0
    assert "starting Chromium" not in run.stdout and "✓" not in run.stdout
    assert run.stdout.lstrip().startswith("{")


def test_run_through_a_pipe_prints_no_control_sequences(prober: Prober) -> None:
    run = prober.run("run", "sandbox", env={"TERM": "xterm-256color"})
    assert run.code == 0, run.stderr
    assert not CONTROL.search(run.stdout), repr(run.stdout[:500])
    assert not CONTROL.search(run.stderr), repr(run.stderr[:500])
    assert "✓" not in run.stdout and "starting Chromium" not in run.stdout
    lines = run.stdout.splitlines()
    assert lines[0] == "probe sandbox"
    assert [ln.split("│")[1].strip() for ln in lines if ln.startswith("│ ") and ln[2] != " "] == [
        *STEPS[:4],
        "idp_consent",
        *STEPS[4:],
    ]
    assert lines[-1].startswith("ok: sandbox: logged in and landed on the hub in ")
