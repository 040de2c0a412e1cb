"""Fakes at the edges of the monitor, for its fast orchestration tests: a browser that can die, a
launcher that can refuse, an in-memory PagerDuty Events API transport, canned probe results.

Everything between these edges is the real code: scheduler, pool, pipeline, journal, store (a real
SQLite file), outbox sender, health, lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

from loginprobe.model import (
    Code,
    Failure,
    FailureKind,
    Observation,
    ProbeResult,
    Severity,
    Step,
    Verdict,
)
from loginprobe.monitor.metrics import Metrics
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.settings import Settings
from loginprobe.prober.classify import ok_summary
from loginprobe.store import Store

ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty demands


class FakeBrowser:
    """What the pool and the watchdog use of a Playwright Browser."""

    def __init__(self) -> None:
        self.connected = True
        self.listeners: dict[str, list[Callable[[object], None]]] = {}

    def on(self, event: str, fn: Callable[[object], None]) -> None:
        self.listeners.setdefault(event, []).append(fn)

    def remove_listener(self, event: str, fn: Callable[[object], None]) -> None:
        self.listeners[event].remove(fn)

    def is_connected(self) -> bool:
        return self.connected

    def die(self) -> None:
        self.connected = False
        for fn in list(self.listeners.get("disconnected", [])):
            fn(self)


class FakeLauncher:
    """Opens FakeBrowsers; `refuse` makes the next launches fail like a Chromium that won't start."""

    def __init__(self) -> None:
        self.browsers: list[FakeBrowser] = []
        self.refuse = False
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    @contextlib.asynccontextmanager
    async def open(self, executable: str, traces_dir: Path | None) -> AsyncIterator[Any]:
        if self.refuse:
            raise RuntimeError("could not start Chromium: no usable sandbox")
        browser = FakeBrowser()
        self.browsers.append(browser)
        yield browser


async def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Wait for a condition (polled), failing loudly if it never comes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def verdict_result(hub: str, code: Code = Code.OK, summary: str = "") -> ProbeResult:
    """A probe's result with this verdict (the rest as a probe would fill it)."""
    ok = code is Code.OK
    severity = {
        Code.OK: Severity.INFO,
        Code.LOGIN_REJECTED: Severity.WARNING,
        Code.FLOW_CHANGED: Severity.WARNING,
        Code.PROBE_ERROR: Severity.ERROR,
    }.get(code, Severity.CRITICAL)
    failure = None if ok else Failure(FailureKind.HTTP, "oauth_callback", "answered 500", 500)
    return ProbeResult(
        hub=hub,
        verdict=Verdict(
            code,
            severity,
            summary or (ok_summary(hub, 0) if ok else f"{hub}: {code}"),
            None if ok else "x",
        ),
        observation=Observation(hub, (), failure, None, f"http://{hub}.example.org"),
        # Now, not a fixed date: windows like "the last 24 h" must hold the probes a test runs.
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_ms=1000,
    )


@dataclass
class FakeProbes:
    """The probe function the monitor calls: the verdict each hub gets now (default ok), and
    every probe it ran. `block`: hubs whose probe waits until released (a probe in flight)."""

    codes: dict[str, Code] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    block: dict[str, asyncio.Event] = field(default_factory=dict)
    on_run: Callable[[Any, str], None] | None = None  # (browser, hub): e.g. kill the browser
    # The secret check each probe was given to stand for its own (None: it takes its own).
    secret_given: list[Any] = field(default_factory=list)
    # The steps each hub's walk shows now, by name (default none), and whether each probe was
    # told that its hub sends the browser straight to the IdP.
    steps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    straight_given: list[bool] = field(default_factory=list)
    # Whether each probe was to record a trace (None: no evidence at all), and the hubs whose IdP
    # rejects the password stand-in (which a probe that records a trace types).
    traced: list[bool | None] = field(default_factory=list)
    rejects_stand_in: set[str] = field(default_factory=set)

    async def __call__(self, browser: Any, hub: str, *args: Any, **kw: Any) -> ProbeResult:
        self.ran.append(hub)
        plan = kw.get("evidence")
        self.traced.append(None if plan is None else plan.trace)
        stand_in = plan is not None and plan.trace and args[0].password_stand_in
        self.secret_given.append(kw.get("recent_secret_check"))
        self.straight_given.append(bool(kw.get("straight_to_idp")))
        if self.on_run is not None:
            self.on_run(browser, hub)
        if hub in self.block:
            await self.block[hub].wait()
        code = self.codes.get(hub, Code.OK)
        if stand_in and hub in self.rejects_stand_in:
            code = Code.LOGIN_REJECTED
        result = verdict_result(hub, code)
        walked = tuple(Step(name, "ok") for name in self.steps.get(hub, ()))
        return replace(result, observation=replace(result.observation, steps=walked))


class FakePagerDuty:
    """PagerDuty's Events API v2 in memory, as an httpx2 transport for the pagerduty client:
    checks what PagerDuty checks, answers 202 with the dedup key, and can be told to fail.
    `incidents` follows PagerDuty's model per dedup key: a trigger on an open key is appended and
    notifies nobody."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.notified: list[str] = []  # dedup keys a person was told about
        self.open: set[str] = set()
        self.mode = "ok"  # ok | 500 | 429 | 400 | raise | block
        self.unblock = threading.Event()
        self.entered = threading.Event()  # set when a blocked send has reached us
        self.lock = threading.Lock()

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        if self.mode == "raise":
            raise RuntimeError("client has been closed")
        if self.mode == "block":
            self.entered.set()
            self.unblock.wait(10)
        body = json.loads(request.content)
        if self.mode in ("500", "429"):
            return httpx2.Response(int(self.mode), json={"status": "error"})
        if self.mode == "400" or len(body.get("routing_key", "")) != 32:
            return httpx2.Response(400, json={"status": "invalid event", "errors": ["bad"]})
        event = {k: v for k, v in body.items() if k != "routing_key"}
        key = event["dedup_key"]
        with self.lock:
            self.accepted.append(event)
            if event["event_action"] == "trigger" and key not in self.open:
                self.open.add(key)
                self.notified.append(key)
            elif event["event_action"] == "resolve":
                self.open.discard(key)
        return httpx2.Response(202, json={"status": "success", "dedup_key": key})

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    def brief(self) -> list[str]:
        return [f"{e['event_action']} {e['dedup_key']}" for e in self.accepted]


def write_settings(
    tmp: Path,
    hubs: tuple[str, ...] = ("a",),
    monitor: str = "",
    extra: str = "",
    paging: bool = True,
) -> Path:
    """A config.toml for fake hubs; the environment it needs comes from `env()`."""
    lines = [
        "[monitor]",
        f'state = "sqlite:///{tmp}/state.sqlite"',
        'artifacts_dir = ""',
        monitor,
    ]
    if paging:
        lines += ["[pagerduty]", 'routing_key_env = "T_ROUTING"']
    for hub in hubs:
        lines += [
            f"[hubs.{hub}]",
            f'url = "http://{hub}.example.org"',
            'flow = "generic_oidc"',
            'username_env = "T_USER"',
            'password_env = "T_PASS"',
        ]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


ENV = {"T_USER": "tester", "T_PASS": "hunter2-not-a-real-one", "T_ROUTING": ROUTING_KEY}


def load(path: Path) -> Settings:
    return Settings.load(path)


def timed_result(
    hub: str, code: Code, started: float, steps: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    """A probe's stored JSON that started at `started` (Unix time) with these step timings (each
    step ok but the last of a failing probe): what Store.record is given."""
    data = verdict_result(hub, code).to_json()
    walked = steps or [("hub", 100)]
    data["started_at"] = datetime.fromtimestamp(started, UTC).isoformat()
    data["duration_ms"] = sum(ms for _, ms in walked)
    data["steps"] = [
        {
            "name": name,
            "status": "failed" if code is not Code.OK and i == len(walked) - 1 else "ok",
            "http_status": 200,
            "url": "",
            "ms": ms,
            "detail": "",
        }
        for i, (name, ms) in enumerate(walked)
    ]
    if code is Code.OK:
        data["verdict"]["summary"] = ok_summary(hub, data["duration_ms"])
    return data


def monitor_on(
    config: Path, probes: Any, pd: FakePagerDuty, launcher: FakeLauncher | None = None
) -> Monitor:
    """`probe serve`'s Monitor for this config, on its real store, with fakes only at the edges
    (the probe, the browser launcher, PagerDuty's transport); not started."""
    settings = Settings.load(config)
    return Monitor(
        settings,
        Store(settings.loaded.config.monitor.state),
        Metrics(),
        probe=probes,
        launcher=launcher or FakeLauncher(),
        transport=pd.transport,
    )
