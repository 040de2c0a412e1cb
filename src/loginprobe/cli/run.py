"""`probe run HUB`: one probe now, on a terminal or for machines, paging with --alert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from playwright.async_api import async_playwright
from rich.live import Live
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.cli.app import (
    EXIT_FAILING,
    EXIT_OK,
    EXIT_PROBE_ERROR,
    _die,
    _load,
    _location,
    app,
    err,
    log,
    out,
)
from loginprobe.cli.printable import shown
from loginprobe.cli.tables import LiveSteps
from loginprobe.logs import configure_logging
from loginprobe.model import Code, ProbeResult
from loginprobe.prober.browser import open_browser
from loginprobe.prober.evidence import plan_for
from loginprobe.prober.hub_probe import probe_hub, prober_failed
from loginprobe.prober.scratch import ScratchDir
from loginprobe.redact import Redactor


@app.command()
def run(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    alert: Annotated[
        bool, typer.Option("--alert", help="page PagerDuty if the hub is failing")
    ] = False,
) -> None:
    """Probe one hub now: a real browser login, then a verdict."""
    loaded = _load()
    hubs = loaded.config.hubs
    if hub not in hubs:
        _die(f"{loaded.path}: no hub named {hub!r}; known hubs: {', '.join(sorted(hubs))}")
    try:
        secrets = cfg.resolve_secrets(loaded, [hub])[hub]
        routing_key = cfg.resolve_routing_key(loaded) if alert else None
    except cfg.ConfigError as e:
        _die(e.lines)
    if alert and routing_key is None:
        _die(f"{loaded.path}: --alert needs a [pagerduty] table with routing_key_env")
    # Read once: Playwright's driver and Chromium, started below, never inherit them.
    cfg.seal_environment(cfg.env_names(loaded))
    redactor = Redactor([*secrets.values(), *([routing_key] if routing_key else [])])
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"), redactor)
    live = not as_json and _live_terminal()
    result = asyncio.run(_run_once(loaded, hub, secrets, redactor, live=live))
    log.info("probe", hub=hub, verdict=str(result.verdict.code), ms=result.duration_ms)
    if as_json:
        sys.stdout.write(
            json.dumps(redactor.data(result.to_json()), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        _print_human(result, redactor)
    if alert and routing_key is not None:
        _page_once(loaded, routing_key, result, redactor)
    if result.verdict.code is Code.PROBE_ERROR:
        raise typer.Exit(EXIT_PROBE_ERROR)
    raise typer.Exit(EXIT_OK if result.verdict.ok else EXIT_FAILING)


def _page_once(
    loaded: cfg.LoadedConfig, routing_key: str, result: ProbeResult, redactor: Redactor
) -> None:
    """`run --alert`: trigger the hub's incident now if it is failing (a probe_error never pages
    as a hub outage; a healthy hub leaves open incidents to the monitor)."""
    from loginprobe.alerting.pagerduty import PagerDutySender, build_event
    from loginprobe.monitor.tracks.login import login_key
    from loginprobe.monitor.tracks.track import Action

    if result.verdict.ok or result.verdict.code is Code.PROBE_ERROR:
        err.print(
            Text(
                "no page sent: "
                + ("the hub is healthy" if result.verdict.ok else "the prober failed, not the hub")
            )
        )
        return
    pd = loaded.config.pagerduty
    assert pd is not None
    action = Action("trigger", login_key(result.hub), result.verdict)
    event = redactor.data(
        build_event(
            action,
            result,
            hub_url=loaded.config.hubs[result.hub].url,
            location=_location(loaded),
            runbook_url=loaded.config.runbook(str(result.verdict.code)),
            public_url=loaded.config.monitor.public_url or "",
        )
    )
    sender = PagerDutySender(
        routing_key, pd.events_url, str(loaded.file(pd.ca_file)) if pd.ca_file else None
    )
    try:
        delivery = sender.send(event)
    finally:
        sender.close()
    if delivery.outcome == "accepted":
        err.print(Text(f"paged PagerDuty: {action.dedup_key}"))
    else:
        _die(
            redactor.text(
                f"PagerDuty did not take the page ({delivery.outcome}, "
                f"HTTP {delivery.status}): {delivery.message}"
            ),
            EXIT_PROBE_ERROR,
        )


def _live_terminal() -> bool:
    """A person is watching: stdout is a terminal that can redraw lines (not a pipe, not dumb)."""
    return sys.stdout.isatty() and out.is_terminal and not out.is_dumb_terminal


async def _run_once(
    loaded: cfg.LoadedConfig,
    hub: str,
    secrets: cfg.HubSecrets,
    redactor: Redactor,
    live: bool = False,
) -> ProbeResult:
    spec = loaded.config.hubs[hub]
    m = loaded.config.monitor
    started_at, t0 = datetime.now(UTC), time.monotonic()
    steps = LiveSteps(hub) if live else None
    try:
        # Transient: the display goes away and the usual step table takes its place.
        with (
            ScratchDir("traces") as traces,
            Live(console=out, transient=True, refresh_per_second=10, get_renderable=steps.render)
            if steps is not None
            else contextlib.nullcontext(),
        ):
            plan = plan_for(m.artifacts_dir, m.artifacts_keep, m.artifacts_max_age, traces)
            async with (
                async_playwright() as pw,
                open_browser(pw, loaded.config.browser.executable, traces) as b,
            ):
                return await probe_hub(
                    b,
                    hub,
                    spec,
                    secrets,
                    timeout=loaded.config.hub_timeout(hub),
                    redactor=redactor,
                    evidence=plan,
                    progress=steps,
                )
    except Exception as e:  # no browser, or the prober broke: a probe_error, never a hub outage
        log.debug("probe crashed", hub=hub, exc_info=True)
        return prober_failed(hub, spec, e, redactor, started_at, t0)


_STATUS_STYLE = {"ok": "green", "failed": "bold red", "timeout": "bold yellow"}


def _print_human(result: ProbeResult, redactor: Redactor) -> None:
    table = Table(
        "step", "status", "http", "ms", title=shown(f"probe {result.hub}"), title_justify="left"
    )
    table.add_column("url / detail", overflow="fold")
    for s in result.observation.steps:
        where = s.url + (f"\n{s.detail}" if s.detail else "")
        table.add_row(
            shown(s.name),
            shown(s.status, style=_STATUS_STYLE.get(s.status, "")),
            shown(s.http_status or ""),
            shown(s.ms),
            shown(redactor.text(where)),
        )
    if result.observation.steps:
        out.print(table)
    sc = result.observation.secret_check
    if sc is not None:
        out.print(
            shown(
                f"secret check: {sc.outcome} — {redactor.text(sc.detail)} "
                f"[{redactor.text(sc.evidence)}]"
            )
        )
    v = result.verdict
    style = "bold green" if v.ok else ("bold yellow" if v.severity == "warning" else "bold red")
    out.print(Text(f"{v.code}: ", style=style) + shown(redactor.text(v.summary)))
    ev = result.evidence
    if ev is not None:
        out.print(shown(f"evidence: {ev.dir}"))
        if ev.trace:
            out.print(shown(f"trace:    playwright show-trace {shlex.quote(ev.trace)}"))
