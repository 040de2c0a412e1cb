"""The password never enters the browser: a flow types a stand-in of the same length, and the
request the page sends is rewritten on its way out, with the real password where the stand-in was.

Playwright writes what a script types (`fill("…")`), the DOM with every field's value and what the
browser sends (the login form's body) into its working files of the trace as the probe goes, long
before anything is scrubbed: a probe killed right after typing left the password there in plain
text. With the stand-in, all of that holds a random string that opens nothing.

The rewrite uses Chromium's own interception (the DevTools protocol's `Fetch` domain, on a session
of the probe's page), not Playwright's `route`: a route stops every request of the page (each
script, style sheet, image and font) in Chromium's browser process and Playwright's driver, and
turns the browser's cache off, which cost ~0.35 CPU-s a login on the sandbox (~15% of what a login
costs in all; `benchmarks/throughput.py --no-stand-in` measures it). The session stops only the
kinds of request that can carry a body (a page's navigations, XHR, fetch, beacons and others), and
Playwright knows nothing of the rewrite: its request events, and so the trace, show the stand-in.

The rewrite is the one call that carries the real password, so it and the session's setup are made
as internal calls, which Playwright's trace does not record — the one place loginprobe uses
Playwright's private API (`_impl_obj`, `_wrap_api_call`); tests/integration/test_evidence.py fails
if a Playwright upgrade changes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote_plus

from playwright._impl.channel_owner import ApiCallOptions
from playwright.async_api import BrowserContext, Page, Request
from playwright.async_api import Error as PlaywrightError

T = TypeVar("T")

# The kinds of request Chromium stops for the rewrite: those that can carry a body (a form's
# navigation, XHR, fetch, a beacon, and what Chromium files under none of its kinds). Scripts,
# style sheets, images, fonts and media go on without a stop.
INTERCEPTED = ("Document", "XHR", "Fetch", "Ping", "Other")


def stand_in_for(password: str) -> str:
    """Random hex of the password's length: hex is the same in every encoding of a request body,
    and the same length passes a page's own checks on the field."""
    return secrets.token_hex(len(password) // 2 + 1)[: len(password)]


def encoded_for(content_type: str, password: str) -> bytes:
    """The password as it must appear in a body of this content type."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return quote_plus(password).encode()
    if kind == "application/json" or kind.endswith("+json"):
        return json.dumps(password, ensure_ascii=False)[1:-1].encode()
    return password.encode()


def swap(body: bytes, content_type: str, stand_in: str, password: str) -> bytes | None:
    """The body with the real password in place of the stand-in; None if it holds no stand-in."""
    needle = stand_in.encode()
    if needle not in body:
        return None
    return body.replace(needle, encoded_for(content_type, password))


class Astray(NamedTuple):
    """A request that took the stand-in out unchanged."""

    method: str
    url: str
    in_url: bool  # in its URL (a GET form), not its body

    def why(self, url: str) -> str:
        """What happened, with the request's URL as given (redacted by the caller). Nothing but
        a space may follow it: a reader of URLs in text takes punctuation after one as its own."""
        how = "in the URL of a GET form" if self.in_url else "past the rewrite"
        return f"the password stand-in went out {how}: {self.method} {url}"


class PasswordStandIn:
    """One probe's stand-in, the interception that puts the real password in its place, and a
    watch on the probe's requests for the stand-in going out unchanged (`astray`)."""

    def __init__(self, password: str) -> None:
        self._password = password
        self.value = stand_in_for(password)
        self._needle = self.value.encode()
        # Requests that carried the stand-in (and whether in their URL), and the (method, URL,
        # body) of those the rewrite changed.
        self._carriers: list[tuple[Request, bool]] = []
        self._rewritten: set[tuple[str, str, bytes]] = set()
        self._answering: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return "PasswordStandIn(***)"

    def watch(self, context: BrowserContext) -> None:
        """Watch every request of the probe's context (its page, and any popup or frame of
        another site) for the stand-in. Playwright sends a request's event once, whether the
        page or its context listens, and the journey's navigation log listens already."""
        context.on("request", self._saw)

    async def intercept(self, page: Page) -> None:
        """Stop the page's requests that may carry the stand-in, to put the password in its
        place; before the page goes anywhere. A popup or a frame of another site is not
        intercepted: the stand-in it sends is `astray`."""
        context: Any = page.context._impl_obj
        session: Any = await _unrecorded(context, lambda: context.new_cdp_session(page._impl_obj))
        session.on("Fetch.requestPaused", lambda event: self._paused(session, event))
        patterns = [{"urlPattern": "*", "resourceType": kind} for kind in INTERCEPTED]
        await _unrecorded(session, lambda: session.send("Fetch.enable", {"patterns": patterns}, 0))

    def astray(self) -> Astray | None:
        """The first request that took the stand-in to a server instead of the password: a
        request the rewrite never saw (a popup's, a frame's of another site), a GET form (the
        stand-in in the URL), a body it could not rewrite. After one, whatever the IdP answers
        says nothing about the test account. None: every one was rewritten."""
        for request, in_url in self._carriers:
            if in_url or _key(_first(request)) not in self._rewritten:
                return Astray(request.method, request.url, in_url)
        return None

    def _saw(self, request: Request) -> None:
        in_url = self.value in request.url
        body = request.post_data_buffer
        if in_url or (body is not None and self._needle in body):
            self._carriers.append((request, in_url))

    def _paused(self, session: Any, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(session, event))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, session: Any, event: dict[str, Any]) -> None:
        request = event["request"]
        answer: dict[str, Any] = {"requestId": event["requestId"]}
        body = _body(request)
        if body:
            headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
            new = swap(body, headers.get("content-type", ""), self.value, self._password)
            if new is not None:
                answer["postData"] = base64.b64encode(new).decode()
                self._rewritten.add((request["method"], _no_fragment(request["url"]), body))
        # The page or the browser may have gone away meanwhile: then nothing is left to send.
        with contextlib.suppress(PlaywrightError):
            await _unrecorded(session, lambda: session.send("Fetch.continueRequest", answer, 0))


def _body(request: dict[str, Any]) -> bytes:
    """A paused request's body, as Playwright reads it (the bytes of its entries)."""
    entries = request.get("postDataEntries") or ()
    return b"".join(base64.b64decode(e["bytes"]) for e in entries if e.get("bytes"))


def _no_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _key(request: Request) -> tuple[str, str, bytes]:
    return (request.method, _no_fragment(request.url), request.post_data_buffer or b"")


def _first(request: Request) -> Request:
    """Where a redirect started. A 307 or 308 sends the body again, as the rewrite left it (the
    IdP gets the password), though Playwright shows the hop with the body the page sent."""
    while request.redirected_from is not None:
        request = request.redirected_from
    return request


async def _unrecorded(owner: Any, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` on a Playwright object as an internal call, which the trace does not record:
    every request that may carry the password is answered through here, so the trace's action
    list is not filled with them either."""
    result: T = await owner._wrap_api_call(lambda _zone: call(), ApiCallOptions(internal=True))
    return result
