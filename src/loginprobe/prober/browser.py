"""Which Chromium to drive, and how to launch it quietly.

Playwright's own Chromium where it is installed (the container image), else a system Chromium
(Debian's /usr/bin/chromium), unless [browser] executable names one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

log = structlog.get_logger("loginprobe")

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Without these Chromium dials out (updates, sync, field trials) on every start.
QUIET_FLAGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A crash dump is a copy of memory, test password included: never write one.
    "--disable-breakpad",
    "--disable-crash-reporter",
)
# The only variables the browser inherits: never the secrets the config's *_env keys name.
ENV_ALLOWLIST = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "FONTCONFIG_PATH",
    "FONTCONFIG_FILE",
    "DISPLAY",
    "XAUTHORITY",
)


class BrowserNotFound(Exception):
    pass


class BrowserLaunchError(Exception):
    pass


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def choose_executable(
    configured: str, playwright_own: str, system: tuple[str, ...] = SYSTEM_CHROMIUMS
) -> str | None:
    """The executable to launch; None means Playwright's own Chromium."""
    if configured:
        if not _is_executable(configured):
            raise BrowserNotFound(f"[browser] executable {configured!r} is not an executable file")
        return configured
    if playwright_own and Path(playwright_own).is_file():
        return None
    for candidate in system:
        if _is_executable(candidate):
            return candidate
    raise BrowserNotFound(
        "no Chromium found: install Playwright's (`playwright install --with-deps chromium`) or "
        "the system's (`apt-get install chromium`), or set [browser] executable"
    )


def browser_env(home: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    env = {k: environ[k] for k in ENV_ALLOWLIST if k in environ}
    env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/.config", XDG_CACHE_HOME=f"{home}/.cache")
    return env


@asynccontextmanager
async def open_browser(
    pw: Playwright, configured: str = "", traces_dir: Path | None = None
) -> AsyncIterator[Browser]:
    """A Chromium with a private, throwaway home: whatever it writes there (profile, caches, a
    crash report despite the flags) is deleted when it closes. Playwright's working files of
    traces (typed text, form bodies) go to `traces_dir`, by default inside that home, never to a
    shared temporary directory."""
    executable = choose_executable(configured, pw.chromium.executable_path)
    home = tempfile.mkdtemp(prefix="loginprobe-browser-")
    try:
        env: dict[str, str | float | bool] = dict(browser_env(home))
        try:
            browser = await pw.chromium.launch(
                executable_path=executable,
                args=list(QUIET_FLAGS),
                env=env,
                traces_dir=traces_dir or Path(home) / "traces",
            )
        except PlaywrightError as err:
            first = (err.message.strip().splitlines() or ["no message"])[0]
            # Playwright's message carries Chromium's own output: the operator's best clue.
            log.error("browser launch failed", executable=executable, playwright_says=err.message)
            which = executable or "Playwright's own"
            raise BrowserLaunchError(f"could not start Chromium ({which}): {first}") from err
        try:
            yield browser
        finally:
            with contextlib.suppress(
                PlaywrightError
            ):  # already gone (crashed); nothing left to close
                await browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
