"""One browser probe of one hub, in the shared browser pool: the evidence plan (a trace only when it
can matter), the hang limit, a crash turned into a `probe_error` verdict, and a browser death
counted once however many probes it took."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser

from loginprobe.model import Code, ProbeResult, SecretCheck
from loginprobe.monitor.pace import Pace
from loginprobe.monitor.pipeline import BrowserFault
from loginprobe.monitor.pool import HANG_GRACE_S, BrowserPool, Outcome
from loginprobe.monitor.settings import Settings
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import (
    CAPTURE_TIMEOUT_S,
    CONTEXT_CLOSE_S,
    got_past_idp,
    log_crash,
    prober_failed,
    types_stand_in,
    went_straight_to_idp,
)

log = structlog.get_logger("loginprobe")
# How long a hub whose IdP rejected the password stand-in (and took the password itself) is
# probed without it before a traced probe tries it again.
STAND_IN_RETRY_S = 6 * 3600.0

# What runs one probe of one hub in a browser: probe_hub, or a fake in tests.
HubProbe = Callable[..., Coroutine[Any, Any, ProbeResult]]


@dataclass
class ProbeRunner:
    settings: Callable[[], Settings]
    pool: BrowserPool
    pace: Pace
    probe_hub: HubProbe
    # The hub's latest secret check taken on its own schedule, if still current (Checks.recent).
    recent_secret: Callable[[str], SecretCheck | None] = lambda _hub: None
    trace_next: set[str] = field(default_factory=set)  # hubs whose next probe records a trace
    # Hubs whose last probe went from the hub's URL straight to the IdP, with that URL: their
    # next probe, if it types the password stand-in, has its interception on from the start
    # (not opening the hub twice); the others, only as the browser leaves the hub (their first
    # pages load without it).
    straight_to_idp: dict[str, str] = field(default_factory=dict)
    # Hubs whose IdP rejected the password stand-in but took the password itself, with their
    # URL and until when: their probes go on without the stand-in, and so without a trace.
    stand_in_rejected: dict[str, tuple[str, float]] = field(default_factory=dict)
    # Hubs whose account was rejected with the password itself too: not asked again until not.
    account_rejected: set[str] = field(default_factory=set)
    _deaths_counted: list[int] = field(default_factory=list)  # browser generations counted

    async def run(
        self, hub: str, due: float, retry: bool
    ) -> tuple[ProbeResult, BrowserFault | None]:
        """`due`: when the probe was due (monotonic); `retry`: it confirms a failure (it goes
        first among the probes waiting for a slot, and records a trace)."""
        s = self.settings()
        spec, timeout = s.loaded.config.hubs[hub], s.loaded.config.hub_timeout(hub)
        started_at, t0 = datetime.now(UTC), time.monotonic()
        m = s.loaded.config.monitor

        typed_stand_in = False

        async def probe(
            browser: Browser, traces_dir: Path | None, again: bool = False
        ) -> ProbeResult:
            nonlocal typed_stand_in
            began = time.monotonic()
            if not again:
                self.pace.started_late(hub, began - due)
            # Like Playwright's "on first retry": a healthy hub's probes record no trace (it costs
            # CPU on every probe, and so does the password stand-in, which goes with the trace);
            # after a failure, the confirming retry records one, as does a hub's first probe
            # after the monitor starts. A monitor that pages at the first failure has no retry
            # to wait for: every probe records one. Never a trace without the stand-in.
            # Nor for a hub whose IdP rejects the stand-in, or whose account is rejected with
            # the password itself too (its retries, typing the stand-in, would be rejected
            # however the account is set right).
            trace = not again and not self._stand_in_rejected(hub, spec.url)
            trace = trace and hub not in self.account_rejected
            trace = trace and (
                retry or s.thresholds.failures_to_alert <= 1 or hub in self.trace_next
            )
            self.trace_next.discard(hub)
            plan = plan_for(
                m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, traces_dir, trace=trace
            )
            typed_stand_in = types_stand_in(spec, plan)
            try:
                return await self.probe_hub(
                    browser,
                    hub,
                    spec,
                    s.secrets[hub],
                    timeout=timeout,
                    redactor=s.redactor,
                    evidence=plan,
                    recent_secret_check=self.recent_secret(hub),
                    straight_to_idp=self.straight_to_idp.get(hub) == spec.url,
                )
            finally:
                self.pace.costs.probe_finished(time.monotonic() - began)

        # Past the journey's timeout a failing probe still takes its evidence (bounded) and
        # closes its context (bounded): only beyond those is it hung.
        limit = timeout + CAPTURE_TIMEOUT_S + CONTEXT_CLOSE_S + HANG_GRACE_S
        outcome = await self.pool.run(probe, limit, due=due, retry=retry)
        fault = self._browser_fault(outcome)
        if outcome.result is not None and got_past_idp(outcome.result):
            self.account_rejected.discard(hub)
        if typed_stand_in and _rejected(outcome) and hub not in self.account_rejected:
            outcome = await self._without_stand_in(hub, spec.url, probe, limit, outcome)
        if outcome.result is not None:
            straight = went_straight_to_idp(outcome.result)
            if straight:
                self.straight_to_idp[hub] = spec.url
            elif straight is not None:
                self.straight_to_idp.pop(hub, None)
            return outcome.result, fault
        err = outcome.error or RuntimeError("the probe gave no result")
        log_crash(hub, err)
        return prober_failed(hub, spec, err, s.redactor, started_at, t0), fault

    def _stand_in_rejected(self, hub: str, url: str) -> bool:
        """Found within STAND_IN_RETRY_S (then tried again: one sign-in turned away by a flaky
        IdP must not cost a hub its traces for good)."""
        found = self.stand_in_rejected.get(hub)
        return found is not None and found[0] == url and time.monotonic() < found[1]

    async def _without_stand_in(
        self, hub: str, url: str, probe: Any, limit: float, rejected: Outcome
    ) -> Outcome:
        """The IdP rejected the test account on a probe that typed the password stand-in: the
        same login at once with the password itself (and no trace). If the IdP takes it, the
        stand-in was what it rejected (its page hashes or encrypts the password in the
        browser): that probe's verdict stands, and the hub's probes go on without the stand-in.
        If the IdP rejected that too, the account was rejected: the first probe's verdict
        (with its trace) stands, and the hub's probes type the password itself, recording no
        trace, until a login gets through again (not doubled: a shared account rejected on
        eighty hubs would double their retries in the middle of it). Anything else (a
        timeout, the browser gone) proves nothing: the first probe's verdict stands."""
        again = await self.pool.run(
            functools.partial(probe, again=True), limit, due=time.monotonic(), retry=True
        )
        # Its browser's death, if any, is for the probes that were in flight to count: this
        # probe's verdict is the first's (a death counted here would go with it).
        if again.result is None or not got_past_idp(again.result):
            if _rejected(again):  # not again until a login gets through
                self.account_rejected.add(hub)
            return rejected
        if not self._stand_in_rejected(hub, url):
            log.warning(
                "the IdP rejected the password stand-in but took the password itself (its page "
                "may hash or encrypt the password in the browser): this hub's probes go on "
                "without the stand-in, and so without a trace, for the next hours; set "
                "password_stand_in = false for it",
                hub=hub,
            )
        self.stand_in_rejected[hub] = (url, time.monotonic() + STAND_IN_RETRY_S)
        return again

    def _browser_fault(self, outcome: Outcome) -> BrowserFault | None:
        """One browser death counts once, however many probes it took."""
        death = outcome.browser_death
        if death is None:
            return None
        if death in self._deaths_counted:
            return "seen"
        self._deaths_counted = [*self._deaths_counted[-15:], death]
        return "new"


def _rejected(outcome: Outcome) -> bool:
    """The IdP rejected the test account."""
    return outcome.result is not None and outcome.result.verdict.code == Code.LOGIN_REJECTED
