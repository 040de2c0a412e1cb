"""On a probe that records a trace the password never enters the browser: a flow types a stand-in
of the same length, and the request the page sends is rewritten on its way out, with the real
password where the stand-in was.

Playwright writes what a script types (`fill("…")`), the DOM with every field's value and what the
browser sends (the login form's body) into its working files of the trace as the probe goes, long
before anything is scrubbed: a probe killed right after typing left the password there in plain
text. With the stand-in, all of that holds a random string that opens nothing.

Only a probe that records a trace has the stand-in (hub_probe._journey): without a trace, nothing
of the probe is written as it goes, and the stand-in would cost CPU for nothing.

The interception is on from just before the browser leaves the hub for the IdP (every document
the IdP serves loads through it from its start; journey.Journey.walk opens a hub that went to the
IdP by itself a second time once it is on) until the hub's callback has answered: the
hub's pages before and after hold no stand-in, and the interception costs CPU while it is on
(~0.2 CPU-s a login at four probes at a time, for the hub's first pages alone), besides a round
trip through Python for each request stopped (`arm`, `disarm`).

The rewrite uses Chromium's own interception (the DevTools protocol's `Fetch` domain, on a session
of the probe's page), not Playwright's `route`: a route stops every request of the page (each
script, style sheet, image and font) in Chromium's browser process and Playwright's driver (and
turns the browser's cache off, which measured as nothing): ~0.35 CPU-s a login on the sandbox,
~14% of what a login costs in all (`benchmarks/throughput.py --no-stand-in` measures what the
stand-in costs). The session stops only the kinds of request that can carry a body (a page's
navigations, XHR, fetch, beacons and others), and Playwright knows nothing of the rewrite: its
request events, and so the trace, show the stand-in.

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
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote_plus

import structlog
from playwright._impl._errors import TargetClosedError
from playwright._impl.channel_owner import ApiCallOptions
from playwright.async_api import BrowserContext, Page, Request

T = TypeVar("T")
log = structlog.get_logger("loginprobe")

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
        # Requests that carried the stand-in (and whether in their URL), and the method and URL
        # of each the rewrite changed.
        self._carriers: list[tuple[Request, bool]] = []
        self._rewritten: list[tuple[str, str]] = []
        self._answering: set[asyncio.Task[None]] = set()
        self._session: Any = None  # the page's DevTools session, once armed
        self._watched: BrowserContext | None = None  # the context watched (watch)
        self._armed = False

    def __repr__(self) -> str:
        return "PasswordStandIn(***)"

    def watch(self, context: BrowserContext) -> None:
        """Watch every request of the probe's context (its page, and any popup or frame of
        another site) for the stand-in, until `disarm` (a listener makes Playwright's driver
        send Python every request of the context, each script and style sheet included)."""
        self._watched = context
        context.on("request", self._saw)

    async def arm(self, page: Page) -> None:
        """Stop the page's requests that may carry the stand-in, to put the password in its
        place; before the page goes to the IdP: enabled on a document already loaded, it reaches
        that document's XHR only once its renderer hears of it. A popup or a frame of another
        site is not intercepted: the stand-in it sends is `astray`. One page per stand-in."""
        if self._armed:
            return
        if self._session is None:
            context: Any = page.context._impl_obj
            made = await _unrecorded(context, lambda: context.new_cdp_session(page._impl_obj))
            made.on("Fetch.requestPaused", lambda event: self._paused(made, event))
            self._session = made
        session = self._session
        patterns = [{"urlPattern": "*", "resourceType": kind} for kind in INTERCEPTED]
        await _unrecorded(session, lambda: session.send("Fetch.enable", {"patterns": patterns}, 0))
        self._armed = True

    async def disarm(self) -> None:
        """Let the page's requests go without a stop: it has left the IdP for good (the hub's
        callback has answered), and no document that holds the stand-in is left. The requests
        being answered are answered first. The watch stops too: `astray` is asked only while
        the flow runs."""
        if self._watched is not None:
            self._watched.remove_listener("request", self._saw)
            self._watched = None
        if not self._armed:
            return
        self._armed = False
        while self._answering:  # and those stopped while these were answered
            await asyncio.gather(*list(self._answering), return_exceptions=True)
        session = self._session
        # A page or browser gone meanwhile has nothing left to stop.
        with contextlib.suppress(Exception):
            await _unrecorded(session, lambda: session.send("Fetch.disable", {}, 0))

    def astray(self) -> Astray | None:
        """The first request that took the stand-in to a server instead of the password: a
        request the rewrite never saw (a popup's, a frame's of another site), a GET form (the
        stand-in in the URL), a body it could not rewrite. After one, whatever the IdP answers
        says nothing about the test account. None: every one was rewritten."""
        # Each request the page sent (a redirect's hops are its own) takes one of the rewrites
        # made to its method and URL: a popup that sends the same form again is not covered by
        # the page's rewrite of it.
        left = Counter(self._rewritten)
        counted: set[int] = set()
        for request, in_url in self._carriers:
            first = _first(request)
            if not in_url and id(first) in counted:
                continue
            key = (first.method, _no_fragment(first.url))
            if in_url or left[key] <= 0:
                return Astray(request.method, request.url, in_url)
            left[key] -= 1
            counted.add(id(first))
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
        plain = {"requestId": event["requestId"]}
        body = _body(request)
        new = None
        if body:
            headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
            new = swap(body, headers.get("content-type", ""), self.value, self._password)
        if new is None:
            # An error here is a request the page or the browser dropped meanwhile (the page
            # closed, the browser went): nothing is left to send.
            with contextlib.suppress(Exception):
                await self._continue(session, plain)
            return
        key = (request["method"], _no_fragment(request["url"]))
        self._rewritten.append(key)
        try:
            await self._continue(session, {**plain, "postData": base64.b64encode(new).decode()})
        except TargetClosedError:
            pass
        except Exception as err:  # a request left stopped would hang the probe to its deadline
            self._rewritten.remove(key)
            # Never the error's text or the call's parameters: they may hold the password.
            log.warning("the password stand-in's rewrite failed", error=type(err).__name__)
            # Sent as it is: the stand-in goes out, and `astray` says so.
            with contextlib.suppress(Exception):
                await self._continue(session, plain)

    @staticmethod
    async def _continue(session: Any, answer: dict[str, Any]) -> None:
        await _unrecorded(session, lambda: session.send("Fetch.continueRequest", answer, 0))


def _body(request: dict[str, Any]) -> bytes | None:
    """A paused request's body, as Playwright reads it (the bytes of its entries); None when a
    part of it is not there to read (a file's, a blob's), which a rewrite would leave out."""
    entries = request.get("postDataEntries") or ()
    if any("bytes" not in e for e in entries):
        return None
    return b"".join(base64.b64decode(e["bytes"]) for e in entries)


def _no_fragment(url: str) -> str:
    return url.split("#", 1)[0]


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
