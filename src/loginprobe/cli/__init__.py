"""The `probe` command."""

from loginprobe.cli.app import app, main

__all__ = ["app", "main"]
