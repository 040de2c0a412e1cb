"""Replicas sharing the hubs, fast: the fences of the hubs' leases and of the outbox's, the
shared tracks' compare-and-set, and two or three real Monitors on one real SQLite store with fakes
only at the edges (the probe function, the browser, PagerDuty's transport)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from loginprobe.model import Code
from loginprobe.monitor import handover
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.lease import LeaseKeeper
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.outbox import OutboxSender
from loginprobe.monitor.pipeline import Pipeline
from loginprobe.monitor.replica import HubLeases, replica_is_gone
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings, make_sender
from loginprobe.monitor.tracks.login import login_key
from loginprobe.monitor.tracks.shared import group_key
from loginprobe.monitor.tracks.track import Track
from loginprobe.store import LeaseLost, Store, TrackConflict
from tests.unit.fakes import (
    ENV,
    FakePagerDuty,
    FakeProbes,
    monitor_on,
    until,
    verdict_result,
    write_settings,
)

# Three monitors share one event loop on a busy machine: a lease long enough not to lapse while
# the loop is busy elsewhere (a clean stop hands the hubs over at once anyway).
FAST = 'interval = "500ms"\nretry_after_failure = "100ms"\nlease_ttl = "3s"'


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _probes(store: Store) -> int:
    return sum(len(store.history(h, 1000)) for h in ("a", "b", "c", "d"))


def test_a_replica_whose_hub_lease_was_taken_cannot_write_that_hub(store_url: str) -> None:
    store, clock = Store(store_url), Clock()
    first = HubLeases(store, 30.0, "r1", clock=clock)
    assert first.tick(["a"]).gained == ["a"]
    clock.now += 31  # r1 paused past its lease
    second = HubLeases(store, 30.0, "r2", clock=clock)
    assert second.tick(["a"]).gained == ["a"]
    assert second.fences["a"].token == first.fences["a"].token + 1
    stale = Journal(store, hub_fence=first.fence)

    async def write() -> None:
        await stale.write(verdict_result("a").to_json(), {}, [], clock.now, "x", "a")

    with pytest.raises(LeaseLost) as lost:
        asyncio.run(write())
    assert lost.value.hub == "a"
    assert lost.value.reason == "another replica holds its lease"  # the store said so
    assert stale.held == []  # nothing kept to write later either
    assert store.history("a") == []
    # A replica whose lease lapsed (or that never held the hub) refuses to write it before
    # asking the store, which it may not reach: it cannot say whether another took the hub.
    with pytest.raises(LeaseLost) as lapsed:
        asyncio.run(Journal(store, hub_fence=lambda hub: None).write(None, {}, [], 0, "x", "a"))
    assert lapsed.value.reason == "its lease ran out or passed to another replica"


def test_a_stale_outbox_holder_sends_nothing(tmp_path: Path) -> None:
    config = write_settings(tmp_path, ("a",), FAST)
    settings = Settings.load(config)
    store, clock, pd = Store(settings.loaded.config.monitor.state), Clock(), FakePagerDuty()
    old = LeaseKeeper(store, 30.0, "old", clock=clock)
    assert old.acquire()
    store.record(None, {}, [{"dedup_key": "k", "event_action": "resolve"}], clock.now, "x")
    clock.now += 31
    assert LeaseKeeper(store, 30.0, "new", clock=clock).acquire()
    outbox = OutboxSender(
        store,
        Journal(store),
        make_sender(settings, pd.transport),
        lambda: settings.redactor,
        may_send=old.may_send,
        fence=old.fence,
        clock=clock,
    )

    async def flush() -> bool:
        try:
            return await outbox.flush_once()
        finally:
            await outbox.stop()

    assert asyncio.run(flush()) is False
    assert pd.accepted == []
    assert store.outbox.stats(clock.now).depth == 1  # left for the new holder


def test_a_shared_track_moved_meanwhile_is_not_overwritten(store_url: str) -> None:
    store = Store(store_url)
    key = "loginprobe/idp/g/login"
    store.record(None, {key: Track(failures=1)}, [], 0, "x")
    read = store.tracks_starting(["loginprobe/idp/"])[key][1]
    store.record(None, {key: Track(failures=2)}, [], 0, "x")  # another replica
    with pytest.raises(TrackConflict):
        store.record(None, {key: Track(failures=3)}, [], 0, "x", expect={key: read})
    with pytest.raises(TrackConflict):  # expected absent, but another replica wrote it
        store.record(None, {key: Track(failures=3)}, [], 0, "x", expect={key: None})
    assert store.tracks()[key].failures == 2


@contextlib.asynccontextmanager
async def replicas(
    tmp_path: Path,
    hubs: tuple[str, ...],
    names: list[str],
    pd: FakePagerDuty,
    idp: str = "",
    monitor: str = FAST,
) -> AsyncIterator[list[tuple[Monitor, FakeProbes]]]:
    base = write_settings(tmp_path, hubs, monitor).read_text()
    if idp:
        base = base.replace('flow = "generic_oidc"', f'flow = "generic_oidc"\nidp = "{idp}"')
    made: list[tuple[Monitor, FakeProbes]] = []
    stores = []
    try:
        for name in names:
            path = tmp_path / f"{name}.toml"
            path.write_text(base.replace("[monitor]\n", f'[monitor]\nreplica = "{name}"\n', 1))
            probes = FakeProbes()
            m = monitor_on(path, probes, pd)
            stores.append(m.store)
            await m.start()
            made.append((m, probes))
        yield made
    finally:
        for m, _ in made:
            await m.stop()
        for store in stores:
            store.close()


def _held(made: list[tuple[Monitor, FakeProbes]]) -> list[set[str]]:
    return [m.hubs.hubs for m, _ in made]


def test_replicas_probe_each_hub_once_and_take_a_stopped_ones_share(tmp_path: Path) -> None:
    pd = FakePagerDuty()
    hubs = ("a", "b", "c", "d")

    async def scenario() -> None:
        async with replicas(tmp_path, hubs, ["r1", "r2", "r3"], pd) as made:

            def spread() -> bool:
                held = _held(made)
                sizes = sorted(len(h) for h in held)
                return sum(sizes) == 4 and set().union(*held) == set(hubs) and sizes[-1] <= 2

            await until(spread, what="the hubs spread over three replicas")
            # The first one started alone and held every hub; from here on, each its own share.
            for _, probes in made:
                probes.ran.clear()
            for m, probes in made:
                await until(lambda p=probes, m=m: m.hubs.hubs <= set(p.ran), what="its probes")
            for m, probes in made:
                assert set(probes.ran) == m.hubs.hubs, (m.hubs.name, probes.ran)
                assert m.role == ("active" if m.hubs.hubs else "standby")
            gone, _ = made.pop(0)
            await gone.stop()  # a clean stop hands its hubs over at once
            await until(lambda: set().union(*_held(made)) == set(hubs), what="its hubs taken over")
            assert sorted(len(h) for h in _held(made)) == [2, 2]

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_group_split_across_replicas_pages_once_for_its_idp(tmp_path: Path) -> None:
    pd = FakePagerDuty()
    # Slow enough confirming that neither hub pages on its own before the other's first failure
    # lands (on another replica): the race is the same with one replica, and not this test's.
    slow = FAST.replace('"100ms"', '"1s"') + "\nfailures_to_alert = 3"

    async def scenario() -> None:
        async with replicas(tmp_path, ("a", "b"), ["r1", "r2"], pd, "g", slow) as made:
            await until(lambda: all(len(h) == 1 for h in _held(made)), what="one hub each")
            for _, probes in made:
                probes.codes.update({"a": Code.IDP_ERROR, "b": Code.IDP_ERROR})
            await until(lambda: "loginprobe/idp/g/login" in pd.notified, what="the IdP's page")
            for _, probes in made:
                n = len(probes.ran)
                await until(lambda p=probes, n=n: len(p.ran) >= n + 3, what="more failing probes")
            assert pd.notified == ["loginprobe/idp/g/login"], pd.brief()
            for _, probes in made:
                probes.codes.clear()
            await until(lambda: "resolve loginprobe/idp/g/login" in pd.brief(), what="resolve")
            assert pd.notified == ["loginprobe/idp/g/login"], pd.brief()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def _cut_off(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise OperationalError("UPDATE replicas", {}, Exception("the database is unreachable"))

    monkeypatch.setattr(store.replicas, "beat", fail)


def test_a_replica_cut_off_from_the_store_lets_its_hubs_go_within_one_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, clock = f"sqlite:///{tmp_path}/s.sqlite", Clock()
    mine, theirs = Store(url), Store(url)
    r1, r2 = HubLeases(mine, 30.0, "r1", clock=clock), HubLeases(theirs, 30.0, "r2", clock=clock)
    r1.tick(["a", "b"])
    r2.tick(["a", "b"])
    r1.tick(["a", "b"])  # now it knows of r2
    held = set(r1.hubs)
    assert held and not r1.pages_from_memory()  # another replica: pages wait for the store
    _cut_off(mine, monkeypatch)
    clock.now += 15
    assert r1.tick(["a", "b"]).lost == [] and r1.hubs  # its leases still run
    clock.now += 16
    assert sorted(r1.tick(["a", "b"]).lost) == sorted(held)
    assert r1.hubs == set()
    assert r2.tick(["a", "b"]).gained  # the other takes them once they have expired
    assert r2.hubs == {"a", "b"}


def test_a_lone_replica_on_sqlite_keeps_its_hubs_when_the_store_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = Store(f"sqlite:///{tmp_path}/s.sqlite"), Clock()
    alone = HubLeases(store, 30.0, "r1", clock=clock)
    alone.tick(["a"])
    _cut_off(store, monkeypatch)
    clock.now += 3600
    assert alone.tick(["a"]).lost == [] and alone.hubs == {"a"} and alone.pages_from_memory()


def test_a_takeover_fails_when_the_holder_renewed_after_it_was_read(store_url: str) -> None:
    """The takeover reads the row, then updates it: a renewal in between (same token, a later
    expiry) must make the takeover fail, not steal the lease just renewed."""
    url = store_url
    holder, taker = Store(url), Store(url)
    assert holder.leases.acquire("hub:a", "r1", 30.0, 0.0) is not None
    renewed: list[object] = []

    def renew_first(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE leases") and not renewed:
            renewed.append(holder.leases.acquire("hub:a", "r1", 30.0, 31.0, token=1))

    event.listen(taker.engine, "before_cursor_execute", renew_first)
    assert taker.leases.acquire("hub:a", "r2", 30.0, 31.0) is None  # it read an expired lease
    assert renewed and renewed[0] is not None
    lease = holder.leases.get("hub:a")
    assert lease is not None and (lease.holder, lease.token) == ("r1", 1)


def test_two_renewals_by_the_same_holder_at_once_both_keep_the_lease(store_url: str) -> None:
    """The renewer's thread and the event loop's round may renew at the same moment."""
    url = store_url
    one, other = Store(url), Store(url)
    assert one.leases.acquire("monitor", "r1", 30.0, 0.0) is not None
    meanwhile: list[object] = []

    def renew_first(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE leases") and not meanwhile:
            meanwhile.append(one.leases.acquire("monitor", "r1", 30.0, 10.0, token=1))

    event.listen(other.engine, "before_cursor_execute", renew_first)
    assert other.leases.acquire("monitor", "r1", 30.0, 11.0, token=1) is not None
    assert meanwhile and meanwhile[0] is not None


def test_a_replica_killed_and_restarted_on_this_machine_takes_its_hubs_at_once(
    store_url: str,
) -> None:
    """A lone monitor killed with -9 and started again (a new pid) need not wait out the leases
    of the process that died."""
    clock = Clock()
    dead = f"{socket.gethostname()}-{_unused_pid()}"
    before = HubLeases(Store(store_url), 30.0, "", clock=clock)
    before.name = dead  # what the killed process was called
    assert before.tick(["a", "b"]).gained == ["a", "b"]
    clock.now += 1  # killed at once: its leases run for 29 s more
    after = HubLeases(Store(store_url), 30.0, "", clock=clock)
    assert sorted(after.tick(["a", "b"]).gained) == ["a", "b"]
    other_host = HubLeases(Store(store_url), 30.0, "elsewhere-1", clock=clock)
    assert other_host.tick(["a", "b"]).gained == []  # never presumed dead: another machine


def test_a_container_restarted_with_its_old_pid_takes_its_hubs_at_once(store_url: str) -> None:
    """Behind an init (tini) a restarted container's monitor has the pid its last run had: the
    default name's start time tells the two apart."""
    clock = Clock()
    pid = os.getpid()
    before = HubLeases(Store(store_url), 30.0, "", clock=clock)
    before.name = f"{socket.gethostname()}-{pid}-1"  # this pid, started at another time
    assert sorted(before.tick(["a", "b"]).gained) == ["a", "b"]
    clock.now += 1
    after = HubLeases(Store(store_url), 30.0, "", clock=clock)
    assert after.name.startswith(f"{socket.gethostname()}-{pid}-") and after.name != before.name
    assert sorted(after.tick(["a", "b"]).gained) == ["a", "b"]
    # A live replica of this machine is never presumed dead: its process runs, as started.
    assert not replica_is_gone(after.name)
    assert replica_is_gone(before.name)


def _unused_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def test_probe_run_alert_leaves_a_hub_a_replica_probes_to_that_replica(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`probe run --alert` with the outbox's lease free (its holder just died, say) still must
    not move the tracks of a hub another replica holds: it hands the probe over to that replica.
    A hub nobody holds it pages for itself, under the hub's lease, given back at the end."""
    monkeypatch.setattr(handover, "HANDOVER_WAIT_S", 0.3)
    store = Store(store_url)
    replica = HubLeases(store, 30.0, "r1")
    assert replica.tick(["a"]).gained == ["a"]
    settings = Settings.load(write_settings(tmp_path, ("a", "b"), paging=False))

    held = handover.page_now(settings, store, verdict_result("a", Code.HUB_ERROR), "here")
    assert "handed to the running monitor" in held.line, held.line
    assert login_key("a") not in store.tracks()
    assert len(store.inbox.waiting()) == 1

    free = handover.page_now(settings, store, verdict_result("b", Code.HUB_ERROR), "here")
    assert "trigger loginprobe/b/login" in free.line, free.line
    assert store.tracks()[login_key("b")].is_open
    leases = store.leases.hubs()
    assert "b" not in leases or leases["b"].expires_at <= time.time()  # given back


def test_two_live_replicas_with_one_name_are_told_a_restarted_one_is_not(store_url: str) -> None:
    clock = Clock()
    store = Store(store_url)
    with capture_logs() as logs:
        gone = HubLeases(store, 30.0, "r1", clock=clock)
        gone.tick(["a"])
        clock.now += 5
        restarted = HubLeases(store, 30.0, "r1", clock=clock)  # the same name, later: its own
        for _ in range(3):
            restarted.tick(["a"])
            clock.now += 10
        assert not [e for e in logs if "has this replica's name" in e["event"]]
        twin = HubLeases(store, 30.0, "r1", clock=clock)  # a second live one, same ConfigMap
        for _ in range(3):
            restarted.tick(["a"])
            twin.tick(["a"])
            clock.now += 10
    clashes = [e for e in logs if "has this replica's name" in e["event"]]
    assert clashes and all(e["log_level"] == "error" and e["replica"] == "r1" for e in clashes)


# -- a store outage in the middle of an IdP's incident -------------------------------------------
def _fail(*_: object, **__: object) -> None:
    raise OperationalError("SELECT tracks", {}, Exception("the database is unreachable"))


def _outbox(store: Store) -> list[str]:
    seen: list[str] = []
    ids: list[int] = []
    while (item := store.outbox.next_event(ids)) is not None:
        ids.append(item[0].id)
        seen.append(f"{item[0].event['event_action']} {item[0].dedup_key}")
    return seen


def _group_replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> list[Pipeline]:
    """Pipelines of `n` replicas sharing one store (not alone), hubs a-f behind the IdP "g"."""
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    path = write_settings(tmp_path, ("a", "b", "c", "d", "e", "f"))
    text = path.read_text().replace('flow = "generic_oidc"', 'flow = "generic_oidc"\nidp = "g"')
    path.write_text(text)
    settings = Settings.load(path)
    return [
        Pipeline(
            settings=lambda: settings,
            journal=Journal(Store(settings.loaded.config.monitor.state)),
            metrics=Metrics(),
            tracks={},
            location=lambda: "here",
            alone=lambda: False,
        )
        for _ in range(n)
    ]


def test_a_write_held_through_a_store_outage_never_undoes_another_replicas_idp_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A holds a verdict while the store is away; meanwhile replica B has opened the IdP's
    incident. A's held write, made from its older copy of the IdP's track, must not close it: the
    incident's resolve would never be sent (seen once in the PostgreSQL restart test)."""
    a, b = _group_replicas(tmp_path, monkeypatch, 2)
    store, key = b.journal.store, group_key("g")

    def probe(p: Pipeline, hub: str, code: Code) -> None:
        asyncio.run(p.on_probe(verdict_result(hub, code)))

    probe(a, "a", Code.IDP_ERROR)  # A's copy of the IdP's track: closed, one hub failing
    probe(b, "d", Code.IDP_ERROR)
    probe(b, "e", Code.IDP_ERROR)  # three hubs: B opens the IdP's incident
    assert store.tracks()[key].is_open and _outbox(store) == [f"trigger {key}"]

    for name in ("tracks_starting", "record"):  # A's store goes away
        setattr(a.journal.store, name, _fail)
    probe(a, "b", Code.IDP_ERROR)
    assert len(a.journal.held) == 1
    for name in ("tracks_starting", "record"):  # and comes back
        delattr(a.journal.store, name)
    probe(a, "a", Code.IDP_ERROR)  # writes the held verdict first
    assert not a.journal.held
    assert store.tracks()[key].is_open, "the held write closed the IdP's incident"
    assert [h["code"] for h in store.history("b")] == ["idp_error"]  # the verdict is kept

    for _ in range(2):  # every hub works again: one resolve
        for p, mine in ((a, "abc"), (b, "def")):
            for hub in mine:
                probe(p, hub, Code.OK)
    assert _outbox(store) == [f"trigger {key}", f"resolve {key}"]
    for p in (a, b):
        p.journal.store.close()


def test_a_record_held_after_its_read_is_written_without_the_shared_track_moved_meanwhile(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read before reacting worked, the write did not: when it is written later, another
    replica's move of the shared track since stands, and the rest of the record is written."""
    mine, theirs = Store(store_url), Store(store_url)
    key, own = "loginprobe/idp/g/login", "loginprobe/a/login"
    theirs.record(None, {key: Track(failures=1)}, [], 0, "x")
    read = mine.tracks_starting(["loginprobe/idp/"])[key][1]
    journal = Journal(mine)
    monkeypatch.setattr(mine, "record", _fail)  # the store goes away
    moved = {key: Track(failures=2), own: Track(failures=1)}
    group_page = {"event_action": "trigger", "dedup_key": key, "payload": {}}
    asyncio.run(journal.write(None, moved, [group_page], 0, "x", "a", expect={key: read}))
    assert len(journal.held) == 1
    theirs.record(None, {key: Track(failures=5, open_key=key)}, [], 0, "x")  # another replica
    monkeypatch.undo()  # and comes back
    assert asyncio.run(journal.flush())
    assert mine.tracks()[key] == Track(failures=5, open_key=key)
    assert mine.tracks()[own].failures == 1
    assert mine.outbox.next_event() is None  # its page went with its move
    mine.close()
    theirs.close()


def test_after_every_retry_conflicts_the_last_attempt_still_moves_the_shared_tracks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other replicas kept moving the IdP's track: the last attempt writes what it read without
    comparing, the hub's failure counted in its group."""
    (p,) = _group_replicas(tmp_path, monkeypatch, 1)
    store = p.journal.store
    store_record = store.record

    def busy(*args: object) -> None:
        if args[6] is not None:  # compared: another replica always got there first
            raise TrackConflict(group_key("g"))
        store_record(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "record", busy)
    asyncio.run(p.on_probe(verdict_result("a", Code.IDP_ERROR)))
    assert [m[0] for m in store.tracks()[group_key("g")].members] == ["a"]
    store.close()


def test_a_held_write_whose_idp_incident_another_replica_opened_leaves_no_page_open_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A's reaction opened the IdP's incident and so resolved hub c's own page as covered by it;
    the store took none of it, and B opened the incident meanwhile. A's record is written without
    the IdP's track, and what memory and the store then say of c's page agree: once every hub
    works again, every page PagerDuty was sent is resolved."""
    a, b = _group_replicas(tmp_path, monkeypatch, 2)
    store, key = b.journal.store, group_key("g")

    def probe(p: Pipeline, hub: str, code: Code) -> None:
        asyncio.run(p.on_probe(verdict_result(hub, code)))

    for _ in range(2):
        probe(a, "c", Code.HUB_ERROR)  # c's own page
    probe(a, "a", Code.IDP_ERROR)
    probe(a, "b", Code.IDP_ERROR)  # two of the IdP's hubs failing: no incident yet
    assert _outbox(store) == [f"trigger {login_key('c')}"]
    monkeypatch.setattr(a.journal.store, "record", _fail)  # A's writes fail, its reads work
    actions = asyncio.run(a.on_probe(verdict_result("c", Code.IDP_ERROR)))
    assert f"trigger {key}" in [f"{x.kind} {x.dedup_key}" for x in actions]
    assert len(a.journal.held) == 1
    probe(b, "d", Code.IDP_ERROR)  # B: the third hub, it opens the incident
    monkeypatch.undo()  # A's store is back
    assert asyncio.run(a.journal.flush())
    assert store.tracks()[key].is_open
    assert _outbox(store).count(f"trigger {key}") == 1  # B's, not A's as well
    assert [h["code"] for h in store.history("c")] == ["idp_error", "hub_error", "hub_error"]

    for _ in range(2):  # every hub works again
        for p, mine in ((a, "abc"), (b, "def")):
            for hub in mine:
                probe(p, hub, Code.OK)
    sent = _outbox(store)
    for page in {s.split(" ", 1)[1] for s in sent if s.startswith("trigger ")}:
        assert sent[::-1].index(f"resolve {page}") < sent[::-1].index(f"trigger {page}"), sent
    assert not any(t.is_open for t in store.tracks().values())
    for p in (a, b):
        assert not any(t.is_open for t in p.tracks.values())
        p.journal.store.close()


def test_a_blind_last_retry_held_by_a_store_failure_compares_when_written_later(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's last conflict retry writes without comparing; if the store refuses it, the
    record is written later compared like any other held record."""
    mine, theirs = Store(store_url), Store(store_url)
    key = "loginprobe/idp/g/login"
    journal = Journal(mine)
    monkeypatch.setattr(mine, "record", _fail)
    asyncio.run(
        journal.write(None, {key: Track(failures=2)}, [], 0, "x", expect={key: None}, compare=False)
    )
    theirs.record(None, {key: Track(failures=5, open_key=key)}, [], 0, "x")  # another replica
    monkeypatch.undo()
    assert asyncio.run(journal.flush())
    assert mine.tracks()[key] == Track(failures=5, open_key=key)
    mine.close()
    theirs.close()


def test_a_held_verdict_of_a_hub_whose_lease_went_meanwhile_does_not_stop_another_hubs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x's verdict is held while the store is away, and x's lease goes to another replica
    meanwhile: the next reaction, a's, drops x's record (not this replica's to write any more)
    and goes on."""
    (p,) = _group_replicas(tmp_path, monkeypatch, 1)
    store, clock = p.journal.store, Clock()
    leases = HubLeases(store, 30.0, "r1", clock=clock)
    assert sorted(leases.tick(["a", "b"]).gained) == ["a", "b"]
    p.journal.hub_fence = leases.fence
    monkeypatch.setattr(store, "record", _fail)
    asyncio.run(p.on_probe(verdict_result("b", Code.HUB_ERROR)))
    assert [r.hub for r in p.journal.held] == ["b"]
    monkeypatch.undo()
    leases.fences = {"a": leases.fences["a"]}  # b's lease ran out
    asyncio.run(p.on_probe(verdict_result("a", Code.OK)))
    assert p.journal.held == []
    assert [h["code"] for h in store.history("a")] == ["ok"]
    assert store.history("b") == []
    store.close()
