"""The journey: a real browser walks the hub's login the way a student does.

    hub_start ─▶ hub_login ─▶ idp_page ─▶ idp_login (the flow) ─▶ oauth_callback ─▶ hub_landing

The journey owns the hub's side (start page, sign-in button, callback, landing page) and watches every
main-frame navigation the browser makes; the flow from probes/ drives only the IdP's pages. What it
returns is an Observation's raw parts: a step timeline and, if it stopped early, the Failure.
Classification (what it means) is classify.py's job.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from loginprobe.flows import (
    Flow,
    FlowChanged,
    FlowContext,
    FlowError,
    IdpErrorPage,
    LoginRejected,
    ProbeProblem,
    SelectorOverrides,
    flow_over,
    load_states,
)
from loginprobe.model import Failure, FailureKind, Step
from loginprobe.prober.gist import gist
from loginprobe.prober.standin import Astray
from loginprobe.redact import Redactor, redact_url

# How long the browser may take to switch the password stand-in's interception on.
ARM_TIMEOUT_S = 10.0

# Navigation errors that mean the server could not be reached or went away (not a redirect loop or
# a blocked response, which leave the browser on its error page too): on the browser's own error
# page mid-login, these are the cause, not a changed login page.
_CONNECTION_LOST = re.compile(
    r"ERR_(?:CONNECTION_|NAME_NOT_RESOLVED|ADDRESS_UNREACHABLE|TIMED_OUT|EMPTY_RESPONSE|"
    r"INTERNET_DISCONNECTED|NETWORK_CHANGED|CERT_|SSL_)"
)
# OAuth error codes (RFC 6749 §4.1.2.1, §5.2) and provider codes worth quoting as evidence.
_ERROR_CODE = re.compile(
    r"\b(AADSTS\d{5,}|invalid_redirect_uri|invalid_request|invalid_client|invalid_scope|"
    r"unauthorized_client|access_denied|unsupported_response_type|server_error|"
    r"temporarily_unavailable|redirect_uri_mismatch|application_suspended)\b"
)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class NavEntry:
    """One main-frame navigation request: a page load or one hop of a redirect chain."""

    url: str
    started: float
    finished: float | None = None
    status: int | None = None
    error: str | None = None
    # The server's clock minus ours, from its Date header (1 s resolution).
    skew: float | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None


def _tap_navigations(page: Page, heard: Callable[[str, Any], None]) -> Callable[[], None]:
    """Hear the page's `request`, `response` and `requestfailed` events without listening to them;
    returns the way to stop. A listener (`page.on("request")`) subscribes the page to every
    request: Playwright's driver then sends Python each script, style sheet and image of every
    page, their responses and ends (about half of a login's messages, and CPU in both). Without a
    listener it sends the navigations alone, which it reports anyway (and which are all the log
    needs), and Python's side still emits them on the page: this taps that emit (Playwright's
    private API, as standin.py uses; every journey test fails if an upgrade changes it). Events
    of other requests pass through too while something else listens (the flow's settle watch
    while the flow runs, the password stand-in's watch until the hub's callback answers)."""
    impl: Any = page._impl_obj
    emit = impl.emit

    def tapped(event: str, *args: Any) -> bool:
        try:
            if event in _TAPPED and args:
                heard(event, args[0])
        finally:
            emitted = bool(emit(event, *args))
        return emitted

    impl.emit = tapped

    def stop() -> None:
        if impl.__dict__.get("emit") is tapped:
            del impl.emit

    return stop


_TAPPED = frozenset({"request", "response", "requestfailed"})


async def _parsed(page: Page) -> None:
    """Wait until the page's current document is parsed (DOMContentLoaded). Playwright's own
    wait sends its driver three messages even when the event has already fired, as it mostly
    has here: that is asked of what Python already knows first (`load_states`)."""
    if "domcontentloaded" in (load_states(page) or ()):
        return
    with suppress(PlaywrightError):
        await page.wait_for_load_state("domcontentloaded")


class NavLog:
    """Every main-frame navigation of a page, in order, with a way to wait for the next one."""

    def __init__(self, page: Page, clock: Callable[[], float]) -> None:
        self.entries: list[NavEntry] = []
        self._by_request: dict[int, NavEntry] = {}
        self._page = page
        self._clock = clock
        self._changed = asyncio.Event()
        self.closed = False
        # The browser outlives the probe: its listener must go with the probe (detach), or
        # every probe's log, page and context would stay alive as long as the browser.
        self._browser = page.context.browser
        # The tap hears Playwright's own objects, not the API's wrappers of them.
        self._main_frame: Any = page._impl_obj.main_frame
        self._tapped = _tap_navigations(page, self._heard)
        # Any of these ends the page's life; waiters must hear of it, not wait out the timeout.
        page.on("close", self._on_close)
        page.on("crash", self._on_close)
        if self._browser is not None:
            self._browser.on("disconnected", self._on_close)

    def detach(self) -> None:
        """Stop listening: the probe is over."""
        page = self._page
        self._tapped()
        page.remove_listener("close", self._on_close)
        page.remove_listener("crash", self._on_close)
        if self._browser is not None:
            self._browser.remove_listener("disconnected", self._on_close)

    def _on_close(self, _: object) -> None:
        self.closed = True
        self._notify()

    def _heard(self, event: str, what: Any) -> None:
        if event == "request":
            self._on_request(what)
        elif event == "response":
            self._on_response(what)
        elif event == "requestfailed":
            self._on_failed(what)

    def _main_frame_nav(self, request: Any) -> bool:
        try:
            return bool(request.is_navigation_request() and request.frame == self._main_frame)
        except PlaywrightError:  # a request from a worker has no frame
            return False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_request(self, request: Any) -> None:
        if self._main_frame_nav(request):
            entry = NavEntry(request.url, self._clock())
            self._by_request[id(request)] = entry
            self.entries.append(entry)
            self._notify()

    def _on_response(self, response: Any) -> None:
        entry = self._by_request.get(id(response.request))
        if entry is not None and not entry.done:
            entry.status, entry.finished = response.status, self._clock()
            entry.skew = _skew(response)
            self._notify()

    def _on_failed(self, request: Any) -> None:
        entry = self._by_request.get(id(request))
        if entry is not None and not entry.done:
            entry.error, entry.finished = request.failure or "request failed", self._clock()
            self._notify()

    def mark(self) -> int:
        return len(self.entries)

    def since(self, mark: int) -> list[NavEntry]:
        return self.entries[mark:]

    def pending(self) -> NavEntry | None:
        return next((e for e in reversed(self.entries) if not e.done), None)

    def navigating(self) -> bool:
        """The latest navigation is asked for and not yet answered."""
        return bool(self.entries) and not self.entries[-1].done and not self.closed

    async def wait_for(self, predicate: Callable[[NavEntry], bool], since: int = 0) -> NavEntry:
        while True:
            for entry in self.entries[since:]:
                if predicate(entry):
                    return entry
            if self.closed:
                raise BrowserGone("the page closed under the probe (the browser died)")
            await self._changed.wait()


def _skew(response: Any) -> float | None:
    try:
        date = response.headers.get("date")
        return parsedate_to_datetime(date).timestamp() - time.time() if date else None
    except (PlaywrightError, TypeError, ValueError):
        return None


class BrowserGone(Exception):
    """The browser or page went away mid-probe: the prober's failure, never the hub's."""


class _Stop(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


@dataclass
class _OpenStep:
    name: str
    started: float
    mark: int = 0  # the navigation log's length when the step began
    http_status: int | None = None
    url: str = ""
    placeholder: bool = False  # opened by the journey for a flow that may rename it


@dataclass
class Journey:
    page: Page
    hub_url: str
    flow: Flow
    username: str
    password: str = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    selectors: SelectorOverrides = field(default_factory=SelectorOverrides)
    element_timeout: float = 15.0
    redactor: Redactor = field(default_factory=Redactor)
    clock: Callable[[], float] = time.monotonic
    flow_options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Told as each step begins (name, None) and ends (name, its Step): `probe run`'s live display.
    progress: Callable[[str, Step | None], None] | None = None
    tracing: bool = False  # this probe records a trace: its steps are grouped in it
    # The password stand-in's first request that went out without the password (None: none, or
    # no stand-in): the IdP's answer to it says nothing about the test account.
    password_astray: Callable[[], Astray | None] = field(default=lambda: None, repr=False)
    # Switches the password stand-in's interception on (standin.PasswordStandIn.arm): as the
    # browser leaves the hub's sign-in page, or, with `arm_first`, before the hub's URL is opened
    # (a hub known to send the browser straight to the IdP). Every IdP page the flow reads must
    # have loaded through it from its start (`_arm`, `_idp_page`).
    arm: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    arm_first: bool = False
    # Switches the password stand-in's interception off, once the hub's callback has answered
    # (standin.PasswordStandIn.disarm): the hub's pages after it hold no stand-in.
    disarm: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.hub_origin = origin(self.hub_url)
        self.nav = NavLog(self.page, self.clock)
        self.steps: list[Step] = []
        self._open: _OpenStep | None = None
        self.timed_out_step: str | None = None
        # One-time codes the flow typed: scrubbed from everything like the password.
        self.codes: list[str] = []
        self.deadline = float("inf")  # set by run_journey
        # The navigation log's length once the stand-in's interception was on (None: not yet; 0:
        # no stand-in). An IdP page requested before it may have loaded without it.
        self._armed_at: int | None = None if self.arm is not None else 0
        self.arming = False  # a deadline that passes meanwhile is the prober's, not the hub's
        self._disarming: asyncio.Future[None] | None = None

    # -- where is a URL? ----------------------------------------------------------------------
    def on_hub(self, url: str) -> bool:
        return origin(url) == self.hub_origin

    def is_callback(self, url: str) -> bool:
        return self.on_hub(url) and urlsplit(url).path.rstrip("/").endswith("/oauth_callback")

    def step_for(self, url: str, current: str) -> str:
        """The step a navigation belongs to, by where it goes."""
        if self.is_callback(url):
            return "oauth_callback"
        if not self.on_hub(url):
            return current if current.startswith("idp_") else "idp_page"
        return current

    # -- the timeline -------------------------------------------------------------------------
    def _record(
        self,
        name: str,
        status: str,
        started: float,
        ended: float,
        http_status: int | None = None,
        url: str = "",
        detail: str = "",
    ) -> None:
        self.steps.append(
            Step(
                name=name,
                status=status,  # type: ignore[arg-type]
                http_status=http_status,
                url=url,
                ms=round((ended - started) * 1000),
                detail=gist(detail, self.redactor, limit=300),
            )
        )
        self._tell(name, self.steps[-1])

    def _tell(self, name: str, step: Step | None) -> None:
        if self.progress is not None:
            with suppress(Exception):  # a display's bug must never change a probe's verdict
                self.progress(name, step)

    def note(self, entry: NavEntry) -> None:
        if self._open is not None:
            self._open.http_status = entry.status
            self._open.url = redact_url(entry.url)

    def _note_last(self, mark: int) -> None:
        done = [e for e in self.nav.since(mark) if e.done]
        if done:
            self.note(done[-1])

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        # The step's actions as one group in the trace, if this probe records one (else each
        # call is a round trip to the browser for nothing). A failed step's group stays open:
        # the evidence taken after it lands inside it.
        if self.tracing:
            with suppress(PlaywrightError):
                await self.page.context.tracing.group(name)
        self._open = _OpenStep(name, self.clock(), self.nav.mark())
        self._tell(name, None)
        try:
            yield
        except _Stop as stop:
            f, cur = stop.failure, self._current()
            self._record(
                cur.name,
                "failed",
                cur.started,
                self.clock(),
                f.http_status if f.http_status is not None else cur.http_status,
                f.url or cur.url,
                f.detail,
            )
            raise
        except (asyncio.CancelledError, TimeoutError):
            self._record_timeout(self._current())
            raise
        except BaseException as err:
            cur = self._current()
            self._record(
                cur.name,
                "failed",
                cur.started,
                self.clock(),
                cur.http_status,
                cur.url,
                f"{type(err).__name__}: {err}",
            )
            raise
        else:
            self._close_ok(self._current(), self.clock())
            if self.tracing:
                with suppress(PlaywrightError):
                    await self.page.context.tracing.group_end()
        finally:
            self._open = None

    def _close_ok(self, cur: _OpenStep, now: float) -> None:
        if cur.http_status is None:  # a flow's step: show the last page the IdP answered with
            done = [
                e
                for e in self.nav.since(cur.mark)
                if e.done and e.status is not None and not self.on_hub(e.url)
            ]
            if done:
                cur.http_status, cur.url = done[-1].status, redact_url(done[-1].url)
        self._record(cur.name, "ok", cur.started, now, cur.http_status, cur.url)

    def _current(self) -> _OpenStep:
        assert self._open is not None
        return self._open

    def begin_step(self, name: str) -> None:
        """A flow's own step (e.g. "idp_consent"): ends the open step and starts this one."""
        cur = self._current()
        if cur.name == name:
            return
        if cur.placeholder and self.nav.mark() == cur.mark:
            # The flow named what it is doing before any page moved: rename, don't record 0 ms.
            self._open = _OpenStep(name, cur.started, cur.mark)
            self._tell(name, None)
            return
        now = self.clock()
        self._close_ok(cur, now)
        self._open = _OpenStep(name, now, self.nav.mark())
        self._tell(name, None)

    def _record_timeout(self, opened: _OpenStep) -> None:
        # A page that never answers is the fault of whoever it belongs to: if the browser is
        # waiting on the IdP while the hub step is open, the hub step ended when the hub answered.
        pending = self.nav.pending()
        now = self.clock()
        if pending is not None:
            owner = self.step_for(pending.url, opened.name)
            if owner != opened.name:
                self._record(
                    opened.name,
                    "ok",
                    opened.started,
                    pending.started,
                    opened.http_status,
                    opened.url,
                )
                self._record(
                    owner,
                    "timeout",
                    pending.started,
                    now,
                    None,
                    redact_url(pending.url),
                    "no answer before the probe's timeout",
                )
                self.timed_out_step = owner
                return
            opened.url = redact_url(pending.url)
        self._record(
            opened.name,
            "timeout",
            opened.started,
            now,
            opened.http_status,
            opened.url,
            "no answer before the probe's timeout",
        )
        self.timed_out_step = opened.name

    # -- checks on what the browser got --------------------------------------------------------
    def _fail(
        self,
        kind: FailureKind,
        step: str,
        detail: str,
        entry: NavEntry | None = None,
        code: str | None = None,
    ) -> _Stop:
        url = entry.url if entry else self.page.url
        where = "hub" if self.on_hub(url) and not step.startswith("idp_") else "idp"
        return _Stop(
            Failure(
                kind=kind,
                step=step,
                detail=gist(detail, self.redactor, limit=300),
                http_status=entry.status if entry else None,
                url=redact_url(url),
                code=code,
                where=where,  # type: ignore[arg-type]
            )
        )

    def _check_oauth_error(self, mark: int) -> None:
        """An IdP that refuses the authorization request sends the browser back with ?error=
        (RFC 6749 §4.1.2.1), often straight through to the hub in one redirect chain, or to
        whatever callback it has registered: that is the IdP's answer, wherever it lands."""
        seen_idp = any(not self.on_hub(e.url) for e in self.nav.entries[:mark])
        for entry in self.nav.since(mark):
            if not self.on_hub(entry.url):
                seen_idp = True
                continue
            query = parse_qs(urlsplit(entry.url).query)
            if seen_idp and "error" in query:
                error = query["error"][0]
                desc = query.get("error_description", [""])[0]
                step = "oauth_callback" if self.is_callback(entry.url) else "idp_page"
                raise self._fail(
                    FailureKind.IDP_ERROR,
                    step,
                    f"the IdP returned error {error} to the hub {desc}".strip(),
                    entry,
                    code=error,
                )

    async def check(self, mark: int, step: str) -> None:
        """Stop on a failed request or an error status among the navigations since mark."""
        self._check_oauth_error(mark)
        entries = [e for e in self.nav.since(mark) if e.done]
        for entry in entries:
            if entry.error is not None:
                raise self._fail(
                    FailureKind.NETWORK, self.step_for(entry.url, step), entry.error, entry
                )
        if not entries:
            return
        last = entries[-1]
        if last.status is not None and last.status >= 400:
            if self.on_hub(last.url):
                # The hub's error page says why (OAuthenticator: "An access token was not
                # returned: ...", "OAuth state mismatch", "Forbidden"): keep its words.
                message = gist(await self.text_of(last), self.redactor)
                detail = f"answered {last.status}" + (f": {message}" if message else "")
                raise self._fail(FailureKind.HTTP, self.step_for(last.url, step), detail, last)
            await self._idp_error(last, self.step_for(last.url, step))

    async def _idp_error(self, entry: NavEntry, step: str) -> None:
        text = await self.text_of(entry)
        codes = _ERROR_CODE.findall(text)
        raise self._fail(
            FailureKind.IDP_ERROR,
            step,
            f"IdP answered {entry.status}: {gist(text, self.redactor)}",
            entry,
            code=codes[0] if codes else None,
        )

    async def text_of(self, entry: NavEntry) -> str:
        """The text of the page `entry` loaded: wait until it replaced the one before it."""
        with suppress(PlaywrightError):
            await self.page.wait_for_url(
                lambda url: url == entry.url, wait_until="domcontentloaded", timeout=3000
            )
        return await self.page_text()

    async def page_text(self) -> str:
        try:
            return await self.page.locator("body").inner_text(timeout=3000)
        except PlaywrightError:
            return ""

    # -- the walk ------------------------------------------------------------------------------
    async def walk(self) -> None:
        page = self.page
        start = self.nav.mark()
        async with self.step("hub_start"):
            if self.arm_first:
                await self._arm()
            mark = await self._start()
            if self.arm is not None and not self.on_hub(page.url):
                # The hub sent the browser straight to the IdP (no sign-in page of its own), whose
                # page loaded before the stand-in's interception was on: on now, and the hub's
                # URL again, so that the page the password goes into loads through it from its
                # start (on a page already loaded, it would reach the page's own requests only
                # once the page's renderer has heard of it). Counted in this step's time.
                await self._arm()
                start = mark = await self._start()
            self._note_last(mark)

        idp_since = start
        if self.on_hub(page.url):
            async with self.step("hub_login"):
                mark = self.nav.mark()
                await self._arm()
                if self._left_hub_unarmed(mark):
                    # The sign-in page moved on to the IdP by itself meanwhile: again, with it on.
                    mark = await self._start()
                if self.on_hub(page.url):
                    mark = self.nav.mark()
                    await self._click_sign_in()
                    entry = await self.nav.wait_for(lambda e: e.done, since=mark)
                    self.note(entry)
                idp_since = mark
                await self.check(mark, "hub_login")

        async with self.step("idp_page"):
            entry = await self._idp_page(idp_since)
            if not self._through_interception(entry):  # by every way above, never
                stop = self._fail(
                    FailureKind.PROBE_ERROR,
                    "idp_page",
                    "the IdP's page was asked for before the password stand-in's interception "
                    "was on: the probe stopped rather than type into it (a bug in loginprobe)",
                    entry,
                )
                stop.failure = replace(stop.failure, where="prober")
                raise stop
            self.note(entry)
            if entry.error is None:
                await _parsed(page)
            await self.check(self.nav.entries.index(entry), "idp_page")
            self._note_last(self.nav.entries.index(entry))

        idp_mark = self.nav.mark()
        async with self.step("idp_login"):
            await self._run_flow(idp_mark)

        async with self.step("oauth_callback"):
            try:
                callback = await asyncio.wait_for(
                    self.nav.wait_for(lambda e: e.done and self.is_callback(e.url), idp_mark),
                    self.element_timeout,
                )
            except TimeoutError:
                raise self._fail(
                    FailureKind.FLOW_CHANGED,
                    "oauth_callback",
                    "the IdP never sent the browser to the hub's /oauth_callback",
                ) from None
            self.note(callback)
            # The callback's own time: from the IdP's redirect to the hub's answer.
            self._current().started = min(self._current().started, callback.started)
            oauth_error = parse_qs(urlsplit(callback.url).query).get("error")
            if oauth_error:
                desc = parse_qs(urlsplit(callback.url).query).get("error_description", [""])[0]
                raise self._fail(
                    FailureKind.IDP_ERROR,
                    "oauth_callback",
                    f"the IdP returned error {oauth_error[0]} to the hub {desc}".strip(),
                    callback,
                    code=oauth_error[0],
                )
            after_callback = self.nav.entries.index(callback)
            await self.check(after_callback, "oauth_callback")

        if self.disarm is not None:
            # Beside the landing, not before it: the prober's own business is in no step's time
            # and never holds the probe up (it ends with the page, whatever it got to).
            self._disarming = asyncio.ensure_future(self.disarm())
        async with self.step("hub_landing"):
            landing = await self.nav.wait_for(
                lambda e: (
                    e.done
                    and (
                        e.error is not None or e.status is None or e.status < 300 or e.status >= 400
                    )
                ),
                after_callback + 1,
            )
            self.note(landing)
            await self.check(self.nav.entries.index(landing), "hub_landing")
            await _parsed(page)
            path = urlsplit(landing.url).path
            if not self.on_hub(landing.url) or path.rstrip("/").endswith("/login"):
                raise self._fail(
                    FailureKind.HTTP,
                    "hub_landing",
                    f"after the callback the hub sent the browser to "
                    f"{redact_url(landing.url)} instead of a logged-in page",
                    landing,
                )

    async def _start(self) -> int:
        """Open the hub's URL; the navigation log's mark before it."""
        mark = self.nav.mark()
        with suppress(PlaywrightError):  # the navigation log says what went wrong
            await self.page.goto(self.hub_url, wait_until="domcontentloaded")
        await self.check(mark, "hub_start")
        if not self.nav.since(mark):
            raise self._fail(FailureKind.PROBE_ERROR, "hub_start", "browser made no request")
        return mark

    async def _idp_page(self, since: int) -> NavEntry:
        return await self.nav.wait_for(lambda e: e.done and not self.on_hub(e.url), since)

    def _through_interception(self, entry: NavEntry) -> bool:
        """Was the page `entry` loaded asked for once the stand-in's interception was on (or is
        there no stand-in)? The log hears of a navigation from the browser before the browser
        answers a call it got after the navigation began: one asked for before the
        interception's call was answered sits before `_armed_at`."""
        if self._armed_at is None:
            return False
        index = next(i for i, e in enumerate(self.nav.entries) if e is entry)
        return index >= self._armed_at

    def _left_hub_unarmed(self, since: int) -> bool:
        """Has the browser asked for a page off the hub since `since`, before the stand-in's
        interception was on?"""
        armed_at = self._armed_at if self._armed_at is not None else len(self.nav.entries)
        return any(not self.on_hub(e.url) for e in self.nav.entries[since:armed_at])

    async def _arm(self) -> None:
        """The stand-in's interception on, if it is not yet. Off for the hub's first pages, whose
        scripts, styles and images then load without it: at four probes at a time, on from the
        start it cost ~0.2 CPU-s more a login (README, "Numbers"). The prober's own business: a
        browser that does not answer is a probe error, never the hub's."""
        arm, self.arm = self.arm, None
        if arm is None:
            return
        # Within the probe's deadline, so that it is this error, not the deadline, that says so.
        bound = min(ARM_TIMEOUT_S, self.deadline - self.clock() - 0.5)
        if bound <= 0:
            raise TimeoutError  # the probe's time is up: the pages before took it
        self.arming = True  # left set if the probe's deadline cancels the call (run_journey)
        try:
            await asyncio.wait_for(arm(), bound)
            self._armed_at = self.nav.mark()
            self.arming = False
        except TimeoutError:
            self.arming = False
            stop = self._fail(
                FailureKind.PROBE_ERROR,
                self._open_name(),
                f"the browser did not switch the password stand-in's interception on within "
                f"{bound:.1f} s (a browser or machine overloaded, or wedged)",
            )
            stop.failure = replace(stop.failure, where="prober")
            raise stop from None

    async def _click_sign_in(self) -> None:
        # JupyterHub's login page links to /hub/oauth_login; other apps say "Sign in" or "Log in".
        button = (
            self.page.locator('a[href*="oauth_login"]:visible')
            .or_(self.page.get_by_role("link", name=re.compile(r"sign in|log ?in", re.I)))
            .or_(self.page.get_by_role("button", name=re.compile(r"sign in|log ?in", re.I)))
        )
        try:
            await button.first.click(timeout=self.element_timeout * 1000)
        except PlaywrightError as err:
            if "Timeout" not in str(err):
                raise
            raise self._fail(
                FailureKind.FLOW_CHANGED,
                "hub_login",
                "the hub's login page has no sign-in button or link",
            ) from None

    async def _run_flow(self, idp_mark: int) -> None:
        def has_left() -> bool:
            return any(self.on_hub(e.url) for e in self.nav.since(idp_mark))

        async def left_idp() -> None:
            await self.nav.wait_for(lambda e: self.on_hub(e.url), idp_mark)

        def on_code(code: str) -> None:
            self.codes.append(code)
            self.redactor = self.redactor.with_tokens([code])

        self._current().placeholder = True
        ctx = FlowContext(
            username=self.username,
            password=self.password,
            totp_secret=self.totp_secret,
            selectors=self.selectors,
            element_timeout=self.element_timeout,
            begin_step=self.begin_step,
            left_idp=left_idp,
            has_left_idp=has_left,
            navigating=self.nav.navigating,
            options=self.flow_options,
            clock_skew=self.clock_skew,
            on_code=on_code,
            time_left=lambda: self.deadline - self.clock(),
        )
        try:
            try:
                await self.flow(self.page, ctx)
            finally:
                flow_over(self.page)
        except LoginRejected as err:
            self._stop_if_password_astray(err)
            raise self._fail(FailureKind.LOGIN_REJECTED, self._open_name(), str(err)) from None
        except IdpErrorPage as err:
            self._stop_if_password_astray(err)
            raise self._fail(
                FailureKind.IDP_ERROR, self._open_name(), str(err), code=err.code
            ) from None
        except FlowChanged as err:
            # The browser's own error page (the IdP went down with the login POST out) has no
            # login form either: the failed navigation is the cause, not a changed page.
            if self.page.url.startswith("chrome-error://"):
                await self._check_failed_navigation(idp_mark, lost_only=True)
            self._stop_if_password_astray(err)
            stop = self._fail(FailureKind.FLOW_CHANGED, self._open_name(), str(err))
            seen = tuple(self.redactor.text(line) for line in err.seen)
            stop.failure = replace(stop.failure, seen=seen)
            raise stop from None
        except ProbeProblem as err:
            stop = self._fail(FailureKind.PROBE_ERROR, self._open_name(), str(err))
            stop.failure = replace(stop.failure, where="prober")
            raise stop from None
        # A navigation that failed on the way (IdP went down mid-login, hub unreachable at the
        # callback) shows up in the log, not as an exception from the flow.
        await self._check_failed_navigation(idp_mark)

    def _stop_if_password_astray(self, err: FlowError) -> None:
        """A probe error, not the IdP's verdict, when the IdP got the stand-in for the password:
        a rejection would blame a test account whose password it never saw."""
        astray = self.password_astray()
        if astray is None:
            return
        # First what went wrong and what to do: the detail is cut to 300 characters.
        detail = (
            f"{astray.why(redact_url(astray.url))} — set password_stand_in = false for this hub; "
            f"the IdP's answer says nothing about the test account (it answered: "
            f"{gist(str(err), limit=100)})"
        )
        stop = self._fail(FailureKind.PROBE_ERROR, self._open_name(), detail)
        stop.failure = replace(stop.failure, where="prober")
        raise stop from None

    async def _check_failed_navigation(self, idp_mark: int, lost_only: bool = False) -> None:
        """Stop on the first navigation since the IdP's page that failed (a network error); with
        `lost_only`, on the last one that lost its connection (the one whose error page shows)."""
        failed = [
            e
            for e in self.nav.since(idp_mark)
            if e.error is not None and (not lost_only or _CONNECTION_LOST.search(e.error))
        ]
        if failed:
            await self.check(self.nav.entries.index(failed[-1 if lost_only else 0]), "idp_login")

    def clock_skew(self) -> float | None:
        """The IdP's clock minus ours, from its latest page's Date header."""
        for entry in reversed(self.nav.entries):
            if entry.skew is not None and not self.on_hub(entry.url):
                return entry.skew
        return None

    def _open_name(self) -> str:
        return self._open.name if self._open else "idp_login"


async def run_journey(
    context: BrowserContext,
    journey_factory: Callable[[Page], Awaitable[Journey]],
    timeout: float,
) -> tuple[tuple[Step, ...], Failure | None]:
    """Walk the journey in a fresh page, within `timeout` seconds."""
    page = await context.new_page()
    # Playwright's own timeouts stay behind ours, so the probe's deadline decides.
    page.set_default_timeout((timeout + 5) * 1000)
    journey = await asyncio.wait_for(journey_factory(page), timeout)
    journey.deadline = journey.clock() + timeout
    failure: Failure | None = None
    try:
        async with asyncio.timeout(timeout):
            await journey.walk()
    except _Stop as stop:
        failure = stop.failure
    except TimeoutError:
        step = journey.timed_out_step or "hub_start"
        where = "idp" if step.startswith("idp_") else "hub"
        failure = Failure(FailureKind.TIMEOUT, step, f"no answer within {timeout:g}s", where=where)  # type: ignore[arg-type]
        if journey.arming:  # the deadline came while the browser switched the interception on
            failure = Failure(
                FailureKind.PROBE_ERROR,
                step,
                "the browser did not switch the password stand-in's interception on before the "
                f"probe's deadline ({timeout:g}s)",
                where="prober",
            )
    finally:
        journey.nav.detach()
        if journey._disarming is not None:  # the context closes next: nothing left to let go
            journey._disarming.cancel()
    browser = context.browser
    if page.is_closed() or (browser is not None and not browser.is_connected()):
        # Whatever the journey concluded, it concluded it from a dying browser.
        raise BrowserGone("the browser died during the probe")
    return tuple(journey.steps), failure
