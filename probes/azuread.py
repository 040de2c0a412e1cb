"""Login on Microsoft Entra ID (Azure AD): email, password, TOTP, "Stay signed in?", AADSTS errors.

Knows both sign-in UIs Microsoft serves: the classic one (`input[name=loginfmt]`,
`input[name=passwd]`, `#idSIButton9`) and the newer one (`#usernameEntry`, `#passwordEntry`,
`[data-testid=primaryButton]`). `#usernameError` / `#passwordError` mean the account was refused;
the verification-code page (`input[name=otc]`) is answered from the hub's totp_secret; a push
prompt ("Approve sign in request") cannot be answered unattended; an error page carries an AADSTS
code (AADSTS50011 redirect URI mismatch, AADSTS700016 app not found, AADSTS50105 user not
assigned, ...) and is reported with it.
"""

from __future__ import annotations

import re

from playwright.async_api import Page

from loginprobe.flows import FlowChanged, FlowContext, IdpErrorPage, LoginRejected

from ._pages import code_in, page_gist, press, press_again, text_of, which_page

IDP = "Azure AD"
AADSTS = re.compile(r"AADSTS\d{5,}")
MAX_PAGES = 10


async def login(page: Page, ctx: FlowContext) -> None:
    username = page.locator("input[name=loginfmt]:visible, #usernameEntry:visible")
    password = page.locator("input[name=passwd]:visible, #passwordEntry:visible")
    primary = page.locator("#idSIButton9:visible, [data-testid=primaryButton]:visible")
    user_error = page.locator("#usernameError:visible")
    password_error = page.locator("#passwordError:visible")
    otc = page.locator("input[name=otc]:visible")
    otc_error = page.locator("#idSpan_SAOTCC_Error_OTC:visible")
    push = page.locator("#idDiv_SAOTCAS_Title:visible").or_(
        page.get_by_text(re.compile(r"approve sign in request|more information required", re.I))
    )
    kmsi = page.locator("#KmsiCheckboxField, #idBtn_Back:visible")
    error_page = page.locator("#idTD_Error:visible, #errorMessage:visible").or_(
        page.get_by_text(AADSTS)
    )
    errors = user_error.or_(password_error).or_(otc_error).or_(error_page)
    pages = {
        "error page": error_page,
        "username error": user_error,
        "password error": password_error,
        "code error": otc_error,
        "push prompt": push,
        "verification code": otc,
        "stay signed in": kmsi,
        "password": password,
        "email": username,
    }

    sent: set[str] = set()
    for _ in range(MAX_PAGES):
        seen = await which_page(page, ctx, pages, IDP)
        if seen is None:
            return
        if seen == "error page":
            gist = await text_of(
                page.locator("#errorMessage, #idTD_Error_Details")
            ) or await page_gist(page)
            raise IdpErrorPage(f"Azure AD error page: {gist}", code=code_in(gist, AADSTS))
        if seen == "username error":
            raise LoginRejected(
                f"Azure AD does not take the test account's name: {await text_of(user_error)}"
            )
        if seen == "password error":
            raise LoginRejected(
                f"Azure AD rejected the test account: {await text_of(password_error)}"
            )
        if seen == "code error":
            # Once: a fresh code from the next window (this one may have been used already).
            code = await ctx.totp_retry(IDP, await text_of(otc_error))
            await otc.first.fill(code)
            submit = page.locator("#idSubmit_SAOTCC_Continue:visible").or_(primary)
            await press_again(page, ctx, submit, otc, otc_error, "Verify")
            continue
        if seen == "push prompt":
            raise LoginRejected(
                "Azure AD demanded MFA the test account cannot answer unattended "
                f"({await text_of(push, 80)}): give the account an authenticator-app (TOTP) method "
                "and set totp_secret_env, or exclude it from MFA with a Conditional Access policy"
            )
        if seen in sent:
            raise FlowChanged(f"Azure AD showed the {seen} page again after it was answered")
        sent.add(seen)
        if seen == "email":
            ctx.begin_step("idp_login")
            await username.first.fill(ctx.username)
            await press(page, ctx, primary, username, errors, "Next")
        elif seen == "password":
            ctx.begin_step("idp_login")
            if (
                "email" not in sent
                and await username.count()
                and not await username.first.input_value()
            ):
                await username.first.fill(ctx.username)
            await password.first.fill(ctx.password)
            await press(page, ctx, primary, password, errors, "Sign in")
        elif seen == "verification code":
            ctx.begin_step("idp_mfa")
            await otc.first.fill(ctx.totp_code(IDP))
            submit = page.locator("#idSubmit_SAOTCC_Continue:visible").or_(primary)
            await press(page, ctx, submit, otc, errors, "Verify")
        elif seen == "stay signed in":
            ctx.begin_step("idp_interstitial")
            # "No": nothing to remember in a browser that is thrown away after the probe.
            await press(page, ctx, page.locator("#idBtn_Back"), kmsi, errors, "No")
        if ctx.has_left_idp():
            return
    raise FlowChanged(f"still on Azure AD after {MAX_PAGES} pages")
