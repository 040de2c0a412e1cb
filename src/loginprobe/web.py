"""The monitor's HTTP endpoints: /healthz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from loginprobe.monitor import Monitor


def make_app(monitor: Monitor) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        alive, body = monitor.health()
        return web.json_response(body, status=200 if alive else 503)

    async def metrics(request: web.Request) -> web.Response:
        monitor.health()  # refreshes the outbox gauges
        return web.Response(
            body=monitor.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
