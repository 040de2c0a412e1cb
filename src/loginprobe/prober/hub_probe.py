"""One probe of one hub: the journey and the secret check (side by side, or the check only once the
login has failed when the monitor's recent one stands for it), then the verdict.

The single code path for probing and classifying, shared by `probe run` and `probe serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from loginprobe.config import HubConfig, HubSecrets
from loginprobe.flows import SelectorOverrides, load_flow
from loginprobe.model import (
    Evidence,
    Failure,
    FailureKind,
    Observation,
    ProbeResult,
    SecretCheck,
    Step,
)
from loginprobe.prober.browser import BrowserLaunchError, BrowserNotFound
from loginprobe.prober.classify import classify
from loginprobe.prober.evidence import Captured, EvidencePlan, TraceRecorder, save
from loginprobe.prober.gist import gist
from loginprobe.prober.journey import Journey, run_journey
from loginprobe.prober.scrub import Scrubber
from loginprobe.prober.secretcheck import check_secret
from loginprobe.prober.standin import PasswordStandIn
from loginprobe.prober.tlscheck import tls_context
from loginprobe.redact import Redactor

log = structlog.get_logger("loginprobe")

# Screenshot, HTML and trace of a failed page: bounded, so a wedged page cannot stall the probe
# (the trace's group marks ≤ 4 s, the screenshot ≤ 6 s and the HTML ≤ 3 s, then the trace itself).
CAPTURE_TIMEOUT_S = 16.0
# Closing a probe's browser context: a dead browser may never answer.
CONTEXT_CLOSE_S = 5.0
# The fresh secret check a failed login takes (with a recent one given), beside its evidence:
# bounded, so that with the evidence it stays within the pool's hang limit.
SECRET_CHECK_AFTER_S = 8.0
Progress = Callable[[str, Step | None], None]


async def run_secret_check(
    hub: HubConfig, secrets: HubSecrets, timeout: float
) -> SecretCheck | None:
    if hub.oauth is None or secrets.client_secret is None:
        return None
    async with httpx.AsyncClient(timeout=min(timeout, 15.0), verify=tls_context()) as client:
        return await check_secret(
            client,
            token_url=hub.oauth.token_url,
            client_id=hub.oauth.client_id,
            client_secret=secrets.client_secret.get_secret_value(),
            redirect_uri=hub.oauth.redirect_uri or f"{hub.url}/hub/oauth_callback",
            auth_method=hub.oauth.auth_method,
        )


@dataclass
class _Walk:
    steps: tuple[Step, ...]
    failure: Failure | None
    error: Exception | None  # the prober broke (browser crash, a bug in a flow)
    captured: Captured | None  # evidence material of a failed walk, not yet written
    capture_s: float = 0.0  # time spent stopping the trace and capturing: not the hub's
    codes: tuple[str, ...] = ()  # one-time codes the flow typed: scrubbed like secrets


async def _journey(
    browser: Browser,
    name: str,
    hub: HubConfig,
    secrets: HubSecrets,
    timeout: float,
    redactor: Redactor,
    plan: EvidencePlan | None,
    progress: Progress | None = None,
    on_failure: Callable[[], None] | None = None,
    straight_to_idp: bool = True,
) -> _Walk:
    """`on_failure` hears that the login failed, before the evidence is taken;
    `straight_to_idp`: see probe_hub."""
    flow = load_flow(hub.flow)
    password = secrets.password.get_secret_value()
    # Never a trace without the stand-in: a hub with password_stand_in = false gets its
    # screenshot and HTML only.
    if plan is not None and plan.trace and not hub.password_stand_in:
        plan = dataclasses.replace(plan, trace=False)
    stand_in = PasswordStandIn(password) if types_stand_in(hub, plan) else None
    # A request a service worker sends is not the page's: it would take the stand-in out past the
    # rewrite. A login page works without one (a browser may have none).
    context = await browser.new_context(service_workers="block" if stand_in else "allow")
    recorder = TraceRecorder(context, plan) if plan is not None else None
    walk: _Walk | None = None
    try:
        if stand_in is not None:
            stand_in.watch(context)
        if recorder is not None:
            await recorder.start()
        journeys: list[Journey] = []

        async def journey(page: Page) -> Journey:
            arm = functools.partial(stand_in.arm, page) if stand_in is not None else None
            journeys.append(
                Journey(
                    page=page,
                    hub_url=hub.url,
                    flow=flow,
                    username=secrets.username,
                    password=stand_in.value if stand_in is not None else password,
                    totp_secret=(
                        secrets.totp_secret.get_secret_value() if secrets.totp_secret else None
                    ),
                    selectors=SelectorOverrides(**hub.selectors.model_dump()),
                    element_timeout=min(15.0, timeout),
                    redactor=redactor,
                    flow_options=hub.flow_options,
                    progress=progress,
                    tracing=recorder is not None and recorder.started,
                    password_astray=stand_in.astray if stand_in is not None else lambda: None,
                    arm=arm,
                    arm_first=straight_to_idp,
                    disarm=stand_in.disarm if stand_in is not None else None,
                )
            )
            return journeys[-1]

        def codes() -> tuple[str, ...]:
            return tuple(c for j in journeys for c in j.codes)

        try:
            steps, failure = await run_journey(context, journey, timeout)
        except Exception as err:
            note = gist(f"the prober failed: {type(err).__name__}: {err}", redactor, limit=300)
            t = time.monotonic()
            captured = await _capture(recorder, context, note)
            walk = _Walk((), None, err, captured, time.monotonic() - t, codes())
            return walk
        why = f"{failure.step}: {failure.detail}"[:300] if failure else None
        if failure is not None and on_failure is not None:
            on_failure()
        t = time.monotonic()
        captured = await _capture(recorder, context, why)
        walk = _Walk(steps, failure, None, captured, time.monotonic() - t, codes())
        return walk
    finally:
        # A dead browser may never answer: don't let closing hang the probe.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(context.close(), CONTEXT_CLOSE_S)
        if recorder is not None and (walk is None or walk.captured is None):
            recorder.forget()


async def _capture(
    recorder: TraceRecorder | None, context: BrowserContext, note: str | None
) -> Captured | None:
    """Stop the trace; for a failed walk (a note) keep it with a screenshot and the HTML."""
    if recorder is None:
        return None
    page = context.pages[-1] if context.pages else None
    try:
        captured = await asyncio.wait_for(recorder.stop(page, note), CAPTURE_TIMEOUT_S)
    except (PlaywrightError, TimeoutError, OSError) as err:
        log.warning("no evidence captured", error=f"{type(err).__name__}: {err}"[:300])
        recorder.forget()
        return None
    if note is None:
        captured.discard()
        return None
    return captured


async def _fresh_secret_check(
    hub: HubConfig, secrets: HubSecrets, timeout: float
) -> SecretCheck | None:
    """A failed login's own secret check, within SECRET_CHECK_AFTER_S."""
    try:
        return await asyncio.wait_for(run_secret_check(hub, secrets, timeout), SECRET_CHECK_AFTER_S)
    except TimeoutError:
        return SecretCheck(
            "inconclusive",
            detail=f"the token endpoint did not answer within {SECRET_CHECK_AFTER_S:.0f} s",
        )


def types_stand_in(hub: HubConfig, plan: EvidencePlan | None) -> bool:
    """Whether a probe with this evidence plan types the password stand-in: the stand-in keeps
    the password out of Playwright's working files of a trace, and a probe that records none has
    no such files (and spares the interception's CPU: standin.py)."""
    return plan is not None and plan.trace and hub.password_stand_in


def got_past_idp(result: ProbeResult) -> bool:
    """The IdP took the test account's login: the hub's callback answered it (whatever the hub
    made of it then), or the hub's landing page came (a step is recorded failed too)."""
    return result.verdict.ok or any(
        (step.name == "oauth_callback" and step.status == "ok") or step.name == "hub_landing"
        for step in result.observation.steps
    )


def went_straight_to_idp(result: ProbeResult) -> bool | None:
    """Whether the hub sent the browser from its URL straight to the IdP, with no sign-in page of
    its own (a hub with auto_login); None: the probe did not get that far."""
    names = {step.name for step in result.observation.steps}
    if "hub_login" in names:
        return False
    return True if "idp_page" in names else None


def log_crash(hub: str, err: BaseException) -> None:
    """The prober broke: its traceback at error, so a bug in loginprobe or in a flow is seen, not
    just its one-line probe_error. A browser that cannot start is no bug, and the launch has
    already said why in one line: its traceback is for debugging only."""
    if isinstance(err, BrowserLaunchError | BrowserNotFound):
        log.debug("probe crashed", hub=hub, exc_info=err)
    else:
        log.error("probe crashed", hub=hub, exc_info=err)


def prober_failure(err: BaseException, redactor: Redactor) -> Failure:
    """What the prober's own failure looks like to the classifier: never a hub verdict."""
    # The whole message goes through gist (a secret may span its lines); the first line is kept.
    first_line = gist(str(err), redactor, limit=300).split(" | ")[0]
    detail = f"{type(err).__name__}: {first_line}"[:300]
    return Failure(FailureKind.PROBE_ERROR, "prober", detail, where="prober")


def prober_failed(
    name: str,
    hub: HubConfig,
    err: BaseException,
    redactor: Redactor,
    started_at: datetime,
    t0: float,
) -> ProbeResult:
    """The result of a probe that never got going (no browser, a crash before the journey)."""
    obs = Observation(hub=name, steps=(), failure=prober_failure(err, redactor), hub_url=hub.url)
    return _result(obs, started_at, t0)


def _result(obs: Observation, started_at: datetime, t0: float, aside: float = 0.0) -> ProbeResult:
    """`aside`: seconds that were the prober's own business (taking evidence), not the probe's."""
    return ProbeResult(
        hub=obs.hub,
        verdict=classify(obs),
        observation=obs,
        started_at=started_at.isoformat(timespec="seconds"),
        duration_ms=round(max(0.0, time.monotonic() - t0 - aside) * 1000),
    )


async def probe_hub(
    browser: Browser,
    name: str,
    hub: HubConfig,
    secrets: HubSecrets,
    *,
    timeout: float,
    redactor: Redactor,
    evidence: EvidencePlan | None = None,
    progress: Progress | None = None,
    recent_secret_check: SecretCheck | None = None,
    straight_to_idp: bool = True,
) -> ProbeResult:
    """`progress` hears of each journey step as it begins and ends (journey.Journey.progress).

    On a probe that records a trace (`evidence.trace`; the only kind with the password stand-in),
    the stand-in's interception goes on before the hub's URL is opened when the hub may
    send the browser straight to the IdP (`straight_to_idp`: assumed unless the caller knows, as
    `probe serve` does from the hub's last probe, `went_straight_to_idp`); else as the browser
    leaves the hub's sign-in page, the hub's own pages loading without it. A hub that went to the
    IdP by itself before it was on is opened a second time, with it on (journey.Journey.walk).

    The secret check runs beside the journey, unless the monitor gives the hub's latest one, taken
    on its own schedule (`recent_secret_check`): then a healthy probe sends the token endpoint
    nothing and reports that one, and a failed login takes a fresh one as soon as it has failed,
    beside its evidence (it tells an expired secret from other causes, and a page's evidence must
    be this minute's)."""
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    secret: SecretCheck | BaseException | None = recent_secret_check
    checked_after = 0.0
    journey = functools.partial(
        _journey,
        browser,
        name,
        hub,
        secrets,
        timeout,
        redactor,
        evidence,
        progress,
        straight_to_idp=straight_to_idp,
    )
    if recent_secret_check is None:
        walk, secret = await asyncio.gather(
            journey(), run_secret_check(hub, secrets, timeout), return_exceptions=True
        )
    else:
        fresh: list[asyncio.Future[SecretCheck | None]] = []

        def failed() -> None:  # the login failed: a fresh check, beside the evidence
            fresh.append(asyncio.ensure_future(_fresh_secret_check(hub, secrets, timeout)))

        try:
            (walk,) = await asyncio.gather(journey(on_failure=failed), return_exceptions=True)
            if fresh:
                t = time.monotonic()
                (secret,) = await asyncio.gather(fresh[0], return_exceptions=True)
                checked_after = time.monotonic() - t  # after the walk: not the hub's time
        finally:
            for task in fresh:
                task.cancel()
    if isinstance(walk, BaseException):
        if not isinstance(walk, Exception):
            raise walk
        walk = _Walk((), None, walk, None)
    captured, aside = walk.captured, walk.capture_s + checked_after
    steps, failure = walk.steps, walk.failure
    if walk.error is not None:
        # The browser crashed or the flow has a bug: the prober broke, not the hub.
        log_crash(name, walk.error)
        steps, failure = (), prober_failure(walk.error, redactor)
    if isinstance(secret, BaseException):
        if not isinstance(secret, Exception):
            raise secret
        log_crash(name, secret)
        secret = SecretCheck("inconclusive", detail=f"secret check failed: {type(secret).__name__}")
    obs = Observation(hub=name, steps=steps, failure=failure, secret_check=secret, hub_url=hub.url)
    result = _result(obs, started_at, t0, aside)
    if captured is not None:
        try:
            if evidence is not None and not result.verdict.ok:
                scrubber = Scrubber.of(secrets.values(), walk.codes)
                written = await asyncio.to_thread(
                    _save_quietly, captured, evidence, name, started_at, scrubber, redactor
                )
                result = dataclasses.replace(result, evidence=written)
        finally:
            captured.discard()
    return result


def _save_quietly(
    captured: Captured,
    plan: EvidencePlan,
    hub: str,
    when: datetime,
    scrubber: Scrubber,
    redactor: Redactor,
) -> Evidence | None:
    """Evidence or None: a full disk or a wrong permission never changes the verdict."""
    try:
        return save(captured, plan, hub, when, scrubber)
    except Exception as err:
        log.error(
            "evidence not written",
            hub=hub,
            artifacts_dir=str(plan.root),
            error=redactor.text(f"{type(err).__name__}: {err}")[:300],
        )
        return None
