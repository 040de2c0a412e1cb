"""Login through CILogon: pick the institution, then the institution's own login page.

CILogon's page lists identity providers (`select#providerId`, "Log On" `#wayflogonbutton`); the flow
picks the one named in `[hubs.NAME.flow_options] institution` and hands the institution's login page
to another flow (`then`, default generic_oidc; `azuread` for institutions on Entra ID).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from playwright.async_api import Page

from loginprobe.flows import FlowChanged, FlowContext, IdpErrorPage, flow_module, load_flow

from ._pages import code_in, page_gist, press, which_page

IDP = "CILogon"
OPTIONS = {
    "institution": "the identity provider to pick on CILogon's page, as listed there "
    '(e.g. "University of Toronto") or its entityID',
    "then": "the flow for the institution's own login page (default generic_oidc)",
}
REQUIRED_OPTIONS = {"institution"}
FLOW_OPTIONS = {"then"}  # a flow file named here is found beside the config, like `flow`
ERROR_CODE = re.compile(r"\b(invalid_[a-z_]+|unauthorized_client|access_denied|server_error)\b")


def check_options(options: Mapping[str, str]) -> list[str]:
    then = options.get("then", "generic_oidc")
    if then == "cilogon":
        return ["then: the institution's page needs another flow than cilogon"]
    try:
        flow_module(then)
    except LookupError as err:
        return [f"then: {err}"]
    return []


async def login(page: Page, ctx: FlowContext) -> None:
    institution = ctx.options.get("institution", "")
    picker = page.locator("select#providerId:visible")
    error = page.locator(".errorbox:visible").or_(page.get_by_text(re.compile(r"CILogon Error")))
    seen = await which_page(page, ctx, {"error": error, "institution picker": picker}, IDP)
    if seen is None:
        return
    if seen == "error":
        gist = await page_gist(page)
        raise IdpErrorPage(f"CILogon error page: {gist}", code=code_in(gist, ERROR_CODE))

    ctx.begin_step("idp_select")
    options = await picker.first.locator("option").evaluate_all(
        "els => els.map(e => [e.value, e.textContent.trim()])"
    )
    wanted = institution.strip().lower()
    match = next((v for v, label in options if wanted in (v.lower(), label.lower())), None)
    if match is None:
        listed = ", ".join(label for _, label in options[:6])
        raise FlowChanged(
            f"CILogon does not list the institution {institution!r} (it lists {len(options)}: "
            f"{listed}{', ...' if len(options) > 6 else ''}); check flow_options.institution "
            "and the hub's allowed_idps"
        )
    await picker.first.select_option(value=match)
    await press(page, ctx, page.locator("#wayflogonbutton"), picker, error, "Log On")
    if ctx.has_left_idp():
        return
    if await error.first.is_visible():
        gist = await page_gist(page)
        raise IdpErrorPage(f"CILogon error page: {gist}", code=code_in(gist, ERROR_CODE))

    # The institution's own page: another flow's job.
    ctx.begin_step("idp_login")
    await load_flow(ctx.options.get("then", "generic_oidc"))(page, ctx)
