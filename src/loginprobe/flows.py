"""The contract between the engine and the login flows in probes/.

A flow is one file in probes/ with one coroutine:

    async def login(page: Page, ctx: FlowContext) -> None

It is handed the browser on the identity provider's first page and drives only the IdP's pages:
fill in the test account, submit, get past consent and interstitials. It returns once the browser has
left the IdP (`await ctx.left_idp()`), and raises LoginRejected / IdpErrorPage / FlowChanged /
ProbeProblem for what it recognises. The journey owns everything on the hub's side. Adding an IdP =
adding a file; the engine never branches on a flow's name.

A flow file may also declare `OPTIONS = {"name": "what it means", ...}` (the keys a hub may set
under `[hubs.NAME.flow_options]`), `REQUIRED_OPTIONS = {...}`, `FLOW_OPTIONS = {...}` (options
whose value names another flow, a file path relative to the config like `flow`), and
`def check_options(options) -> list[str]` for problems worth reporting at config time. Flows compose:
one may hand the page to another (`load_flow("generic_oidc")(page, ctx)`), as CILogon hands the
login to the institution's own page. A hub may name its own flow file instead of one in probes/:
`flow = "flows/my_idp.py"` (relative to the config file).

A flow that quotes the IdP's page in its message uses `gist(text)`: page text reaches the verdict's
summary, and gist keeps only what is harmless (the journey applies it again to every message).
The password a flow types (`ctx.password`) is, on a probe that records a trace, a stand-in of the
same length, and the real one is put into the request the page sends (prober/standin.py); on a
probe that records none (a healthy hub's in `probe serve`, any with evidence or the stand-in off)
it is the password itself. A flow must not depend on which.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import structlog

from loginprobe.prober import totp
from loginprobe.prober.gist import gist

if TYPE_CHECKING:
    from playwright.async_api import Page


class FlowError(Exception):
    """Raised by a flow for something it recognised on the IdP's pages."""


class LoginRejected(FlowError):
    """The IdP refused the test account: wrong password, locked, MFA demanded, never consented."""


class IdpErrorPage(FlowError):
    """The IdP showed an error page instead of a login form."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class FlowChanged(FlowError):
    """An element the flow needs never appeared: the IdP's page changed or the flow is wrong.

    `seen`: what the flow saw on the page instead (its fields and buttons, with the names it
    read) and why none fit, one line each, for `probe run --explain`."""

    def __init__(self, message: str, seen: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.seen = tuple(seen)


class ProbeProblem(FlowError):
    """The prober cannot do this login for a reason of its own (e.g. its clock is too far off for
    TOTP): a probe_error, never reported as the hub or the account failing."""


@dataclass(frozen=True)
class SelectorOverrides:
    username: str | None = None
    password: str | None = None
    submit: str | None = None
    consent: str | None = None


@dataclass(frozen=True)
class FlowContext:
    """What a flow gets besides the page. Never log `password` or `totp_secret`."""

    username: str
    password: str = field(repr=False)
    # Starts a named step in the probe's timeline (e.g. "idp_consent"), ending the one before.
    begin_step: Callable[[str], None] = field(repr=False)
    # Resolves once the browser is on its way back to the hub (the callback request has started).
    left_idp: Callable[[], Awaitable[None]] = field(repr=False)
    has_left_idp: Callable[[], bool] = field(repr=False)
    # True while the page is on its way to a new document (its main frame's latest navigation
    # asked for and not yet answered): what the page shows then is the page it is leaving, so a
    # flow waiting for the IdP's answer need not ask it.
    navigating: Callable[[], bool] = field(default=lambda: False, repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    selectors: SelectorOverrides = SelectorOverrides()
    # How long to wait for one page's elements before deciding the page is not what we expect.
    element_timeout: float = 15.0
    # The hub's [hubs.NAME.flow_options], checked against the flow's OPTIONS at config time.
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Seconds the IdP's clock (its Date header) is ahead of ours; None before any IdP answer.
    clock_skew: Callable[[], float | None] = field(default=lambda: None, repr=False)
    # Called with every one-time code the flow types, so outputs can be scrubbed of it.
    on_code: Callable[[str], None] = field(default=lambda code: None, repr=False)
    # Seconds left in the probe's timeout (inf when unknown).
    time_left: Callable[[], float] = field(default=lambda: float("inf"), repr=False)
    # This probe's TOTP bookkeeping (the window of the last code, whether it was retried).
    _totp: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    def totp_code(self, what: str = "the IdP") -> str:
        """The current TOTP code for the test account, or why it cannot be had.

        LoginRejected when the hub has no totp_secret (the account demands MFA the prober cannot
        answer); ProbeProblem when our clock is so far off the IdP's that any code would be wrong
        (typing it anyway would only count towards locking the account).
        """
        if not self.totp_secret:
            raise LoginRejected(
                f"{what} asks for a verification code (MFA) and the hub has no totp_secret_env: "
                "give the test account an authenticator-app (TOTP) method and set its seed, or "
                "exclude the account from MFA"
            )
        skew = self.clock_skew()
        if skew is not None and abs(skew) >= totp.UNUSABLE_SKEW:
            raise ProbeProblem(totp.skew_message(skew))
        try:
            now = time.time()
            code = totp.code(self.totp_secret, now)
            self._totp["step"] = now // totp.STEP
        except ValueError:
            raise ProbeProblem(
                "the hub's totp_secret is not a valid base32 TOTP seed (check the secret's value)"
            ) from None
        self.on_code(code)
        return code

    async def totp_retry(self, what: str, message: str) -> str:
        """After the IdP rejected a code: a fresh one from the next 30-second window, once.

        IdPs refuse a code that was used before (RFC 6238 §5.2), and a probe a moment ago (a
        retry after a failure, another hub with the same account) may have used this window's.
        Raises instead when our clock is the problem, or when this was already the retry.
        """
        if self._totp.get("retried"):
            raise self.code_rejected(what, message)
        skew = self.clock_skew()
        if skew is not None and abs(skew) >= totp.SUSPECT_SKEW:
            raise self.code_rejected(what, message)
        self._totp["retried"] = 1
        step = self._totp.get("step", time.time() // totp.STEP)
        wait = (step + 1) * totp.STEP - time.time() + 0.2
        if wait + 5 > self.time_left():
            raise LoginRejected(
                f"{what} rejected the TOTP code ({message}); a fresh code needs the next 30-second window, which is past this "
                "probe's timeout. A probe moments ago may have used this window's code: give "
                "this hub a timeout of at least 60s"
            )
        if wait > 0:
            await asyncio.sleep(wait)  # the next window; the probe's timeout still bounds it
        return self.totp_code(what)

    def code_rejected(self, what: str, message: str) -> FlowError:
        """What a rejected TOTP code means: our clock, or the seed."""
        skew = self.clock_skew()
        if skew is not None and abs(skew) >= totp.SUSPECT_SKEW:
            return ProbeProblem(f"{what} rejected the TOTP code: {totp.skew_message(skew)}")
        return LoginRejected(
            f"{what} rejected the TOTP code ({message}), a fresh one from the next window too; "
            "the clocks agree, so the seed in totp_secret is probably not this account's"
        )


Flow = Callable[["Page", FlowContext], Awaitable[None]]
_log = structlog.get_logger("loginprobe")

# What a flow's helpers leave to be done when the flow is over, by page: a watch on the page's
# requests (probes/_controls.Activity) stops, so that the hub's pages after the login do not send
# Python an event for every script and style sheet they load.
_AFTER_FLOW: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def after_flow(page: Page, done: Callable[[], None]) -> None:
    """Have `done` called once the flow that drives `page` is over (the journey's business)."""
    _AFTER_FLOW.setdefault(page, []).append(done)


def load_states(page: Page) -> frozenset[str] | None:
    """The lifecycle events the page's current document has fired ("domcontentloaded", "load",
    "networkidle": Playwright's names), as Playwright's Python side knows them from the events its
    driver sends anyway: no call, no message. Playwright keeps them privately (its own
    `wait_for_load_state` reads them the same way); None if an upgrade keeps them elsewhere, and
    the callers then do what they did without them (tests/integration/test_corpus.py fails
    on such an upgrade)."""
    frame = getattr(getattr(page, "main_frame", None), "_impl_obj", None)
    states = getattr(frame, "_load_states", None)
    return frozenset(states) if isinstance(states, set) else None


def flow_over(page: Page) -> None:
    """The flow that drove `page` is over: what its helpers left to be done (after_flow)."""
    for done in _AFTER_FLOW.pop(page, []):
        try:
            done()
        except Exception as err:  # a helper's cleanup never takes the flow's verdict's place
            _log.warning("a flow's cleanup failed", error=f"{type(err).__name__}: {err}"[:200])


# Flows compose: one may load another by name (CILogon hands the login to the institution's flow).
from loginprobe.prober.registry import flow_module, load_flow  # noqa: E402

__all__ = [
    "Flow",
    "FlowChanged",
    "FlowContext",
    "FlowError",
    "IdpErrorPage",
    "LoginRejected",
    "ProbeProblem",
    "SelectorOverrides",
    "after_flow",
    "flow_module",
    "flow_over",
    "gist",
    "load_flow",
    "load_states",
]
