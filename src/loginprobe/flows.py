"""The contract between the engine and the login flows in probes/.

A flow is one file in probes/ with one coroutine:

    async def login(page: Page, ctx: FlowContext) -> None

It is handed the browser on the identity provider's first page and drives only the IdP's pages:
fill in the test account, submit, get past consent and interstitials. It returns once the browser has
left the IdP (`await ctx.left_idp()`), and raises LoginRejected / IdpErrorPage / FlowChanged
for what it recognises. The journey owns everything on the hub's side. Adding an IdP = adding a file;
the engine never branches on a flow's name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Page

FLOW_PACKAGE = "probes"


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
    """An element the flow needs never appeared: the IdP's page changed or the flow is wrong."""


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
    totp_secret: str | None = field(default=None, repr=False)
    selectors: SelectorOverrides = SelectorOverrides()
    # How long to wait for one page's elements before deciding the page is not what we expect.
    element_timeout: float = 15.0


Flow = Callable[["Page", FlowContext], Awaitable[None]]


def available_flows() -> set[str]:
    """Names of the flow files in probes/ (without importing them)."""
    pkg = importlib.import_module(FLOW_PACKAGE)
    return {m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}


def load_flow(name: str) -> Flow:
    if name not in available_flows():
        raise LookupError(f"no flow named {name!r} in {FLOW_PACKAGE}/")
    module = importlib.import_module(f"{FLOW_PACKAGE}.{name}")
    login = getattr(module, "login", None)
    if not callable(login):
        raise LookupError(f"{FLOW_PACKAGE}/{name}.py has no `async def login(page, ctx)`")
    flow: Flow = login
    return flow
