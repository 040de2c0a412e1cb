"""The pipeline: every concern a track in one list (pure), and the shell that writes and queues."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from loginprobe.model import Code
from loginprobe.monitor.journal import Journal
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.pipeline import (
    Context,
    HubGone,
    Pipeline,
    ProbeFact,
    TlsFact,
    react,
)
from loginprobe.monitor.settings import Settings
from loginprobe.monitor.tracks.expiry import tls_notice
from loginprobe.monitor.tracks.prober import PROBER_KEY, prober_key
from loginprobe.monitor.tracks.track import Thresholds, Track
from loginprobe.store import Store
from tests.unit.fakes import ENV, verdict_result, write_settings

CTX = Context(
    thresholds=Thresholds(2, 2),
    now_iso="2026-11-30T00:00:00+00:00",
    calendar=datetime(2026, 11, 30, tzinfo=UTC),
    lead_days=(30, 14, 7, 1),
    secret_expires={},
)


def feed(facts: list[ProbeFact | TlsFact | HubGone], tracks: dict[str, Track] | None = None):
    tracks = dict(tracks or {})
    actions = []
    for fact in facts:
        moved, new = react(fact, tracks, CTX)
        tracks.update(moved)
        actions += [f"{a.kind} {a.dedup_key}" for a in new]
    return tracks, actions


def probe(hub: str, code: Code, **kw: object) -> ProbeFact:
    return ProbeFact(verdict_result(hub, code), **kw)  # type: ignore[arg-type]


def test_a_hub_whose_probes_keep_failing_on_our_side_pages_though_others_are_healthy() -> None:
    facts = [probe("a", Code.PROBE_ERROR), probe("b", Code.OK)] * 2
    tracks, actions = feed(facts)
    assert actions == [f"trigger {prober_key('a')}"]
    assert not tracks.get("loginprobe/a/login", Track()).is_open  # never a hub outage


def test_one_browser_death_counts_once_however_many_probes_it_took() -> None:
    took_two = [
        probe("a", Code.PROBE_ERROR, browser_fault="new"),
        probe("b", Code.PROBE_ERROR, browser_fault="seen"),
    ]
    tracks, actions = feed(took_two)
    assert actions == []
    assert tracks[PROBER_KEY].failures == 1
    assert prober_key("a") not in tracks and prober_key("b") not in tracks
    # A second death, later: now the browser keeps dying, one page about the prober.
    _, actions = feed([probe("b", Code.PROBE_ERROR, browser_fault="new")], tracks)
    assert actions == [f"trigger {PROBER_KEY}"]


def test_a_working_probe_counts_for_the_browser_and_for_its_hub() -> None:
    tracks, _ = feed([probe("a", Code.PROBE_ERROR, browser_fault="new")] * 1)
    tracks, _ = feed([probe("a", Code.PROBE_ERROR, browser_fault="new")], tracks)
    assert tracks[PROBER_KEY].is_open
    tracks, actions = feed([probe("a", Code.HUB_ERROR), probe("b", Code.OK)], tracks)
    assert actions == [f"resolve {PROBER_KEY}"]


def test_a_warning_turning_into_an_outage_is_a_new_incident_that_notifies() -> None:
    tracks, actions = feed([probe("a", Code.LOGIN_REJECTED)] * 2 + [probe("a", Code.HUB_ERROR)])
    assert actions == ["trigger loginprobe/a/login/warning"]  # one hub_error: not yet an outage
    tracks, actions = feed([probe("a", Code.HUB_ERROR)], tracks)
    assert actions == [
        "trigger loginprobe/a/login",
        "resolve loginprobe/a/login/warning",
    ]
    _, actions = feed([probe("a", Code.OK)] * 2, tracks)
    assert actions == ["resolve loginprobe/a/login"]


def test_a_person_asking_to_page_pages_at_the_first_failure() -> None:
    _, actions = feed([probe("a", Code.HUB_ERROR, confirmed=True)])
    assert actions == ["trigger loginprobe/a/login"]


def test_a_removed_hub_resolves_everything_it_had_open() -> None:
    cert = tls_notice("a", "a.example.org", datetime(2026, 12, 5, tzinfo=UTC), CTX.calendar)
    facts = [probe("a", Code.HUB_ERROR)] * 2 + [probe("a", Code.PROBE_ERROR)] * 2
    tracks, _ = feed([*facts, TlsFact("a", cert)])
    assert {k for k, t in tracks.items() if t.is_open} == {
        "loginprobe/a/login",
        prober_key("a"),
        "loginprobe/a/tls",
    }
    tracks, actions = feed([HubGone("a")], tracks)
    assert sorted(actions) == [
        "resolve loginprobe/a/login",
        "resolve loginprobe/a/tls/7d",
        f"resolve {prober_key('a')}",
    ]
    assert not any(t.is_open for t in tracks.values())


# -- the shell -----------------------------------------------------------------------------------
@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    settings = Settings.load(write_settings(tmp_path, hubs=("a",)))
    store = Store(settings.loaded.config.monitor.state)
    woken: list[int] = []
    yield Pipeline(
        settings=lambda: settings,
        journal=Journal(store),
        metrics=Metrics(),
        tracks={},
        location=lambda: "here",
        wake_outbox=lambda: woken.append(1),
    )
    store.close()


def test_the_shell_writes_verdict_tracks_and_redacted_events_in_one_go(pipeline: Pipeline) -> None:
    store = pipeline.journal.store
    secret = ENV["T_PASS"]
    for _ in range(2):
        asyncio.run(
            pipeline.on_probe(verdict_result("a", Code.HUB_ERROR, summary=f"a: said {secret}"))
        )
    assert [h["code"] for h in store.history("a")] == ["hub_error", "hub_error"]
    assert store.tracks()["loginprobe/a/login"].open_key == "loginprobe/a/login"
    item = store.outbox.next_event()
    assert item is not None and item[0].dedup_key == "loginprobe/a/login"
    assert secret not in str(item[0].event) and secret not in str(store.history("a"))


def test_a_probe_of_a_hub_removed_while_it_ran_is_kept_as_history_only(
    pipeline: Pipeline,
) -> None:
    actions = asyncio.run(pipeline.on_probe(verdict_result("gone", Code.HUB_ERROR)))
    assert actions == []
    assert [h["code"] for h in pipeline.journal.store.history("gone")] == ["hub_error"]
    assert pipeline.tracks == {}


def test_secret_expiry_stages_come_from_graph_before_the_declared_date(pipeline: Pipeline) -> None:
    pipeline.graph_end["a"] = date(2026, 12, 3)
    pipeline.clock = lambda: datetime(2026, 11, 30, tzinfo=UTC).timestamp()
    actions = asyncio.run(pipeline.on_probe(verdict_result("a", Code.OK)))
    assert [(a.kind, a.dedup_key) for a in actions] == [("trigger", "loginprobe/a/expiry/7d")]


def test_the_fleet_follows_a_reloaded_config(pipeline: Pipeline, tmp_path: Path) -> None:
    before = pipeline.fleet(time.time())
    assert before.hosts == {"a": "a.example.org"}
    assert pipeline.fleet(time.time()).hosts is before.hosts  # parsed once per config
    reloaded = Settings.load(write_settings(tmp_path, hubs=("a", "b")))
    pipeline.settings = lambda: reloaded
    after = pipeline.fleet(time.time())
    assert after.hosts == {"a": "a.example.org", "b": "b.example.org"}
