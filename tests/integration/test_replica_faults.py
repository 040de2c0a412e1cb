"""Replicas through the faults of their database: two real `probe serve` processes on a PostgreSQL
server of this module's own (restarting the session's server would pull it from under the other
tests), against the sandbox.

- The server restarts mid-incident while the probes go on: the probes made meanwhile wait in the
  replicas' memory and reach the history once it is back, the incident is paged once and
  resolved, and both replicas keep their share.
- One replica is cut off from the server (a TCP forwarder between the two, cut): within its lease
  it stops probing and says so, the other takes its hubs (the takeover time is printed), and an
  outage during the cut is one incident.

The two tests share the replicas and the server (started once, a spread of two to begin each);
every wait is for a condition, never a sleep.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest

from sandbox import Sandbox
from sandbox.route import Route
from tests.integration.test_replicas import (
    GROUP_KEY,
    HUBS,
    OUTAGE,
    Replica,
    _opened,
    _spread,
    _wait,
    _within,
)
from tests.postgres import PASSWORD, USER, PostgresServer, PostgresUnavailable, start_server

pytestmark = pytest.mark.sandbox

# The default lease, not test_replicas' 8 s: the server's restart, with a probe finished
# meanwhile, must fit in the two thirds of a lease a replica may have left when it goes (or the
# replicas let their hubs go, as a replica cut off does).
LEASE_TTL_S = 30.0
# How long PostgreSQL is asked to stay down, from its stop to its start asked for: with its start
# (0.1-3 s) and the renewer's next try (a second), well within those 20 s. Longer, and a replica
# rightly lets its hubs go.
DOWN_AT_MOST_S = 12.0
PROBES_TOTAL = re.compile(r'^loginprobe_probes_total\{code="[a-z_]+",hub="(h\d)"\} (\S+)$', re.M)


@dataclass
class Pair:
    server: PostgresServer
    database: str
    forwarder: Route
    direct: Replica  # reaches the server itself
    behind: Replica  # reaches it through the forwarder, which the test may cut

    @property
    def replicas(self) -> list[Replica]:
        return [self.direct, self.behind]

    def stored_probes(self) -> Counter[str]:
        """Probes in the history, per hub (the store as any reader sees it)."""
        with psycopg.connect(
            host="127.0.0.1",
            port=self.server.port,
            user=USER,
            password=PASSWORD,
            dbname=self.database,
        ) as conn:
            rows = conn.execute(
                "SELECT h.name, count(*) FROM probes p JOIN hubs h ON h.id = p.hub_id GROUP BY 1"
            ).fetchall()
        return Counter({name: n for name, n in rows})


@pytest.fixture(scope="module")
def pair(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    try:
        server = start_server()
    except PostgresUnavailable as e:
        pytest.fail(f"PostgreSQL cannot start for the tests: {e}", pytrace=False)
    forwarder = Route(0, server.port)  # one replica's way to the database, to be cut
    forwarder.mend()
    made: list[Replica] = []
    try:
        url = server.fresh_database()
        database = url.rsplit("/", 1)[1]
        via = url.replace(f"@127.0.0.1:{server.port}/", f"@127.0.0.1:{forwarder.port}/")
        root = tmp_path_factory.mktemp("replica-faults")
        sandbox.pagerduty.set_mode("ok")
        ttl = f"{LEASE_TTL_S:g}s"
        # A login timeout of 40 s, not 20: at load 25-30 on the two cores the sandbox's healthy
        # logins took 21-24 s, and the replicas rightly paged for them.
        # The group's incident before any hub's own page (test_replicas.OUTAGE).
        kw: dict[str, Any] = {"lease_ttl": ttl, "timeout": "40s", **OUTAGE}
        behind = Replica(sandbox, root / "behind", "behind", via, **kw)
        direct = Replica(sandbox, root / "direct", "direct", url, **kw)
        made = [behind, direct]
        # The one behind the forwarder starts first: it takes the outbox's lease, so cutting it
        # off also takes the outbox from the replica that drains it.
        for r in made:
            r.start()
        yield Pair(server, database, forwarder, direct, behind)
    finally:
        for r in made:
            if r.proc is not None and r.proc.poll() is None:
                r.stop(signal.SIGKILL)
        forwarder.cut()
        server.stop()
    for r in made:
        r.assert_no_secrets()


def _assert_paged_once(sandbox: Sandbox) -> None:
    """One incident of the IdP's group, notified once and resolved; no trigger after the resolve
    (the triggers before it that bring its list of hubs up to date notify nobody)."""
    pd = sandbox.pagerduty
    events = [pd.brief(e) for e in pd.accepted]
    assert Counter(n.dedup_key for n in pd.notifications) == {GROUP_KEY: 1}, events
    assert _opened(sandbox) == {GROUP_KEY: 1}, events
    assert all(v.state == "resolved" for v in pd.incidents().values()), events
    actions = [e["event_action"] for e in pd.accepted]
    assert actions[-1] == "resolve" and actions.count("resolve") == 1, events


def _recover(sandbox: Sandbox, replicas: list[Replica]) -> None:
    """The IdP comes back: the incident is resolved, and stays so once the probes in flight at
    that moment (which saw it down) are in: every hub probed twice since."""
    cleared = _probed(replicas)
    sandbox.set_fault("idp_down", False)
    pd, since = sandbox.pagerduty, time.monotonic()
    # With the replicas' logs if it never comes (a resolve once missed under a whole run's load).
    _wait("the IdP's incident resolved", lambda: _resolved(GROUP_KEY)(pd.accepted), 120, replicas)
    print(f"resolved {time.monotonic() - since:.1f}s after the IdP came back")

    def settled() -> bool:
        now = _probed(replicas)
        return all(now[h] >= cleared[h] + 2 for h in HUBS)

    _wait("every hub probed twice since the IdP came back", settled, 180, replicas)
    _assert_paged_once(sandbox)


def _resolved(key: str) -> Any:
    return lambda ev: any(e["dedup_key"] == key and e["event_action"] == "resolve" for e in ev)


def _probed(replicas: list[Replica]) -> Counter[str]:
    """Probes finished per hub, over the replicas (from their /metrics, asked again while one
    does not answer: on busy cores a scrape may take longer than the client waits)."""
    total: Counter[str] = Counter()
    for r in replicas:
        deadline = time.monotonic() + 60
        while (answer := r.get("/metrics")) is None:
            assert time.monotonic() < deadline, f"{r.name} does not answer /metrics"
        for m in PROBES_TOTAL.finditer(answer[1]):
            total[m.group(1)] += int(float(m.group(2)))
    return total


def _log_lines(replica: Replica) -> list[dict[str, Any]]:
    lines = []
    for text in replica.logs().splitlines():
        if text.startswith("{"):
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue  # a line cut short by the SIGKILL of the teardown
    return lines


def _health(replica: Replica) -> dict[str, Any]:
    """/healthz, asked again while it does not answer (a busy replica may outlast the client)."""
    deadline = time.monotonic() + 60
    while (health := replica.healthz()) is None:
        assert time.monotonic() < deadline, f"{replica.name} does not answer /healthz"
    return health


def _held(replica: Replica) -> set[str]:
    return set(_health(replica)["replica"]["hubs"])


def _lost_leases(replica: Replica) -> set[str]:
    """The hubs the replica says it stopped probing because their leases ran out."""
    return {
        line["hub"]
        for line in _log_lines(replica)
        if line.get("event") == "no longer probing a hub"
        and line.get("reason", "").startswith("its lease ran out")
    }


def _ready(pair: Pair) -> None:
    """Both replicas hold a share, and nothing is open from before."""
    _wait("the hubs spread over both replicas", lambda: _spread(pair.replicas), 90, pair.replicas)
    _wait(
        "no incident open from before",
        lambda: all(not (r.healthz() or {}).get("incidents_open") for r in pair.replicas),
        180,
        pair.replicas,
    )
    pair.direct.sandbox.pagerduty.reset()


def test_postgresql_restarted_mid_incident_pages_once_resolves_and_loses_no_probe(
    sandbox: Sandbox, pair: Pair
) -> None:
    replicas = pair.replicas
    _ready(pair)
    pd = sandbox.pagerduty
    sandbox.set_fault("idp_down")
    pd.wait_for(lambda ev: any(e["dedup_key"] == GROUP_KEY for e in ev), 90)

    # The server restarts while the incident is open and the failing hubs are probed again
    # (each once an interval, one of the six every few seconds): it stays down until a probe
    # has finished meanwhile (its verdict, tracks and pages then wait in that replica's
    # memory), and never longer than DOWN_AT_MOST_S: if no probe finished by then, it comes
    # back and goes down again once both replicas have written since.
    for attempt in range(1, 5):
        down = time.monotonic()
        pair.server.halt()
        # Counted once the server is gone: a probe written while it was stopping (0.3 s once)
        # was never held in memory, and must not stand for one that was.
        at_halt = _probed(replicas)
        probed = [at_halt]  # the last count read
        try:

            def probed_while_down(
                at_halt: Counter[str] = at_halt, probed: list[Counter[str]] = probed
            ) -> bool:
                for r in replicas:
                    assert _held(r), f"{r.name} let its hubs go before PostgreSQL was back"
                probed.append(_probed(replicas))
                return probed[-1].total() > at_halt.total()

            finished = _within(probed_while_down, down + DOWN_AT_MOST_S)
        finally:
            back = time.monotonic()
            pair.server.resume()
        while_down = probed[-1].copy()
        while_down.subtract(at_halt)
        print(
            f"\nPostgreSQL down {time.monotonic() - down:.1f}s (its start took "
            f"{time.monotonic() - back:.1f}s); probes finished meanwhile: {while_down.total()} "
            f"(lease_ttl {LEASE_TTL_S:g}s, attempt {attempt})"
        )
        if finished:
            break
        written = pair.stored_probes()
        _wait(
            "both replicas writing again",
            lambda written=written: all(pair.stored_probes()[h] > written[h] for h in HUBS),
            90,
            replicas,
        )
    else:
        pytest.fail(f"no probe finished within {DOWN_AT_MOST_S:g}s of PostgreSQL going down")

    # Nothing lost: every probe finished so far reaches the history once the server is back
    # (those made while it was down were held in memory), and none twice.
    so_far = _probed(replicas)
    _wait(
        "every probe finished so far in the history",
        lambda: all(pair.stored_probes()[h] >= so_far[h] for h in HUBS),
        60,
        replicas,
    )
    stored, after = pair.stored_probes(), _probed(replicas)
    # (A probe is counted in /metrics just after its write: at most one per hub in between.)
    assert all(stored[h] <= after[h] + 1 for h in HUBS), (stored, after)
    held_back = []
    for r in replicas:
        events = [line.get("event", "") for line in _log_lines(r)]
        if any(e.startswith("the store cannot be written") for e in events):
            held_back.append(r.name)

            # Said just after the last held write commits: the store may show it a moment first.
            def said(r: Replica = r) -> bool:
                return any(
                    line.get("event", "").startswith("the store is writable again")
                    for line in _log_lines(r)
                )

            _wait(f"{r.name} saying the store is writable again", said, 30, replicas)
        assert not _lost_leases(r), r.name
        # A store away is one line a round, never a traceback.
        tracebacks = [
            line["event"]
            for line in _log_lines(r)
            if "OperationalError" in str(line.get("exception", ""))
        ]
        assert tracebacks == [], (r.name, tracebacks)
    assert held_back, "no replica held a write in memory: the restart was not seen"

    _recover(sandbox, replicas)
    # Both still hold a share (read until both answer, and the spread holds across the read).
    _wait("both replicas holding a share", lambda: _spread(replicas), 60, replicas)
    assert not any(_lost_leases(r) for r in replicas)


def test_a_replica_cut_off_from_postgresql_stops_within_its_lease_and_the_other_takes_its_hubs(
    sandbox: Sandbox, pair: Pair
) -> None:
    _ready(pair)
    pd = sandbox.pagerduty
    cut_off, other = pair.behind, pair.direct
    orphans = _held(cut_off)
    assert orphans, "the replica to cut off holds no hub"
    drained = bool(_health(cut_off)["replica"]["drains_outbox"])
    before = other.hub_probes()
    # Cut, and the IdP goes down at the same moment: the cut-off replica sees its hubs fail and
    # must neither page (it may drain the outbox) nor keep probing past its lease.
    pair.forwarder.cut()
    cut_at, cut = time.time(), time.monotonic()
    sandbox.set_fault("idp_down")

    taken: set[str] = set()

    def taken_over() -> bool:
        now = other.hub_probes()
        taken.update(h for h in orphans if now[h] > before[h])
        status = json.loads((other.get("/api/status") or (0, '{"hubs": []}'))[1])
        taken.update(h["hub"] for h in status["hubs"] if h["hub"] in orphans and h["probing"])
        return taken == orphans

    # The bound: the lease, a third of it for the other to notice, a few seconds to start.
    _wait("the cut-off replica's hubs probed by the other", taken_over, 120, pair.replicas)
    takeover_s = time.monotonic() - cut
    _wait("the cut-off replica letting its hubs go", lambda: not _held(cut_off), 30, [cut_off])
    print(
        f"\ntakeover: {sorted(orphans)} probed by the other replica {takeover_s:.1f}s after the "
        f"cut (lease_ttl {LEASE_TTL_S:g}s; the cut-off one drained the outbox: {drained})"
    )

    # The outage during the cut: one incident, paged by the replica that still reaches the store
    # (once it holds the outbox's lease too, if the cut-off one held it: a lease and a third).
    pd.wait_for(lambda ev: any(e["dedup_key"] == GROUP_KEY for e in ev), 150)
    _recover(sandbox, pair.replicas)
    assert _held(other) == set(HUBS)

    # The cut-off replica said so, and started no probe once its leases had run out (at the
    # latest a lease after the cut) and it had noticed (its renewals run every third of a lease;
    # a few seconds more for a renewer's thread on busy cores).
    lines = _log_lines(cut_off)
    assert _lost_leases(cut_off) == orphans
    latest_start = cut_at + LEASE_TTL_S * 4 / 3 + 5.0
    late = [
        (line["hub"], round(started - cut_at, 1))
        for line in lines
        if line.get("event") == "probe"
        and (started := datetime.fromisoformat(line["timestamp"]).timestamp() - line["ms"] / 1000)
        > latest_start
    ]
    assert late == [], f"probes started by the cut-off replica (hub, s after the cut): {late}"
