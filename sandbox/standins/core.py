"""What every provider stand-in shares: the OAuth bookkeeping, client authentication, the fault
switches, and a clock that a fault can skew.

STAND-IN: this is not Microsoft's, GitHub's or CILogon's code. It reproduces what their public
documentation and their pages show, closely enough to walk a real OAuthenticator login end to end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from typing import Any
from urllib.parse import urlencode

import pyotp
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NO_FAULTS: dict[str, Any] = {"down": False, "slow_seconds": 0}


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    user: str
    nonce: str | None = None
    idp: str | None = None  # CILogon: the institution the user signed in at


@dataclass
class Provider:
    """The stand-in's state. Settings come from the environment the sandbox starts it with."""

    client_id: str = field(default_factory=lambda: os.environ["IDP_CLIENT_ID"])
    client_secret: str = field(default_factory=lambda: os.environ["IDP_CLIENT_SECRET"], repr=False)
    redirect_uri: str = field(default_factory=lambda: os.environ["IDP_REDIRECT_URI"])
    username: str = field(default_factory=lambda: os.environ["IDP_USERNAME"])
    password: str = field(default_factory=lambda: os.environ["IDP_PASSWORD"], repr=False)
    totp_secret: str | None = field(
        default_factory=lambda: os.environ.get("IDP_TOTP_SECRET") or None, repr=False
    )
    faults: dict[str, Any] = field(default_factory=lambda: dict(NO_FAULTS))
    totp_last_window: int = -1
    replays_refused: int = 0
    codes: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Browser sessions: cookie value -> what the session has got through so far.
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- the clock a skew fault moves (the prober's clock is "wrong" relative to ours) ---------
    def now(self) -> float:
        return time.time() + float(self.faults.get("clock_skew") or 0)

    def totp_ok(self, code: str) -> bool:
        """One window either side, as most IdPs allow; a code whose window was already used is
        refused, as RFC 6238 §5.2 demands (and GitHub, Entra ID and Keycloak do)."""
        if not self.totp_secret:
            return False
        totp, now = pyotp.TOTP(self.totp_secret), self.now()
        for step in (0, -1, 1):
            at = now + step * totp.interval
            if secrets.compare_digest(totp.at(at), code.strip()):
                window = int(at // totp.interval)
                if self.faults.get("totp_replayed"):
                    # Someone (another prober, a person) used this window's code a moment ago.
                    self.faults["totp_replayed"] = False
                    self.totp_last_window = max(self.totp_last_window, window)
                if window <= self.totp_last_window:
                    self.replays_refused += 1
                    return False  # replayed
                self.totp_last_window = window
                return True
        return False

    def password_ok(self, user: str, password: str) -> bool:
        expected = (
            f"changed-{self.password}" if self.faults.get("password_wrong") else self.password
        )
        return user.strip().lower() in self.usernames() and secrets.compare_digest(
            password, expected
        )

    def usernames(self) -> set[str]:
        return {self.username.lower()}

    # -- OAuth bookkeeping --------------------------------------------------------------------
    def registered_redirect(self) -> str:
        return (
            f"{self.redirect_uri}-old"
            if self.faults.get("redirect_uri_mismatch")
            else self.redirect_uri
        )

    def issue_code(self, grant: Grant) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = grant
        return code

    def client_credentials(self, request: web.Request, form: Any) -> tuple[str, str]:
        """client_id and secret from the body (client_secret_post) or Basic auth."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            ident, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return ident, secret
        return str(form.get("client_id", "")), str(form.get("client_secret", ""))

    def check_client(self, client_id: str, secret: str) -> str | None:
        """None when the client authenticates; else "unknown", "expired" or "wrong"."""
        if client_id != self.client_id:
            return "unknown"
        if self.faults.get("secret_wrong") or not secrets.compare_digest(
            secret, self.client_secret
        ):
            return "wrong"
        if self.faults.get("secret_expired"):
            return "expired"
        return None

    def redeem(self, code: str, client_id: str, redirect_uri: str | None) -> Grant | None:
        grant = self.codes.pop(code, None)
        if grant is None or grant.client_id != client_id:
            return None
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            return None
        return grant

    def token_for(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def bearer_user(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.tokens.get(token)

    # -- browser sessions ---------------------------------------------------------------------
    def session(self, request: web.Request, cookie: str) -> dict[str, Any]:
        sid = request.cookies.get(cookie, "")
        return self.sessions.get(sid, {})

    def start_session(self, response: web.StreamResponse, cookie: str, **data: Any) -> None:
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = data
        response.set_cookie(cookie, sid, httponly=True, samesite="Lax", path="/")


def redirect(location: str, **query: str) -> web.HTTPFound:
    sep = "&" if "?" in location else "?"
    return web.HTTPFound(location + (sep + urlencode(query) if query else ""))


def html(title: str, body: str, status: int = 200, head: str = "") -> web.Response:
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title>{head}</head><body>{body}</body></html>"
    )
    return web.Response(text=page, content_type="text/html", status=status)


def hidden(**fields: str) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def faults_middleware(provider: Provider) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        delay = float(provider.faults.get("slow_seconds") or 0)
        if delay > 0:
            await asyncio.sleep(delay)
        response = await handler(request)
        # The Date header follows the stand-in's (possibly skewed) clock, as a real server's would.
        response.headers["Date"] = formatdate(provider.now(), usegmt=True)
        return response

    return middleware


async def serve(provider: Provider, app: web.Application) -> None:
    """Serve `app` on $IDP_PORT and the fault switches on $IDP_CONTROL_PORT until killed."""
    port, control_port = int(os.environ["IDP_PORT"]), int(os.environ["IDP_CONTROL_PORT"])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site: web.TCPSite | None = None

    async def set_down(down: bool) -> None:
        nonlocal site
        if down and site is not None:
            await site.stop()
            site = None
        elif not down and site is None:
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()

    async def faults(request: web.Request) -> web.Response:
        if request.method == "PUT":
            wanted = json.loads(await request.read() or b"{}")
            provider.faults = {**NO_FAULTS, **wanted}
            await set_down(bool(provider.faults.get("down")))
        return web.json_response({**provider.faults, "replays_refused": provider.replays_refused})

    control = web.Application()
    control.router.add_route("*", "/faults", faults)
    control_runner = web.AppRunner(control, access_log=None)
    await control_runner.setup()
    await set_down(False)
    await web.TCPSite(control_runner, "127.0.0.1", control_port).start()
    await asyncio.Event().wait()
