"""Nothing of a probe outlives it: no listener on the shared browser, no page, no context, no
journey. A monitor's browser lives for months; anything a probe leaves on it is a leak.

Real Chromium through the monitor's browser pool, against a tiny local hub that fails each way a
probe can end early (an error page with evidence taken, a closed port, a page that never answers),
so each probe takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from playwright._impl.browser_context import BrowserContext as ContextImpl
from playwright._impl.page import Page as PageImpl
from playwright.async_api import Browser
from pydantic import SecretStr

from loginprobe.config import HubConfig, HubSecrets
from loginprobe.model import ProbeResult
from loginprobe.monitor.pool import BrowserPool
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import probe_hub
from loginprobe.prober.journey import Journey, NavLog
from loginprobe.redact import Redactor
from sandbox import free_port

SECRETS = HubSecrets("u", SecretStr("lifetime-test-password"), None, None)


@asynccontextmanager
async def tiny_hub() -> AsyncIterator[str]:
    """`/` answers 500; `/hang` never answers."""

    async def error(_: web.Request) -> web.Response:
        return web.Response(status=500, text="500: Internal Server Error")

    async def hang(_: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/", error)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def listeners(browser: Browser) -> int:
    emitter = browser._impl_obj
    return sum(emitter.listener_count(e) for e in emitter.event_names())


def alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


def test_no_listener_page_context_or_journey_outlives_its_probe(tmp_path: Path) -> None:
    async def main() -> None:
        async with tiny_hub() as url:
            hubs = {
                "failing": (url, 10.0),  # 500: evidence (screenshot, HTML, trace) taken
                "refused": (f"http://127.0.0.1:{free_port()}", 10.0),
                # Cut by the journey's timeout (before any hub page: hub_unreachable).
                "hanging": (f"{url}/hang", 1.0),
            }
            baseline = {kind: alive(kind) for kind in (NavLog, Journey, PageImpl, ContextImpl)}
            pool = BrowserPool("", concurrency=2)
            await pool.start()
            seen: list[Browser] = []

            async def probe(name: str) -> ProbeResult | Exception:
                hub_url, timeout = hubs[name]
                spec = HubConfig(
                    url=hub_url, flow="generic_oidc", username_env="U", password_env="P"
                )

                async def fn(browser: Browser, traces: Path | None) -> ProbeResult:
                    seen.append(browser)
                    plan = plan_for(str(tmp_path / "artifacts"), 3, 86400.0, traces)
                    return await probe_hub(
                        browser, name, spec, SECRETS, timeout=timeout, redactor=Redactor(),
                        evidence=plan,
                    )  # fmt: skip

                outcome = await pool.run(fn, timeout + 30)
                return outcome.result or outcome.error or RuntimeError("the probe gave nothing")

            try:
                warm = await asyncio.gather(*(probe(h) for h in hubs))
                browser = seen[0]
                before = listeners(browser)
                results = await asyncio.gather(*(probe(h) for h in [*hubs, "failing", "refused"]))
                for result in [*warm, *results]:
                    assert isinstance(result, ProbeResult), result
                codes = {r.hub: str(r.verdict.code) for r in results if isinstance(r, ProbeResult)}
                assert codes == {
                    "failing": "hub_error",
                    "refused": "hub_unreachable",
                    "hanging": "hub_unreachable",
                }
                assert set(seen) == {browser}, "the browser was relaunched: nothing was measured"
                assert listeners(browser) == before, "a probe left a listener on the browser"
                # Against what the process held before (other tests in this process may keep
                # theirs): nothing of these probes is left.
                assert alive(NavLog) <= baseline[NavLog]
                assert alive(Journey) <= baseline[Journey]
                assert alive(PageImpl) <= baseline[PageImpl]
                assert alive(ContextImpl) <= baseline[ContextImpl]
            finally:
                await pool.stop()

    asyncio.run(main())
