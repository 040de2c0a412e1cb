"""The floor's login as a hub's own flow file: the sandbox IdP's fields and buttons by their fixed
selectors, as `benchmarks/throughput.py`'s bare script clicks them, and nothing read or guessed.

`benchmarks/throughput.py --flow benchmarks/flows/sandbox_fixed.py` runs `probe serve` with it,
which splits the monitor's extra cost per login in two: the generic flow's reading of the IdP's
pages (`probes/generic_oidc.py`) and everything around the flow (the journey, the navigation log,
the password stand-in, the secret check, the store). Only for the sandbox: a real IdP needs the
generic flow.
"""

from __future__ import annotations

from playwright.async_api import Page

from loginprobe.flows import FlowContext


async def login(page: Page, ctx: FlowContext) -> None:
    await page.fill("#user", ctx.username)
    await page.fill("#pw", ctx.password)
    await page.locator('button[type="submit"]').click()
    await page.get_by_role("button", name="Allow").click()
