"""A full Chromium (the system's, as on this machine) builds browser UI no probe sees: its
address-bar popups, as web pages in a renderer of their own, for every page's window. The product
launches it with them switched off, by one `--disable-features` switch that also keeps every
feature Playwright's own switch disables (Chromium keeps only the last such switch)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from loginprobe.prober.browser import (
    QUIET_FLAGS,
    UNSEEN_UI,
    choose_executable,
    open_browser,
    playwright_disabled_features,
)
from tests.procs import descendants


def _browser_command_line() -> list[str]:
    """The command line of the Chromium browser process this test started."""
    for pid in descendants(os.getpid())[1:]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        browser = not any(a.startswith("--type=") for a in argv)  # not a renderer, GPU, ...
        if "chrom" in argv[0].lower() and "--remote-debugging-pipe" in argv and browser:
            return argv
    raise AssertionError("no Chromium browser process under this test")


async def _popups(browser: Browser, wait: bool) -> list[str]:
    """The address-bar popups' pages of a browser with a probe's page open; `wait`: until they
    show (the control), else as soon as the page has loaded (they come with its window)."""
    page = await browser.new_page()
    await page.goto("data:text/html,<p>a probe's page</p>")
    session = await browser.new_browser_cdp_session()
    deadline = time.monotonic() + 10
    while True:
        targets = (await session.send("Target.getTargets"))["targetInfos"]
        popups = [t["url"] for t in targets if t["url"].startswith("chrome://omnibox")]
        if popups or not wait or time.monotonic() > deadline:
            return popups
        await asyncio.sleep(0.1)  # polling the browser's targets, not waiting for time to pass


async def _launch_and_look() -> tuple[list[str], list[str]]:
    async with async_playwright() as pw, open_browser(pw) as browser:
        return _browser_command_line(), await _popups(browser, wait=False)


async def _as_playwright_launches_it() -> list[str] | None:
    """The control: the same Chromium with Playwright's switches only (None: Playwright's own
    headless shell, which has no browser UI to switch off)."""
    async with async_playwright() as pw:
        executable = choose_executable("", pw.chromium.executable_path)
        if executable is None:
            return None
        browser = await pw.chromium.launch(
            executable_path=executable, args=[*QUIET_FLAGS, "--no-sandbox"]
        )
        try:
            return await _popups(browser, wait=True)
        finally:
            await browser.close()


def test_a_full_chromium_launched_as_playwright_does_builds_the_popups() -> None:
    """What the product switches off is there to switch off (else the test below proves
    nothing): a full Chromium builds them for a page's window."""
    popups = asyncio.run(_as_playwright_launches_it())
    if popups is None:
        pytest.skip("Playwright's own headless shell: no browser UI, no popups to switch off")
    assert popups, "no address-bar popup pages: Chromium no longer builds them as web pages"


def test_the_address_bar_popups_are_off_and_playwrights_features_stay_disabled() -> None:
    argv, urls = asyncio.run(_launch_and_look())
    assert not urls, urls
    switches = [a for a in argv if a.startswith("--disable-features=")]
    assert len(switches) == 1, switches  # Playwright's own switch was replaced, not followed
    disabled = set(switches[0].removeprefix("--disable-features=").split(","))
    theirs = playwright_disabled_features()
    assert theirs is not None
    assert set(UNSEEN_UI) | set(theirs) <= disabled, disabled
