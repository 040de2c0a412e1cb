"""The monitor's HTTP endpoints: the status page (/ and /api/status), each hub's page with its
pictures (/hub/NAME), /healthz, /metrics, the evidence under /artifacts/, and silences
(/api/silences, web/silences.py).

Every response says it must not be framed, sniffed or allowed to load anything it does not need
(SECURITY_HEADERS); `[monitor.auth]` guards the endpoints (web/auth.py); the socket caps
connections and times out slow headers (web/listener.py). /api/status names evidence by its URL
under /artifacts/, never by where it lies on the server's disk.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from loginprobe.config import ServerCredentials
from loginprobe.history.incidents import replay
from loginprobe.history.login_times import login_times
from loginprobe.monitor.service import Monitor
from loginprobe.monitor.tracks.shared import Fleet
from loginprobe.monitor.tracks.track import Thresholds, Track
from loginprobe.prober.evidence import HTML, SCREENSHOT, TRACE, artifact_path
from loginprobe.store import Store
from loginprobe.store.history import HubHistory
from loginprobe.web import hub_page, silences, status
from loginprobe.web import page as statuspage
from loginprobe.web.auth import auth_middleware
from loginprobe.web.listener import GuardedServer
from loginprobe.web.listener import start_site as _start_site

# The status page is one server-rendered document with an inline style and same-origin images;
# its one form (the search, a GET) goes back to the page itself.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def status_document(
    monitor: Monitor, now: datetime | None = None, recent_ok: int = status.RECENT_PROBES
) -> dict[str, Any]:
    """What the status page shows, read from the running monitor and its store (`recent_ok`:
    how many recent probes of a hub whose latest was ok). Call it in the event loop's thread;
    it does the store's reading in another (snapshot, then read)."""
    return _read_store(_snapshot(monitor, now or datetime.now(UTC)), recent_ok)


@dataclass(frozen=True)
class _Snapshot:
    """The monitor's in-memory state at one moment: safe to hand to another thread."""

    now: datetime
    store: Store
    hubs: list[tuple[str, str, dict[str, Any]]]  # name, url, the monitor's view of the hub
    tracks: dict[str, Track]
    location: str
    health: dict[str, Any]
    replicated: bool = False  # other replicas probe some hubs: their tracks come from the store


def _snapshot(monitor: Monitor, now: datetime) -> _Snapshot:
    _, health = monitor.health()
    hubs = []
    fleet = monitor.pipeline.fleet(now.timestamp())
    for name, spec in monitor.settings.loaded.config.hubs.items():
        expires, source = monitor.secret_expiry(name)
        hubs.append(
            (
                name,
                spec.url,
                {
                    "next_probe_at": monitor.next_probe_at(name),
                    "probing": monitor.probing(name),
                    "secret_expires": expires,
                    "secret_expires_source": source,
                    "certificates": monitor.cert_expiry(name),
                    "fleet": fleet,
                },
            )
        )
    replicated = set(monitor.hubs.hubs) != set(monitor.settings.loaded.config.hubs)
    return _Snapshot(
        now, monitor.store, hubs, dict(monitor.tracks), monitor.location, health, replicated
    )


def _read_store(
    snap: _Snapshot, recent_ok: int = status.RECENT_PROBES, availability_too: bool = True
) -> dict[str, Any]:
    """`availability_too=False`: each hub's availability left empty (null windows), for the
    status page, which does not show it (summing 200 hubs' 30 days is most of its cost)."""
    names = [name for name, _, _ in snap.hubs]
    try:
        past = snap.store.fleet_history(names, status.RECENT_PROBES, recent_ok)
    except (SQLAlchemyError, OSError):  # the page still shows what the monitor knows
        past = {}
    availability: dict[str, Any] = {}
    try:
        if availability_too:
            availability = snap.store.availability(snap.now.timestamp())
    except (SQLAlchemyError, OSError):
        pass
    # Other replicas' hubs: their holders, and their tracks as the store has them (this
    # replica's memory is newer for its own hubs and the shared tracks, so it wins).
    tracks = snap.tracks
    replicas: dict[str, str] = {}
    try:
        replicas = {
            hub: lease.holder
            for hub, lease in snap.store.leases.hubs().items()
            if lease.expires_at > snap.now.timestamp()
        }
        if snap.replicated:
            tracks = {**snap.store.tracks(), **snap.tracks}
    except (SQLAlchemyError, OSError):
        pass
    fleet = snap.hubs[0][2].get("fleet") if snap.hubs else None
    if isinstance(fleet, Fleet) and fleet.quorum > 1:
        # What every location saw of every hub, not only of the hubs this replica reacted to.
        try:
            live_at = snap.now.timestamp()
            fleet = replace(
                fleet,
                sightings=snap.store.sightings.all(),
                locations=frozenset(r.location for r in snap.store.replicas.live(live_at)),
                now=live_at,
            )
            snap = replace(snap, hubs=[(n, u, {**v, "fleet": fleet}) for n, u, v in snap.hubs])
        except (SQLAlchemyError, OSError):
            pass
    hubs = []
    for name, url, live in snap.hubs:
        hist = past.get(name) or HubHistory()
        last_failure = status.public_row(hist.last_failure) if hist.last_failure else None
        hubs.append(
            status.hub_status(
                name,
                url=url,
                recent=[status.public_row(r) for r in hist.recent],
                since=hist.since,
                tracks=tracks,
                replica=replicas.get(name),
                now=snap.now,
                last_failure=last_failure,
                availability=availability.get(name),
                **live,
            )
        )
    return status.status_document(
        hubs, now=snap.now, tracks=tracks, location=snap.location, health=snap.health
    )


async def status_document_async(
    monitor: Monitor, recent_ok: int = status.RECENT_PROBES, availability_too: bool = True
) -> dict[str, Any]:
    """The same, with the store read in a worker thread: the event loop keeps timing the probes'
    steps while a page is built (200 hubs: README, Numbers)."""
    snap = _snapshot(monitor, datetime.now(UTC))
    return await asyncio.to_thread(_read_store, snap, recent_ok, availability_too)


WEEK_S = 7 * 86400


def hub_view(
    store: Store, hub: str, url: str, thresholds: Thresholds, now: float
) -> hub_page.HubView:
    """What /hub/NAME shows, read from the store: the fleet's availability query (one aggregate),
    the week's hourly rollup and the week's probes of this hub (~10,000 small rows at 60 s)."""
    week_start = now - WEEK_S
    probes = store.probes_since(hub, week_start)
    latest = store.history(hub, 1)
    return hub_page.HubView(
        hub=hub,
        url=url,
        now=now,
        verdict=latest[0] if latest else None,
        availability=store.availability(now).get(hub, {}),
        day=login_times(probes, now - 86400, now, 96),
        week=login_times(probes, week_start, now, 168),
        hours=store.hours(hub, week_start),
        incidents=replay(probes, thresholds),
        incidents_from=week_start,
    )


# A captured page is someone else's HTML: shown inert (no scripts, nothing loaded), never able
# to act on this origin.
_HEADERS = {
    SCREENSHOT: {"Content-Type": "image/png"},
    HTML: {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
    },
    TRACE: {
        "Content-Type": "application/zip",
        "Content-Disposition": 'attachment; filename="trace.zip"',
    },
}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"


def make_app(monitor: Monitor, credentials: ServerCredentials | None = None) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        alive, body = monitor.health()
        return web.json_response(body, status=200 if alive else 503)

    async def metrics(request: web.Request) -> web.Response:
        monitor.health()  # refreshes the outbox gauges
        # A fleet's scrape takes a while to render (its histograms: README, "Numbers"); in the
        # loop's thread it would hold up the timing of the probe steps running meanwhile.
        body = await asyncio.to_thread(monitor.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def page(request: web.Request) -> web.Response:
        # A fleet's page folds its healthy hubs to their latest probe: only that one is read.
        fleet = len(monitor.settings.loaded.config.hubs) > statuspage.FULL_CARDS
        doc = await status_document_async(
            monitor, 1 if fleet else status.RECENT_PROBES, availability_too=False
        )
        return web.Response(
            text=statuspage.render(doc, query=request.query.get("q", "")),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def api_status(request: web.Request) -> web.Response:
        return web.json_response(
            await status_document_async(monitor), headers={"Cache-Control": "no-store"}
        )

    async def hub(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        config = monitor.settings.loaded.config
        spec = config.hubs.get(name)
        if spec is None:
            raise web.HTTPNotFound(text=f"no hub named {name!r} in the config\n")
        m = config.monitor
        thresholds = Thresholds(m.failures_to_alert, m.successes_to_resolve)
        try:
            view = await asyncio.to_thread(
                hub_view, monitor.store, name, spec.url, thresholds, time.time()
            )
        except (SQLAlchemyError, OSError) as e:
            reason = (str(e).splitlines() or [""])[0]
            raise web.HTTPServiceUnavailable(
                text=f"hub {name!r}: the store cannot be read ({reason}): no history to show\n"
            ) from None
        return web.Response(
            text=hub_page.render(view),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def artifact(request: web.Request) -> web.StreamResponse:
        m = request.match_info
        root = monitor.settings.loaded.config.monitor.artifacts_dir
        path = artifact_path(Path(root), m["hub"], m["stamp"], m["file"]) if root else None
        if path is None:
            raise web.HTTPNotFound(text="no such evidence\n")
        headers = {
            **_HEADERS[m["file"]],
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        }
        return web.FileResponse(path, headers=headers)

    app = web.Application(middlewares=[auth_middleware(credentials)])
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", page)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/hub/{name}", hub)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    # Read-only; artifact_path admits only names evidence writes, inside artifacts_dir.
    app.router.add_get("/artifacts/{hub}/{stamp}/{file}", artifact)
    silences.add_routes(app, monitor, credentials)
    return app


async def start_site(app: web.Application, host: str, port: int) -> GuardedServer:
    """Listen (web/listener.py); `cleanup()` on the result stops it."""
    return await _start_site(app, host, port)
