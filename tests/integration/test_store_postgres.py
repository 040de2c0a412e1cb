"""`probe serve` with its store on PostgreSQL: real processes, the real sandbox, a real server.

One monitor pages and resolves an incident through a `postgresql+psycopg://` store with a password
in its URL; a second one on the same database stands by (and is ready); `probe list` reads what the
first wrote; a wrong password is one line. The password shows nowhere: not in a log, an
endpoint, an output, a page.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.integration.test_serve import KEY, Serve, events
from tests.postgres import PASSWORD

pytestmark = pytest.mark.sandbox


class PostgresServe(Serve):
    """`probe serve` whose state is a database URL instead of a file of its own."""

    def __init__(self, sandbox: Sandbox, workdir: Path, url: str) -> None:
        self.url = url
        workdir.mkdir(parents=True)
        # Leases long enough that a loaded machine never passes the hub to the standby.
        super().__init__(sandbox, workdir, monitor='lease_ttl = "15s"\n')

    def write_config(self, **kwargs: Any) -> None:
        monitor = (
            f'interval = "{self.interval}"\nretry_after_failure = "2s"\n'
            f'state = "{self.url}"\nlisten = "127.0.0.1:{self.port}"\n{self.extra_monitor}'
        )
        self.sandbox.write_config(self.config, monitor=monitor)


@pytest.fixture
def serves(sandbox: Sandbox) -> Iterator[list[PostgresServe]]:
    sandbox.pagerduty.accepted.clear()
    sandbox.pagerduty.set_mode("ok")
    made: list[PostgresServe] = []
    yield made
    for s in made:
        if s.proc is not None and s.proc.poll() is None:
            s.stop(signal.SIGKILL)


def _probe(s: PostgresServe, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **s.sandbox.probe_env(), "HOME": str(s.workdir)}
    return subprocess.Popen(
        ["probe", "--config", str(s.config), *args],
        env=env,
        cwd=s.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _done(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_serve_on_postgresql_pages_once_resolves_and_never_shows_the_database_password(
    sandbox: Sandbox, tmp_path: Path, postgres_url: str, serves: list[PostgresServe]
) -> None:
    assert PASSWORD in postgres_url  # what the outputs are searched for
    first = PostgresServe(sandbox, tmp_path / "first", postgres_url)
    second = PostgresServe(sandbox, tmp_path / "second", postgres_url)
    serves += [first, second]
    wrong = PostgresServe(sandbox, tmp_path / "wrong", postgres_url.replace(PASSWORD, "not-it"))
    refusing = _probe(wrong, "list")  # runs while the monitors start
    first.start().wait(lambda: (first.healthz() or {}).get("role") == "active", 90, "active")
    # The first holds the hub's lease from here on: the second starts while the first probes.
    second.start()
    second.wait(lambda: (second.healthz() or {}).get("role") != "starting", 90, "a role")
    first.wait_probes(1, "ok")
    health = second.get("/healthz")
    # Ready while it stands by: a rolling update waits for the new pod's readiness.
    assert health is not None and health[0] == 200 and '"standby"' in health[1], health

    sandbox.set_fault("secret_expired")
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 1, 60)
    sandbox.set_fault("secret_expired", False)
    sandbox.pagerduty.wait_for(lambda ev: len(ev) >= 2, 60)
    assert events(sandbox) == [f"trigger {KEY} client_secret_expired", f"resolve {KEY}"]
    assert second.probes() == 0  # the standby neither probed nor paged

    listing = _probe(first, "list", "--json")
    outputs = {path: first.get(path) for path in ("/healthz", "/api/status", "/metrics", "/")}
    assert all(answer is not None and answer[0] == 200 for answer in outputs.values()), outputs
    code, listed, list_err = _done(listing)
    assert code == 0, list_err
    (row,) = json.loads(listed)
    assert (row["hub"], row["verdict"], row["incident"]) == ("sandbox", "ok", None)
    assert row["availability"]["24h"]["down_s"] > 0  # the outage, read back from the rollup

    code, _, refused = _done(refusing)
    assert code != 0
    assert refused.strip().endswith('password authentication failed for user "loginprobe"'), refused
    assert len(refused.strip().splitlines()) == 1, refused

    for s in serves[:2]:
        assert s.stop() == 0
    seen = [
        *(answer[1] for answer in outputs.values() if answer),
        listed,
        list_err,
        refused,
        json.dumps(sandbox.pagerduty.accepted),
        *(s.logs() for s in (first, second)),
    ]
    assert not [text for text in seen if PASSWORD in text]
    for s in (first, second):
        s.assert_no_secrets()
