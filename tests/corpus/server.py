"""One local server for the whole corpus: every page under /idp/<page>/, the hub's callback at
/hub/oauth_callback, and a record of what each form sent.

A form posts to /idp/<page>/<anything>: the server records the fields and sends the browser on to
the page's next page (a username-first IdP's password page) or to the hub. A link carrying
Shibboleth's `_eventId_proceed` does the same. Scripts under /assets/ may be served late
(`?delay=ms`), as an IdP's sign-in widget arrives after its page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

PAGES = Path(__file__).resolve().parent / "pages"
HUB = "/hub/oauth_callback?code=corpus-code&state=corpus-state"
# Pages that lead to another page of the same IdP instead of back to the hub.
NEXT = {
    "auth0-identifier": "/idp/auth0-password/",
    "okta-identifier": "/idp/okta-password/",
}
# Pages served under a second name, whose script behaves otherwise there.
SAME_AS = {
    "github-authorize-held": "github-authorize",
    "github-authorize-slow-hub": "github-authorize",
    "slow-next-field-late": "slow-next",
    "inplace-otp-refused": "inplace-otp",
    "inplace-otp-reworded": "inplace-otp",
}
# Pages whose form sends the browser to a hub that takes this long (ms) to answer its callback
# (the token exchange of a slow hub).
SLOW_HUB = {"github-authorize-slow-hub": 4000}
# API calls of single-page IdPs that answer with the next stage rather than a redirect.
API_STEPS = {"api/identification", "_/lookup", "api/verify"}
# Pages whose background requests (their API steps, their config) the server answers this late
# (ms): longer than the flows' quiet wait (SETTLE_S), so a flow that missed the request in flight
# calls the page settled before it has shown its form.
SLOW_API = {
    "slow-next": 4000,
    "slow-next-field-late": 4000,
    "late-config": 4000,
    # Each code's check: the first code's error stays on screen while the second is checked.
    "inplace-otp": 1500,
    "inplace-otp-refused": 1500,
    "inplace-otp-reworded": 1500,
}


@dataclass
class Corpus:
    """The running server and what the browser sent it."""

    url: str = ""
    posts: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    runner: web.AppRunner | None = None

    def sent(self, page: str) -> dict[str, str]:
        """Every field sent from a page, all its forms together."""
        out: dict[str, str] = {}
        for name, form in self.posts:
            if name == page:
                out |= form
        return out

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/idp/{page}/", self._page)
        app.router.add_get("/idp/{page}/config", self._config)
        app.router.add_post("/idp/{page}/{action:.*}", self._post)
        app.router.add_get("/assets/{name}", self._asset)
        app.router.add_get("/hub/oauth_callback", self._hub)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _onward(self, page: str) -> web.HTTPFound:
        slow = SLOW_HUB.get(page)
        return web.HTTPFound(NEXT.get(page, f"{HUB}&delay={slow}" if slow else HUB))

    async def _page(self, request: web.Request) -> web.StreamResponse:
        page = request.match_info["page"]
        if "_eventId_proceed" in request.query:
            self.posts.append((page, dict(request.query)))
            raise self._onward(page)
        path = PAGES / f"{SAME_AS.get(page, page)}.html"
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(text=path.read_text(), content_type="text/html")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        page = request.match_info["page"]
        form = await request.post()
        self.posts.append((page, {k: str(v) for k, v in form.items()}))
        if request.match_info["action"] in API_STEPS:
            # A single-page IdP's API answering one stage: the page stays and shows the next.
            await asyncio.sleep(SLOW_API.get(page, 0) / 1000)
            return web.json_response({"type": "native"})
        raise self._onward(page)

    async def _config(self, request: web.Request) -> web.StreamResponse:
        """A single-page IdP's configuration, fetched by its page as it loads."""
        await asyncio.sleep(SLOW_API.get(request.match_info["page"], 0) / 1000)
        return web.json_response({"title": "Sign in to Example University"})

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        path = PAGES / request.match_info["name"]
        if path.suffix != ".js" or not path.is_file():
            raise web.HTTPNotFound()
        delay = int(request.query.get("delay", "0"))
        if delay:
            await asyncio.sleep(delay / 1000)  # the widget's bundle arriving late
        return web.Response(text=path.read_text(), content_type="application/javascript")

    async def _hub(self, request: web.Request) -> web.StreamResponse:
        delay = int(request.query.get("delay", "0"))
        if delay:
            await asyncio.sleep(delay / 1000)
        return web.Response(text="<h1>Logged in</h1>", content_type="text/html")
