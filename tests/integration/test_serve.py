"""`probe serve` against the real sandbox and the local PagerDuty receiver.

Short intervals (probes every few seconds) so each incident plays out in well under a minute;
every wait is for a condition (an event at the receiver, a count in /metrics), never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox, free_port
from sandbox.pagerduty import Mode
from tests.procs import descendants

pytestmark = pytest.mark.sandbox

KEY = "loginprobe/sandbox/login"


class Serve:
    """One `probe serve` process, with its own state file, logs and port."""

    def __init__(
        self, sandbox: Sandbox, workdir: Path, monitor: str = "", interval: str = "4s"
    ) -> None:
        self.interval = interval
        self.sandbox, self.workdir = sandbox, workdir
        self.port = free_port()
        self.config = workdir / "config.toml"
        self.state = workdir / "state.sqlite"
        self.extra_monitor = monitor
        self.write_config()
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def write_config(self, **kwargs: Any) -> None:
        monitor = (
            f'interval = "{self.interval}"\nretry_after_failure = "2s"\n'
            f'state = "sqlite:///{self.state}"\nlisten = "127.0.0.1:{self.port}"\n'
            f"{self.extra_monitor}"
        )
        self.sandbox.write_config(self.config, monitor=monitor, **kwargs)

    def start(self) -> Serve:
        self.runs += 1
        env = {**os.environ, **self.sandbox.probe_env(), "HOME": str(self.workdir)}
        self.proc = subprocess.Popen(
            ["probe", "--config", str(self.config), "serve"],
            env=env,
            cwd=self.workdir,
            stdout=(self.workdir / f"stdout-{self.runs}.log").open("wb"),
            stderr=(self.workdir / f"stderr-{self.runs}.log").open("wb"),
        )
        self.wait(lambda: self.healthz() is not None, 90, "serve never answered /healthz")
        return self

    def get(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return None

    def healthz(self) -> dict[str, Any] | None:
        answer = self.get("/healthz")
        return json.loads(answer[1]) if answer else None

    def probes(self, code: str | None = None) -> int:
        """Probes finished so far (of one verdict code), from /metrics."""
        answer = self.get("/metrics")
        if answer is None:
            return 0
        total = 0.0
        for m in re.finditer(
            r'^loginprobe_probes_total\{code="([a-z_]+)",hub="sandbox"\} (\S+)$', answer[1], re.M
        ):
            if code is None or m.group(1) == code:
                total += float(m.group(2))
        return int(total)

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc is None or self.proc.poll() is None, f"serve died:\n{self.logs()}"
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} (after {timeout}s)\n{self.logs()[-3000:]}")
            time.sleep(0.2)  # polling interval of the condition, not a wait for time to pass

    def wait_probes(self, n: int, code: str | None = None, timeout: float = 120) -> None:
        start = self.probes(code)
        self.wait(
            lambda: self.probes(code) >= start + n, timeout, f"{n} more {code or 'any'} probes"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    def assert_no_secrets(self) -> None:
        secrets = [self.sandbox.password, self.sandbox.client_secret, self.sandbox.routing_key]
        for path in self.workdir.rglob("*"):
            if path.is_file() and path != self.config:
                data = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in data, f"a secret leaked into {path.name}"
        stored = [
            json.dumps({k: v for k, v in e.items() if k != "routing_key"})
            for e in self.sandbox.pagerduty.accepted
        ]
        for secret in secrets:
            assert not any(secret in s for s in stored), "a secret leaked into a PagerDuty event"


@pytest.fixture
def serve(sandbox: Sandbox, tmp_path: Path) -> Iterator[Serve]:
    sandbox.pagerduty.accepted.clear()
    sandbox.pagerduty.set_mode("ok")
    s = Serve(sandbox, tmp_path)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        s.stop(signal.SIGKILL)
    sandbox.pagerduty.set_mode("ok")
    s.assert_no_secrets()


def events(sandbox: Sandbox) -> list[str]:
    return [sandbox.pagerduty.brief(e) for e in sandbox.pagerduty.accepted]


def test_healthy_hub_pages_nobody_and_reports_health_and_metrics(serve: Serve) -> None:
    serve.start().wait_probes(3, "ok")
    assert events(serve.sandbox) == []
    health = serve.healthz()
    assert health is not None and health["status"] == "ok", health
    assert health["outbox"]["depth"] == 0 and health["scheduler_running"] is True
    answer = serve.get("/metrics")
    assert answer is not None
    metrics = answer[1]
    assert 'probe_success{hub="sandbox"} 1.0' in metrics
    assert re.search(r'probe_duration_seconds\{hub="sandbox"\} [0-9.]+', metrics)
    assert 'probe_step_duration_seconds{hub="sandbox",step="oauth_callback"}' in metrics
    assert 'loginprobe_verdict_info{code="ok",hub="sandbox",severity="info"} 1.0' in metrics
    assert "loginprobe_outbox_depth 0.0" in metrics
    assert serve.stop() == 0


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("secret_expired", "client_secret_expired"),
        ("hub_down", "hub_unreachable"),
        ("idp_down", "idp_unreachable"),
    ],
)
def test_outage_pages_once_and_resolves_once(serve: Serve, fault: str, code: str) -> None:
    sb = serve.sandbox
    serve.start().wait_probes(1, "ok")
    sb.set_fault(fault)
    sb.pagerduty.wait_for(lambda ev: len(ev) >= 1, 60)
    serve.wait_probes(2, code)  # still failing, still one page
    sb.set_fault(fault, False)
    sb.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)
    serve.wait_probes(2, "ok")
    assert events(sb) == [f"trigger {KEY} {code}", f"resolve {KEY}"]
    trigger = sb.pagerduty.accepted[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("sandbox: ")
    assert trigger["payload"]["custom_details"]["steps"]
    assert serve.stop() == 0


def test_a_single_transient_failure_pages_nobody(serve: Serve) -> None:
    sb = serve.sandbox
    serve.start().wait_probes(1, "ok")
    sb.set_fault("login_500")
    serve.wait_probes(1, "hub_error")
    sb.set_fault("login_500", False)
    serve.wait_probes(3, "ok")
    assert serve.probes("hub_error") == 1
    assert events(sb) == []


def test_pagerduty_outage_delays_the_page_but_delivers_it_exactly_once(serve: Serve) -> None:
    """A minute of PagerDuty trouble mid-incident: 500s, then 429s, then refused connections,
    each for at least 20 s and at least one delivery attempt."""
    sb, pd = serve.sandbox, serve.sandbox.pagerduty
    serve.start().wait_probes(1, "ok")
    sb.set_fault("secret_expired")

    def last_error() -> str:
        return str((serve.healthz() or {}).get("outbox", {}).get("last_error"))

    phases: list[tuple[Mode, Callable[[], bool]]] = []
    failed = [0]
    phases.append(("500", lambda: pd.refused_or_failed > failed[0] and "500" in last_error()))
    phases.append(("429", lambda: pd.refused_or_failed > failed[0] and "429" in last_error()))
    phases.append(("refuse", lambda: "Connect" in last_error()))
    outage_started = time.monotonic()
    for mode, attempted in phases:
        failed[0] = pd.refused_or_failed
        pd.set_mode(mode)
        began = time.monotonic()
        serve.wait(
            lambda a=attempted, b=began: a() and time.monotonic() - b >= 20,
            90,
            f"a delivery attempt while PagerDuty answers {mode}",
        )
    assert time.monotonic() - outage_started >= 60
    health = serve.healthz()
    assert health is not None and health["outbox"]["depth"] >= 1
    assert pd.accepted == []
    pd.set_mode("ok")
    # The hub recovers as PagerDuty does: its resolve (two good probes away) queues behind the
    # trigger, which waits out its backoff (30 s at most) and must still go first, and once.
    sb.set_fault("secret_expired", False)
    pd.wait_for(lambda ev: len(ev) >= 2, 60)
    assert events(sb) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]


def test_sigkill_with_an_open_incident_and_a_queued_event_loses_and_doubles_nothing(
    serve: Serve,
) -> None:
    sb, pd = serve.sandbox, serve.sandbox.pagerduty
    serve.start().wait_probes(1, "ok")
    pd.set_mode("refuse")
    sb.set_fault("secret_expired")
    serve.wait(
        lambda: (serve.healthz() or {}).get("outbox", {}).get("depth", 0) >= 1,
        60,
        "the trigger queued in the outbox",
    )
    assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
    pd.set_mode("ok")
    serve.start()
    pd.wait_for(lambda ev: len(ev) >= 1, 60)
    serve.wait_probes(2, "client_secret_expired")  # failing on: the open incident is remembered
    assert events(sb) == [f"trigger {KEY} client_secret_expired"]
    sb.set_fault("secret_expired", False)
    pd.wait_for(lambda ev: len(ev) >= 2, 60)
    assert events(sb) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]
    assert serve.stop() == 0


def test_reload_with_a_broken_config_keeps_the_old_one_running(serve: Serve) -> None:
    serve.start().wait_probes(1, "ok")
    good = serve.config.read_text()
    serve.config.write_text(good + "\n[hubs.sandbox.nonsense]\n")
    assert serve.proc is not None
    serve.proc.send_signal(signal.SIGHUP)
    serve.wait(lambda: "config reload rejected" in serve.logs(), 30, "the reload rejected")
    serve.wait_probes(2, "ok")
    assert "hubs.sandbox.nonsense" in serve.logs()
    health = serve.healthz()
    assert health is not None and health["status"] == "ok"
    serve.config.write_text(good)
    assert serve.stop() == 0


def test_sigterm_exits_zero_within_seconds_even_mid_probe(serve: Serve) -> None:
    serve.sandbox.set_fault("idp_slow", 20)  # a probe is stuck waiting on the IdP
    serve.start()
    serve.wait(
        lambda: (serve.healthz() or {}).get("probes_in_flight", 0) >= 1, 30, "a probe in flight"
    )
    assert serve.proc is not None
    started = time.monotonic()
    assert serve.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10


def _browser_pids(root: int) -> list[int]:
    """Chromium processes under `root` (through Playwright's driver)."""
    found = []
    for pid in descendants(root)[1:]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"chrom" in cmd.split(b"\0")[0]:
            found.append(pid)
    return found


def test_a_crashed_browser_is_a_probe_error_then_relaunched_and_pages_nobody(
    serve: Serve,
) -> None:
    serve.sandbox.set_fault("idp_slow", 1)  # every probe spends seconds inside the browser
    serve.start().wait_probes(1, "ok")  # the browser is up and has done a whole probe
    assert serve.proc is not None
    pid = serve.proc.pid
    serve.wait(
        lambda: (
            (serve.healthz() or {}).get("probes_in_flight", 0) >= 1 and bool(_browser_pids(pid))
        ),
        30,
        "a probe in flight in a running browser",
    )
    for browser_pid in _browser_pids(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(browser_pid, signal.SIGKILL)
    serve.wait_probes(1, "probe_error")
    serve.sandbox.set_fault("idp_slow", 0)
    serve.wait_probes(2, "ok")  # a new browser was launched
    assert serve.probes("probe_error") == 1
    assert events(serve.sandbox) == []
    assert "the prober itself failed, not the hub" in serve.logs()
    assert "BrowserLaunchError" not in serve.logs()  # it died mid-probe, not at launch
    assert serve.stop() == 0


def test_scheduled_secret_check_catches_an_expired_secret_when_no_probe_is_due(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.pagerduty.accepted.clear()
    s = Serve(sandbox, tmp_path, monitor='secret_check_interval = "3s"\n', interval="10m")
    try:
        s.start().wait_probes(1, "ok")  # the first browser probe; the next is 10 minutes away
        sandbox.set_fault("secret_expired")
        # One check interval and one probe (seconds), not the next scheduled probe (10 minutes):
        # the bound is generous for a loaded machine and still far below the schedule.
        sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 120)
        assert events(sandbox) == [f"trigger {KEY} client_secret_expired"]
        assert "probing the hub now" in s.logs()
        sandbox.set_fault("secret_expired", False)
        sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)  # fast probes until resolved
        assert events(sandbox) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]
        assert s.stop() == 0
    finally:
        if s.proc is not None:
            s.stop(signal.SIGKILL)
        sandbox.clear_faults()
    s.assert_no_secrets()


def test_a_secret_check_rejected_while_logins_work_pages_nobody(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The monitor's copy of the secret is stale; the hub's is fine: a misconfigured check.
    sandbox.pagerduty.accepted.clear()
    monkeypatch.setattr(
        sandbox,
        "probe_env",
        lambda: {
            **Sandbox.probe_env(sandbox),
            "SANDBOX_CLIENT_SECRET": "cs-the-monitors-stale-copy",
        },
    )
    s = Serve(sandbox, tmp_path, monitor='secret_check_interval = "2s"\n', interval="10m")
    try:
        s.start()

        def probed_after_rejection() -> bool:
            # Either the check ran first and sent a probe at once, or the first scheduled probe
            # (which runs the check too) got there first: both end in a probe that logs in.
            logs = s.logs()
            return "secret check is misconfigured" in logs and '"verdict": "ok"' in logs

        s.wait(
            probed_after_rejection,
            40,
            "a rejected secret check, and a probe finding logins working",
        )
        checks = s.logs().count('"event": "secret check"')
        s.wait(
            lambda: s.logs().count('"event": "secret check"') >= checks + 2,
            30,
            "two more secret checks",
        )
        assert s.logs().count("probing the hub now") <= 1  # a steady rejection probes once
        assert events(sandbox) == []
        assert s.stop() == 0
    finally:
        if s.proc is not None:
            s.stop(signal.SIGKILL)
