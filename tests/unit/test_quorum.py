"""Locations and quorum, fast: the quorum gate (pure), the witnesses' leases, the sightings on
both engines, and two real Monitors of two locations on one real SQLite store with fakes only at
the edges (the probe function, the browser, PagerDuty's transport)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from loginprobe.config import ConfigError, load
from loginprobe.model import Code, ProbeResult
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.pipeline import Context, ProbeFact, react
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.login import login_key
from loginprobe.monitor.tracks.shared import (
    Fleet,
    Sighting,
    cover,
    covered_by,
    failing_from,
    held_key,
    hold,
    is_held,
    seen_from_text,
)
from loginprobe.monitor.tracks.track import Action, Thresholds, Track
from loginprobe.monitor.witness import WitnessLeases, to_watch
from loginprobe.store import Fence, Store, hub_lease
from tests.unit.fakes import (
    ENV,
    FakePagerDuty,
    FakeProbes,
    monitor_on,
    until,
    verdict_result,
    write_settings,
)

NOW = 1_000_000.0
NOW_ISO = datetime.fromtimestamp(NOW, UTC).isoformat(timespec="seconds")
FAILING = verdict_result("h", Code.HUB_ERROR).verdict


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def seen(location: str, code: Code = Code.OK, ago: float = 10.0, hub: str = "h") -> Sighting:
    return Sighting(hub, location, f"{location}-1", str(code), code is Code.OK, "", NOW - ago)


def fleet(*sightings: Sighting, quorum: int = 2, here: str = "A", live: str = "ABC") -> Fleet:
    return Fleet(
        groups={},
        hosts={"h": "h.example.org"},
        window_s=120.0,
        location=here,
        quorum=quorum,
        sightings={"h": list(sightings)},
        locations=frozenset(live),
        now=NOW,
    )


# -- the quorum gate (pure) ------------------------------------------------------------------------
def test_a_failure_seen_from_one_location_while_another_sees_the_hub_work_is_held() -> None:
    why = cover("h", FAILING, {}, fleet(seen("B")))
    assert why == "failing from A only (quorum 2): likely A's network, not the hub"


def test_a_failure_another_location_also_sees_pages() -> None:
    assert cover("h", FAILING, {}, fleet(seen("B", Code.HUB_UNREACHABLE))) is None


def test_quorum_one_never_holds() -> None:
    assert cover("h", FAILING, {}, fleet(seen("B"), quorum=1)) is None


def test_stale_sightings_and_probe_errors_abstain_so_the_location_pages_on_its_own_word() -> None:
    assert cover("h", FAILING, {}, fleet(seen("B", ago=121))) is None  # older than the window
    assert cover("h", FAILING, {}, fleet(seen("B", Code.PROBE_ERROR))) is None  # saw nothing
    assert cover("h", FAILING, {}, fleet()) is None  # no witness has looked yet


def test_a_quorum_larger_than_the_locations_alive_counts_the_live_ones() -> None:
    both = (seen("B", Code.HUB_ERROR), seen("C"))
    held = failing_from("h", fleet(*both, quorum=3), "A")
    assert held == (["A", "B"], 3)
    assert "failing from A and B only (quorum 3): likely their networks" in str(
        cover("h", FAILING, {}, fleet(*both, quorum=3))
    )
    # C's replicas are gone: its last sighting (still fresh) no longer counts.
    assert cover("h", FAILING, {}, fleet(*both, quorum=3, live="AB")) is None
    # Three locations required and only A is alive: A's word is enough.
    assert cover("h", FAILING, {}, fleet(quorum=3, live="A")) is None


def test_a_held_page_goes_out_at_the_next_failing_probe_once_enough_locations_agree() -> None:
    key = login_key("h")
    trigger = Action("trigger", key, FAILING, reason="opened")
    opened = {key: Track(failures=2, open_code="hub_error", opened_at=NOW_ISO, open_key=key)}
    moved, out = hold([trigger], "h", FAILING, opened, NOW_ISO, fleet(seen("B")))
    assert out == [] and moved[held_key(key)].open_key == key
    tracks = {**opened, **moved}
    assert covered_by("h", tracks, fleet(seen("A", Code.HUB_ERROR), seen("B"))) == (
        "held back: failing from A only (quorum 2): likely A's network, not the hub"
    )
    # Still only A: the next failing probe keeps it held.
    _, out = hold([], "h", FAILING, tracks, NOW_ISO, fleet(seen("B")))
    assert out == []
    moved, out = hold([], "h", FAILING, tracks, NOW_ISO, fleet(seen("B", Code.HUB_ERROR)))
    assert [(a.kind, a.dedup_key, a.reason) for a in out] == [("trigger", key, "released")]
    assert "held back until now" in (out[0].verdict.summary if out[0].verdict else "")
    assert moved[held_key(key)] == Track()


def test_what_each_location_saw_reads_as_one_line() -> None:
    at = datetime(2026, 11, 30, 12, 1, tzinfo=UTC).timestamp()
    a = dataclasses.replace(seen("A"), at=at)
    b = dataclasses.replace(seen("B", Code.HUB_UNREACHABLE), at=at)
    assert seen_from_text([a, b]) == "A ok 12:01 · B hub_unreachable 12:01"
    assert seen_from_text([a.to_json(), b.to_json()]) == "A ok 12:01 · B hub_unreachable 12:01"


# -- config -------------------------------------------------------------------------------------
def test_a_quorum_without_a_location_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = write_settings(tmp_path, ("a",), "quorum = 2")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"{path}: monitor: quorum above 1 needs location")
    assert load(write_settings(tmp_path, ("a",), 'quorum = 2\nlocation = "A"')).config.monitor


# -- the store ----------------------------------------------------------------------------------
def test_sightings_keep_one_row_per_hub_and_location(store_url: str) -> None:
    store = Store(store_url)
    store.sightings.record(seen("B", Code.HUB_ERROR))
    store.sightings.record(seen("A"))
    store.sightings.record(seen("B", ago=1))  # B looks again: it works now
    store.sightings.record(seen("A", hub="other"))
    assert store.sightings.of("h") == [seen("A"), seen("B", ago=1)]
    assert store.sightings.all() == {
        "h": [seen("A"), seen("B", ago=1)],
        "other": [seen("A", hub="other")],
    }
    store.sightings.forget("h")
    assert store.sightings.of("h") == []


# -- the witnesses' leases ---------------------------------------------------------------------------
def test_a_location_witnesses_only_the_hubs_whose_replica_is_elsewhere() -> None:
    owners = {"h1": "a1", "h2": "b1", "h3": "b2"}
    where = {"a1": "A", "b1": "B", "b2": "B"}
    assert to_watch(["h1", "h2", "h3", "h4"], owners, where, "A") == ["h2", "h3"]
    assert to_watch(["h1", "h2", "h3", "h4"], owners, where, "B") == ["h1"]


def test_witness_leases_spread_over_a_locations_replicas_and_follow_the_hubs(
    store_url: str,
) -> None:
    store = Store(store_url)
    hubs = ["h1", "h2", "h3", "h4", "h5"]
    for name, location in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        store.replicas.beat(name, 30.0, NOW, NOW, location)
    for hub, holder in (("h1", "b1"), ("h2", "b1"), ("h3", "b1"), ("h4", "b1"), ("h5", "a1")):
        assert store.leases.acquire(hub_lease(hub), holder, 30.0, NOW) is not None
    a1 = WitnessLeases(store, 30.0, "a1", "A", clock=lambda: NOW)
    a2 = WitnessLeases(store, 30.0, "a2", "A", clock=lambda: NOW)
    b1 = WitnessLeases(store, 30.0, "b1", "B", clock=lambda: NOW)
    for _ in range(2):
        for w in (a1, a2, b1):
            w.tick(hubs)
    assert sorted(a1.hubs | a2.hubs) == ["h1", "h2", "h3", "h4"]  # B's hubs, seen from A
    assert a1.hubs.isdisjoint(a2.hubs) and len(a1.hubs) == len(a2.hubs) == 2
    assert b1.hubs == {"h5"}  # A's hub, seen from B
    # h1's replica is now in A: A no longer witnesses it, B does.
    lease = store.leases.get(hub_lease("h1"))
    assert lease is not None
    store.leases.release(Fence(lease.name, lease.holder, lease.token))
    assert store.leases.acquire(hub_lease("h1"), "a2", 30.0, NOW) is not None
    changes = [w.tick(hubs) for w in (a1, a2, b1)]
    assert "h1" not in a1.hubs | a2.hubs
    assert "h1" in [h for c in changes for h in c.dropped]
    assert b1.hubs == {"h1", "h5"}
    # A hub gone from the config: nobody witnesses it.
    for w in (a1, a2, b1):
        w.tick(["h2", "h3"])
    assert a1.hubs | a2.hubs == {"h2", "h3"} and b1.hubs == set()


# -- two locations, real Monitors -----------------------------------------------------------
FAST = 'interval = "500ms"\nretry_after_failure = "100ms"\nlease_ttl = "3s"\nquorum = 2'


@dataclasses.dataclass
class NowProbes(FakeProbes):
    """Fake probes that started now (a sighting older than the confirm window would not count)."""

    async def __call__(self, browser: Any, hub: str, *a: Any, **k: Any) -> ProbeResult:
        result = await super().__call__(browser, hub, *a, **k)
        return dataclasses.replace(result, started_at=datetime.now(UTC).isoformat())


@contextlib.asynccontextmanager
async def locations(
    tmp_path: Path, hubs: tuple[str, ...], pd: FakePagerDuty
) -> AsyncIterator[dict[str, tuple[Monitor, NowProbes]]]:
    base = write_settings(tmp_path, hubs, FAST).read_text()
    made: dict[str, tuple[Monitor, NowProbes]] = {}
    stores = []
    try:
        for loc in ("A", "B"):
            path = tmp_path / f"{loc}.toml"
            named = f'[monitor]\nreplica = "{loc.lower()}1"\nlocation = "{loc}"\n'
            path.write_text(base.replace("[monitor]\n", named, 1))
            probes = NowProbes()
            m = monitor_on(path, probes, pd)
            stores.append(m.store)
            await m.start()
            made[loc] = (m, probes)
        yield made
    finally:
        for m, _ in made.values():
            await m.stop()
        for store in stores:
            store.close()


def test_a_failure_seen_from_one_location_only_pages_nobody_and_one_seen_from_both_pages_once(
    tmp_path: Path,
) -> None:
    pd = FakePagerDuty()
    hubs = ("x", "y")
    shared: dict[str, str] = {}  # location -> its replica's hub

    async def scenario() -> None:
        async with locations(tmp_path, hubs, pd) as made:
            (a, a_probes), (b, b_probes) = made["A"], made["B"]
            store = a.store

            def both_seen() -> bool:
                every = store.sightings.all()
                return all({s.location for s in every.get(h, [])} == {"A", "B"} for h in hubs)

            await until(lambda: len(a.hubs.hubs) == len(b.hubs.hubs) == 1, what="a hub each")
            await until(
                lambda: a.witness.hubs == b.hubs.hubs and b.witness.hubs == a.hubs.hubs,
                what="each location witnessing the other's hub",
            )
            # /healthz says which hubs a replica probes for its location only.
            assert a.health()[1]["replica"]["witnesses"] == sorted(b.hubs.hubs)
            assert a.health()[1]["replica"]["hubs"] == sorted(a.hubs.hubs)
            await until(both_seen, what="every hub seen from both locations")
            b_hub = next(iter(b.hubs.hubs))

            # B's network breaks: B's own hub is held back, and nothing pages.
            b_probes.codes.update(dict.fromkeys(hubs, Code.HUB_ERROR))
            await until(
                lambda: (
                    held_key(login_key(b_hub)) in store.tracks()
                    and store.tracks()[held_key(login_key(b_hub))].open_key is not None
                ),
                what="B's hub's page held back",
            )
            n = len(b_probes.ran)
            await until(lambda: len(b_probes.ran) >= n + 4, what="more failing probes from B")
            # B's witness probe of A's hub runs at most once a second: wait for its word, or A
            # could start failing first and B would rightly say nothing.
            a_hub = next(iter(a.hubs.hubs))
            await until(
                lambda: any(
                    w.startswith(f"{a_hub} fails from location B only (the others see it work)")
                    for w in warned()
                ),
                what="B saying it alone sees A's hub fail",
            )
            assert pd.accepted == [], pd.brief()
            shared.update(A=a_hub, B=b_hub)

            # The hubs fail from A too: one page per hub.
            a_probes.codes.update(dict.fromkeys(hubs, Code.HUB_ERROR))
            keys = {login_key(h) for h in hubs}
            await until(lambda: keys <= set(pd.notified), what="both hubs paged")
            n = len(a_probes.ran)
            await until(lambda: len(a_probes.ran) >= n + 4, what="more failing probes from A")
            assert sorted(pd.notified) == sorted(keys), pd.brief()

            # They work again from both: both resolve.
            a_probes.codes.clear()
            b_probes.codes.clear()
            await until(
                lambda: all(f"resolve {k}" in pd.brief() for k in keys), what="both resolved"
            )
            assert sorted(pd.notified) == sorted(keys), pd.brief()

    def warned() -> list[str]:
        return [e["event"] for e in logs if e.get("log_level") == "warning"]

    with structlog.testing.capture_logs() as logs:
        asyncio.run(asyncio.wait_for(scenario(), 90))
    b_hub = shared["B"]
    assert any(w.startswith(f"{b_hub} fails from location B only") for w in warned()), warned()


def test_probe_list_shows_what_each_location_saw_only_with_a_quorum() -> None:
    from rich.console import Console

    from loginprobe.cli.tables import list_rows, list_table
    from loginprobe.config.schema import Config

    hub = {"url": "https://h.example.org", "flow": "generic_oidc"}
    hub |= {"username_env": "U", "password_env": "P"}
    at = datetime(2026, 11, 30, 12, 1, tzinfo=UTC).timestamp()
    sightings = [
        dataclasses.replace(seen("A"), at=at),
        dataclasses.replace(seen("B", Code.HUB_UNREACHABLE), at=at),
    ]
    config = Config(monitor={"quorum": 2, "location": "A"}, hubs={"h": hub})
    now = datetime.fromtimestamp(at + 30, UTC)
    f = dataclasses.replace(fleet(*sightings), now=at + 30)
    [row] = list_rows(config, {}, {}, now, None, None, f)
    assert [(s["location"], s["code"]) for s in row["seen_from"]] == [
        ("A", "ok"),
        ("B", "hub_unreachable"),
    ]
    console = Console(width=300, record=True)
    console.print(list_table([row], now))
    assert "A ok 12:01 · B hub_unreachable 12:01" in console.export_text()
    [plain] = list_rows(config, {}, {}, now, None, None, dataclasses.replace(f, quorum=1))
    assert plain["seen_from"] == []
    assert "seen from" not in [str(c.header) for c in list_table([plain], now).columns]


def test_a_location_gone_is_logged_once_and_its_hub_pages_on_the_word_of_the_rest(
    tmp_path: Path,
) -> None:
    from loginprobe.monitor.journal import Journal
    from loginprobe.monitor.pipeline import Pipeline

    settings = Settings.load(write_settings(tmp_path, ("h",), 'quorum = 2\nlocation = "A"'))
    store = Store(settings.loaded.config.monitor.state)
    store.replicas.beat("a1", 3600.0, time.time(), time.time(), "A")  # B has no replica alive
    store.sightings.record(dataclasses.replace(seen("B"), at=time.time() - 5))  # B's last word
    pipeline = Pipeline(
        settings=lambda: settings,
        journal=Journal(store),
        metrics=Metrics(),
        tracks={},
        location=lambda: "A",
    )

    async def fail(times: int) -> list[str]:
        keys = []
        for _ in range(times):
            result = dataclasses.replace(
                verdict_result("h", Code.HUB_ERROR), started_at=datetime.now(UTC).isoformat()
            )
            keys += [f"{a.kind} {a.dedup_key}" for a in await pipeline.on_probe(result)]
        return keys

    with structlog.testing.capture_logs() as logs:
        assert asyncio.run(fail(3)) == ["trigger loginprobe/h/login"]
    short = [e for e in logs if str(e["event"]).startswith("fewer locations alive")]
    assert len(short) == 1 and short[0]["locations"] == ["A"]
    assert [s.location for s in store.sightings.of("h")] == ["A", "B"]  # A's own recorded too
    store.close()


def test_an_idp_seen_failing_from_one_location_only_does_not_page_its_incident() -> None:
    """Location A cannot reach the IdP (its egress, its DNS); B's witnesses see every hub log in.
    The IdP's incident opens held back, naming A; once B sees it fail too, it pages."""
    hubs = "abc"
    key = "loginprobe/idp/cilogon/login"

    def quorum_fleet(b: Code) -> Fleet:
        return Fleet(
            groups={h: "cilogon" for h in hubs},
            hosts={h: f"{h}.example.org" for h in hubs},
            window_s=120.0,
            location="A",
            quorum=2,
            sightings={h: [seen("B", b, hub=h)] for h in hubs},
            locations=frozenset("AB"),
            now=NOW,
        )

    tracks: dict[str, Track] = {}
    sent: list[str] = []
    for fleet_now in (quorum_fleet(Code.OK), quorum_fleet(Code.IDP_UNREACHABLE)):
        for h in hubs:
            ctx = Context(
                Thresholds(2, 2), NOW_ISO, datetime.fromtimestamp(NOW, UTC), (30,), {}, fleet_now
            )
            result = verdict_result(h, Code.IDP_UNREACHABLE)
            moved, actions = react(ProbeFact(result), tracks, ctx)
            tracks.update(moved)
            sent += [f"{a.kind} {a.dedup_key}" for a in actions]
        if fleet_now.sightings and fleet_now.sightings["a"][0].ok:
            assert sent == [], sent  # A alone: held
            assert is_held(tracks, key)
    assert f"trigger {key}" in sent  # B agrees: the IdP's page goes out
