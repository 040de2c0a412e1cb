"""The monitor's HTTP endpoints: /healthz, /metrics and the evidence under /artifacts/."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from loginprobe.evidence import HTML, SCREENSHOT, TRACE, artifact_path
from loginprobe.monitor import Monitor

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


def make_app(monitor: Monitor) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        alive, body = monitor.health()
        return web.json_response(body, status=200 if alive else 503)

    async def metrics(request: web.Request) -> web.Response:
        monitor.health()  # refreshes the outbox gauges
        return web.Response(
            body=monitor.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
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

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    # Read-only; artifact_path admits only names evidence writes, inside artifacts_dir.
    app.router.add_get("/artifacts/{hub}/{stamp}/{file}", artifact)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
