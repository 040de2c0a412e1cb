"""The `probe` command.

Exit codes (DESIGN.md): 0 healthy, 1 the hub is failing, 2 usage/config error, 3 the probe itself broke.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import structlog
import typer
from playwright.async_api import async_playwright
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loginprobe import config as cfg
from loginprobe.browser import open_browser
from loginprobe.flows import available_flows
from loginprobe.logs import configure_logging
from loginprobe.model import Code, ProbeResult
from loginprobe.probe import probe_hub, prober_failed
from loginprobe.redact import Redactor

EXIT_OK, EXIT_FAILING, EXIT_USAGE, EXIT_PROBE_ERROR = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Synthetic login monitor for JupyterHubs and other OAuth-protected web apps.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = structlog.get_logger("loginprobe")


class State:
    config_arg: str | None = None


def _die(lines: list[str] | str, code: int = EXIT_USAGE) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        err.print(Text(line))  # Text: no rich markup parsing of file paths or values
    raise typer.Exit(code)


def _load() -> cfg.LoadedConfig:
    try:
        return cfg.load(cfg.config_path(State.config_arg))
    except cfg.ConfigError as e:
        _die(e.lines)


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="PATH",
            help=f"config file [default: ${cfg.CONFIG_ENV}, else ./{cfg.DEFAULT_CONFIG}]",
        ),
    ] = None,
) -> None:
    State.config_arg = config
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"))


@app.command()
def check() -> None:
    """Validate the config and check that every secret it names is present."""
    loaded = _load()
    try:
        cfg.resolve_secrets(loaded, loaded.config.hubs)
    except cfg.ConfigError as e:
        _die(e.lines)
    names = ", ".join(loaded.config.hubs)
    out.print(
        Text(f"{loaded.path}: OK — {len(loaded.config.hubs)} hub(s): {names}; every secret present")
    )


@app.command("list")
def list_hubs(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """List the configured hubs."""
    c = _load().config
    rows: list[dict[str, Any]] = [
        {
            "hub": n,
            "url": h.url,
            "flow": h.flow,
            "secret_check": h.oauth is not None,
            "timeout_s": c.hub_timeout(n),
        }
        for n, h in c.hubs.items()
    ]
    if as_json:
        out.print_json(data=rows)
        return
    table = Table("hub", "flow", "secret check", "timeout")
    table.add_column("url", overflow="fold")
    for r in rows:
        table.add_row(
            r["hub"],
            r["flow"],
            "yes" if r["secret_check"] else "no",
            f"{r['timeout_s']:g}s",
            r["url"],
        )
    out.print(table)


@app.command()
def flows() -> None:
    """List the login flows available in probes/."""
    for name in sorted(available_flows()):
        out.print(name)


@app.command()
def run(
    hub: Annotated[str, typer.Argument(help="the hub's name in the config")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Probe one hub now: a real browser login, then a verdict."""
    loaded = _load()
    hubs = loaded.config.hubs
    if hub not in hubs:
        _die(f"{loaded.path}: no hub named {hub!r}; known hubs: {', '.join(sorted(hubs))}")
    try:
        secrets = cfg.resolve_secrets(loaded, [hub])[hub]
    except cfg.ConfigError as e:
        _die(e.lines)
    redactor = Redactor(secrets.values())
    configure_logging(os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"), redactor)
    result = asyncio.run(_run_once(loaded, hub, secrets, redactor))
    log.info("probe", hub=hub, verdict=str(result.verdict.code), ms=result.duration_ms)
    if as_json:
        sys.stdout.write(
            json.dumps(redactor.data(result.to_json()), indent=2, ensure_ascii=False) + "\n"
        )
    else:
        _print_human(result, redactor)
    if result.verdict.code is Code.PROBE_ERROR:
        raise typer.Exit(EXIT_PROBE_ERROR)
    raise typer.Exit(EXIT_OK if result.verdict.ok else EXIT_FAILING)


async def _run_once(
    loaded: cfg.LoadedConfig, hub: str, secrets: cfg.HubSecrets, redactor: Redactor
) -> ProbeResult:
    spec = loaded.config.hubs[hub]
    started_at, t0 = datetime.now(UTC), time.monotonic()
    try:
        async with (
            async_playwright() as pw,
            open_browser(pw, loaded.config.browser.executable) as b,
        ):
            return await probe_hub(
                b, hub, spec, secrets, timeout=loaded.config.hub_timeout(hub), redactor=redactor
            )
    except Exception as e:  # no browser, or the prober broke: a probe_error, never a hub outage
        log.debug("probe crashed", hub=hub, exc_info=True)
        return prober_failed(hub, spec, e, redactor, started_at, t0)


_STATUS_STYLE = {"ok": "green", "failed": "bold red", "timeout": "bold yellow"}


def _print_human(result: ProbeResult, redactor: Redactor) -> None:
    table = Table("step", "status", "http", "ms", title=f"probe {result.hub}", title_justify="left")
    table.add_column("url / detail", overflow="fold")
    for s in result.observation.steps:
        where = s.url + (f"\n{s.detail}" if s.detail else "")
        table.add_row(
            s.name,
            Text(s.status, style=_STATUS_STYLE.get(s.status, "")),
            str(s.http_status or ""),
            str(s.ms),
            Text(redactor.text(where)),
        )
    if result.observation.steps:
        out.print(table)
    sc = result.observation.secret_check
    if sc is not None:
        out.print(
            Text(
                f"secret check: {sc.outcome} — {redactor.text(sc.detail)} "
                f"[{redactor.text(sc.evidence)}]"
            )
        )
    v = result.verdict
    style = "bold green" if v.ok else ("bold yellow" if v.severity == "warning" else "bold red")
    out.print(Text(f"{v.code}: ", style=style) + Text(redactor.text(v.summary)))


def main() -> None:
    app()
