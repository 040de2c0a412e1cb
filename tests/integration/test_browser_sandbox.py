"""Chromium keeps its sandbox where the OS allows it: launched as a non-root user (as in the
container image) where user namespaces are allowed, its renderers run in a user namespace of their
own and nothing passes --no-sandbox; where they are not allowed, it runs without and says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = next((ROOT / ".venv" / "lib").glob("python3.*/site-packages"))
NOBODY = 65534

# Run as another user: it launches the browser the way the product does and reports, for each of
# the browser's processes, whether it passed --no-sandbox and which user namespace it is in.
SCRIPT = """
import asyncio, json, os
from pathlib import Path
from playwright.async_api import async_playwright
from loginprobe.prober.browser import open_browser, sandboxing
from tests.procs import descendants

async def main():
    decided = sandboxing()
    report = {"enabled": decided.enabled, "why": decided.why, "processes": []}
    async with async_playwright() as pw, open_browser(pw) as browser:
        page = await browser.new_page()
        await page.goto("data:text/html,<p>sandboxed?</p>")
        mine = os.readlink("/proc/self/ns/user")
        for pid in descendants(os.getpid())[1:]:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\\0")
            except OSError:
                continue
            if b"chrom" not in cmd[0].lower():
                continue
            try:
                ns = os.readlink(f"/proc/{pid}/ns/user")
            except OSError:
                ns = "unreadable"  # a sandboxed process is not ours to inspect
            report["processes"].append(
                {"no_sandbox": b"--no-sandbox" in cmd, "own_namespace": ns != mine}
            )
    print(json.dumps(report))

asyncio.run(main())
"""


@pytest.fixture
def home() -> Iterator[Path]:
    """A directory the other user may use (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="lp-nobody-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_chromium_runs_with_its_sandbox_as_a_non_root_user_where_the_os_allows(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test switches to another user: run it as root (as scripts/test does)")
    script = home / "check.py"
    script.write_text(SCRIPT)
    # The system's Python of the same version, readable by anyone (the venv's may live in root's
    # home), with the venv's packages and the source on its path.
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            python,
            str(script),
        ],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "TMPDIR": str(home),
            "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}:{SITE}",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    processes = report["processes"]
    assert processes, "no Chromium process found"
    if report["enabled"]:
        assert not any(p["no_sandbox"] for p in processes), processes
        assert any(p["own_namespace"] for p in processes), processes
    else:
        assert all(p["no_sandbox"] for p in processes if not p["own_namespace"])
        assert "user namespaces" in report["why"]
