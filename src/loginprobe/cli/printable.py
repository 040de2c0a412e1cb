"""What the CLI prints of values it did not write itself (a hub's or an IdP's words in a summary,
a URL or a path from the config): never read as rich markup, and with control characters written
out (`\\x1b`) instead of acting on the terminal (controlchars.py)."""

from __future__ import annotations

from rich.text import Text

from loginprobe.controlchars import show_controls


def shown(value: object, style: str = "") -> Text:
    return Text(show_controls(str(value)), style=style)
