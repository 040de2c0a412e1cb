"""`probe serve` never goes quiet by itself: real processes on the real sandbox.

Two monitors on one store (one pages, the other stands by and takes over after SIGKILL), a store
that cannot be written (the page still goes out, /healthz says so), `probe run --alert` handing its
verdict to the running monitor, and a reload that removes a hub with an open incident.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox
from tests.integration.conftest import Prober
from tests.integration.test_serve import KEY, Serve, events

pytestmark = pytest.mark.sandbox

FAST_LEASE = 'lease_ttl = "3s"\n'


@pytest.fixture
def serves(sandbox: Sandbox, tmp_path: Path) -> Iterator[list[Serve]]:
    sandbox.pagerduty.accepted.clear()
    sandbox.pagerduty.set_mode("ok")
    made: list[Serve] = []
    yield made
    for s in made:
        if s.proc is not None and s.proc.poll() is None:
            s.stop(signal.SIGKILL)
        s.assert_no_secrets()


def _serve(sandbox: Sandbox, workdir: Path, made: list[Serve], state: Path | None = None) -> Serve:
    workdir.mkdir(parents=True, exist_ok=True)
    s = Serve(sandbox, workdir, monitor=FAST_LEASE)
    if state is not None:
        s.state = state
        s.write_config()
    made.append(s)
    return s


def test_a_second_serve_stands_by_pages_nothing_and_takes_over_after_sigkill(
    sandbox: Sandbox, tmp_path: Path, serves: list[Serve]
) -> None:
    first = _serve(sandbox, tmp_path / "first", serves)
    second = _serve(sandbox, tmp_path / "second", serves, state=first.state)
    first.start().wait_probes(1, "ok")
    second.start()
    second.wait(lambda: (second.healthz() or {}).get("role") != "starting", 90, "a role")
    health = second.healthz()
    assert health is not None and health["status"] == "standby", health
    sandbox.set_fault("secret_expired")
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 60)
    first.wait_probes(2, "client_secret_expired")
    assert second.probes() == 0  # the standby neither probes nor pages
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    # Before the killed one's lease (30 s) runs out: its holder is known to be gone.
    second.wait(lambda: (second.healthz() or {}).get("role") == "active", 20, "the takeover")
    sandbox.set_fault("secret_expired", False)
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)
    second.wait_probes(2, "ok")
    assert events(sandbox) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]


def _chattr(path: Path, flag: str) -> None:
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, f"this test needs chattr on the state directory: {done.stderr}"


def test_an_unwritable_store_fails_healthz_within_one_probe_and_the_page_still_goes_out(
    sandbox: Sandbox, tmp_path: Path, serves: list[Serve]
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    s = _serve(sandbox, tmp_path / "work", serves, state=state_dir / "state.sqlite")
    s.start().wait_probes(1, "ok")
    _chattr(state_dir, "+i")  # SQLite can no longer write (its journal cannot be created)
    try:
        sandbox.set_fault("secret_expired")
        s.wait_probes(1, "client_secret_expired")
        health = s.healthz()
        assert health is not None and health["status"] == "failing", health
        assert any("store cannot be written" in p for p in health["problems"])
        answer = s.get("/healthz")
        assert answer is not None and answer[0] == 503
        sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 60)  # paged from memory
        page = s.get("/")
        assert page is not None and "store cannot be written" in page[1]
    finally:
        _chattr(state_dir, "-i")
    s.wait(lambda: (s.healthz() or {}).get("store", {}).get("writable") is True, 60, "recovery")
    sandbox.set_fault("secret_expired", False)
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)
    assert events(sandbox) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]
    history = s.get("/api/status")
    assert history is not None and '"client_secret_expired"' in history[1]  # written later


def test_run_alert_hands_its_verdict_to_the_running_monitor_which_resolves_it(
    sandbox: Sandbox, tmp_path: Path, serves: list[Serve], prober: Prober
) -> None:
    (tmp_path / "serve").mkdir()
    s = Serve(sandbox, tmp_path / "serve", monitor=FAST_LEASE, interval="10m")
    serves.append(s)
    s.start().wait_probes(1, "ok")  # the next scheduled probe is ten minutes away
    sandbox.set_fault("login_500")
    run = prober.run("run", "sandbox", "--alert", config=s.config)
    assert run.code == 1
    assert "handed to the running monitor" in run.stderr and f"trigger {KEY}" in run.stderr
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 30)
    sandbox.set_fault("login_500", False)
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)  # the monitor looks again, soon
    assert events(sandbox) == [f"trigger {KEY} hub_error", f"resolve {KEY}"]


def test_a_reload_that_removes_a_hub_resolves_its_open_incident(
    sandbox: Sandbox, tmp_path: Path, serves: list[Serve]
) -> None:
    s = _serve(sandbox, tmp_path / "work", serves)
    sandbox.set_fault("secret_expired")
    s.start()
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 60)
    sandbox.set_fault("secret_expired", False)
    s.write_config(hub="renamed")  # the hub is renamed: the old name is gone
    assert s.proc is not None
    s.proc.send_signal(signal.SIGHUP)
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 30)
    assert events(sandbox)[:2] == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]
    s.wait(lambda: '"hub": "renamed"' in s.logs(), 30, "the renamed hub probed")
