"""`probe serve`: the monitor, until SIGTERM; SIGHUP reloads the config."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from loginprobe import config as cfg
from loginprobe.cli.app import State, _die, app
from loginprobe.logs import configure_logging, handle_loop_exceptions, log
from loginprobe.redact import Redactor

if TYPE_CHECKING:
    from loginprobe.monitor.settings import Settings
    from loginprobe.store import Store


@app.command()
def serve() -> None:
    """Run the monitor: scheduled probes, PagerDuty pages, the status page, /healthz, /metrics."""
    from sqlalchemy.exc import SQLAlchemyError

    from loginprobe.monitor.settings import Settings
    from loginprobe.prober.browser import BrowserNotFound, choose_executable
    from loginprobe.store import Store, StoreError
    from loginprobe.store.url import store_error_reason, url_secrets

    path = cfg.config_path(State.config_arg)
    try:
        settings = Settings.load(path)
        credentials = cfg.resolve_auth(settings.loaded)
        choose_executable(settings.loaded.config.browser.executable, _playwright_chromium())
        store = Store(settings.loaded.config.monitor.state)
    except cfg.ConfigError as e:
        _die(e.lines)
    except (BrowserNotFound, StoreError) as e:
        _die(f"{path}: {e}")
    # Read once: from here on the secrets live only in this process's memory (reloads read them
    # there), not in its environment or its children's.
    cfg.seal_environment(cfg.env_names(settings.loaded))
    configure_logging(
        os.environ.get("LOGINPROBE_LOG_LEVEL", "info"),
        settings.redactor.extend(
            [
                *(credentials.values() if credentials else []),
                *url_secrets(settings.loaded.config.monitor.state),
            ]
        ),
    )
    try:
        asyncio.run(_serve(path, settings, store, credentials))
    except OSError as e:  # the listen address is taken or not ours
        _die(f"{path}: monitor.listen {settings.loaded.config.monitor.listen}: {e.strerror}")
    except SQLAlchemyError as e:
        _die(
            f"{path}: monitor.state: {store_error_reason(e, settings.loaded.config.monitor.state)}"
        )
    finally:
        store.close()


def _playwright_chromium() -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        return pw.chromium.executable_path


async def _serve(
    path: Path, settings: Settings, store: Store, credentials: cfg.ServerCredentials | None
) -> None:
    from loginprobe.monitor.metrics import Metrics
    from loginprobe.monitor.service import Monitor
    from loginprobe.web.app import make_app, start_site
    from loginprobe.web.auth import exposure_warning

    handle_loop_exceptions()
    monitor = Monitor(settings, store, Metrics())
    host, port = settings.loaded.config.monitor.listen_address
    runner = await start_site(make_app(monitor, credentials), host, port)
    warning = exposure_warning(host, credentials is not None)
    if warning:
        log.warning(warning)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    level = os.environ.get("LOGINPROBE_LOG_LEVEL", "info")

    async def reload() -> None:
        before = monitor.settings
        if await monitor.reload(path):
            # The logs keep masking the old secrets too: a line may still quote one.
            both = [*before.secret_values(), *monitor.settings.secret_values()]
            configure_logging(level, Redactor(both))

    reloads: set[asyncio.Task[None]] = set()

    def on_sighup() -> None:
        task = asyncio.ensure_future(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await monitor.start()
    # What start-up made and keeps for good (Playwright's modules, the config, the monitor's
    # parts: ~90,000 objects besides the command's imports, frozen in cli/__init__.py) would be
    # walked again by every full collection: frozen, each full collection under load takes
    # ~0.07 s of CPU instead of ~0.11 s (a scratch gc.callbacks timer on throughput.py's serve).
    gc.collect()
    gc.freeze()
    log.info(
        "listening",
        address=f"http://{host}:{port}",
        endpoints=["/", "/api/status", "/healthz", "/metrics"],
    )
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await monitor.stop()
        await runner.cleanup()
