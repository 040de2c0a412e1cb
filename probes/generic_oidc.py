"""Login on a plain username/password identity provider (Keycloak, oidc-provider, Dex, Auth0, ...).

Reads each page the way a person does: finds the fields by what they are (input type, autocomplete,
label), fills in what is asked, and presses the button that moves on. Handles a username-first page,
login forms that JavaScript renders after load, a one-time-code page (TOTP), consent pages ("Allow", "Authorize", "Grant access"),
"Continue" interstitials and "Stay signed in?". Per-hub `[hubs.NAME.selectors]` override the guesses.
"""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from loginprobe.flows import FlowChanged, FlowContext, IdpErrorPage, LoginRejected, gist

_NOT_TEXT = ":not([type=hidden]):not([type=password]):not([type=submit]):not([type=checkbox])"
USERNAME_CSS = ", ".join(
    f"input{sel}{_NOT_TEXT}:visible"
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
PASSWORD_CSS = 'input[type="password"]:visible'
# A one-time-code field (Keycloak's OTP page: input#otp name="otp"; the HTML standard's
# autocomplete="one-time-code"), answered from the hub's totp_secret.
OTP_CSS = ", ".join(
    f"input{sel}:visible"
    for sel in (
        '[autocomplete="one-time-code"]',
        '[name="otp"]',
        '[name="totp"]',
        '[id="otp"]',
        '[name*="otp" i]:not([type=hidden])',
    )
)
TEXT_INPUT_CSS = f"input{_NOT_TEXT}:not([type=radio]):not([type=button]):visible"
ERROR_CSS = (
    '[role="alert"]:visible, .error:visible, .alert-danger:visible, .alert-error:visible, '
    '[id*="error" i]:visible, [class*="error-message" i]:visible, .form-error:visible'
)

SUBMIT_NAME = re.compile(r"^\s*(sign[ -]?in|log[ -]?in|login|continue|next|submit|verify)\b", re.I)
CONSENT_NAME = re.compile(
    r"^\s*(allow|authori[sz]e|accept|approve|grant( access)?|consent|agree|continue|yes)\b", re.I
)
STAY_SIGNED_IN = re.compile(r"stay signed in|keep me signed in|remember (me|this device)", re.I)
NO_BUTTON = re.compile(r"^\s*(no|not now|skip)\b", re.I)
CONSENT_TEXT = re.compile(r"authori[sz]e|permission|consent|approv|grant|would like to", re.I)
ERROR_CODE = re.compile(
    r"\b(AADSTS\d{5,}|invalid_[a-z_]+|unauthorized_client|access_denied|"
    r"server_error|temporarily_unavailable)\b"
)
ERROR_TEXT = re.compile(r"\berror\b|something went wrong|sorry", re.I)

MAX_PAGES = 8


def _buttons(page: Page, name: re.Pattern[str]) -> Locator:
    return page.get_by_role("button", name=name).or_(page.get_by_role("link", name=name))


async def _visible(locator: Locator) -> bool:
    try:
        return await locator.first.is_visible()
    except PlaywrightError:
        return False


async def _text(page: Page) -> str:
    try:
        return await page.locator("body").inner_text(timeout=2000)
    except PlaywrightError:
        return ""


async def _first_line(locator: Locator) -> str:
    try:
        text = await locator.first.inner_text(timeout=1000)
    except PlaywrightError:
        return ""
    return gist(" ".join(text.split()), limit=200)


async def _act_and_settle(page: Page, ctx: FlowContext, action: Locator) -> None:
    """Press a button and wait for the IdP's answer: a new page, or an inline error on this one."""
    navigated = asyncio.ensure_future(
        page.wait_for_event("framenavigated", predicate=lambda f: f == page.main_frame, timeout=0)
    )
    left = asyncio.ensure_future(ctx.left_idp())
    inline_error = asyncio.ensure_future(
        page.locator(ERROR_CSS).first.wait_for(state="visible", timeout=0)
    )
    waiters = [navigated, left, inline_error]
    try:
        await action.first.click()
        await asyncio.wait(
            waiters, timeout=ctx.element_timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def _wait_for_page(page: Page, ctx: FlowContext, known: Locator) -> bool:
    """Wait until the IdP's page shows something; False if the browser left the IdP.

    Anything visible that we know (a field, a consent button) ends the wait; so does any button
    or error message, after a short grace for forms that scripts are still rendering.
    """
    anything = known.or_(page.get_by_role("button")).or_(page.locator(ERROR_CSS))
    appeared = asyncio.ensure_future(
        anything.first.wait_for(state="visible", timeout=ctx.element_timeout * 1000)
    )
    left = asyncio.ensure_future(ctx.left_idp())
    try:
        done, _ = await asyncio.wait([appeared, left], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in (appeared, left):
            w.cancel()
        await asyncio.gather(appeared, left, return_exceptions=True)
    if left in done or ctx.has_left_idp():
        return False
    if appeared.exception() is not None:
        await _no_known_page(page, ctx)
    if not await _visible(known):
        try:
            await known.first.wait_for(state="visible", timeout=min(3, ctx.element_timeout) * 1000)
        except PlaywrightError:
            await _no_known_page(page, ctx)
    return True


async def _no_known_page(page: Page, ctx: FlowContext) -> None:
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
    raise FlowChanged(
        f"no login form, button or known page at {page.url.split('?')[0]} "
        f"(set [hubs.NAME.selectors] if the IdP's page is unusual)"
    )


async def login(page: Page, ctx: FlowContext) -> None:
    sel = ctx.selectors
    username = page.locator(sel.username) if sel.username else page.locator(USERNAME_CSS)
    password = page.locator(sel.password) if sel.password else page.locator(PASSWORD_CSS)
    submit = (
        page.locator(sel.submit)
        if sel.submit
        else page.locator("button[type=submit]:visible, input[type=submit]:visible").or_(
            _buttons(page, SUBMIT_NAME)
        )
    )
    consent = page.locator(sel.consent) if sel.consent else _buttons(page, CONSENT_NAME)
    otp = page.locator(OTP_CSS)
    known = password.or_(otp).or_(username).or_(consent).or_(_buttons(page, NO_BUTTON))

    password_sent = otp_sent = False
    for _ in range(MAX_PAGES):
        if not await _wait_for_page(page, ctx, known):
            return
        error = page.locator(ERROR_CSS)
        if await _visible(password):
            if password_sent:
                message = await _first_line(error) or "the IdP asked for the password again"
                raise LoginRejected(f"the IdP rejected the test account: {message}")
            ctx.begin_step("idp_login")
            if await _visible(username):
                await username.first.fill(ctx.username)
            elif not sel.username and await _visible(page.locator(TEXT_INPUT_CSS)):
                # A field beside the password that we cannot name: guessing would type the
                # username into the wrong box and blame the test account.
                field = page.locator(TEXT_INPUT_CSS).first
                what = await field.get_attribute("name") or await field.get_attribute("id") or "?"
                raise FlowChanged(
                    f"the login form has a field {what!r} the flow cannot identify as the "
                    "username: set [hubs.NAME.selectors] username"
                )
            await password.first.fill(ctx.password)
            password_sent = True
            await _act_and_settle(page, ctx, submit)
        elif await _visible(otp):
            ctx.begin_step("idp_mfa")
            if otp_sent:
                # Once: a fresh code from the next window (this one may have been used already).
                message = await _first_line(error) or "the IdP asked for the code again"
                await otp.first.fill(await ctx.totp_retry("the IdP", message))
            else:
                await otp.first.fill(ctx.totp_code("the IdP"))
            otp_sent = True
            await _act_and_settle(page, ctx, submit)
        elif await _visible(username):
            if password_sent:
                raise LoginRejected("the IdP asked for the username again after the password")
            ctx.begin_step("idp_login")
            await username.first.fill(ctx.username)
            await _act_and_settle(page, ctx, submit)
            if await _visible(error) and not await _visible(password):
                raise LoginRejected(f"the IdP rejected the username: {await _first_line(error)}")
        elif STAY_SIGNED_IN.search(await _text(page)) and await _visible(_buttons(page, NO_BUTTON)):
            ctx.begin_step("idp_interstitial")
            await _act_and_settle(page, ctx, _buttons(page, NO_BUTTON))
        elif await _visible(consent):
            ctx.begin_step("idp_consent")
            button = consent.first
            try:
                # Some consent buttons are disabled for a moment after the page shows them.
                await button.click(timeout=ctx.element_timeout * 1000, trial=True)
            except PlaywrightError:
                raise LoginRejected(
                    "the IdP's consent button never became clickable: the test "
                    "account was never set up for this app"
                ) from None
            await _act_and_settle(page, ctx, button)
        else:
            await _no_known_page(page, ctx)
        if ctx.has_left_idp():
            return
    raise FlowChanged(f"still on the IdP after {MAX_PAGES} pages (a loop, or an unknown page)")
