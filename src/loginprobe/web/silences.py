"""`POST /api/silences` and `DELETE /api/silences/{target}`: a deploy pipeline silences a hub
over HTTP, behind the authentication the status page gets (`[monitor.auth]`).

Without `[monitor.auth]` the endpoints answer 403: nobody unauthenticated may keep a page from
being sent. The body must be JSON (`Content-Type: application/json`), which a web page of another
origin cannot send without the browser asking first, so a browser holding basic-auth credentials
cannot be made to silence anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from loginprobe.config import ServerCredentials, parse_duration
from loginprobe.monitor.groups import hub_groups
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.silences import IDP_PREFIX, Silence, parse_until
from loginprobe.web.auth import require

MAX_REASON = 500


def silence_from(
    body: Any, now: float, hubs: Iterable[str], groups: Iterable[str]
) -> Silence | str:
    """The silence a request body asks for, or what is wrong with it (one line)."""
    if not isinstance(body, dict):
        return 'the body must be a JSON object: {"target": ..., "for": "30m", "reason": ...}'
    unknown = sorted(set(body) - {"target", "for", "until", "reason", "by"})
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}; known: target, for, until, reason, by"
    target, reason, by = body.get("target"), body.get("reason"), body.get("by", "")
    if not isinstance(target, str) or not target:
        return "target: a hub's name or idp:GROUP"
    if target.startswith(IDP_PREFIX):
        if target[len(IDP_PREFIX) :] not in set(groups):
            return f"target: no group named {target[len(IDP_PREFIX) :]!r}"
    elif target not in set(hubs):
        return f"target: no hub named {target!r}"
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        return f"reason: say why (e.g. the deploy), at most {MAX_REASON} characters"
    if not isinstance(by, str) or len(by) > 200:
        return "by: who asks, at most 200 characters"
    span, until = body.get("for"), body.get("until")
    if (span is None) == (until is None):
        return 'give one of "for" (e.g. "30m") or "until" (e.g. "2026-12-01T14:30Z")'
    try:
        ends = now + parse_duration(span) if span is not None else parse_until(str(until), now)
    except ValueError as e:
        return f"{'for' if span is not None else 'until'}: {e}"
    if ends <= now:
        return "until: that time has passed"
    return Silence(target, now, ends, reason.strip(), by or "http")


def add_routes(app: web.Application, monitor: Monitor, creds: ServerCredentials | None) -> None:
    def guard(request: web.Request) -> None:
        if creds is None:
            raise web.HTTPForbidden(
                text="silencing over HTTP needs [monitor.auth] (the status page's "
                "authentication); without it, use `probe silence`\n"
            )
        require(request, creds)

    async def create(request: web.Request) -> web.Response:
        guard(request)
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send JSON (Content-Type: application/json)\n")
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="the body is not JSON\n") from None
        config = monitor.settings.loaded.config
        groups = set(hub_groups(config.hubs, monitor.pipeline.seen_idp).values())
        made = silence_from(body, time.time(), config.hubs, groups)
        if isinstance(made, str):
            return web.json_response({"error": made}, status=400)
        stored = await asyncio.to_thread(monitor.store.silences.add, made)
        await monitor.read_silences()  # in force from the next verdict on
        return web.json_response(stored.to_json(), status=201)

    async def end(request: web.Request) -> web.Response:
        guard(request)
        target = request.match_info["target"]
        ended = await asyncio.to_thread(monitor.store.silences.end, target, time.time())
        await monitor.read_silences()
        if not ended:
            return web.json_response({"error": f"no silence in force for {target!r}"}, status=404)
        return web.json_response({"ended": ended})

    app.router.add_post("/api/silences", create)
    app.router.add_delete("/api/silences/{target}", end)
