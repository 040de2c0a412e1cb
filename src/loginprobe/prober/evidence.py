"""Evidence of a failing probe: what the browser showed, its HTML and a Playwright trace.

    artifacts_dir/<hub>/<UTC timestamp>/screenshot.png, page.html, trace.zip

A probe the evidence plan asks a trace of (`EvidencePlan.trace`: every `probe run`; in `probe serve`
a failing hub's retries and each hub's first probe) records one (DOM snapshots, network; no
screencast) in a private directory; only a failing one keeps it, rewritten by scrub.py so that no
secret, cookie, token or OAuth code/state is in it. Playwright's own working files of the trace hold what the browser typed and sent, so they
are deleted as soon as the probe ends, kept or not. Retention (newest `keep` per hub, none older
than `max_age`) runs after each write. Writing evidence never changes a verdict: a failure to
write is logged and the probe carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from loginprobe.model import Evidence
from loginprobe.prober.scratch import ScratchDir
from loginprobe.prober.scrub import Scrubber, scrub_trace

log = structlog.get_logger("loginprobe")

SCREENSHOT, HTML, TRACE = "screenshot.png", "page.html", "trace.zip"
FILES = (SCREENSHOT, HTML, TRACE)
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
# A monitor's machine may be busy (a fleet's probes at once): 3 s lost the screenshot of even a
# browser error page now and then at load ~20. The screenshot is what a person looks at first.
SCREENSHOT_TIMEOUT_S = 6.0
HTML_TIMEOUT_S = 3.0
_STAMP = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d{1,4}))?$")
_HUB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Fields a screenshot must not show: whatever was typed (dots for a password, but a TOTP code or
# a pasted secret in a text field would be readable).
TYPED_FIELDS = (
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=checkbox])"
    ":not([type=radio]):not([type=image]):not([type=reset]), textarea, [contenteditable]"
)


@dataclass(frozen=True)
class Retention:
    keep: int
    max_age_s: float


@dataclass(frozen=True)
class EvidencePlan:
    """Where a probe's evidence goes, and where Playwright keeps its working files."""

    root: Path
    retention: Retention
    traces_dir: Path | None  # the browser's traces_dir: Playwright's working files of traces
    # Record a Playwright trace (a failure still gets its screenshot and HTML without one).
    trace: bool = True


def plan_for(
    artifacts_dir: str,
    keep: int,
    max_age_s: float,
    traces_dir: Path | None,
    trace: bool = True,
) -> EvidencePlan | None:
    """The [monitor] artifacts_* settings as a plan; None when artifacts_dir is empty (off)."""
    if not artifacts_dir:
        return None
    return EvidencePlan(Path(artifacts_dir), Retention(keep, max_age_s), traces_dir, trace)


# -- names and retention (pure) ------------------------------------------------------------------
def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(STAMP_FORMAT)


def parse_stamp(name: str) -> tuple[datetime, int] | None:
    """A directory name's time (and collision suffix); None for names evidence never writes."""
    m = _STAMP.match(name)
    if m is None:
        return None
    try:
        when = datetime.strptime(m.group(1), STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return when, int(m.group(2) or 1)


def to_prune(names: Iterable[str], now: datetime, retention: Retention) -> list[str]:
    """The evidence directories of one hub to delete: all but the newest `keep`, and any older
    than `max_age`. Names that are not ours are never touched."""
    dated = sorted(
        ((t, n) for n in names if (t := parse_stamp(n)) is not None), key=lambda x: x[0]
    )[::-1]
    return [
        name
        for i, ((when, _), name) in enumerate(dated)
        if i >= retention.keep or (now - when).total_seconds() > retention.max_age_s
    ]


def artifact_path(root: Path, hub: str, stamp_name: str, file: str) -> Path | None:
    """The file behind /artifacts/<hub>/<stamp>/<file>, or None: only names evidence writes,
    only inside root, only regular files (no symlink leads out)."""
    if file not in FILES or _HUB.match(hub) is None or parse_stamp(stamp_name) is None:
        return None
    base = root.resolve()
    path = (base / hub / stamp_name / file).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


# -- capture (I/O) ---------------------------------------------------------------------------------
@dataclass
class Captured:
    """What was taken from the browser of a failing probe, not yet written anywhere public."""

    screenshot: bytes | None
    html: str | None
    raw_trace: Path | None  # in a private scratch directory; holds a page's words until scrubbed
    _tmp: ScratchDir

    def discard(self) -> None:
        self._tmp.remove()


class TraceRecorder:
    """One probe's trace: started with the context, stopped once, its working files removed."""

    def __init__(self, context: BrowserContext, plan: EvidencePlan) -> None:
        self.context = context
        self.plan = plan
        self.name = f"loginprobe-{uuid.uuid4().hex}"
        self.started = False
        # Private (0700) until the probe ends, and swept at the next start if the probe is killed:
        # the raw trace holds what the pages said until it is scrubbed.
        self.tmp = ScratchDir("evidence")

    async def start(self) -> None:
        if not self.plan.trace:
            return  # screenshot and HTML only, should the probe fail
        if self.plan.traces_dir is not None:
            # Probes share the browser's traces_dir, and Playwright shares a resource between
            # traces that use the same one: a marker says this trace may still need them.
            with contextlib.suppress(OSError):
                self._marker().touch()
        try:
            await self.context.tracing.start(
                # No screencast: its frames are pictures of the page as typed into (a TOTP code
                # in a plain text field), which no scrubber can read. DOM snapshots show each
                # step, with input values masked, and screenshot.png (fields masked) the end.
                name=self.name,
                screenshots=False,
                snapshots=True,
                sources=False,
            )
            self.started = True
        except PlaywrightError as err:
            log.warning("trace not recorded", error=str(err).splitlines()[0][:200])

    async def stop(self, page: Page | None, note: str | None) -> Captured:
        """Stop tracing; with a `note` (the failure) also take the screenshot and the HTML."""
        tmp = self.tmp
        shot: bytes | None = None
        html: str | None = None
        if note is not None and page is not None and not page.is_closed():
            # Each part bounded on its own: a page stuck in a navigation (the probe timed out
            # waiting for it) may never answer, and the trace matters most.
            if self.started:
                with contextlib.suppress(PlaywrightError, TimeoutError):
                    # Shown in the trace viewer's action list: where and why the probe stopped.
                    await asyncio.wait_for(self.context.tracing.group(f"probe failed: {note}"), 2)
                    await asyncio.wait_for(self.context.tracing.group_end(), 2)
            try:
                mask = [page.locator(TYPED_FIELDS)]
                shot = await page.screenshot(
                    full_page=True, mask=mask, timeout=SCREENSHOT_TIMEOUT_S * 1000
                )
            except PlaywrightError as err:
                log.warning("no screenshot", error=str(err).splitlines()[0][:200])
            try:
                html = await asyncio.wait_for(page.content(), HTML_TIMEOUT_S)
            except (PlaywrightError, TimeoutError) as err:
                log.warning("no page HTML", error=f"{type(err).__name__}: {err}"[:200])
        raw: Path | None = None
        if self.started:
            raw = tmp.path / TRACE
            try:
                await self.context.tracing.stop(path=raw)
            except PlaywrightError as err:
                log.warning("trace not saved", error=str(err).splitlines()[0][:200])
                raw = None
            self._remove_working_files()
        return Captured(shot, html, raw if note is not None else None, tmp)

    def forget(self) -> None:
        """Nothing of this trace is wanted (a probe cut short): remove what can be found of it."""
        self.tmp.remove()
        self._remove_working_files()

    def _marker(self) -> Path:
        assert self.plan.traces_dir is not None
        return self.plan.traces_dir / f"active-{self.name}"

    def _remove_working_files(self) -> None:
        """Playwright leaves a trace's working files (typed password, form bodies, cookies) in the
        browser's traces_dir until the browser closes; a monitor's browser lives for days.

        This trace's own files go at once. Resources (page bodies, form bodies) may be shared
        with a trace still running (Playwright stores each once, by hash): they go when the last
        running trace ends — all of them then, nothing needs them any more."""
        d = self.plan.traces_dir
        if d is None:
            return
        for p in d.glob(f"{self.name}*"):
            p.unlink(missing_ok=True)
        self._marker().unlink(missing_ok=True)
        if any(d.glob("active-*")):
            return  # another probe's trace is running and may need the shared resources
        for sub in ("resources", "screencast", "screenshots"):
            with contextlib.suppress(OSError):
                for p in (d / sub).iterdir():
                    p.unlink(missing_ok=True)


# -- writing (I/O, run in a thread) ----------------------------------------------------------------
def save(
    captured: Captured,
    plan: EvidencePlan,
    hub: str,
    when: datetime,
    scrubber: Scrubber,
) -> Evidence:
    """Write a failing probe's evidence, scrubbed, then prune the hub's old evidence."""
    hub_dir = plan.root / hub
    hub_dir.mkdir(parents=True, exist_ok=True)
    base, n = stamp(when), 1
    while True:
        name = base if n == 1 else f"{base}-{n}"
        try:
            (hub_dir / name).mkdir()
            break
        except FileExistsError:
            n += 1
    out = hub_dir / name
    files: dict[str, str | None] = dict.fromkeys(FILES)
    try:
        if captured.screenshot is not None:
            (out / SCREENSHOT).write_bytes(captured.screenshot)
            files[SCREENSHOT] = str((out / SCREENSHOT).resolve())
        if captured.html is not None:
            (out / HTML).write_text(scrubber.html(captured.html), encoding="utf-8")
            files[HTML] = str((out / HTML).resolve())
        if captured.raw_trace is not None:
            clean, report = scrub_trace(captured.raw_trace.read_bytes(), scrubber)
            (out / TRACE).write_bytes(clean)
            files[TRACE] = str((out / TRACE).resolve())
            if report.dropped:
                log.info("trace members left out", hub=hub, members=list(report.dropped))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    prune(hub_dir, when, plan.retention)
    return Evidence(
        dir=str(out.resolve()),
        ref=f"{hub}/{name}",
        screenshot=files[SCREENSHOT],
        html=files[HTML],
        trace=files[TRACE],
    )


def prune(hub_dir: Path, now: datetime, retention: Retention) -> list[str]:
    names = [p.name for p in hub_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    gone = to_prune(names, now, retention)
    for name in gone:
        shutil.rmtree(hub_dir / name, ignore_errors=True)
    return gone
