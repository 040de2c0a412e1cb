"""Every form a known secret takes where it may be written down, and one pattern that finds them all.

A page, a library or a log line carries a secret in whatever encoding it likes. The pattern built
here finds a secret:

- plain, in any letter case (an error page that upper-cases what it echoes);
- percent-encoded (`%2F` or `%2f`, a space as `%20` or `+`), HTML entities (`&amp;`, `&#38;`,
  `&#x26;`), JSON escapes (`\\/`, `\\u0026`), mixed freely, one character at a time;
- base64 and base64url, at each of the three alignments it can have inside a longer encoded run
  (`user:password` in a Basic header, a JSON document encoded whole);
- split across lines: any whitespace, `<br>`, an escaped `\\n` or the ` | ` that joins a page's
  lines in a summary may stand between two of its characters.

Secrets shorter than MIN_SECRET_LEN are refused by the config: such a value also occurs in
ordinary text, where masking it would reveal it (`hub_***`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MIN_SECRET_LEN = 8

# What may stand between two characters of a secret that a page or a summary split across lines.
_BREAK = r"(?:\s|\\[rnt]|<br\s*/?>|\|)*"
_NAMED_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def _json_escape(codepoint: int) -> str:
    if codepoint < 0x10000:
        return f"\\u{codepoint:04x}"
    v = codepoint - 0x10000
    return f"\\u{0xD800 + (v >> 10):04x}\\u{0xDC00 + (v & 0x3FF):04x}"


def char_pattern(c: str) -> str:
    """One character in any of the encodings a page, a URL or JSON gives it."""
    cp = ord(c)
    forms = {
        re.escape(c),
        re.escape("".join(f"%{b:02x}" for b in c.encode())),
        f"&\\#0*{cp};",
        f"&\\#x0*{cp:x};",
        re.escape(_json_escape(cp)),
    }
    if c in _NAMED_ENTITIES:
        forms.add(re.escape(_NAMED_ENTITIES[c]))
    if c in '"\\/':
        forms.add(re.escape("\\" + c))
    if c == " ":
        forms.add(r"\+")
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def text_pattern(secret: str) -> str:
    return _BREAK.join(char_pattern(c) for c in secret)


def base64_cores(secret: str) -> set[str]:
    """The base64 and base64url characters that depend on the secret alone, at each alignment."""
    raw = secret.encode()
    cores: set[str] = set()
    for pad in range(3):
        data = b"\0" * pad + raw
        encoded = base64.b64encode(data).decode()
        # Leading characters that still carry bits of the padding, and trailing ones that would
        # carry bits of whatever follows the secret, are not the secret's.
        start = (0, 2, 3)[pad]
        end = len(data) // 3 * 4 + len(data) % 3
        core = encoded[start:end]
        if len(core) >= 4:
            cores.add(core)
            cores.add(core.translate(str.maketrans("+/", "-_")))
    return cores


def base64_pattern(secret: str) -> str:
    alts = [_BREAK.join(re.escape(ch) for ch in core) for core in base64_cores(secret)]
    return "(?-i:" + "|".join(sorted(alts, key=len, reverse=True)) + ")"


def secrets_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for every form of every secret; None when there is none to find."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not values:
        return None
    alts = [text_pattern(s) for s in values] + [base64_pattern(s) for s in values]
    # Every form starts with one of few characters: checking that first keeps the search fast
    # (a trace is megabytes, searched for several secrets).
    first = {"%", "&", "\\"}
    for s in values:
        first |= {s[0].lower(), s[0].upper(), *(core[0] for core in base64_cores(s))}
    starts = "[" + "".join(re.escape(c) for c in sorted(first)) + "]"
    return re.compile(f"(?={starts})(?:{'|'.join(alts)})", re.IGNORECASE)
