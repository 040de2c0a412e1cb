"""A full Chromium (the system's, as on this machine) builds browser UI no probe sees: its
address-bar popups, as web pages in a renderer of their own, for every page's window. The product
launches it with them switched off, by one `--disable-features` switch that also keeps every
feature Playwright's own switch disables (Chromium keeps only the last such switch)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from playwright.async_api import async_playwright

from loginprobe.prober.browser import UNSEEN_UI, open_browser, playwright_disabled_features


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def _browser_command_line() -> list[str]:
    """The command line of the Chromium browser process this test started."""
    for pid in _descendants(os.getpid())[1:]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        browser = not any(a.startswith("--type=") for a in argv)  # not a renderer, GPU, ...
        if "chrom" in argv[0].lower() and "--remote-debugging-pipe" in argv and browser:
            return argv
    raise AssertionError("no Chromium browser process under this test")


async def _launch_and_look() -> tuple[list[str], list[str]]:
    async with async_playwright() as pw, open_browser(pw) as browser:
        page = await browser.new_page()
        await page.goto("data:text/html,<p>a probe's page</p>")
        session = await browser.new_browser_cdp_session()
        targets = (await session.send("Target.getTargets"))["targetInfos"]
        return _browser_command_line(), [t["url"] for t in targets]


def test_the_address_bar_popups_are_off_and_playwrights_features_stay_disabled() -> None:
    argv, urls = asyncio.run(_launch_and_look())
    assert not [u for u in urls if u.startswith("chrome://omnibox")], urls
    switches = [a for a in argv if a.startswith("--disable-features=")]
    assert len(switches) == 1, switches  # Playwright's own switch was replaced, not followed
    disabled = set(switches[0].removeprefix("--disable-features=").split(","))
    theirs = playwright_disabled_features()
    assert theirs is not None
    assert set(UNSEEN_UI) | set(theirs) <= disabled, disabled
