"""`probe run HUB`: one probe now, on a terminal or for machines, paging with --alert."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
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
    out,
)
from loginprobe.cli.printable import shown
from loginprobe.cli.tables import LiveSteps
from loginprobe.logs import configure_logging, handle_loop_exceptions, log
from loginprobe.model import Code, ProbeResult
from loginprobe.redact import Redactor

# Playwright and the prober are imported where a probe runs: every `probe` command imports this
# module, and `probe list` on a fleet must answer within a second (README, "Numbers").


@app.command()
def run(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    alert: Annotated[
        bool,
        typer.Option(
            "--alert",
            help="page PagerDuty now if the hub is failing (through the monitor's incident "
            "state: the monitor resolves it when the hub recovers)",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="for flow_changed: the fields and buttons the flow saw, and why none fit",
        ),
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
    from loginprobe.store.url import url_secrets

    redactor = Redactor(
        [
            *secrets.values(),
            *([routing_key] if routing_key else []),
            *url_secrets(loaded.config.monitor.state),
        ]
    )
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"), redactor)
    live = not as_json and _live_terminal()
    import asyncio

    result = asyncio.run(_run_once(loaded, hub, secrets, redactor, live=live))
    log.info("probe", hub=hub, verdict=str(result.verdict.code), ms=result.duration_ms)
    if as_json:
        sys.stdout.write(
            json.dumps(redactor.data(result.to_json()), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        _print_human(result, redactor)
        if explain:
            _print_explain(result, hub, redactor)
    if alert and routing_key is not None:
        _page_once(loaded, secrets, routing_key, result, redactor)
    if result.verdict.code is Code.PROBE_ERROR:
        raise typer.Exit(EXIT_PROBE_ERROR)
    raise typer.Exit(EXIT_OK if result.verdict.ok else EXIT_FAILING)


def _page_once(
    loaded: cfg.LoadedConfig,
    secrets: cfg.HubSecrets,
    routing_key: str,
    result: ProbeResult,
    redactor: Redactor,
) -> None:
    """`run --alert`: the verdict goes through the monitor's own pipeline (monitor/handover.py),
    so the monitor resolves what this opens. One line says what happened; the exit code stays
    the hub's."""
    from loginprobe.monitor.handover import page_directly, page_now
    from loginprobe.monitor.settings import Settings
    from loginprobe.store import Store, StoreError, sqlite_file_missing

    settings = Settings(loaded, {result.hub: secrets}, routing_key)
    missing = sqlite_file_missing(loaded.config.monitor.state)
    if missing is not None:
        # No monitor keeps its state here: do not start a store nobody watches.
        report = page_directly(settings, result, _location(loaded))
        err.print(Text(redactor.text(f"{report.line} (no monitor store at {missing})")))
        return
    try:
        store = Store(loaded.config.monitor.state)
    except StoreError as e:
        err.print(Text(redactor.text(f"the page was not sent: {e}")))
        return
    try:
        report = page_now(settings, store, result, _location(loaded))
    finally:
        store.close()
    err.print(Text(redactor.text(report.line)))


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
    from playwright.async_api import async_playwright
    from rich.live import Live

    from loginprobe.prober.browser import open_browser
    from loginprobe.prober.evidence import plan_for
    from loginprobe.prober.hub_probe import log_crash, probe_hub, prober_failed
    from loginprobe.prober.scratch import ScratchDir

    handle_loop_exceptions()
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
        log_crash(hub, e)
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


def _print_explain(result: ProbeResult, hub: str, redactor: Redactor) -> None:
    failure = result.observation.failure
    if failure is None or not failure.seen:
        out.print(Text("explain: nothing to explain (the flow recorded no page it could not read)"))
        return
    out.print(Text(f"what the flow saw at {failure.url or failure.step}:", style="bold"))
    for line in failure.seen:
        out.print(shown(f"  {redactor.text(line)}"))
    out.print(
        Text(
            f"fix: name the elements in [hubs.{hub}.selectors] (username, password, submit, "
            'consent: CSS selectors), or give the hub a flow file of its own (flow = "flows/x.py")'
        )
    )
