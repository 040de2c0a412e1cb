"""The real sandbox, shared by every integration test in the session."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.store import Store
from sandbox import Sandbox
from sandbox.pagerduty import PagerDutyReceiver
from tests.leaks import assert_no_leaks, named


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").clear_faults()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    workdir: Path
    tmpdir: Path

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def written_files(self) -> dict[Path, bytes]:
        return {
            p: p.read_bytes()
            for d in (self.workdir, self.tmpdir)
            for p in d.rglob("*")
            if p.is_file()
        }


class Prober:
    """Runs the real `probe` command against the sandbox, each run in its own empty directory
    (cwd, HOME and TMPDIR), so everything it writes to disk can be searched for secrets."""

    def __init__(self, sandbox: Sandbox, tmp: Path) -> None:
        self.sandbox, self.tmp, self.n = sandbox, tmp, 0
        self.tmpdirs: list[Path] = []
        self.secrets = [sandbox.password, sandbox.client_secret, sandbox.routing_key]

    def config(self, **kwargs: Any) -> Path:
        self.n += 1
        return self.sandbox.write_config(self.tmp / f"config-{self.n}.toml", **kwargs)

    def run(
        self,
        *args: str,
        config: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> Run:
        self.n += 1
        work = self.tmp / f"run-{self.n}"
        work.mkdir()
        # Chromium's sockets live in TMPDIR and a Unix socket path has ~100 characters at most,
        # so TMPDIR is short, beside (not inside) the pytest directory, and searched as well.
        tmpdir = Path(tempfile.mkdtemp(prefix="lp-", dir="/tmp"))
        self.tmpdirs.append(tmpdir)
        full_env = {
            **os.environ,
            **self.sandbox.probe_env(),
            "HOME": str(work),
            "TMPDIR": str(tmpdir),
            "LOGINPROBE_LOG_LEVEL": "debug",
            **(env or {}),
        }
        cfg = config or self.config()
        proc = subprocess.run(
            ["probe", "--config", str(cfg), *args],
            env=full_env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr, work, tmpdir)
        self.assert_no_secrets(run)
        return run

    def assert_no_secrets(self, run: Run) -> None:
        """Every output searched for every secret in every encoding (tests/leaks.py)."""
        outputs: dict[str, bytes | str] = {"stdout": run.stdout, "stderr": run.stderr}
        outputs.update({str(p): data for p, data in run.written_files().items()})
        assert_no_leaks(outputs, named(self.secrets))


def unzipped(files: dict[Path, bytes]) -> dict[str, bytes]:
    """Every file, and every member of every zip (the evidence's trace.zip) decompressed."""
    out: dict[str, bytes] = {}
    for path, content in files.items():
        out[str(path)] = content
        if path.suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                for name in z.namelist():
                    out[f"{path}!{name}"] = z.read(name)
    return out


@pytest.fixture
def prober(sandbox: Sandbox, tmp_path: Path) -> Iterator[Prober]:
    p = Prober(sandbox, tmp_path)
    yield p
    for d in p.tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


# -- the monitor without a browser: its outbox, expiry and TLS logic against the HTTPS stand-in --
TEST_ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty demands


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PagerDutyReceiver]:
    r = PagerDutyReceiver(tmp_path)
    r.start()
    yield r
    r.stop()


def offline_monitor(
    tmp_path: Path,
    receiver: PagerDutyReceiver,
    monkeypatch: pytest.MonkeyPatch,
    hub: str = "",
    env: dict[str, str] | None = None,
    clock: Callable[[], float] | None = None,
) -> Monitor:
    """A Monitor that is never started (no scheduler, no browser) paging `receiver`, holding its
    store's lease. `hub` is the body of [hubs.h] and its subtables; the default is a hub nobody
    will ever probe."""
    for name, value in {
        "T_USER": "u",
        "T_PASS": "p-value-long",
        "T_ROUTING": TEST_ROUTING_KEY,
        **(env or {}),
    }.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "config.toml"
    config.write_text(f"""
[monitor]
state = "sqlite:///{tmp_path}/state.sqlite"
[pagerduty]
routing_key_env = "T_ROUTING"
events_url = "{receiver.url}"
ca_file = "{receiver.ca_file}"
{hub or HUB_NOBODY_PROBES}
""")
    settings = Settings.load(config)
    store = Store(settings.loaded.config.monitor.state)
    monitor = Monitor(settings, store, Metrics(), clock or time.time)
    assert monitor.take_over()
    return monitor


HUB_NOBODY_PROBES = """[hubs.h]
url = "http://127.0.0.1:9"
flow = "generic_oidc"
username_env = "T_USER"
password_env = "T_PASS"
"""


async def drain(monitor: Monitor) -> None:
    """Send everything the outbox holds that is due."""
    while await monitor.outbox.flush_once():
        pass
