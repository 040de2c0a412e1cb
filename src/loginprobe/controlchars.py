"""Characters that act on a terminal instead of being shown: escape sequences (clear the screen,
recolour a line, plant an OSC-8 link), carriage returns that overwrite a line, and the Unicode
controls that reorder what follows them.

Text from a hub's or an IdP's page is stripped of them where it is quoted (prober/gist.py); what
the CLI prints shows any that remain (older stored summaries, values from the config) as visible
escapes.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), and the bidi
# and direction marks that make a line read differently from what it holds.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_AND_NEWLINES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def strip_controls(text: str) -> str:
    """The text without control characters (tabs and newlines stay)."""
    return _CONTROLS.sub("", text)


def _visible(m: re.Match[str]) -> str:
    cp = ord(m.group(0))
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def show_controls(text: str, newlines: bool = True) -> str:
    """The text with every control character written out (`\\x1b`), so that printing it shows
    what it holds instead of acting on the terminal; `newlines=False` escapes those too."""
    return (_CONTROLS if newlines else _CONTROLS_AND_NEWLINES).sub(_visible, text)
