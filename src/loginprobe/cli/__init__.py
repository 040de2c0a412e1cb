"""The `probe` command. Each module registers its commands on the app as it is imported, so the
order below is the order `probe --help` lists them in."""

# ruff: noqa: I001
import gc

# Importing the command's libraries (SQLAlchemy, pydantic and the config's models, typer, rich)
# makes ~100,000 objects the collector tracks and almost no garbage, yet the collector walks them
# again and again while they are made: ~0.1 s of CPU, a tenth of `probe list`. It is off while
# they are imported, and what they made is frozen (never walked again); it is back on at once for
# what the command itself makes, `probe serve` included.
_collecting = gc.isenabled()
gc.disable()
try:
    from loginprobe.cli.app import app
    from loginprobe.cli import config_cmds, run, serve, alert, store_views, report, silence_cmds

    gc.freeze()
finally:
    if _collecting:
        gc.enable()


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
