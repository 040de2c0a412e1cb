"""The HTTP endpoints over a running monitor (fakes only at its edges): /healthz answers what the
monitor's health says, /metrics and /api/status serve what it knows, the page renders."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from loginprobe.model import Code
from loginprobe.monitor.tracks.login import login_key
from loginprobe.web.app import make_app
from tests.unit.fakes import ENV, FakePagerDuty, FakeProbes, until, write_settings
from tests.unit.test_monitor import FAST, running


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def test_healthz_status_and_metrics_follow_the_monitor(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes({"a": Code.HUB_ERROR})

    async def scenario() -> None:
        config = write_settings(tmp_path, ("a", "b"), FAST)
        async with running(config, probes, pd) as m, TestClient(TestServer(make_app(m))) as client:
            await until(lambda: pd.notified == ["loginprobe/a/login"], what="the page")
            # b's first start is spread up to an interval in: the search below needs its verdict
            await until(lambda: login_key("b") in m.tracks, what="b's first verdict")
            health = await client.get("/healthz")
            assert health.status == 200
            assert (await health.json())["incidents_open"] == ["loginprobe/a/login"]
            status = json.loads(await (await client.get("/api/status")).text())
            assert status["failing"] == ["a"]
            assert status["incidents_open"] == ["loginprobe/a/login"]
            metrics = await (await client.get("/metrics")).text()
            assert 'probe_success{hub="a"} 0.0' in metrics
            assert "loginprobe_healthy 1.0" in metrics
            page = await (await client.get("/")).text()
            assert "hub_error" in page
            # a has only failed (twice at least, so time was credited): 0% whatever the window
            a = next(h for h in status["hubs"] if h["hub"] == "a")
            assert {w: v["availability"] for w, v in a["availability"].items()} == {
                "24h": 0.0,
                "7d": 0.0,
                "30d": 0.0,
            }
            hub = await client.get("/hub/a")
            assert hub.status == 200
            text = await hub.text()
            # the strip and the timeline; no login time to draw for a hub never logged in to
            assert text.count("<svg") == 2 and text.count("No probe logged in.") == 2
            missing = await client.get("/hub/nope")
            assert missing.status == 404
            assert await missing.text() == "no hub named 'nope' in the config\n"
            found = await (await client.get("/", params={"q": "healthy"})).text()
            assert 'data-hub="b"' in found and 'data-hub="a"' not in found
            task = m.outbox._task
            assert task is not None
            task.cancel()
            await asyncio.wait({task})
            dead = await client.get("/healthz")
            assert dead.status == 503
            assert "outbox sender has stopped" in " ".join((await dead.json())["problems"])
            assert "outbox sender has stopped" in await (await client.get("/")).text()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_the_status_page_still_renders_when_the_store_cannot_be_read(tmp_path: Path) -> None:
    pd, probes = FakePagerDuty(), FakeProbes()

    async def scenario() -> None:
        config = write_settings(tmp_path, ("a",), FAST)
        async with running(config, probes, pd) as m, TestClient(TestServer(make_app(m))) as client:
            await until(lambda: m.pipeline.last_tick is not None, what="a probe")
            m.store.engine.dispose()
            (tmp_path / "state.sqlite").write_bytes(b"this is not a database" * 100)
            # The outbox's figures are read in a thread every few seconds: the page says so then.
            deadline = time.monotonic() + 20
            while True:
                page = await client.get("/")
                assert page.status == 200
                if "outbox cannot be read" in await page.text():
                    break
                assert time.monotonic() < deadline, "the page never said the outbox is unreadable"
                await asyncio.sleep(0.2)
            hub = await client.get("/hub/a")
            assert hub.status == 503
            assert (await hub.text()).startswith("hub 'a': the store cannot be read (")

    asyncio.run(asyncio.wait_for(scenario(), 30))
