"""`probe serve` watched from outside: its heartbeat reaches a local dead man's switch only while
the monitor runs, and everything it says on stderr is a JSON line.

One real `probe serve` against the sandbox (probes every 4 s, a ping every second), shared by the
tests of this file; each test also works alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox, free_port
from sandbox.heartbeat import HeartbeatReceiver

pytestmark = pytest.mark.sandbox

PING_EVERY = 1.0  # [heartbeat] interval, seconds


class Monitor:
    """One `probe serve` process with a [heartbeat] pointing at `switch`."""

    def __init__(self, sandbox: Sandbox, switch: HeartbeatReceiver, workdir: Path) -> None:
        self.sandbox, self.switch, self.workdir = sandbox, switch, workdir
        self.port = free_port()
        self.config = workdir / "config.toml"
        text = sandbox.config_text(
            monitor=f'interval = "4s"\nretry_after_failure = "2s"\n'
            f'state = "sqlite:///{workdir / "state.sqlite"}"\nlisten = "127.0.0.1:{self.port}"\n'
            f'artifacts_dir = "{workdir / "artifacts"}"'
        )
        self.config.write_text(
            f'{text}\n[heartbeat]\nurl_env = "HEARTBEAT_URL"\ninterval = "{PING_EVERY:g}s"\n'
        )
        self.stderr = workdir / "stderr.log"
        env = {
            **os.environ,
            **sandbox.probe_env(),
            "HEARTBEAT_URL": switch.url,
            "HOME": str(workdir),
            "LOGINPROBE_LOG_LEVEL": "debug",
        }
        self.proc = subprocess.Popen(
            ["probe", "--config", str(self.config), "serve"],
            env=env,
            cwd=workdir,
            stdout=(workdir / "stdout.log").open("wb"),
            stderr=self.stderr.open("wb"),
        )

    def probes(self) -> int:
        """Probes finished so far, from /metrics."""
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return 0
        return int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("loginprobe_probes_total{")
            )
        )

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"serve died:\n{self.stderr.read_text()[-3000:]}"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what} (after {timeout}s)\n{self.stderr.read_text()[-3000:]}"
                )
            time.sleep(0.2)  # how often the condition is polled, not a wait for time to pass

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def secrets(self) -> list[str]:
        sb = self.sandbox
        return [sb.password, sb.client_secret, sb.routing_key, self.switch.url, self.switch.check]


@pytest.fixture(scope="module")
def monitor(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitor]:
    switch = HeartbeatReceiver().start()
    m = Monitor(sandbox, switch, tmp_path_factory.mktemp("heartbeat"))
    yield m
    if m.proc.poll() is None:
        m.proc.kill()
        m.proc.wait(30)
    switch.stop()


def test_pings_arrive_stop_while_the_monitor_is_frozen_and_resume_after(monitor: Monitor) -> None:
    switch = monitor.switch
    monitor.wait(lambda: monitor.probes() >= 1, 120, "a first probe")
    pings = switch.wait_for(3, 30)
    assert {(p.method, p.user_agent) for p in pings} == {("GET", "loginprobe-heartbeat")}
    assert switch.unknown == 0

    monitor.proc.send_signal(signal.SIGSTOP)  # wedged: alive to the kernel, doing nothing
    try:
        # A ping already on its way may still land: count from when the process is surely still.
        monitor.wait(
            lambda: (
                Path(f"/proc/{monitor.proc.pid}/stat").read_text().split(")")[1].split()[0] == "T"
            ),
            10,
            "the monitor stopped",
        )
        time.sleep(PING_EVERY)
        frozen_at, before = time.monotonic(), switch.count()
        # The absence of pings over several intervals is the thing observed: wait it out.
        time.sleep(4 * PING_EVERY)
        assert switch.count() == before, "a frozen monitor pinged"
    finally:
        monitor.proc.send_signal(signal.SIGCONT)
    resumed = switch.wait_for(before + 2, 30)
    assert resumed[before].at - frozen_at >= 4 * PING_EVERY
    assert monitor.proc.poll() is None


def test_serve_says_everything_on_stderr_as_json_lines_without_secrets(
    monitor: Monitor,
) -> None:
    sb = monitor.sandbox
    monitor.wait(lambda: monitor.probes() >= 1, 120, "a first probe")
    n = monitor.probes()
    with sb.fault("login_500"):  # failing probes: warnings, evidence written
        monitor.wait(lambda: monitor.probes() >= n + 2, 60, "two failing probes")
    monitor.switch.wait_for(monitor.switch.count() + 1, 30)
    assert monitor.stop() == 0
    lines = monitor.stderr.read_text().splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr of probe serve: {line!r}")
    events = {r["event"] for r in records}
    assert {"monitor active", "probe", "monitor stopped"} <= events
    for secret in monitor.secrets():
        for path in monitor.workdir.rglob("*"):
            if path.is_file() and path != monitor.config:
                assert secret.encode() not in path.read_bytes(), f"a secret leaked into {path}"
