"""`probe serve`'s orchestration, fast: the real scheduler, pool, pipeline, journal, outbox,
health and lease on a real SQLite store, with fakes only at the edges (the probe function, the
browser launcher, PagerDuty's transport). Each test waits for a condition, never for time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import event

from loginprobe.model import Code
from loginprobe.monitor.heartbeat import Target
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.tracks.prober import PROBER_KEY, prober_key
from loginprobe.store import Store
from tests.unit.fakes import (
    ENV,
    FakeLauncher,
    FakePagerDuty,
    FakeProbes,
    monitor_on,
    until,
    verdict_result,
    write_settings,
)

FAST = 'interval = "500ms"\nretry_after_failure = "100ms"\nlease_ttl = "900ms"'


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


@contextlib.asynccontextmanager
async def running(
    config: Path,
    probes: FakeProbes,
    pd: FakePagerDuty,
    launcher: FakeLauncher | None = None,
) -> AsyncIterator[Monitor]:
    m = monitor_on(config, probes, pd, launcher)
    await m.start()
    try:
        yield m
    finally:
        await m.stop()
        m.store.close()


def go(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 90))  # type: ignore[arg-type]


def test_a_failing_hub_pages_once_after_two_failures_and_resolves_once(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes({"a": Code.HUB_ERROR})

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a", "b"), FAST), probes, pd):
            await until(lambda: pd.notified == ["loginprobe/a/login"], what="the page")
            probes.codes["a"] = Code.OK
            await until(lambda: "resolve loginprobe/a/login" in pd.brief(), what="the resolve")
            # b's first start is spread up to an interval in; a's retries must not keep it out
            await until(lambda: "b" in probes.ran, what="a probe of b")

    go(scenario())
    assert pd.brief() == ["trigger loginprobe/a/login", "resolve loginprobe/a/login"]


def test_healthz_fails_when_the_sender_has_stopped(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            await until(lambda: m.pipeline.last_tick is not None, what="a probe")
            assert m.health()[0]
            task = m.outbox._task
            assert task is not None
            task.cancel()
            await asyncio.wait({task})
            healthy, body = m.health()
            assert not healthy and body["status"] == "failing"
            assert any("outbox sender has stopped" in p for p in body["problems"])

    go(scenario())


def test_health_reads_no_store_on_the_event_loop_once_running(tmp_path: Path) -> None:
    """/healthz, the status page and the heartbeat ask health() on the event loop: a store that
    hangs (a PostgreSQL gone silent, up to its connect timeout) must not hang the loop with it."""
    pd, probes = FakePagerDuty(), FakeProbes()
    readers: list[str] = []

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            stats, get = m.store.outbox.stats, m.store.leases.get

            def watched_stats(now: float) -> Any:
                readers.append(threading.current_thread().name)
                return stats(now)

            def watched_get(name: str) -> Any:
                readers.append(threading.current_thread().name)
                return get(name)

            m.store.outbox.stats = watched_stats  # type: ignore[method-assign]
            m.store.leases.get = watched_get  # type: ignore[method-assign]
            await until(lambda: len(readers) >= 2, what="the store read by the watcher")
            for _ in range(5):
                assert m.health()[1]["outbox"] is not None
                await asyncio.sleep(0)

    go(scenario())
    loop_thread = threading.main_thread().name
    assert readers and loop_thread not in readers, readers


def _refuse_writes(store: Store) -> None:
    store.engine.dispose()
    event.listen(store.engine, "connect", lambda c, _: c.execute("PRAGMA query_only = ON"))


def test_an_unwritable_store_fails_health_within_one_probe_and_the_page_still_goes_out(
    tmp_path: Path,
) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            await until(lambda: m.pipeline.last_tick is not None, what="a probe")
            _refuse_writes(m.store)
            probes.codes["a"] = Code.HUB_ERROR
            before = len(probes.ran)
            await until(lambda: len(probes.ran) > before and m.pipeline.last_tick is not None)
            await until(lambda: not m.health()[0], what="health to fail")
            _, body = m.health()
            assert any("store cannot be written" in p for p in body["problems"])
            await until(lambda: pd.notified == ["loginprobe/a/login"], what="the page")
            assert b"loginprobe_store_errors_total" in m.metrics.render()
            assert m.tracks["loginprobe/a/login"].is_open  # kept in memory

    go(scenario())


def test_a_probe_asked_for_while_the_hub_is_being_probed_runs_right_after(
    tmp_path: Path,
) -> None:
    """The secret check's "probe at once" (or a handover) landing while a probe of the same hub
    runs: the scheduler would skip that run (one instance per job); it must not be lost until
    the next interval."""
    pd, probes = FakePagerDuty(), FakeProbes()
    slow = 'interval = "1h"\nretry_after_failure = "1h"\nlease_ttl = "900ms"'

    async def scenario() -> None:
        probes.block["a"] = asyncio.Event()
        async with running(write_settings(tmp_path, ("a",), slow), probes, pd) as m:
            await until(lambda: m.probing("a"), what="the first probe")
            m.checks.probe_now("a")
            await asyncio.sleep(0)
            probes.block["a"].set()
            await until(lambda: len(probes.ran) >= 2, what="the probe asked for")

    go(scenario())


def test_the_heartbeat_stops_while_the_store_cannot_be_written(tmp_path: Path) -> None:
    pd, probes, pinged = FakePagerDuty(), FakeProbes(), []

    async def ping(url: str, timeout: float) -> None:
        pinged.append(url)

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            m.heartbeat.target = lambda: Target("http://127.0.0.1:9/ping/abc", 60.0)
            m.heartbeat.send = ping
            await until(lambda: m.pipeline.last_tick is not None, what="a probe")
            assert await m.heartbeat.beat() and len(pinged) == 1  # healthy: it pings
            _refuse_writes(m.store)
            await until(lambda: not m.health()[0], what="health to fail")
            assert not await m.heartbeat.beat()
            assert len(pinged) == 1, "a monitor that cannot write its store kept the switch quiet"

    go(scenario())


def test_one_browser_death_with_two_probes_in_flight_counts_once(tmp_path: Path) -> None:
    pd, launcher = FakePagerDuty(), FakeLauncher()
    probes = FakeProbes(block={"a": asyncio.Event(), "b": asyncio.Event()})

    async def scenario() -> None:
        # Events must belong to this loop.
        probes.block = {"a": asyncio.Event(), "b": asyncio.Event()}
        cfg = write_settings(tmp_path, ("a", "b"), FAST + "\nconcurrency = 2")
        async with running(cfg, probes, pd, launcher) as m:
            await until(lambda: {"a", "b"} <= set(probes.ran), what="both probes in flight")
            launcher.browsers[-1].die()
            await until(lambda: PROBER_KEY in m.tracks, what="the browser's track")
            await until(lambda: not m._in_flight or len(probes.ran) > 2)
            assert m.tracks[PROBER_KEY].failures == 1
            assert prober_key("a") not in m.tracks and prober_key("b") not in m.tracks
            assert pd.accepted == []

    go(scenario())


def test_a_second_monitor_on_the_same_store_stands_by_then_takes_over(tmp_path: Path) -> None:
    pd, first_probes, second_probes = FakePagerDuty(), FakeProbes(), FakeProbes()
    cfg = write_settings(tmp_path, ("a",), FAST)

    async def scenario() -> None:
        async with (
            running(cfg, first_probes, pd) as first,
            running(cfg, second_probes, pd) as second,
        ):
            assert first.role == "active" and second.role == "standby"
            await until(lambda: len(first_probes.ran) >= 2, what="the first probing")
            assert second_probes.ran == []
            healthy, body = second.health()
            assert healthy and body["status"] == "standby"
            await first.stop()  # hands the lease over
            await until(lambda: second.role == "active", what="the takeover")
            await until(lambda: len(second_probes.ran) >= 1, what="the second probing")

    go(scenario())


def test_a_monitor_that_dies_is_replaced_within_its_lease(tmp_path: Path) -> None:
    pd, first_probes, second_probes = FakePagerDuty(), FakeProbes(), FakeProbes()
    cfg = write_settings(tmp_path, ("a",), FAST)

    async def scenario() -> None:
        async with (
            running(cfg, first_probes, pd) as first,
            running(cfg, second_probes, pd) as second,
        ):
            await until(lambda: len(first_probes.ran) >= 1)
            # Dies without a word: no release, no more renewals (its renewer thread stops) or probes.
            first.stopping = first.share.stopping = True
            for task in first._tasks:
                task.cancel()
            first.scheduler.shutdown()
            await until(lambda: second.role == "active", what="the takeover")
            first.lease.info = None  # it is dead: it must not release the other's lease

    go(scenario())


def test_a_hub_lost_and_taken_back_in_one_round_of_the_leases_is_probed_again(
    tmp_path: Path,
) -> None:
    """The renewer found the hub lost, the other replica handed it back, and the same round took
    it again: lost, then gained. The new lease must not be dropped with the old one."""
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            await until(lambda: len(probes.ran) >= 1, what="a probe")
            await m.lost("a", "its lease ran out or passed to another replica")
            await m.gained(["a"])
            assert "a" in m.hubs.hubs
            before = len(probes.ran)
            await until(lambda: len(probes.ran) > before, what="a probe after the round")

    go(scenario())


def test_a_reload_that_removes_a_hub_resolves_what_it_had_open(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes({"a": Code.HUB_ERROR})

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a", "b"), FAST), probes, pd) as m:
            await until(lambda: pd.notified == ["loginprobe/a/login"])
            assert await m.reload(write_settings(tmp_path, ("b",), FAST))
            await until(lambda: "resolve loginprobe/a/login" in pd.brief())
            assert not any(t.is_open for t in m.tracks.values())

    go(scenario())


def test_a_reload_that_fails_halfway_changes_nothing(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()
    not_a_cert = tmp_path / "ca.pem"
    not_a_cert.write_text("this is not a certificate\n")

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            before = m.settings
            bad = write_settings(tmp_path, ("a", "b"), FAST, extra="")
            text = bad.read_text().replace(
                'routing_key_env = "T_ROUTING"',
                f'routing_key_env = "T_ROUTING"\nca_file = "{not_a_cert}"',
            )
            bad.write_text(text)
            assert not await m.reload(bad)
            assert m.settings is before
            assert set(m.settings.loaded.config.hubs) == {"a"}

    go(scenario())


def test_a_probe_in_flight_across_a_reload_that_removes_its_hub_is_kept(tmp_path: Path) -> None:
    pd = FakePagerDuty()
    probes = FakeProbes({"b": Code.HUB_ERROR})

    async def scenario() -> None:
        probes.block = {"b": asyncio.Event()}
        async with running(write_settings(tmp_path, ("a", "b"), FAST), probes, pd) as m:
            await until(lambda: "b" in probes.ran, what="b's probe in flight")
            assert await m.reload(write_settings(tmp_path, ("a",), FAST))
            probes.block["b"].set()
            await until(lambda: m.store.history("b") != [], what="b's verdict in the store")
            assert m.store.history("b")[0]["code"] == "hub_error"

    go(scenario())


def test_a_probe_handed_over_by_probe_run_alert_pages_through_the_monitor(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            failing = verdict_result("a", Code.CALLBACK_ERROR)
            item = m.store.inbox.put(json.loads(json.dumps(failing.to_json())), time.time())
            await until(lambda: pd.notified == ["loginprobe/a/login"], what="the page")
            # The answer is written once the verdict is in; the page may go out before it.
            await until(lambda: m.store.inbox.outcome(item) is not None, what="the answer")
            assert m.store.inbox.outcome(item) == "trigger loginprobe/a/login"
            # The monitor owns the incident now: its own healthy probes resolve it.
            await until(lambda: "resolve loginprobe/a/login" in pd.brief(), what="the resolve")

    go(scenario())


def test_a_prober_failure_leaves_probe_success_alone(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            await until(lambda: b'probe_success{hub="a"} 1.0' in m.metrics.render())
            probes.codes["a"] = Code.PROBE_ERROR
            await until(lambda: b'code="probe_error"' in m.metrics.render())
            assert b'probe_success{hub="a"} 1.0' in m.metrics.render()

    go(scenario())


def _refuse_connections(store: Store) -> None:
    def refuse(*_: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    store.engine.dispose()
    event.listen(store.engine, "connect", refuse)


def test_a_store_that_cannot_be_read_is_one_line_a_round_not_a_traceback(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        async with running(write_settings(tmp_path, ("a",), FAST), probes, pd) as m:
            await until(lambda: m.pipeline.last_tick is not None, what="a probe")
            with structlog.testing.capture_logs() as logs:
                _refuse_connections(m.store)
                await until(
                    lambda: any(e["event"] == "cannot read the store's inbox" for e in logs),
                    what="the inbox's warning",
                )
            inbox = [e for e in logs if e["event"] == "cannot read the store's inbox"]
            assert "unable to open database file" in inbox[0]["error"]
            assert [e["event"] for e in logs if "exc_info" in e] == []

    go(scenario())


def test_a_hub_records_a_trace_on_its_first_probe_and_to_confirm_a_failure_not_while_healthy(
    tmp_path: Path,
) -> None:
    """A trace (and with it the password stand-in) costs CPU on every probe that records one:
    a healthy hub's probes record none, but its first one here does (the stand-in proven on each
    hub's IdP at start), and so does the retry that confirms a failure."""
    config = _with_evidence(write_settings(tmp_path, ("a",), FAST), tmp_path)
    probes = FakeProbes()

    async def scenario() -> None:
        async with running(config, probes, FakePagerDuty()):
            await until(lambda: len(probes.ran) >= 3, what="three healthy probes")
            probes.codes["a"] = Code.HUB_ERROR
            failed = len(probes.ran)
            await until(lambda: len(probes.ran) >= failed + 3, what="a failure and its retries")

    go(scenario())
    # (A fake probe answers without yielding: the third had answered when the code changed.) The
    # probe that first saw the failure had no reason to record one; the retries after it do.
    assert probes.traced[:6] == [True, False, False, False, True, True]


def _with_evidence(config: Path, tmp_path: Path) -> Path:
    text = config.read_text().replace('artifacts_dir = ""', f'artifacts_dir = "{tmp_path}/ev"')
    config.write_text(text)
    return config


def test_an_idp_that_rejects_only_the_password_stand_in_is_never_paged_as_the_account(
    tmp_path: Path,
) -> None:
    """An IdP page that hashes the password in the browser rejects the stand-in a traced probe
    types: the same login at once with the password itself tells it from a rejected account.
    The hub's probes then go on without the stand-in (and so without a trace), and a later
    failure of the hub pages as what it is."""
    config = _with_evidence(write_settings(tmp_path, ("a",), FAST), tmp_path)
    pd, probes = FakePagerDuty(), FakeProbes(rejects_stand_in={"a"})

    async def scenario() -> list[Any]:
        with structlog.testing.capture_logs() as logs:
            async with running(config, probes, pd):
                await until(lambda: len(probes.ran) >= 4, what="four probes")
                probes.codes["a"] = Code.HUB_ERROR
                await until(lambda: pd.notified == ["loginprobe/a/login"], what="the page")
        return logs

    logs = asyncio.run(asyncio.wait_for(scenario(), 90))
    # The first probe (traced) was rejected, the same login without the stand-in was not; none
    # after them typed the stand-in, the failure's retries included.
    assert probes.traced[:2] == [True, False]
    assert not any(probes.traced[1:]), probes.traced
    [page] = [e for e in pd.accepted if e["event_action"] == "trigger"]
    assert page["payload"]["class"] == "hub_error", page
    told = [e for e in logs if "rejected the password stand-in" in e["event"]]
    assert [(e["hub"], e["log_level"]) for e in told] == [("a", "warning")], told


def test_a_login_without_the_stand_in_that_proves_nothing_leaves_the_rejection_standing(
    tmp_path: Path,
) -> None:
    """The login without the stand-in timed out (it never reached the IdP's answer): nothing
    is learnt of the stand-in, the traced probe's rejection stands and pages, and the next
    retry asks again."""
    config = _with_evidence(write_settings(tmp_path, ("a",), FAST), tmp_path)
    pd = FakePagerDuty()
    probes = FakeProbes({"a": Code.TIMEOUT}, rejects_stand_in={"a"})

    async def scenario() -> list[Any]:
        with structlog.testing.capture_logs() as logs:
            async with running(config, probes, pd):
                await until(lambda: len(pd.notified) == 1, what="the page")
                await until(lambda: len(probes.ran) >= 4, what="four probes")
        return logs

    logs = asyncio.run(asyncio.wait_for(scenario(), 90))
    [page, *_] = [e for e in pd.accepted if e["event_action"] == "trigger"]
    assert page["payload"]["class"] == "login_rejected", page
    assert probes.traced[:4] == [True, False, True, False], probes.traced
    assert not [e for e in logs if "rejected the password stand-in" in e["event"]]


def test_a_rejected_account_is_rejected_without_the_stand_in_too_and_pages_as_such(
    tmp_path: Path,
) -> None:
    """The account itself rejected: the login without the stand-in is rejected as well, so the
    traced probe's verdict stands, and the retries type the password itself (no trace, not
    doubled: a shared account rejected on many hubs) until a login gets through."""
    config = _with_evidence(write_settings(tmp_path, ("a",), FAST), tmp_path)
    pd, probes = FakePagerDuty(), FakeProbes({"a": Code.LOGIN_REJECTED})
    again = 0

    async def scenario() -> None:
        nonlocal again
        async with running(config, probes, pd):
            await until(lambda: len(pd.notified) == 1, what="the page")
            await until(lambda: len(probes.ran) >= 5, what="five probes")
            probes.codes["a"] = Code.OK  # the account's password is set right
            await until(lambda: any("resolve" in b for b in pd.brief()), what="the resolve")
            probes.codes["a"] = Code.LOGIN_REJECTED  # and wrong again
            again = len(probes.ran)
            await until(lambda: len(probes.ran) >= again + 6, what="six more probes")

    go(scenario())
    [page, *_] = [e for e in pd.accepted if e["event_action"] == "trigger"]
    assert page["payload"]["class"] == "login_rejected", page
    # First (traced), the same without the stand-in at once, then the retries without, alone.
    assert probes.traced[:5] == [True, False, False, False, False], probes.traced
    # Once a login got through, a rejection is asked about again: the first traced probe after
    # the first failing one has its login without the stand-in beside it.
    after = probes.traced[again:]
    first_traced = after.index(True)
    assert after[first_traced : first_traced + 3] == [True, False, False], probes.traced


def test_a_hub_that_sent_its_last_probe_straight_to_the_idp_has_the_next_told_so(
    tmp_path: Path,
) -> None:
    """The password stand-in's interception goes on as the browser leaves the hub's sign-in page;
    for a hub with none (its URL leads straight to the IdP) the probe is told, from the last
    probe's walk, to switch it on from the start rather than open the hub twice."""
    config = write_settings(tmp_path, monitor='interval = "1h"')
    straight = ("hub_start", "idp_page", "idp_login", "oauth_callback", "hub_landing")
    probes = FakeProbes(steps={"a": straight})

    def told() -> list[bool]:
        return [
            given
            for hub, given in zip(probes.ran, probes.straight_given, strict=True)
            if hub == "a"
        ]

    async def scenario() -> None:
        async with running(config, probes, FakePagerDuty()) as m:
            await until(lambda: len(told()) >= 1, what="the first probe")
            probes.steps["a"] = ("hub_start",)  # failed at the hub's URL: nothing learnt
            m._probe_now("a")
            await until(lambda: len(told()) >= 2, what="the second probe")
            probes.steps["a"] = ("hub_start", "hub_login", *straight[1:])  # a sign-in page now
            m._probe_now("a")
            await until(lambda: len(told()) >= 3, what="the third probe")
            m._probe_now("a")
            await until(lambda: len(told()) >= 4, what="the fourth probe")

    go(scenario())
    # Not known at first; after a walk straight to the IdP, on from the start, still after a walk
    # that never left the hub (nothing learnt); after one through the hub's sign-in page, not.
    assert told()[:4] == [False, True, True, False]
