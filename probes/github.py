"""Login on GitHub (OAuth app): password, two-factor code, "Authorize <app>", device verification.

GitHub's pages by their ids: /login (`#login_field`, `#password`, `input[name=commit]`), the flash
error ("Incorrect username or password."), two-factor (`#app_totp`, answered from the hub's
totp_secret), "Authorize <app>" (`button[name=authorize]`, which GitHub keeps disabled for a moment),
and the emailed device-verification page, which no unattended login can pass. Errors GitHub sends
back to the hub's callback (redirect_uri_mismatch, application_suspended, access_denied) are the
journey's to read.
"""

from __future__ import annotations

import re

from playwright.async_api import Page

from loginprobe.flows import FlowChanged, FlowContext, IdpErrorPage, LoginRejected

from ._pages import page_gist, press, press_again, text_of, which_page

IDP = "GitHub"
MAX_PAGES = 8


async def login(page: Page, ctx: FlowContext) -> None:
    login_field = page.locator("#login_field:visible")
    password = page.locator("#password:visible")
    flash = page.locator(".flash-error:visible")
    two_factor = page.locator("#app_totp:visible")
    device = page.locator("form[action*='verified-device']").or_(
        page.get_by_role("heading", name=re.compile(r"device verification", re.I))
    )
    authorize = page.locator("button[name=authorize][value='1']:visible")
    not_found = page.get_by_text(re.compile(r"not the web page you are looking for", re.I))
    pages = {
        "error": flash,
        "not found": not_found,
        "device verification": device,
        "two-factor": two_factor,
        "authorize": authorize,
        "sign in": login_field,
    }

    sent: set[str] = set()
    for _ in range(MAX_PAGES):
        seen = await which_page(page, ctx, pages, IDP)
        if seen is None:
            return
        if seen == "error":
            message = await text_of(flash)
            if "two-factor" in sent and await two_factor.count():
                # Once: a fresh code from the next window (this one may have been used already).
                code = await ctx.totp_retry(IDP, message)
                await two_factor.first.fill(code)
                verify = page.get_by_role("button", name=re.compile(r"verify", re.I))
                await press_again(page, ctx, verify, two_factor, flash, "Verify")
                continue
            raise LoginRejected(f"GitHub rejected the test account: {message}")
        if seen == "not found":
            raise IdpErrorPage(
                f"GitHub answered 'page not found' for the login: the hub's client_id is not a "
                f"GitHub OAuth app (deleted, or a typo) — {await page_gist(page, 120)}"
            )
        if seen == "device verification":
            raise LoginRejected(
                "GitHub asks for a device-verification code it emailed to the account; an "
                "unattended login cannot read email. GitHub asks this of accounts without "
                "two-factor authentication on every new browser (each probe is one): enable "
                "2FA with an authenticator app on the test account and set totp_secret_env"
            )
        if seen in sent:
            raise FlowChanged(f"GitHub showed the {seen} page again after it was answered")
        sent.add(seen)
        if seen == "sign in":
            ctx.begin_step("idp_login")
            await login_field.first.fill(ctx.username)
            await password.first.fill(ctx.password)
            await press(
                page, ctx, page.locator("input[name=commit]"), login_field, flash, "Sign in"
            )
        elif seen == "two-factor":
            ctx.begin_step("idp_mfa")
            await two_factor.first.fill(ctx.totp_code(IDP))
            verify = page.get_by_role("button", name=re.compile(r"verify", re.I))
            await press(page, ctx, verify, two_factor, flash, "Verify")
        elif seen == "authorize":
            ctx.begin_step("idp_consent")
            await press(page, ctx, authorize, authorize, flash, "Authorize")
        if ctx.has_left_idp():
            return
    raise FlowChanged(f"still on GitHub after {MAX_PAGES} pages")
