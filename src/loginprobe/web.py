"""The monitor's HTTP endpoints: the status page (/ and /api/status), /healthz and /metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from loginprobe import status, statuspage
from loginprobe.monitor import Monitor


def status_document(monitor: Monitor, now: datetime | None = None) -> dict[str, Any]:
    """What the status page shows, read from the running monitor and its store."""
    now = now or datetime.now(UTC)
    _, health = monitor.health()
    store, config = monitor.store, monitor.settings.loaded.config
    hubs = []
    for name, spec in config.hubs.items():
        expires, source = monitor.secret_expiry(name)
        failures = store.history(name, 1, failing=True)
        hubs.append(
            status.hub_status(
                name,
                url=spec.url,
                recent=store.history(name, status.RECENT_PROBES),
                since=store.since(name),
                tracks=monitor.tracks,
                now=now,
                next_probe_at=monitor.next_probe_at(name),
                probing=monitor.probing(name),
                last_failure=failures[0] if failures else None,
                secret_expires=expires,
                secret_expires_source=source,
                certificates=monitor.cert_expiry(name),
            )
        )
    return status.status_document(
        hubs, now=now, tracks=monitor.tracks, location=monitor.location, health=health
    )


def make_app(monitor: Monitor) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        alive, body = monitor.health()
        return web.json_response(body, status=200 if alive else 503)

    async def metrics(request: web.Request) -> web.Response:
        monitor.health()  # refreshes the outbox gauges
        return web.Response(
            body=monitor.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=statuspage.render(status_document(monitor)),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def api_status(request: web.Request) -> web.Response:
        return web.json_response(status_document(monitor), headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
