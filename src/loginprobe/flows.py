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
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import pkgutil
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING

from loginprobe import totp

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


def available_flows() -> set[str]:
    """Names of the flow files in probes/ (without importing them)."""
    pkg = importlib.import_module(FLOW_PACKAGE)
    return {m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}


def is_flow_file(ref: str) -> bool:
    """A hub's own flow file (a path ending in .py) rather than a flow from probes/."""
    return ref.endswith(".py")


def flow_module(ref: str) -> ModuleType:
    """The module of a flow: a name from probes/, or the path of a hub's own flow file."""
    if is_flow_file(ref):
        path = Path(ref).resolve()
        if not path.is_file():
            raise LookupError(f"no flow file {ref}")
        # Keyed by path and modification time: an edited file is loaded afresh (SIGHUP reload).
        name = f"loginprobe_flow_{abs(hash(str(path)))}_{path.stat().st_mtime_ns}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LookupError(f"cannot load flow file {ref}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # a broken hub file: say so where it is, not a traceback
            raise LookupError(
                f"flow file {ref} failed to load: {type(err).__name__}: {err}"
            ) from None
        sys.modules[name] = module
        return module
    if ref not in available_flows():
        raise LookupError(f"no flow named {ref!r} in {FLOW_PACKAGE}/")
    return importlib.import_module(f"{FLOW_PACKAGE}.{ref}")


def load_flow(ref: str) -> Flow:
    module = flow_module(ref)
    login = getattr(module, "login", None)
    if not callable(login):
        where = ref if is_flow_file(ref) else f"{FLOW_PACKAGE}/{ref}.py"
        raise LookupError(f"{where} has no `async def login(page, ctx)`")
    flow: Flow = login
    return flow


def describe_flow(ref: str) -> tuple[str, dict[str, str]]:
    """The first line of a flow's docstring and its options (name -> meaning)."""
    module = flow_module(ref)
    doc = (module.__doc__ or "").strip().splitlines()
    return (doc[0] if doc else ""), dict(getattr(module, "OPTIONS", {}))


def resolve_flow_options(ref: str, options: Mapping[str, str], base: Path) -> dict[str, str]:
    """The options, with those the flow declares as naming another flow (`FLOW_OPTIONS`) made
    absolute when they are flow files: relative to the config file, like `flow` itself."""
    named: set[str] = set(getattr(flow_module(ref), "FLOW_OPTIONS", ()))
    return {
        k: str((base / v).resolve()) if k in named and is_flow_file(v) else v
        for k, v in options.items()
    }


def option_problems(ref: str, options: Mapping[str, str]) -> list[str]:
    """What is wrong with a hub's flow_options for this flow, one message per problem."""
    module = flow_module(ref)
    known: dict[str, str] = dict(getattr(module, "OPTIONS", {}))
    required: set[str] = set(getattr(module, "REQUIRED_OPTIONS", ()))
    problems = [
        f"{key}: unknown option for flow {ref}"
        + (f" (known: {', '.join(sorted(known))})" if known else " (it takes none)")
        for key in options
        if key not in known
    ]
    problems += [
        f"{key}: flow {ref} needs this option ({known.get(key, '')})"
        for key in sorted(required - set(options))
    ]
    check = getattr(module, "check_options", None)
    if not problems and callable(check):
        problems += list(check(options))
    return problems
