"""/hub/NAME in real Chromium, at desktop and phone widths: a week of probes written through the
real store code, served by the real web app, and the pictures' labels read back and compared with
what the store holds and with the week that was written.

No sandbox hub is needed: the monitor is never started (it would probe), its store is seeded.
`LOGINPROBE_DOCS_SCREENSHOTS=1` also saves the desktop screenshot as docs/hub-page.png (README).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from loginprobe.history.availability import percent
from loginprobe.model import Code
from loginprobe.monitor.service import Monitor
from loginprobe.prober.browser import open_browser
from loginprobe.store.history import HistoryWriter
from loginprobe.web.app import make_app, start_site
from sandbox import free_port
from sandbox.pagerduty import PagerDutyReceiver
from tests.integration.conftest import offline_monitor
from tests.unit.fakes import timed_result

DOCS = Path(__file__).resolve().parents[2] / "docs"
FAILING = [("hub_start", 200), ("hub_login", 1300)]  # 1.5 s


def ok_steps(j: int, slow: bool) -> list[tuple[str, int]]:
    return [
        ("hub_start", 180 + j % 5 * 10),
        ("idp_login", (1800 if slow else 600) + j % 7 * 10),
        ("hub_landing", 150),
    ]


def seed(monitor: Monitor, now: float) -> dict[str, Any]:
    """A week every 15 minutes, each probe mid-way in the page's 15-minute buckets; logins 3x
    slower at the IdP for the last two days; an outage of 4 minutes (hub_error) 2.5 days ago, an
    expired secret for 3 minutes 5 h ago, a lone failure that did not page, a probe_error."""
    grid = [now - 1350 - j * 900 for j in range(7 * 96 - 2)]
    events: list[tuple[float, Code, list[tuple[str, int]]]] = []
    outage, secret = grid[240], grid[20]
    blip, prober = grid[400], grid[150]
    for j, t in enumerate(grid):
        code = Code.OK
        if t == blip:
            code = Code.HUB_ERROR
        elif t == prober:
            code = Code.PROBE_ERROR
        events.append((t, code, ok_steps(j, j < 192) if code is Code.OK else FAILING))
    for start, code in ((outage, Code.HUB_ERROR), (secret, Code.CLIENT_SECRET_EXPIRED)):
        failing = 4 if code is Code.HUB_ERROR else 3
        for i in range(failing):
            events.append((start + 60 + i * 60, code, FAILING))
        for i in range(2):
            events.append((start + 60 + (failing + i) * 60, Code.OK, ok_steps(0, True)))
    events.sort()
    # The writer Store.record uses, in one transaction: a week of probes in a few seconds.
    writer = HistoryWriter()
    with monitor.store.engine.begin() as conn:
        for t, code, steps in events:
            writer.write(conn, timed_result("h", code, t, steps))
    return {"events": events, "outage": outage + 60, "secret": secret + 60, "prober": prober}


READ = """() => {
  const svg = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {cls: s.getAttribute('class'), w: r.width, h: r.height,
            slowest: s.dataset.slowestStep || null};
  });
  const buckets = [...document.querySelectorAll('svg.login-time')][0];
  return {
    svg,
    availability: Object.fromEntries([...document.querySelectorAll('.avail [data-window]')]
      .map(d => [d.dataset.window, d.querySelector('b').textContent])),
    day: [...buckets.querySelectorAll('rect.lt-bucket')].map(r => Number(r.dataset.ms)),
    cells: [...document.querySelectorAll('svg.strip rect.cell')].map(r =>
      [r.dataset.hour, r.dataset.worst, Number(r.dataset.probes), r.getAttribute('class')]),
    incidents: [...document.querySelectorAll('ol.incidents li')].map(li => li.textContent),
    bars: [...document.querySelectorAll('rect.incident-bar')].map(r => r.dataset.cause),
    notes: document.body.innerText,
    scripts: document.scripts.length,
    widths: [document.documentElement.scrollWidth, window.innerWidth],
  };
}"""


async def read(url: str, shots: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with async_playwright() as pw, open_browser(pw) as browser:
        for name, options in (
            ("desktop", {"viewport": {"width": 960, "height": 900}}),
            (
                "phone",
                {
                    "viewport": {"width": 390, "height": 844},
                    "device_scale_factor": 2,
                    "is_mobile": True,
                },
            ),
        ):
            page = await browser.new_page(**options)  # type: ignore[arg-type]
            answer = await page.goto(url)
            assert answer is not None and answer.status == 200
            await page.screenshot(path=str(shots / f"hub-{name}.png"), full_page=True)
            if name == "desktop" and os.environ.get("LOGINPROBE_DOCS_SCREENSHOTS"):
                # The README's picture: narrower, so that it stays small.
                await page.set_viewport_size({"width": 720, "height": 900})
                await page.screenshot(path=str(DOCS / "hub-page.png"), full_page=True)
            seen[name] = await page.evaluate(READ)
            await page.close()
    return seen


def test_the_hub_page_draws_what_the_store_holds_on_desktop_and_phone(
    tmp_path: Path, receiver: PagerDutyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = offline_monitor(tmp_path, receiver, monkeypatch)
    now = time.time()
    seeded = seed(monitor, now)
    store = monitor.store

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        port = free_port()
        runner = await start_site(make_app(monitor), "127.0.0.1", port)
        try:
            before = await asyncio.to_thread(store.availability, time.time())
            seen = await read(f"http://127.0.0.1:{port}/hub/h", tmp_path)
            after = await asyncio.to_thread(store.availability, time.time())
        finally:
            await runner.cleanup()
        return seen, [before["h"], after["h"]]

    seen, avail = asyncio.run(run())
    desktop, phone = seen["desktop"], seen["phone"]

    for view in (desktop, phone):
        # four pictures, each drawn, none wider than the screen
        assert [s["cls"] for s in view["svg"]] == [
            "chart strip",
            "chart login-time",
            "chart login-time",
            "chart timeline",
        ]
        assert all(0 < s["w"] <= view["widths"][1] and s["h"] > 20 for s in view["svg"])
        assert view["widths"][0] <= view["widths"][1]
        assert view["scripts"] == 0

        # availability: the store's figures, as the store computes them around the page's reading
        for window in ("24h", "7d", "30d"):
            assert view["availability"][window] in {percent(a[window].ratio) for a in avail}

        # the strip: every hour the store rolled up, with its worst verdict and probe count
        hours = {
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["hour"] * 3600)): r
            for r in store.hours("h", 0)
        }
        shown = {hour: (worst, probes) for hour, worst, probes, _ in view["cells"]}
        for hour, (worst, probes) in shown.items():
            row = hours.get(hour)
            assert (worst, probes) == ((row["worst"] or "", row["probes"]) if row else ("", 0))
        classes = {hour: cls for hour, _, _, cls in view["cells"]}
        assert (
            classes[time.strftime("%Y-%m-%d %H:00", time.gmtime(seeded["outage"]))] == "cell down"
        )
        assert (
            classes[time.strftime("%Y-%m-%d %H:00", time.gmtime(seeded["prober"]))] == "cell prober"
        )

        # login time, last 24 h: each 15-minute bucket's median of the healthy probes written
        start = now - 86400
        buckets: dict[int, list[int]] = {}
        for t, code, steps in seeded["events"]:
            if code is Code.OK and t >= start:
                buckets.setdefault(int((t - start) // 900), []).append(sum(ms for _, ms in steps))
        assert view["day"] == [round(statistics.median(buckets[i])) for i in sorted(buckets)]
        assert [s["slowest"] for s in view["svg"][1:3]] == ["idp_login", "idp_login"]

        # the incident timeline: the two outages that paged, in order, their causes and times
        assert view["bars"] == ["hub_error", "client_secret_expired"]
        assert [i.split(" from ")[0] for i in view["incidents"]] == [
            "hub_error",
            "client_secret_expired",
        ]
        assert view["incidents"][0].endswith("lasted 4m, paged after 62s")
        assert view["incidents"][1].endswith("lasted 3m, paged after 2s")
        assert "Incidents, last 7 days: 2" in view["notes"]
        assert "1 shorter run of failures did not page" in view["notes"]

    assert (tmp_path / "hub-desktop.png").stat().st_size > 10_000
    assert (tmp_path / "hub-phone.png").stat().st_size > 10_000
