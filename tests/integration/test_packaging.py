"""What the Dockerfile installs works outside Docker: the wheel carries the engine, the flows
and the `probe` command, and the image's runtime lock pins what the tests ran against."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_wheel_carries_engine_flows_and_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("loginprobe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # The flows install inside the package: never a generic top-level `probes` in site-packages.
    assert "loginprobe/probes/generic_oidc.py" in names
    assert "loginprobe/probes/__init__.py" in names
    assert not [n for n in names if n.startswith("probes/")]
    assert "loginprobe/cli/app.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "probe = loginprobe.cli:main" in text
    assert not [n for n in names if n.startswith(("sandbox/", "tests/"))]


def test_runtime_lock_pins_the_same_versions_the_tests_use() -> None:
    runtime = _pins(ROOT / "requirements.lock")
    dev = _pins(ROOT / "requirements-dev.lock")
    assert "playwright" in runtime
    assert {name: dev.get(name) for name in runtime} == runtime


def test_every_dockerfile_copy_source_exists() -> None:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
