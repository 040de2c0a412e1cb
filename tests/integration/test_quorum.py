"""Locations and quorum: two real `probe serve` replicas, one in location A and one in location
B, with `quorum = 2`, on one PostgreSQL store, against the sandbox.

Three hubs (three names for the sandbox's one JupyterHub, behind its one IdP). A reaches the hub
on its own port; B through the sandbox's second way to it (`sandbox.route_b`, a TCP forwarder
standing for B's network path). Each hub is probed by its own replica and witnessed from the other
location. B's path breaks: B's probes fail, A sees the hubs work, nobody is paged, B's logs name
B, and `probe list` and the status page say what each location saw and why B's page is held.
Then the IdP goes down, which both locations see: one incident for the IdP (a hub that paged on
its own before the group formed, once), and every incident resolves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.integration.test_replicas import Replica

pytestmark = pytest.mark.sandbox

HUBS = ("q1", "q2", "q3")
GROUP = "sandbox-idp"
GROUP_KEY = f"loginprobe/idp/{GROUP}/login"


class Located(Replica):
    """A replica of one location, with `quorum = 2`; B's hubs are reached through route_b."""

    def __init__(self, sandbox: Sandbox, workdir: Path, location: str, state_url: str) -> None:
        self.location = location
        # A login timeout of 60 s: each hub is probed from both locations, on two shared cores.
        super().__init__(
            sandbox,
            workdir,
            location.lower() + "1",
            state_url,
            lease_ttl="10s",
            timeout="60s",
            hub_url=sandbox.route_b.url if location == "B" else sandbox.hub_url,
            more=f'location = "{location}"\nquorum = 2\n',
            hubs=HUBS,
        )

    def status(self) -> dict[str, dict[str, Any]]:
        answer = self.get("/api/status")
        doc = json.loads(answer[1]) if answer and answer[0] == 200 else {"hubs": []}
        return {h["hub"]: h for h in doc["hubs"]}


@pytest.fixture
def located(sandbox: Sandbox, tmp_path: Path, postgres_url: str) -> Iterator[list[Located]]:
    sandbox.pagerduty.reset()
    sandbox.pagerduty.set_mode("ok")
    made = [Located(sandbox, tmp_path / loc, loc, postgres_url) for loc in ("A", "B")]
    yield made
    sandbox.route_b.mend()
    for r in made:
        if r.proc is not None and r.proc.poll() is None:
            r.stop(signal.SIGKILL)
        r.assert_no_secrets()


def _wait(what: str, condition: Any, timeout: float, replicas: list[Located]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(r.logs()[-3000:] for r in replicas)
            raise AssertionError(f"{what} (after {timeout}s)\n{logs}")
        time.sleep(0.2)  # polling interval of the condition, not a wait for time to pass


def _listed(sandbox: Sandbox, r: Located) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        ["probe", "--config", str(r.config), "list", "--json"],
        env={**os.environ, **sandbox.probe_env()},
        capture_output=True,
        text=True,
        timeout=180,  # the machine may be loaded: a timeout for a hang, not a bound
    )
    assert done.returncode == 0, done.stderr
    return {row["hub"]: row for row in json.loads(done.stdout)}


def _seen(row: dict[str, Any]) -> dict[str, str]:
    return {s["location"]: s["code"] for s in row.get("seen_from") or []}


def test_a_failure_seen_from_one_location_pages_nobody_and_one_both_see_pages_once(
    sandbox: Sandbox, located: list[Located]
) -> None:
    a, b = located
    began = time.monotonic()
    for r in located:
        r.start()
    pd = sandbox.pagerduty

    def spread() -> bool:
        held = [r.held() for r in located]
        return sorted(h for s in held for h in s) == sorted(HUBS) and all(held)

    _wait("the hubs spread over both locations", spread, 90, located)

    def every_hub_seen_ok_from_both() -> bool:
        hubs = a.status()
        return all(_seen(hubs.get(h) or {}) == {"A": "ok", "B": "ok"} for h in HUBS)

    _wait("every hub seen working from A and B", every_hub_seen_ok_from_both, 120, located)

    # B's network path to the hub breaks.
    ready_s = time.monotonic() - began
    sandbox.route_b.cut()
    cut = time.monotonic()
    held_back: list[str] = []

    def b_held() -> bool:
        """A hub B probes, its page held back as B's network's trouble (on a loaded machine a
        hub may pass between the replicas meanwhile: whichever of B's hubs it is)."""
        status = b.status()
        held_back[:] = [
            h
            for h in b.held()
            if ((status.get(h) or {}).get("covered_by") or "").startswith(
                "held back: failing from B only (quorum 2): likely B's network, not the hub"
            )
        ]
        return bool(held_back)

    _wait("B's hub's page held back as B's network's trouble", b_held, 120, located)
    _wait(
        "B's witness saying one of A's hubs fails from B only",
        lambda: any(f"{h} fails from location B only" in b.logs() for h in a.held()),
        90,
        located,
    )
    rows = _listed(sandbox, a)
    assert "held back: failing from B only" in (rows[held_back[0]]["covered_by"] or "")
    assert _seen(rows[held_back[0]]) == {"A": "ok", "B": "hub_unreachable"}, rows
    page = a.get("/")
    assert page is not None and "seen from" in page[1] and "B hub_unreachable" in page[1]
    assert pd.accepted == [], [pd.brief(e) for e in pd.accepted]

    # B's path mended; then the IdP goes down, which both locations see.
    held_s = time.monotonic() - cut
    sandbox.route_b.mend()
    _wait("every hub seen working from A and B again", every_hub_seen_ok_from_both, 120, located)
    down = time.monotonic()
    sandbox.set_fault("idp_down")
    pd.wait_for(lambda ev: any(e["dedup_key"] == GROUP_KEY for e in ev), 120)
    sandbox.set_fault("idp_down", False)

    def all_resolved() -> bool:
        incidents = pd.incidents()
        return GROUP_KEY in incidents and all(v.state == "resolved" for v in incidents.values())

    _wait("every incident resolved", all_resolved, 180, located)
    print(
        f"\nquorum: both locations seeing every hub {ready_s:.0f}s after start; B's page held "
        f"and named {held_s:.0f}s after its path broke; the IdP's incident opened and resolved "
        f"{time.monotonic() - down:.0f}s after it went down"
    )
    # One incident for the IdP. A hub whose replica saw three failures (agreed by the other
    # location) before the group's last hub failed may have paged on its own first, once, as
    # replicas splitting a group allow (its page is not folded into the group's by the replica
    # that opens it): never a second incident for anything.
    opened = {k: v.incidents for k, v in pd.incidents().items()}
    brief = [pd.brief(e) for e in pd.accepted]
    assert opened[GROUP_KEY] == 1 and set(opened.values()) == {1}, brief
    assert set(opened) <= {GROUP_KEY} | {f"loginprobe/{h}/login" for h in HUBS}, brief
