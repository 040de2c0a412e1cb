"""Who may read `probe serve`'s endpoints: one check, for every protected path.

`[monitor.auth]` gives a bearer token (for machines), a basic-auth user and password (for people
with a browser), or both. `/`, `/api/status` and `/artifacts/` always need one of them;
`/healthz` and `/metrics` as configured. Any endpoint that acts (a silence) calls `require` too.
Credentials are compared in constant time; a refusal says how to authenticate and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from loginprobe.config import ServerCredentials

REALM = "loginprobe"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authorized(header: str | None, creds: ServerCredentials) -> bool:
    """Whether an Authorization header carries the configured token or user and password."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and creds.token is not None:
        return _same(value, creds.token.get_secret_value())
    if scheme.lower() == "basic" and creds.password is not None:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(":")
        # Both compared, always: how long a refusal takes says nothing about which was wrong.
        right_user = _same(user, creds.username)
        right_password = _same(password, creds.password.get_secret_value())
        return bool(sep) and right_user and right_password
    return False


def protected(path: str, creds: ServerCredentials) -> bool:
    if path == "/healthz":
        return creds.protect_healthz
    if path == "/metrics":
        return creds.protect_metrics
    return True  # the status page, its JSON, the evidence, and anything added later


def require(request: web.Request, creds: ServerCredentials | None) -> None:
    """Raise 401 unless the request is authorized (or no credentials are configured)."""
    if creds is None or authorized(request.headers.get("Authorization"), creds):
        return
    challenges = []
    if creds.password is not None:
        challenges.append(f'Basic realm="{REALM}", charset="UTF-8"')
    if creds.token is not None:
        challenges.append(f'Bearer realm="{REALM}"')
    raise web.HTTPUnauthorized(
        text="authentication required\n", headers={"WWW-Authenticate": ", ".join(challenges)}
    )


def auth_middleware(
    creds: ServerCredentials | None,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if creds is not None and protected(request.path, creds):
            require(request, creds)
        return await handler(request)

    return check


def exposure_warning(host: str, auth_configured: bool) -> str | None:
    """A sentence when the endpoints listen beyond loopback with nobody checking who asks."""
    if auth_configured or host in ("127.0.0.1", "::1", "localhost") or host.startswith("127."):
        return None
    return (
        f"monitor.listen is on {host or 'every interface'} without [monitor.auth]: anyone who "
        "reaches the port reads the status page and the evidence of failing probes (IdP pages, "
        "screenshots, traces); add [monitor.auth], or keep listen on 127.0.0.1 behind your own "
        "authenticating proxy"
    )
