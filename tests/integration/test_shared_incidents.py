"""One page per root cause, end to end: a real `probe serve` with five hubs on the sandbox's one
IdP, the real PagerDuty stand-in counting incidents as PagerDuty would, `probe silence` and
`probe list` run as people run them.

The five hubs are five names for the sandbox's one JupyterHub (what matters is that they share the
IdP). Probes every 3 s, and `failures_to_alert = 3`, so that no hub's own page can be confirmed
before three hubs have failed once each (the order a fleet of 80 hubs probed every minute gives
on its own); every wait is for a condition, never a sleep.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.graph import GraphStandIn
from tests.integration.test_serve import KEY, Serve

pytestmark = pytest.mark.sandbox

HUBS = ("a", "b", "c", "d", "e")
GROUP = "sandbox-idp"
GROUP_KEY = f"loginprobe/idp/{GROUP}/login"
EXPIRED_KEY = "loginprobe/e/expiry/expired"


class FleetServe(Serve):
    """`probe serve` with the five hubs (hub e's client secret's end date comes from Graph)."""

    def __init__(self, sandbox: Sandbox, workdir: Path, graph: GraphStandIn) -> None:
        self.graph = graph
        super().__init__(sandbox, workdir, interval="3s")

    def write_config(self, **kwargs: Any) -> None:
        sb = self.sandbox
        hubs = ""
        for h in HUBS:
            hubs += f"""
[hubs.{h}]
url = "{sb.hub_url}"
flow = "generic_oidc"
username_env = "SANDBOX_USERNAME"
password_env = "SANDBOX_PASSWORD"
idp = "{GROUP}"
[hubs.{h}.oauth]
token_url = "{sb.token_url}"
client_id = "{sb.client_id}"
client_secret_env = "SANDBOX_CLIENT_SECRET"
"""
            if h == "e":
                hubs += f"""graph = true
tenant = "{sb.tenant}"
graph_url = "{self.graph.url}"
authority_url = "{self.graph.url}"
"""
        self.config.write_text(f"""
[monitor]
interval = "{self.interval}"
retry_after_failure = "{self.interval}"
failures_to_alert = 3
secret_check_interval = "2s"
timeout = "20s"
state = "sqlite:///{self.state}"
listen = "127.0.0.1:{self.port}"
location = "test-runner"
[pagerduty]
routing_key_env = "SANDBOX_PD_ROUTING_KEY"
events_url = "{sb.pagerduty.url}"
ca_file = "{sb.pagerduty.ca_file}"
{hubs}""")

    def hub_probes(self, hub: str, code: str) -> int:
        answer = self.get("/metrics")
        m = answer and re.search(
            rf'^loginprobe_probes_total\{{code="{code}",hub="{hub}"\}} (\S+)$', answer[1], re.M
        )
        return int(float(m.group(1))) if m else 0

    def probe_cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.sandbox.probe_env(), **(env or {})}
        return subprocess.run(
            ["probe", "--config", str(self.config), *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def graph(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GraphStandIn]:
    g = GraphStandIn(tmp_path, sandbox.tenant, sandbox.client_id, sandbox.client_secret)
    g.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(g.ca_file))  # `probe serve` trusts its test CA
    yield g
    g.stop()


@pytest.fixture
def fleet(sandbox: Sandbox, tmp_path: Path, graph: GraphStandIn) -> Iterator[FleetServe]:
    sandbox.pagerduty.reset()
    sandbox.pagerduty.set_mode("ok")
    s = FleetServe(sandbox, tmp_path, graph)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        s.stop(signal.SIGKILL)
    s.assert_no_secrets()


def opened(sandbox: Sandbox) -> dict[str, int]:
    """Incidents PagerDuty opened (and so notified someone about), per dedup key."""
    return {k: v.incidents for k, v in sandbox.pagerduty.incidents().items()}


def test_an_idp_outage_is_one_incident_and_a_hubs_own_cause_still_pages_during_it(
    sandbox: Sandbox, fleet: FleetServe, graph: GraphStandIn
) -> None:
    fleet.start()
    fleet.wait(lambda: any(fleet.hub_probes(h, "ok") for h in HUBS), 60, "a hub probed ok")
    pd = sandbox.pagerduty
    sandbox.set_fault("idp_down")
    down_at = time.time()
    pd.wait_for(lambda ev: any(e["dedup_key"] == GROUP_KEY for e in ev), 60)
    page = next(n for n in pd.notifications if n.dedup_key == GROUP_KEY)
    group_page_s = page.at - down_at
    print(f"\nIdP down to the group's page: {group_page_s:.1f}s: {page.summary}")
    assert page.summary.startswith(f"{GROUP} is failing for ")
    assert "idp_unreachable" in page.summary and page.severity == "critical"

    # Hubs fail past their own failures_to_alert (3): none pages on its own.
    def failing() -> list[str]:
        return [h for h in HUBS if fleet.hub_probes(h, "idp_unreachable") >= 3]

    fleet.wait(lambda: len(failing()) >= 1, 120, "a hub past its own threshold")
    own_page_s = time.time() - down_at  # when the first hub's own page would have gone out
    print(f"IdP down to the first hub past its own failures_to_alert: {own_page_s:.1f}s")

    # Hub e's client secret runs out during the outage (Graph says so): that hub still pages.
    graph.end = datetime.now(UTC) - timedelta(days=1)
    pd.wait_for(lambda ev: any(e["dedup_key"] == EXPIRED_KEY for e in ev), 60)
    status = json.loads((fleet.get("/api/status") or (0, "{}"))[1])
    covered = {h["hub"]: h.get("covered_by") for h in status["hubs"] if h["hub"] in failing()}
    assert covered == dict.fromkeys(covered, f"covered by the {GROUP} incident"), covered
    assert status["incidents_open"] == ["loginprobe/e/expiry", GROUP_KEY], status["incidents_open"]
    listed = fleet.probe_cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["hub"]: r for r in json.loads(listed.stdout)}
    assert {r["group"] for r in rows.values()} == {GROUP}
    assert all(rows[h]["incidents"][0]["key"] == GROUP_KEY for h in failing())

    graph.end = datetime.now(UTC) + timedelta(days=200)  # rotated: its warning resolves
    sandbox.set_fault("idp_down", False)
    pd.wait_for(
        lambda ev: (
            {e["dedup_key"] for e in ev if e["event_action"] == "resolve"}
            >= {GROUP_KEY, EXPIRED_KEY}
        ),
        90,
    )
    assert opened(sandbox) == {GROUP_KEY: 1, EXPIRED_KEY: 1}
    assert all(v.state == "resolved" for v in pd.incidents().values())


def test_a_silenced_hubs_outage_pages_nobody_until_the_silence_ends(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.pagerduty.reset()
    s = Serve(sandbox, tmp_path, interval="2s")  # one hub: retries every 2 s, 2 failures page
    try:
        s.start().wait_probes(1, "ok")
        done = cli(s, "silence", "sandbox", "--for", "40s", "--reason", "deploy 1", "--json")
        assert done.returncode == 0, done.stderr
        ends = datetime.fromisoformat(json.loads(done.stdout)["until"]).timestamp()
        sandbox.set_fault("login_500")  # the deploy: the hub answers 500 for a while
        s.wait_probes(2, "hub_error")  # failures_to_alert: it would page now
        assert time.time() < ends, "too slow: the silence ended before the hub's page was due"
        pd = sandbox.pagerduty
        assert pd.accepted == [], [pd.brief(e) for e in pd.accepted]
        pd.wait_for(lambda ev: len(ev) >= 1, 60)
        (note,) = pd.notifications
        assert note.at >= ends - 1  # not before the silence ended (its end is stored in whole s)
        print(f"\nsilence ended, page {note.at - ends:.1f}s later: {note.summary}")
        assert note.dedup_key == KEY and "held back until now" in note.summary
        sandbox.set_fault("login_500", False)
        pd.wait_for(lambda ev: any(e["event_action"] == "resolve" for e in ev), 60)
        assert opened(sandbox) == {KEY: 1}
    finally:
        if s.proc is not None and s.proc.poll() is None:
            s.stop(signal.SIGKILL)
        s.assert_no_secrets()


def cli(s: Serve, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["probe", "--config", str(s.config), *args],
        env={**os.environ, **s.sandbox.probe_env()},
        cwd=s.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
