"""The `probe` command: the typer app, its global options, and what every command shares.

Exit codes: 0 healthy, 1 the hub is failing, 2 usage/config error, 3 the probe itself broke.
The commands live beside this file, one module per group; the monitor's modules load only for the
commands that use them, so `probe run` starts quickly.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from loginprobe import config as cfg
from loginprobe.cli.printable import shown
from loginprobe.logs import configure_logging

EXIT_OK, EXIT_FAILING, EXIT_USAGE, EXIT_PROBE_ERROR = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Synthetic login monitor for JupyterHubs and other OAuth-protected web apps.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config_arg: str | None = None


def _die(lines: list[str] | str, code: int = EXIT_USAGE) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        err.print(shown(line))  # no markup, no control characters from paths or values
    raise typer.Exit(code)


def _load(import_flows: bool = True) -> cfg.LoadedConfig:
    try:
        return cfg.load(cfg.config_path(State.config_arg), import_flows)
    except cfg.ConfigError as e:
        _die(e.lines)


# Commands that only read the store and log next to nothing: structlog is loaded when they first
# log, not at start (`probe list` of a fleet is meant to answer within a second).
_SELDOM_LOGGING = {"list", "history"}


@app.callback()
def main_options(
    ctx: typer.Context,
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
    configure_logging(
        os.environ.get("LOGINPROBE_LOG_LEVEL", "warning"),
        defer=ctx.invoked_subcommand in _SELDOM_LOGGING,
    )


def _print_json(data: Any) -> None:
    """JSON on stdout, plain (no colour, no wrapping) whatever stdout is."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _location(loaded: cfg.LoadedConfig) -> str:
    return loaded.config.monitor.location or socket.gethostname()
