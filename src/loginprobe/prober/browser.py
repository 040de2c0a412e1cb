"""Which Chromium to drive, and how to launch it quietly and as contained as the OS allows.

Playwright's own Chromium where it is installed (the container image), else a system Chromium
(Debian's /usr/bin/chromium), unless [browser] executable names one.

Chromium keeps every page in a sandboxed renderer where the OS lets it: not as root (Chromium
refuses), and only where this user may create user namespaces. Elsewhere it runs with
`--no-sandbox`, and `probe check` says why. Before each launch the leftovers of killed probes are
removed (scratch.sweep). A full Chromium's browser UI that no probe sees (its address-bar popups)
is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import playwright
import structlog
from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

from loginprobe.prober.scratch import ScratchDir, sweep

log = structlog.get_logger("loginprobe")

SYSTEM_CHROMIUMS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# Without these Chromium dials out (updates, sync, field trials) on every start.
QUIET_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A crash dump is a copy of memory, test password included: never write one.
    "--disable-breakpad",
    "--disable-crash-reporter",
)
# A full Chromium (the system's; Playwright's own headless shell has no browser UI) opens a
# window for each page and builds that window's address-bar suggestion popups as web pages, in a
# renderer of their own, for popups nobody opens: with them, a sandbox login at concurrency 4 on
# two cores took 4.6 CPU-s and 11 s; without, 2.9 CPU-s and 6.8 s (benchmarks/throughput.py).
UNSEEN_UI = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup")
# Where Playwright's driver builds its switch, and so the name of the list it joins.
_PLAYWRIGHT_SWITCH = re.compile(r'"--disable-features=" \+ (\w+)\.join\(","\)')
_FEATURE_ENTRY = re.compile(r'"([A-Za-z0-9_]+)",?')
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


# Run in a child process: whether this user may create a user namespace (CLONE_NEWUSER), which
# Chromium's sandbox needs when it is not installed setuid (it never is in a container).
_USERNS_PROBE = (
    "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
    "os._exit(0 if libc.unshare(0x10000000) == 0 else 1)"
)


def can_create_user_namespace() -> bool:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _USERNS_PROBE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class Sandboxing:
    enabled: bool
    why: str  # a sentence: why it is on, or why Chromium must run without it


def sandboxing(
    euid: int | None = None, user_namespaces: Callable[[], bool] = can_create_user_namespace
) -> Sandboxing:
    """Whether Chromium can run with its sandbox here."""
    if (os.geteuid() if euid is None else euid) == 0:
        return Sandboxing(
            False,
            "Chromium runs without its sandbox: loginprobe runs as root, and Chromium refuses its "
            "sandbox to root (run it as another user, as the container image does)",
        )
    if not user_namespaces():
        return Sandboxing(
            False,
            "Chromium runs without its sandbox: this user may not create user namespaces "
            "(allow them, e.g. sysctl kernel.unprivileged_userns_clone=1, or a seccomp profile "
            "that permits unshare(CLONE_NEWUSER))",
        )
    return Sandboxing(True, "Chromium runs with its sandbox (user namespaces)")


def parse_disabled_features(source: str) -> tuple[str, ...] | None:
    """The feature names of Playwright's own `--disable-features` switch, from its driver's
    source: the list its `--disable-features` switch joins; None unless there is exactly one
    such switch and its list is plain names (one a line, comments aside)."""
    switches = {m.group(1) for m in _PLAYWRIGHT_SWITCH.finditer(source)}
    if len(switches) != 1:
        return None
    (name,) = switches
    lists = re.findall(rf"\b{name} = \[(.*?)\]\.filter\(Boolean\)", source, re.S)
    if len(lists) != 1:
        return None
    names = []
    for line in lists[0].splitlines():
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        entry = _FEATURE_ENTRY.fullmatch(line)
        if entry is None:
            return None  # a name chosen at run time: not ours to guess
        names.append(entry.group(1))
    return tuple(names) or None


@functools.cache
def playwright_disabled_features() -> tuple[str, ...] | None:
    """What the installed Playwright disables, read once from its driver (None: not found)."""
    lib = Path(playwright.__file__).parent / "driver" / "package" / "lib"
    for source in (lib / "coreBundle.js", lib / "server" / "chromium" / "chromiumSwitches.js"):
        try:
            names = parse_disabled_features(source.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if names:
            return names
    log.info(
        "Playwright's --disable-features list not found in its driver: Chromium is launched "
        "with Playwright's switches only (a system Chromium then builds its address-bar popups "
        "for every probe)"
    )
    return None


def feature_switches() -> tuple[list[str], list[str]]:
    """(args, ignore_default_args) that add UNSEEN_UI to the features Playwright disables.
    Chromium keeps only the last `--disable-features` switch on its command line, so ours names
    Playwright's too and replaces its switch; without Playwright's list, neither is touched."""
    theirs = playwright_disabled_features()
    if theirs is None:
        return [], []
    switch = "--disable-features="
    return [switch + ",".join((*theirs, *UNSEEN_UI))], [switch + ",".join(theirs)]


def browser_env(home: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    env = {k: environ[k] for k in ENV_ALLOWLIST if k in environ}
    env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/.config", XDG_CACHE_HOME=f"{home}/.cache")
    return env


async def _launch(
    pw: Playwright, executable: str | None, sandbox: bool, home: Path, traces_dir: Path
) -> Browser:
    env: dict[str, str | float | bool] = dict(browser_env(str(home)))
    # Read once per process (a few MB of Playwright's driver): off the event loop.
    features, replaced = await asyncio.to_thread(feature_switches)
    return await pw.chromium.launch(
        executable_path=executable,
        args=[*QUIET_FLAGS, *features, *([] if sandbox else ["--no-sandbox"])],
        ignore_default_args=replaced,
        chromium_sandbox=sandbox,
        env=env,
        traces_dir=traces_dir,
    )


@asynccontextmanager
async def open_browser(
    pw: Playwright,
    configured: str = "",
    traces_dir: Path | None = None,
    sandbox: Sandboxing | None = None,
) -> AsyncIterator[Browser]:
    """A Chromium with a private, throwaway home: whatever it writes there (profile, caches, a
    crash report despite the flags) is deleted when it closes. Playwright's working files of
    traces (typed text, form bodies) go to `traces_dir`, by default inside that home, never to a
    shared temporary directory."""
    executable = choose_executable(configured, pw.chromium.executable_path)
    sweep()
    decided = sandbox or sandboxing()
    home = ScratchDir("browser")
    try:
        traces = traces_dir or home.path / "traces"
        try:
            try:
                browser = await _launch(pw, executable, decided.enabled, home.path, traces)
            except PlaywrightError as err:
                if not decided.enabled:
                    raise
                # The OS said yes to user namespaces and Chromium still would not start in
                # its sandbox (a seccomp profile, an AppArmor rule): probing matters more.
                log.error(
                    "Chromium would not start with its sandbox; running it without",
                    playwright_says=(err.message.strip().splitlines() or [""])[0],
                )
                browser = await _launch(pw, executable, False, home.path, traces)
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
        home.remove()
