"""What the provider flows share: recognise which of a provider's known pages the browser is on,
and press a button and wait until that page has moved on. (A leading underscore: not a flow.)

Provider pages change without navigating (Azure AD's email page turns into the password page by
script), so "moved on" means the element we acted on is gone, an error appeared, or the browser
left the IdP, not "a navigation happened".
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from loginprobe.flows import FlowChanged, FlowContext, gist

from ._controls import activity_of, read_controls
from ._names import explain

POLL = 0.1
# A page that has loaded and stayed quiet (DOM and network) this long shows all it will.
SETTLE_S = 2.5


async def visible(locator: Locator) -> bool:
    try:
        return await locator.first.is_visible()
    except PlaywrightError:  # the page is navigating: not visible yet
        return False


async def text_of(locator: Locator, limit: int = 240) -> str:
    try:
        text = await locator.first.inner_text(timeout=1000)
    except PlaywrightError:
        return ""
    return gist(" ".join(text.split()), limit=limit)


async def page_gist(page: Page, limit: int = 240) -> str:
    try:
        text = await page.locator("body").inner_text(timeout=2000)
    except PlaywrightError:
        return ""
    return gist(text, limit=limit)


def where(page: Page) -> str:
    return page.url.split("?")[0]


async def which_page(
    page: Page, ctx: FlowContext, pages: Mapping[str, Locator], idp: str
) -> str | None:
    """The name of the first known page element visible (in the mapping's order), or None once
    the browser has left the IdP. FlowChanged if none shows within the element timeout, or once
    the page has loaded and gone quiet without any (a page nobody knows, said in seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.element_timeout
    activity = activity_of(page)
    while True:
        if ctx.has_left_idp():
            return None
        for name, locator in pages.items():
            if await visible(locator):
                return name
        if loop.time() > deadline or await activity.settled(SETTLE_S):
            if ctx.has_left_idp():
                return None
            raise FlowChanged(
                f"none of {idp}'s known pages ({', '.join(pages)}) appeared at "
                f"{where(page)}: {await page_gist(page, 160) or 'an empty page'}",
                seen=explain(await read_controls(page), {}),
            )
        await asyncio.sleep(POLL)


async def press(
    page: Page, ctx: FlowContext, button: Locator, gone: Locator, errors: Locator, what: str
) -> None:
    """Click `button`, then wait until `gone` is hidden, an error shows, or the browser left."""
    activity_of(page).before_press()
    try:
        # Playwright waits for the button to be visible, enabled and stable (GitHub's Authorize
        # button starts disabled on purpose).
        await button.first.click(timeout=ctx.element_timeout * 1000)
    except PlaywrightError as err:
        if "Timeout" not in str(err):
            raise
        raise FlowChanged(f"{what} never became clickable at {where(page)}") from None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.element_timeout
    while True:
        if ctx.has_left_idp():
            return
        if ctx.navigating():
            # On its way to a new document: what shows is the page being left. However long the
            # IdP takes to answer (the probe's timeout says it did not), the press did something.
            deadline = loop.time() + ctx.element_timeout
        elif await visible(errors) or not await visible(gone):
            return
        elif loop.time() >= deadline:
            raise FlowChanged(f"nothing happened after pressing {what} at {where(page)}")
        await asyncio.sleep(POLL)


async def press_again(
    page: Page, ctx: FlowContext, button: Locator, gone: Locator, errors: Locator, what: str
) -> None:
    """`press` on a page that already shows an error (a second attempt): only a new error, on
    the page the IdP answers with, counts — not the old one still on screen."""
    with contextlib.suppress(PlaywrightError):
        await errors.evaluate_all("els => els.forEach(e => e.setAttribute('data-lp-seen', ''))")
    fresh = errors.and_(page.locator(":not([data-lp-seen])"))
    await press(page, ctx, button, gone, fresh, what)


def code_in(text: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(text)
    return found.group(0) if found else None
