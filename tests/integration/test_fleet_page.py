"""A fleet of 200 hubs in one config against the sandbox: `probe check` accepts it, `probe list`
lists them, and the status page stays usable in real Chromium at desktop and phone widths.

One real probe of the sandbox hub (healthy) and the classifier's verdict on a hub whose port
refuses connections (failing) go into the store through Store.record for every hub of the fleet
(renamed), as the monitor writes them — 200 browser probes would take minutes. The page is served
by the real web app over that store (a Monitor that is never started).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from loginprobe.model import Failure, FailureKind, Observation, ProbeResult, Step
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.prober.browser import open_browser
from loginprobe.prober.classify import classify
from loginprobe.store import Store
from loginprobe.web.app import make_app, start_site
from sandbox import Sandbox, free_port
from tests.integration.conftest import Prober

pytestmark = pytest.mark.sandbox

HUBS = [f"fleet-{n:03d}" for n in range(200)]
DOWN = {"fleet-013", "fleet-057", "fleet-101", "fleet-149", "fleet-188"}  # nobody listens
EXPIRING = "fleet-120"  # its client secret expires in 10 days: a warning
DEAD = f"http://127.0.0.1:{free_port()}"
# Each `probe` command compiles its bytecode afresh where PYTHONDONTWRITEBYTECODE is set; a cache
# of its own (outside the directories searched for secrets) saves the later commands seconds.
FAST_START = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": "/tmp/lp-fleet-pycache"}


def fleet_config(sandbox: Sandbox, path: Path, state: Path) -> Path:
    """The sandbox's config with 200 hubs: most the sandbox hub, a few a closed port."""
    text = sandbox.config_text(hub="HUB", monitor=f'state = "sqlite:///{state}"')
    head, hub = text.split("[hubs.HUB]", 1)
    soon = (date.today() + timedelta(days=10)).isoformat()
    sections = []
    for name in HUBS:
        section = f"[hubs.{name}]" + hub.replace("hubs.HUB", f"hubs.{name}")
        if name in DOWN:
            section = section.replace(f'url = "{sandbox.hub_url}"', f'url = "{DEAD}"')
        if name == EXPIRING:
            section = section.replace(
                'client_secret_env = "SANDBOX_CLIENT_SECRET"',
                f'client_secret_env = "SANDBOX_CLIENT_SECRET"\nsecret_expires = {soon}',
            )
        sections.append(section)
    path.write_text(head + "".join(sections))
    return path


def renamed(result: dict[str, Any], hub: str, started: datetime) -> dict[str, Any]:
    """A real probe's result as if it had been another hub's, at another time."""
    old = result["hub"]
    text = json.dumps(result).replace(f'"{old}: ', f'"{hub}: ')
    copy: dict[str, Any] = json.loads(text)
    copy["hub"] = hub
    copy["started_at"] = started.isoformat(timespec="seconds")
    return copy


def refused(hub: str, url: str) -> dict[str, Any]:
    """What a probe of a hub whose port refuses connections comes back with (classified)."""
    failure = Failure(FailureKind.NETWORK, "hub_start", f"net::ERR_CONNECTION_REFUSED at {url}")
    steps = (Step("hub_start", "failed", None, url, 12, failure.detail),)
    obs = Observation(hub, steps, failure, None, url)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return ProbeResult(hub, classify(obs), obs, now, 40).to_json()


def seed(store: Store, good: dict[str, Any], bad: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    for n, hub in enumerate(HUBS):
        started = now - timedelta(minutes=1, seconds=n * 0.25)
        r = renamed(bad if hub in DOWN else good, hub, started)
        store.record(r, {}, [], started.timestamp(), r["started_at"])


READ = """() => [...document.querySelectorAll('section[data-hub]')].map(s => ({
    hub: s.dataset.hub,
    attention: s.dataset.attention,
    folded: !!s.querySelector('details'),
    top: s.getBoundingClientRect().top,
}))"""


async def look(page: Page, url: str) -> list[dict[str, Any]]:
    answer = await page.goto(url)
    assert answer is not None and answer.status == 200
    hubs: list[dict[str, Any]] = await page.evaluate(READ)
    return hubs


async def in_chromium(url: str, shots: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with async_playwright() as pw, open_browser(pw) as browser:
        desktop = await browser.new_page(viewport={"width": 1280, "height": 900})
        seen["desktop"] = await look(desktop, url)
        seen["counts"] = await desktop.inner_text("header .counts")
        seen["scripts"] = await desktop.evaluate("document.scripts.length")
        await desktop.screenshot(path=str(shots / "fleet-desktop.png"))
        # A folded healthy hub opens to its facts on a click.
        row = desktop.locator('section[data-hub="fleet-000"]')
        assert not await row.locator("dl").is_visible()
        await row.locator("summary").click()
        seen["opened"] = await row.locator("dl").inner_text()
        # The search: typed into the form and sent with Enter, no JavaScript of ours.
        await desktop.fill('input[name="q"]', "fleet-10")
        async with desktop.expect_navigation():
            await desktop.press('input[name="q"]', "Enter")
        seen["search_url"] = desktop.url
        seen["found"] = await desktop.evaluate(READ)
        seen["found_text"] = await desktop.inner_text("form.search")
        phone = await browser.new_page(
            viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True
        )
        seen["phone"] = await look(phone, url)
        seen["widths"] = await phone.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        await phone.screenshot(path=str(shots / "fleet-phone.png"))
    return seen


def test_a_fleet_of_200_hubs_is_checked_listed_and_readable_on_the_status_page(
    sandbox: Sandbox, prober: Prober, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.sqlite"
    config = fleet_config(sandbox, tmp_path / "fleet.toml", state)

    checked = prober.run("check", "--json", config=config, env=FAST_START)
    assert checked.code == 0, checked.stderr
    assert checked.json["ok"] and checked.json["hubs"] == HUBS

    good = prober.run("run", "fleet-000", "--json", config=config, env=FAST_START)
    assert good.json["verdict"]["code"] == "ok", good.stdout
    bad = refused("fleet-013", DEAD)
    assert bad["verdict"]["code"] == "hub_unreachable"

    for key, value in sandbox.probe_env().items():
        monkeypatch.setenv(key, value)
    settings = Settings.load(config)
    store = Store(settings.loaded.config.monitor.state)
    seed(store, good.json, bad)

    listed = prober.run("list", "--json", config=config, env=FAST_START)
    assert listed.code == 0, listed.stderr
    rows = {r["hub"]: r for r in listed.json}
    assert list(rows) == HUBS
    assert {h for h, r in rows.items() if r["verdict"] == "hub_unreachable"} == DOWN
    assert {r["verdict"] for h, r in rows.items() if h not in DOWN} == {"ok"}

    async def serve_and_look() -> dict[str, Any]:
        port = free_port()
        runner = await start_site(make_app(Monitor(settings, store, Metrics())), "127.0.0.1", port)
        try:
            return await in_chromium(f"http://127.0.0.1:{port}/", tmp_path)
        finally:
            await runner.cleanup()

    seen = asyncio.run(serve_and_look())
    store.close()

    desktop = seen["desktop"]
    assert len(desktop) == 200
    order = [h["hub"] for h in desktop]
    assert order[:5] == sorted(DOWN) and order[5] == EXPIRING  # failing, then the warning
    assert [h["attention"] for h in desktop[:6]] == ["failing"] * 5 + ["warning"]
    assert {h["attention"] for h in desktop[6:]} == {"healthy"}
    assert not any(h["folded"] for h in desktop[:6]) and all(h["folded"] for h in desktop[6:])
    assert desktop[0]["top"] < 900, "the first failing hub is below a desktop's first screen"
    assert "200 hubs · 5 failing · 1 warning · 194 healthy" in seen["counts"]
    assert seen["scripts"] == 0
    assert "last probe" in seen["opened"] and "none" in seen["opened"]

    assert seen["search_url"].endswith("/?q=fleet-10")
    found = [h["hub"] for h in seen["found"]]
    assert found == ["fleet-101"] + [f"fleet-10{n}" for n in range(10) if n != 1]
    assert "10 of 200 match" in seen["found_text"]

    phone = seen["phone"]
    assert [h["hub"] for h in phone] == order
    scroll_width, inner_width = seen["widths"]
    assert scroll_width <= inner_width, f"horizontal overflow on a phone: {seen['widths']}"
    for shot in ("fleet-desktop.png", "fleet-phone.png"):
        data = (tmp_path / shot).read_bytes()
        assert len(data) > 10_000
        assert all(s.encode() not in data for s in prober.secrets)
    assert all(s not in json.dumps(seen) for s in prober.secrets)
    assert os.path.getsize(state) > 0
