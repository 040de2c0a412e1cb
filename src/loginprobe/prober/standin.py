"""The password never enters the browser: a flow types a stand-in of the same length, and the
request the page sends is rewritten on its way out, with the real password where the stand-in was.

Playwright writes what a script types (`fill("…")`), the DOM with every field's value and what the
browser sends (the login form's body) into its working files of the trace as the probe goes, long
before anything is scrubbed: a probe killed right after typing left the password there in plain
text. With the stand-in, all of that holds a random string that opens nothing.

The rewrite is the one Playwright call that carries the real password. A public call is recorded
in the trace with its parameters (`Route.continue` with the new body, base64), so it is made as an
internal call, which Playwright does not record — the one place loginprobe uses Playwright's
private API (`_impl_obj`, `_wrap_api_call`); tests/integration/test_evidence.py fails if a
Playwright upgrade changes it.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from typing import Any, NamedTuple
from urllib.parse import quote_plus

from playwright._impl.channel_owner import ApiCallOptions
from playwright.async_api import BrowserContext, Page, Request, Route
from playwright.async_api import Error as PlaywrightError


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


# Every URL but a static file's, by the extension of its path (the query and a path's ";"
# parameters are not looked at: a login POST to /login?next=/app.js or /login;jsessionid=x.js
# still goes through the rewrite).
MAY_CARRY_PASSWORD = re.compile(
    r"^(?![^?#;]*\.(?:js|mjs|css|png|gif|jpe?g|webp|svg|ico|woff2?|ttf|otf|eot|map)(?:[?#;]|$))",
    re.IGNORECASE,
)


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
    """One probe's stand-in, the route that puts the real password in its place, and a watch on
    the probe's page for the stand-in going out unchanged (`astray`)."""

    def __init__(self, password: str) -> None:
        self._password = password
        self.value = stand_in_for(password)
        self._needle = self.value.encode()
        # Requests that carried the stand-in (and whether in their URL), and those whose body the
        # route rewrote, by id: both hold the Request, so an id is not reused within the probe.
        self._carriers: list[tuple[Request, bool]] = []
        self._rewritten: dict[int, Request] = {}

    def __repr__(self) -> str:
        return "PasswordStandIn(***)"

    async def install(self, context: BrowserContext) -> None:
        # Not the page's scripts, styles, images and fonts: a request Playwright routes comes
        # to this process and back (~2 ms of CPU each, most of a hub's requests); these others
        # Playwright lets go on its own.
        await context.route(MAY_CARRY_PASSWORD, self._route)

    def watch(self, page: Page) -> None:
        """Watch the probe's page for requests that carry the stand-in. The page's own event,
        which the journey's navigation log listens to already: one listened to on the context
        would bring every request to this process a second time."""
        page.on("request", self._saw)

    def astray(self) -> Astray | None:
        """The first request that took the stand-in to a server instead of the password: a
        request the route never saw (a login form posting to a static-looking URL), a GET form
        (the stand-in in the URL), a body the route could not rewrite. After one, whatever the
        IdP answers says nothing about the test account. None: every one was rewritten."""
        # Playwright does not route a redirect (a 307 sends the body again): one whose body still
        # shows the stand-in is what the IdP got, so it counts.
        for request, in_url in self._carriers:
            if in_url or id(request) not in self._rewritten:
                return Astray(request.method, request.url, in_url)
        return None

    def _saw(self, request: Request) -> None:
        in_url = self.value in request.url
        body = request.post_data_buffer
        if in_url or (body is not None and self._needle in body):
            self._carriers.append((request, in_url))

    async def _route(self, route: Route, request: Request) -> None:
        body = request.post_data_buffer
        new = None
        if body:
            new = swap(body, request.headers.get("content-type", ""), self.value, self._password)
        if new is not None:
            self._rewritten[id(request)] = request
        # The page or the browser may have gone away meanwhile: then nothing is left to send.
        with contextlib.suppress(PlaywrightError):
            await _continue_unrecorded(route, new)


async def _continue_unrecorded(route: Route, post_data: bytes | None) -> None:
    """`route.continue_(post_data=...)`, as an internal call that the trace does not record. Every
    request that may carry the password goes through here, so the trace's action list is not
    filled with them either."""
    impl: Any = route._impl_obj
    await impl._wrap_api_call(
        lambda _zone: impl.continue_(None, None, None, post_data), ApiCallOptions(internal=True)
    )
