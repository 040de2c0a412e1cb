"""The `probe` command. Each module registers its commands on the app as it is imported, so the
order below is the order `probe --help` lists them in."""

# ruff: noqa: I001
from loginprobe.cli.app import app
from loginprobe.cli import config_cmds, run, serve, alert, store_views, report, silence_cmds


def main() -> None:
    app()


__all__ = [
    "alert",
    "app",
    "config_cmds",
    "main",
    "report",
    "run",
    "serve",
    "silence_cmds",
    "store_views",
]
