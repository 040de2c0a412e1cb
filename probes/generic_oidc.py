"""Login on any username/password IdP (Shibboleth, CAS, Keycloak, Okta, Auth0, LemonLDAP::NG, ...).

Known to pass the pages of Shibboleth, Apereo CAS, Keycloak, SimpleSAMLphp, AD FS, Okta, Auth0,
authentik, LemonLDAP::NG, Google, oidc-provider and Dex.

Reads each page the way a person does: finds the fields by what they are (input type, autocomplete,
name), fills in what is asked, and presses the button whose words say it moves on, read as a person
reads them (`_names.py`: icon glyphs and symbols dropped; `<button>`, `<input type=submit>`,
`<a class="btn">`, `[role=button]` alike, in shadow DOM too). Handles a username-first page, pages
that move on by script, login forms that JavaScript renders after load, a one-time-code page (TOTP),
consent pages ("Allow", "Accept", "Authorize"), "Continue" interstitials (Shibboleth's
expiring-password notice, CAS's warning) and "Stay signed in?". Names the pages only a person should
answer (a new password, terms of use). A page it cannot read is reported once it has settled, with
what was on it (`FlowChanged.seen`). Per-hub `[hubs.NAME.selectors]` override the guesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from loginprobe.flows import FlowChanged, FlowContext, IdpErrorPage, LoginRejected, gist

from ._controls import (
    Hit,
    Look,
    activity_of,
    answered,
    hit,
    locate,
    look,
    mark_stale,
    shown_text,
)
from ._names import CONSENT, DECLINE, SUBMIT, Control, explain, pick

# Plain CSS (no Playwright pseudo-classes): `look` matches them in one script, with visibility
# checked there as Playwright's `:visible` does.
_NOT_TEXT = ":not([type=hidden]):not([type=password]):not([type=submit]):not([type=checkbox])"
USERNAME_CSS = ", ".join(
    f"input{sel}{_NOT_TEXT}"
    for sel in (
        '[autocomplete="username"]',
        '[type="email"]',
        '[name*="user" i]',
        '[name*="login" i]',
        '[name*="email" i]',
        '[id*="user" i]',
        '[id*="email" i]',
        '[name="loginfmt"]',
    )
)
PASSWORD_CSS = 'input[type="password"]'
# A one-time-code field (Keycloak's OTP page: input#otp name="otp"; the HTML standard's
# autocomplete="one-time-code"), answered from the hub's totp_secret.
OTP_CSS = ", ".join(
    f"input{sel}"
    for sel in (
        '[autocomplete="one-time-code"]',
        '[name="otp"]',
        '[name="totp"]',
        '[id="otp"]',
        '[name*="otp" i]:not([type=hidden])',
    )
)
TEXT_INPUT_CSS = f"input{_NOT_TEXT}:not([type=radio]):not([type=button])"
ERROR_CSS = (
    '[role="alert"], .error, .alert-danger, .alert-error, '
    '[id*="error" i], [class*="error-message" i], .form-error'
)

STAY_SIGNED_IN = re.compile(r"stay signed in|keep me signed in|remember (me|this device)", re.I)
CONSENT_TEXT = re.compile(r"authori[sz]e|permission|consent|approv|grant|would like to", re.I)
# A page that asks the account to agree to terms (Keycloak's "Terms and Conditions" required
# action, Shibboleth's terms-of-use intercept), read from its title and headings only: login
# pages mention terms in their footers.
TERMS_TEXT = re.compile(
    r"\bterms (and|&) conditions\b|\bterms of (use|service)\b|\bacceptable use\b", re.I
)
# A form that asks for a new password (Keycloak's "update password" required action, an expired
# password): only a person may choose one. Not autocomplete="new-password" alone: some login
# pages set it on their one password field to keep browsers from filling it in.
NEW_PASSWORD_CSS = ", ".join(
    f"input[type=password]{sel}"
    for sel in ('[name*="new" i]', '[id*="new" i]', '[name*="confirm" i]', '[id*="confirm" i]')
)
# Shibboleth's Web Flow event that moves an interstitial on: the expiring-password page's
# "click here to continue" link carries it, and its buttons are named after it.
PROCEED_CSS = (
    'a[href*="_eventId_proceed"], button[name="_eventId_proceed"], '
    'input[type=submit][name="_eventId_proceed"]'
)
# What one look at a page asks: each name's visible matches.
LOOK_FOR = {
    "username": USERNAME_CSS,
    "password": PASSWORD_CSS,
    "new_password": NEW_PASSWORD_CSS,
    "otp": OTP_CSS,
    "text_input": TEXT_INPUT_CSS,
    "error": ERROR_CSS,
    "proceed": PROCEED_CSS,
}
# A page showing one of these is one the flow knows (it waits for them while scripts render).
KNOWN = ("password", "otp", "username", "error", "proceed")
ERROR_CODE = re.compile(
    r"\b(AADSTS\d{5,}|invalid_[a-z_]+|unauthorized_client|access_denied|"
    r"server_error|temporarily_unavailable)\b"
)
ERROR_TEXT = re.compile(r"\berror\b|something went wrong|sorry", re.I)

MAX_PAGES = 8
POLL = 0.1
POLL_MAX = 0.8  # the longest wait between two reads of a page's controls
# A page that has loaded and whose DOM and network have been quiet this long shows all it will:
# if nothing on it is known, say so now rather than after the element timeout.
SETTLE_S = 2.5
WANTED = {"submit": SUBMIT, "consent": CONSENT, "decline": DECLINE}


ERROR_POLL = 0.25  # between two looks for an answer on the same page, after a button's press
ERROR_WAIT_S = 1.0  # how long a page that asks again may take to show its error
PARSE_WAIT_S = 0.5  # the longest wait for a new page's document to be parsed before reading it


async def _visible(locator: Locator) -> bool:
    try:
        return await locator.first.is_visible()
    except PlaywrightError:
        return False


async def _count(locator: Locator) -> int:
    try:
        return await locator.count()
    except PlaywrightError:
        return 0


async def _text(page: Page) -> str:
    try:
        return await page.locator("body").inner_text(timeout=2000)
    except PlaywrightError:
        return ""


def _first_line(text: str) -> str:
    return gist(" ".join(text.split()), limit=200)


async def _error_text(page: Page, seen: Look) -> str:
    """The IdP's error on a page that asks again: from the look, or, when a script renders it
    after the form, once it shows (within ERROR_WAIT_S)."""
    if seen.error:
        return seen.error
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(_error_shows(page), ERROR_WAIT_S)
    return ""


async def _error_shows(page: Page) -> str:
    """Returns the text of the first inline error that shows with some text (an empty error box
    is filled in by script), once one does."""
    while True:
        text = await shown_text(page, ERROR_CSS)
        if text is not None and text.strip():
            return text
        await asyncio.sleep(ERROR_POLL)


async def _answered_here(ctx: FlowContext, action: Locator, moved_on: asyncio.Event) -> None:
    """Returns once the IdP has answered a press on this same page: an inline error shows (not
    one shown before the press and marked stale, still saying the same), or the button is no
    longer shown (a page that moves on by script, like Google's and AD FS's).

    Asked every ERROR_POLL after the press, both questions in one call into the page; not while
    the page is on its way to a new document, nor once one has come (`moved_on`): that is the
    usual answer, which the caller waits for, and asking then would ask the page being left, or
    a new one not yet parsed (where the button is gone). At four probes at a time the two
    questions took four calls a login before (`benchmarks/probe_cost.py --messages`);
    Playwright's own wait for "hidden" asks five times in its first quarter second, three calls
    each."""
    while True:
        await asyncio.sleep(ERROR_POLL)
        if ctx.navigating() or moved_on.is_set():
            continue
        if await answered(action.first, ERROR_CSS):
            return


async def _act_and_settle(
    page: Page, ctx: FlowContext, action: Locator, field: Locator | None = None
) -> None:
    """Press a button (or Enter in `field` when there is none) and wait for the IdP's answer: a
    new page, or an answer on this one (`_answered_here`)."""
    # Listeners, not Playwright's waits: the driver reports navigations and documents loaded
    # anyway, and a wait is three more messages to it, with a call stack taken for each.
    loop = asyncio.get_running_loop()
    navigated: asyncio.Future[None] = loop.create_future()
    moved_on = asyncio.Event()  # the main frame has committed a document (or navigated within)
    timers: list[asyncio.TimerHandle] = []

    def on_navigated(frame: object) -> None:
        if frame == page.main_frame and not navigated.done():
            moved_on.set()
            # Read once its document is parsed: a look at it before finds nothing and looks
            # again (a call into the renderer each). A page slow to parse, or a navigation within
            # the document (no new one to parse), is read after PARSE_WAIT_S anyway; one still
            # on its way then is waited for by the reader (`_wait_for_page`).
            timers.append(loop.call_later(PARSE_WAIT_S, _settle, navigated))

    def on_parsed(_: object) -> None:
        if moved_on.is_set():
            _settle(navigated)

    page.on("framenavigated", on_navigated)
    page.on("domcontentloaded", on_parsed)
    left = asyncio.ensure_future(ctx.left_idp())
    waiters: list[asyncio.Future[None]] = [navigated, left]
    activity_of(page).before_press()
    try:
        if field is not None:
            await field.first.press("Enter")
        else:
            await action.first.click()
        # Asked once the press is done, not while Playwright makes it: on a busy machine a
        # press that sends the browser on takes seconds (Playwright's checks, then the wait for
        # the next document), and every question meanwhile was a call into the page for nothing.
        waiters.append(asyncio.ensure_future(_answered_here(ctx, action, moved_on)))
        await asyncio.wait(
            waiters, timeout=ctx.element_timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        page.remove_listener("framenavigated", on_navigated)
        page.remove_listener("domcontentloaded", on_parsed)
        for timer in timers:
            timer.cancel()
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Fields:
    """The fields the flow types into: found by `look` (LOOK_FOR), or by the hub's own
    [hubs.NAME.selectors] (Playwright selectors, asked one by one)."""

    def __init__(self, page: Page, ctx: FlowContext) -> None:
        sel = ctx.selectors
        self.page = page
        self.custom = {
            name: page.locator(css)
            for name, css in (("username", sel.username), ("password", sel.password))
            if css
        }
        # What a page shows that the flow knows: a hub's own selector in place of the look's.
        self.known = tuple(name for name in KNOWN if name not in self.custom)
        known = [page.locator(css) for css in (sel.username, sel.password, sel.consent) if css]
        self.custom_known = functools.reduce(Locator.or_, known) if known else None

    def locator(self, name: str) -> Locator:
        if name in self.custom:
            return self.custom[name].first
        return hit(self.page, name, LOOK_FOR[name])

    async def shown(self, seen: Look, name: str) -> bool:
        if name in self.custom:
            return await _visible(self.custom[name])
        return seen.shows(name)

    async def count(self, seen: Look, name: str) -> int:
        if name in self.custom:
            return await _count(self.custom[name])
        return seen.count(name)


async def _wait_for_page(page: Page, ctx: FlowContext, fields: _Fields) -> Look | None:
    """Wait until the IdP's page shows something we know — a field, a button whose name we can
    read, an error — and return what it shows; None once the browser has left the IdP.

    Forms that scripts render late are waited for; a page that has loaded and gone quiet (DOM and
    network) without anything known is returned as it is after SETTLE_S, not the element timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.element_timeout
    activity = activity_of(page)
    wait = POLL
    while True:
        if ctx.has_left_idp():
            return None
        if ctx.navigating():
            # On its way to the IdP's next page: a look now would ask the page being left (in
            # Chromium the call waits for the navigation, then comes back empty). Wait for the
            # next page however long the IdP takes to answer (the probe's timeout says it did
            # not, naming it), then give that page its own element timeout.
            await asyncio.sleep(POLL)
            deadline, wait = loop.time() + ctx.element_timeout, POLL
            continue
        seen = await look(page, LOOK_FOR)
        if seen.shows(*fields.known) or pick(seen.controls, SUBMIT + CONSENT + DECLINE):
            return seen
        if fields.custom_known is not None and await _visible(fields.custom_known):
            return seen
        if loop.time() > deadline or await activity.settled(SETTLE_S):
            if ctx.has_left_idp():
                return None
            return seen
        # Reading the page less often the longer it takes; a navigation meanwhile is read at
        # the next look.
        await asyncio.sleep(wait)
        wait = min(wait * 2, POLL_MAX)


async def _no_known_page(page: Page, ctx: FlowContext, controls: list[Control]) -> None:
    text = await _text(page)
    codes = ERROR_CODE.findall(text)
    if codes or ERROR_TEXT.search(text):
        raise IdpErrorPage(f"IdP error page: {gist(text)}", code=codes[0] if codes else None)
    if CONSENT_TEXT.search(text):
        ctx.begin_step("idp_consent")
        raise LoginRejected(
            "the IdP asks for consent or approval that the prober cannot give: the test account "
            "was never set up for this app (sign in with it once by hand, or have an admin grant "
            "consent)"
        )
    names = [c.name for c in controls if not c.is_field and c.kind != "link" and c.name]
    shown = f" (its buttons: {', '.join(repr(n) for n in names[:5])})" if names else ""
    raise FlowChanged(
        f"no login form, button or known page at {page.url.split('?')[0]}{shown} "
        f"(set [hubs.NAME.selectors] if the IdP's page is unusual)",
        seen=explain(controls, WANTED),
    )


async def _submit_for(
    page: Page, ctx: FlowContext, field: Locator, form: int | None, controls: list[Control]
) -> Locator | None:
    """The button that sends the form `field` is in (`form`: its index in document.forms, None:
    not known yet): one named like a submit in that form, else one anywhere on the page, else
    the form's only submit button (an icon with no name). None: press Enter in the field, as a
    person would."""
    if ctx.selectors.submit:
        return page.locator(ctx.selectors.submit)
    if form is None:
        try:
            form = await field.first.evaluate(
                "el => el.form ? Array.prototype.indexOf.call(document.forms, el.form) : -1"
            )
        except PlaywrightError:
            form = -1
    same_form = [c for c in controls if c.form == form and form >= 0]
    chosen = pick(same_form, SUBMIT) or pick(controls, SUBMIT)
    if chosen is None:
        submits = [c for c in same_form if c.kind == "submit"]
        chosen = submits[0] if len(submits) == 1 else None
    return locate(page, chosen) if chosen else None


async def _consent_button(
    page: Page, ctx: FlowContext, controls: list[Control]
) -> tuple[Locator, bool] | None:
    """The button that gives consent, and whether the look found it enabled (a hub's own
    selector: not known)."""
    if ctx.selectors.consent:
        button = page.locator(ctx.selectors.consent).first
        return (button, False) if await _visible(button) else None
    agree = pick(controls, CONSENT)
    return (locate(page, agree).first, not agree.disabled) if agree else None


async def _send(
    page: Page, ctx: FlowContext, field: Locator, form: int | None, controls: list[Control]
) -> None:
    button = await _submit_for(page, ctx, field, form, controls)
    if button is None:
        await _act_and_settle(page, ctx, field, field=field)
    else:
        await _act_and_settle(page, ctx, button)


def _form(fields: _Fields, seen: Look, name: str) -> int | None:
    """The form of the field the look found for `name` (None: a hub's own selector found it)."""
    if name in fields.custom:
        return None
    return seen.hits.get(name, Hit()).form


async def login(page: Page, ctx: FlowContext) -> None:
    activity_of(page)  # asked about from the first page on (its watch starts when needed)
    sel = ctx.selectors
    fields = _Fields(page, ctx)
    password_sent = otp_sent = False
    for _ in range(MAX_PAGES):
        seen = await _wait_for_page(page, ctx, fields)
        if seen is None:
            return
        controls = seen.controls
        if seen.shows("new_password") or await fields.count(seen, "password") >= 2:
            ctx.begin_step("idp_interstitial")
            raise LoginRejected(
                "the IdP demands a new password for the test account (expired, or marked for "
                "change by an admin): a person must choose one, then update the hub's password"
            )
        if await fields.shown(seen, "password"):
            if password_sent:
                message = _first_line(await _error_text(page, seen))
                raise LoginRejected(
                    f"the IdP rejected the test account: "
                    f"{message or 'the IdP asked for the password again'}"
                )
            ctx.begin_step("idp_login")
            if await fields.shown(seen, "username"):
                await fields.locator("username").fill(ctx.username)
            elif not sel.username and seen.shows("text_input"):
                # A field beside the password that we cannot name: guessing would type the
                # username into the wrong box and blame the test account.
                other = seen.hits["text_input"]
                raise FlowChanged(
                    f"the login form has a field {other.name or other.id or '?'!r} the flow "
                    "cannot identify as the username: set [hubs.NAME.selectors] username",
                    seen=explain(controls, WANTED),
                )
            password = fields.locator("password")
            await password.fill(ctx.password)
            password_sent = True
            await _send(page, ctx, password, _form(fields, seen, "password"), controls)
        elif seen.shows("otp"):
            ctx.begin_step("idp_mfa")
            otp = hit(page, "otp", OTP_CSS)
            if otp_sent:
                # Once: a fresh code from the next window (this one may have been used already).
                message = _first_line(await _error_text(page, seen))
                message = message or "the IdP asked for the code again"
                await otp.fill(await ctx.totp_retry("the IdP", message))
                # A page that answers in place still shows the first code's error while the IdP
                # checks this one: that error is not its answer. One that refuses this code in
                # the same words and place is heard when the page is next read, after the wait
                # for an answer (the element timeout): not sooner, for an IdP still checking
                # then would be blamed on the seed.
                await mark_stale(page, ERROR_CSS)
            else:
                await otp.fill(ctx.totp_code("the IdP"))
            otp_sent = True
            await _send(page, ctx, otp, _form(fields, seen, "otp"), controls)
        elif await fields.shown(seen, "username"):
            if password_sent:
                raise LoginRejected("the IdP asked for the username again after the password")
            ctx.begin_step("idp_login")
            username = fields.locator("username")
            await username.fill(ctx.username)
            await _send(page, ctx, username, _form(fields, seen, "username"), controls)
            after = await look(page, LOOK_FOR)
            if after.shows("error") and not await fields.shown(after, "password"):
                raise LoginRejected(f"the IdP rejected the username: {_first_line(after.error)}")
        elif (decline := pick(controls, DECLINE)) and STAY_SIGNED_IN.search(await _text(page)):
            ctx.begin_step("idp_interstitial")
            await _act_and_settle(page, ctx, locate(page, decline))
        elif terms := TERMS_TEXT.search(seen.headings):
            ctx.begin_step("idp_interstitial")
            raise LoginRejected(
                f"the IdP asks the test account to accept its {terms.group(0).lower()}: a person "
                "must read and accept them once, signed in as the test account"
            )
        elif consent := await _consent_button(page, ctx, controls):
            agree, enabled = consent
            ctx.begin_step("idp_consent")
            try:
                # Some consent buttons are disabled for a moment after the page shows them
                # (GitHub's "Authorize"): wait for it, up to the element timeout. One the look
                # found enabled is pressed at once (the trial costs a click's checks).
                if not enabled:
                    await agree.click(timeout=ctx.element_timeout * 1000, trial=True)
            except PlaywrightError:
                raise LoginRejected(
                    "the IdP's consent button never became clickable: the test "
                    "account was never set up for this app"
                ) from None
            await _act_and_settle(page, ctx, agree)
        elif seen.shows("proceed"):
            ctx.begin_step("idp_interstitial")
            await _act_and_settle(page, ctx, hit(page, "proceed", PROCEED_CSS))
        else:
            await _no_known_page(page, ctx, controls)
        if ctx.has_left_idp():
            return
    raise FlowChanged(f"still on the IdP after {MAX_PAGES} pages (a loop, or an unknown page)")
