"""One probe of one hub: the journey and the secret check side by side, then the verdict.

The single code path for probing and classifying, shared by `probe run` and `probe serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from loginprobe.classify import classify
from loginprobe.config import Hub, HubSecrets
from loginprobe.flows import SelectorOverrides, load_flow
from loginprobe.journey import Journey, run_journey
from loginprobe.model import Failure, FailureKind, Observation, ProbeResult, SecretCheck, Step
from loginprobe.redact import Redactor
from loginprobe.secretcheck import check_secret

Progress = Callable[[str, Step | None], None]


async def run_secret_check(hub: Hub, secrets: HubSecrets, timeout: float) -> SecretCheck | None:
    if hub.oauth is None or secrets.client_secret is None:
        return None
    async with httpx.AsyncClient(timeout=min(timeout, 15.0)) as client:
        return await check_secret(
            client,
            token_url=hub.oauth.token_url,
            client_id=hub.oauth.client_id,
            client_secret=secrets.client_secret.get_secret_value(),
            redirect_uri=hub.oauth.redirect_uri or f"{hub.url}/hub/oauth_callback",
            auth_method=hub.oauth.auth_method,
        )


async def _journey(
    browser: Browser,
    name: str,
    hub: Hub,
    secrets: HubSecrets,
    timeout: float,
    redactor: Redactor,
    progress: Progress | None = None,
) -> tuple[tuple[Step, ...], Failure | None]:
    flow = load_flow(hub.flow)
    context = await browser.new_context()
    try:
        return await run_journey(
            context,
            lambda page: Journey(
                page=page,
                hub_url=hub.url,
                flow=flow,
                username=secrets.username,
                password=secrets.password.get_secret_value(),
                totp_secret=secrets.totp_secret.get_secret_value() if secrets.totp_secret else None,
                selectors=SelectorOverrides(**hub.selectors.model_dump()),
                element_timeout=min(15.0, timeout),
                redactor=redactor,
                flow_options=hub.flow_options,
                progress=progress,
            ),
            timeout,
        )
    finally:
        # A dead browser may never answer: don't let closing hang the probe.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(context.close(), 5)


def prober_failure(err: BaseException, redactor: Redactor) -> Failure:
    """What the prober's own failure looks like to the classifier: never a hub verdict."""
    first_line = (str(err).strip().splitlines() or [""])[0]
    detail = redactor.text(f"{type(err).__name__}: {first_line}")[:300]
    return Failure(FailureKind.PROBE_ERROR, "prober", detail, where="prober")


def prober_failed(
    name: str, hub: Hub, err: BaseException, redactor: Redactor, started_at: datetime, t0: float
) -> ProbeResult:
    """The result of a probe that never got going (no browser, a crash before the journey)."""
    obs = Observation(hub=name, steps=(), failure=prober_failure(err, redactor), hub_url=hub.url)
    return _result(obs, started_at, t0)


def _result(obs: Observation, started_at: datetime, t0: float) -> ProbeResult:
    return ProbeResult(
        hub=obs.hub,
        verdict=classify(obs),
        observation=obs,
        started_at=started_at.isoformat(timespec="seconds"),
        duration_ms=round((time.monotonic() - t0) * 1000),
    )


async def probe_hub(
    browser: Browser,
    name: str,
    hub: Hub,
    secrets: HubSecrets,
    *,
    timeout: float,
    redactor: Redactor,
    progress: Progress | None = None,
) -> ProbeResult:
    """`progress` hears of each journey step as it begins and ends (journey.Journey.progress)."""
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    journey, secret = await asyncio.gather(
        _journey(browser, name, hub, secrets, timeout, redactor, progress),
        run_secret_check(hub, secrets, timeout),
        return_exceptions=True,
    )
    if isinstance(journey, BaseException):
        if not isinstance(journey, Exception):
            raise journey
        # The browser crashed or the flow has a bug: the prober broke, not the hub.
        steps: tuple[Step, ...] = ()
        failure: Failure | None = prober_failure(journey, redactor)
    else:
        steps, failure = journey
    if isinstance(secret, BaseException):
        if not isinstance(secret, Exception):
            raise secret
        secret = SecretCheck("inconclusive", detail=f"secret check failed: {type(secret).__name__}")
    obs = Observation(hub=name, steps=steps, failure=failure, secret_check=secret, hub_url=hub.url)
    return _result(obs, started_at, t0)
