"""Searching outputs for secrets in every encoding a page or a library produces.

Written apart from the product's own matcher (loginprobe.secretforms), so that a test using it
checks the product instead of repeating it: each secret is encoded here the plain way libraries
do it — plain, percent-encoded (both forms, either case), HTML entities (named and numeric),
JSON-escaped (with `\\/` and `\\uXXXX`), base64 and base64url at each of the three alignments it
can have inside a longer encoded run — and searched for in any letter case (but base64) and with
line breaks, `<br>`, escaped newlines and ` | ` taken out of the text first (split across lines).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

# What may split a secret across lines, taken out of the text before searching.
_SPLITS = re.compile(r"\s+|\\[rnt]|<br\s*/?>|\|", re.IGNORECASE)


def text_forms(secret: str) -> dict[str, str]:
    """The encodings of a secret, searched for in any letter case."""
    return {
        "plain": secret,
        "percent-encoded": quote(secret, safe=""),
        "percent-encoded (+ for space)": quote_plus(secret),
        "percent-encoded (/ kept)": quote(secret),
        "HTML-escaped": html.escape(secret),
        "HTML-escaped (quotes kept)": html.escape(secret, quote=False),
        "HTML numeric entities": "".join(f"&#{ord(c)};" for c in secret),
        "HTML hex entities": "".join(f"&#x{ord(c):x};" for c in secret),
        "JSON-escaped": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON-escaped (\\uXXXX)": json.dumps(secret)[1:-1],
        "JSON-escaped (\\/)": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "JSON-escaped (all \\uXXXX)": "".join(f"\\u{ord(c):04x}" for c in secret),
    }


def base64_forms(secret: str) -> dict[str, str]:
    """The characters of base64 and base64url that only the secret determines, at each of the three
    alignments; searched for as they are (base64 has no letter case to ignore)."""
    out: dict[str, str] = {}
    for pad in range(3):
        data = b"\0" * pad + secret.encode()
        encoded = base64.b64encode(data).decode()
        core = encoded[(0, 2, 3)[pad] : len(data) // 3 * 4 + len(data) % 3]
        out[f"base64 (offset {pad})"] = core
        out[f"base64url (offset {pad})"] = core.replace("+", "-").replace("/", "_")
    return out


def found_in(text: str, secret: str) -> list[str]:
    """The forms of `secret` that are in `text`."""
    joined = _SPLITS.sub("", text)
    folded = joined.casefold()
    hits = [
        name
        for name, form in text_forms(secret).items()
        if _SPLITS.sub("", form).casefold() in folded
    ]
    hits += [name for name, form in base64_forms(secret).items() if form in joined]
    return hits


def expand(outputs: Mapping[str, bytes | str]) -> dict[str, str]:
    """Every output as text, and every member of every zip in them (a trace.zip) besides."""
    out: dict[str, str] = {}
    for where, content in outputs.items():
        data = content.encode() if isinstance(content, str) else content
        out[where] = data.decode("utf-8", errors="replace")
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    out[f"{where}!{name}"] = z.read(name).decode("utf-8", errors="replace")
    return out


def leaks(outputs: Mapping[str, bytes | str], secrets: Mapping[str, str]) -> list[str]:
    """One line per secret found: which secret, in which form, where."""
    return [
        f"{label} ({form}) in {where}"
        for where, text in expand(outputs).items()
        for label, secret in secrets.items()
        for form in found_in(text, secret)
    ]


def assert_no_leaks(outputs: Mapping[str, bytes | str], secrets: Mapping[str, str]) -> None:
    found = leaks(outputs, secrets)
    assert not found, "secrets leaked:\n" + "\n".join(found[:20])


def named(values: Iterable[str], prefix: str = "secret") -> dict[str, str]:
    return {f"{prefix} {i + 1}": v for i, v in enumerate(values)}
