"""Replicas share the hubs: three real `probe serve` processes on one store against the sandbox.

Six hubs (six names for the sandbox's one JupyterHub, behind its one IdP): each is probed by
exactly one replica, spread two each; an IdP outage is one PagerDuty incident however the hubs are
split; the replica that drains the outbox is killed with SIGKILL mid-incident, and the other two
take its hubs within two intervals, send no second incident, and send the resolve.

The store's URL comes from one fixture (`state_url`: a fresh PostgreSQL database, its password
searched for in every output too), so the same test runs on any database the store speaks. Every wait is for a condition, never a sleep.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.integration.test_serve import Serve
from tests.postgres import PASSWORD

pytestmark = pytest.mark.sandbox

HUBS = tuple(f"h{i}" for i in range(1, 7))
GROUP = "sandbox-idp"
GROUP_KEY = f"loginprobe/idp/{GROUP}/login"
INTERVAL_S = 20.0
# For the tests where the IdP goes down: the group's incident opens once three hubs have failed,
# within about one interval (each hub's next probe, behind the probes of the others on busy
# slots); a hub's own page needs six failures, 100 s of retries at one an interval. With 2 s
# retries and three failures, a quiet machine let one hub page on its own (a page of its
# replica's that the group's incident, on another replica, never folds in) before the third
# hub's turn came.
OUTAGE: dict[str, Any] = {"retry": f"{INTERVAL_S:g}s", "confirm": 6}


@pytest.fixture
def state_url(postgres_url: str) -> str:
    """The store every replica shares: a fresh PostgreSQL database, the engine replicas on several
    machines share (tests/unit/test_replicas.py runs the leases and fences on SQLite too)."""
    return postgres_url


class Replica(Serve):
    """One `probe serve` replica, named, with the six hubs and the shared store."""

    def __init__(
        self,
        sandbox: Sandbox,
        workdir: Path,
        name: str,
        state_url: str,
        lease_ttl: str = "8s",
        timeout: str = "20s",
        hub_url: str | None = None,
        retry: str = "2s",
        confirm: int = 3,
        more: str = "",
        hubs: tuple[str, ...] = HUBS,
    ) -> None:
        """`hub_url`: the way this replica reaches the hub (the sandbox's own by default);
        `retry`: retry_after_failure; `confirm`: failures_to_alert; `more`: further [monitor]
        lines; `hubs`: the hubs' names."""
        self.name, self.state_url, self.retry, self.confirm = name, state_url, retry, confirm
        self.lease_ttl, self.timeout = lease_ttl, timeout
        self.hub_url, self.more, self.hubs = hub_url or sandbox.hub_url, more, hubs
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(sandbox, workdir, interval=f"{INTERVAL_S:g}s")

    def write_config(self, **kwargs: Any) -> None:
        sb = self.sandbox
        hubs = "".join(
            f"""
[hubs.{h}]
url = "{self.hub_url}"
flow = "generic_oidc"
username_env = "SANDBOX_USERNAME"
password_env = "SANDBOX_PASSWORD"
idp = "{GROUP}"
"""
            for h in self.hubs
        )
        # The lease (8 s, renewed every 2.7 s) well under the interval (20 s): a killed
        # replica's hubs are taken within 10.7 s and probed within two intervals; and long
        # enough that three replicas, their Chromiums and the sandbox on two shared, busy cores
        # (load 15-25 while writing this) keep their leases. failures_to_alert and
        # retry_after_failure: see OUTAGE below.
        self.config.write_text(f"""
[monitor]
interval = "{self.interval}"
retry_after_failure = "{self.retry}"
failures_to_alert = {self.confirm}
timeout = "{self.timeout}"
lease_ttl = "{self.lease_ttl}"
replica = "{self.name}"
state = "{self.state_url}"
listen = "127.0.0.1:{self.port}"
{self.more}[pagerduty]
routing_key_env = "SANDBOX_PD_ROUTING_KEY"
events_url = "{sb.pagerduty.url}"
ca_file = "{sb.pagerduty.ca_file}"
{hubs}""")

    def assert_no_secrets(self) -> None:
        super().assert_no_secrets()
        for path in self.workdir.rglob("*"):
            if path.is_file() and path != self.config:
                assert PASSWORD.encode() not in path.read_bytes(), f"the password in {path.name}"

    def held(self) -> set[str]:
        """The hubs this replica says it probes (/healthz)."""
        health = self.healthz() or {}
        return set((health.get("replica") or {}).get("hubs") or [])

    def drains_outbox(self) -> bool:
        return bool(((self.healthz() or {}).get("replica") or {}).get("drains_outbox"))

    def verdicts(self) -> dict[str, dict[str, int]]:
        """Probes finished per hub and verdict code, from /metrics: what a failure shows."""
        answer = self.get("/metrics")
        out: dict[str, dict[str, int]] = {}
        for m in re.finditer(
            r'^loginprobe_probes_total\{code="([a-z_]+)",hub="(h\d)"\} (\S+)$',
            answer[1] if answer else "",
            re.M,
        ):
            out.setdefault(m.group(2), {})[m.group(1)] = int(float(m.group(3)))
        return out

    def hub_probes(self) -> Counter[str]:
        """Probes finished per hub, from /metrics."""
        return Counter({hub: sum(codes.values()) for hub, codes in self.verdicts().items()})


@pytest.fixture
def replicas(sandbox: Sandbox, tmp_path: Path, state_url: str) -> Iterator[list[Replica]]:
    sandbox.pagerduty.reset()
    sandbox.pagerduty.set_mode("ok")
    made = [Replica(sandbox, tmp_path / f"r{i}", f"r{i}", state_url, **OUTAGE) for i in (1, 2, 3)]
    yield made
    for r in made:
        if r.proc is not None and r.proc.poll() is None:
            r.stop(signal.SIGKILL)
        r.assert_no_secrets()


def _within(condition: Any, deadline: float) -> bool:
    """True once the condition holds, False if it has not by the deadline (time.monotonic)."""
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)  # polling interval of the condition, not a wait for time to pass
    return True


def _wait(what: str, condition: Any, timeout: float, replicas: list[Replica]) -> None:
    if not _within(condition, time.monotonic() + timeout):
        logs = "\n".join(r.logs()[-2000:] for r in replicas)
        raise AssertionError(f"{what} (after {timeout}s)\n{logs}")


def _spread(running: list[Replica]) -> list[set[str]] | None:
    """Each replica's hubs, if every hub is held by exactly one and the spread is within one."""
    held = [r.held() for r in running]
    every = [h for s in held for h in s]
    sizes = [len(s) for s in held]
    if sorted(every) != sorted(HUBS) or max(sizes) - min(sizes) > 1:
        return None
    return held


def _opened(sandbox: Sandbox) -> dict[str, int]:
    return {k: v.incidents for k, v in sandbox.pagerduty.incidents().items()}


def test_three_replicas_share_the_hubs_page_once_and_survive_a_sigkill_mid_incident(
    sandbox: Sandbox, replicas: list[Replica]
) -> None:
    for r in replicas:
        r.start()
    _wait("the hubs spread over three replicas", lambda: _spread(replicas), 90, replicas)

    # Each hub probed by exactly one replica: the one that holds it.
    held = _spread(replicas)
    assert held is not None
    before = [r.hub_probes() for r in replicas]
    _wait(
        "every hub probed again",
        lambda: all(
            sum(r.hub_probes()[h] - b[h] for r, b in zip(replicas, before, strict=True)) >= 1
            for h in HUBS
        ),
        60,
        replicas,
    )
    for r, b, mine in zip(replicas, before, held, strict=True):
        probed = {h for h, n in r.hub_probes().items() if n > b[h]}
        assert probed <= mine, (r.name, probed, mine)

    def listed() -> dict[str, str | None]:
        done = subprocess.run(
            ["probe", "--config", str(replicas[0].config), "list", "--json"],
            env={**os.environ, **sandbox.probe_env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return {row["hub"]: row["replica"] for row in json.loads(done.stdout)}

    def agree() -> bool:
        """`probe list` and the status page name the replica each hub's lease is with (read
        twice around them: on a loaded machine a lease may pass meanwhile, and is read again)."""
        holders = {h: r.name for r in replicas for h in r.held()}
        status = json.loads((replicas[1].get("/api/status") or (0, "{}"))[1])
        shown = {h["hub"]: h["replica"] for h in status.get("hubs", [])}
        again = {h: r.name for r in replicas for h in r.held()}
        return len(holders) == len(HUBS) and holders == listed() == shown == again

    _wait("probe list and the status page naming each hub's replica", agree, 90, replicas)

    # The IdP goes down: one incident, whichever replica probes which hub.
    pd = sandbox.pagerduty
    sandbox.set_fault("idp_down")
    pd.wait_for(lambda ev: any(e["dedup_key"] == GROUP_KEY for e in ev), 90)
    assert _opened(sandbox) == {GROUP_KEY: 1}, (
        _opened(sandbox),
        {r.name: r.verdicts() for r in replicas},
    )

    # Mid-incident, the replica that drains the outbox dies without a word.
    victim = next(r for r in replicas if r.drains_outbox())
    orphans = victim.held()
    survivors = [r for r in replicas if r is not victim]
    counts = [r.hub_probes() for r in survivors]
    assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = time.monotonic()

    def picked_up() -> set[str]:
        """The orphans a survivor has started probing (or finished a probe of) since."""
        seen = set()
        for r, c in zip(survivors, counts, strict=True):
            now = r.hub_probes()
            seen |= {h for h in orphans if now[h] > c[h]}
            status = json.loads((r.get("/api/status") or (0, '{"hubs": []}'))[1])
            seen |= {h["hub"] for h in status["hubs"] if h["hub"] in orphans and h["probing"]}
        return seen

    done: set[str] = set()

    def all_picked_up() -> bool:
        done.update(picked_up())
        return done == orphans

    _wait("the killed replica's hubs probed by the others", all_picked_up, 90, survivors)
    failover_s = time.monotonic() - killed
    print(f"\nfailover: {sorted(orphans)} probed by the others {failover_s:.1f}s after SIGKILL")
    assert failover_s < 2 * INTERVAL_S, failover_s
    _wait("the hubs spread over two replicas", lambda: _spread(survivors), 30, survivors)

    sandbox.set_fault("idp_down", False)
    pd.wait_for(
        lambda ev: any(e["dedup_key"] == GROUP_KEY and e["event_action"] == "resolve" for e in ev),
        90,
    )
    opened = _opened(sandbox)
    double_pages = sum(opened.values()) - 1
    print(f"incidents opened: {opened} (double pages: {double_pages})")
    assert opened == {GROUP_KEY: 1}, (
        [pd.brief(e) for e in pd.accepted],
        {r.name: r.verdicts() for r in survivors},
    )
    assert all(v.state == "resolved" for v in pd.incidents().values())
