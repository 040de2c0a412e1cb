"""Rewriting what the browser recorded so that no secret leaves the probe: text, HTML, trace zips.

Pure (bytes and strings in, bytes and strings out). A Playwright trace records what the script typed
(`fill` of the password), what the browser sent (the login form's POST body, cookies, Authorization
headers), every URL (OAuth `code` and `state` ride in the callback's query) and the DOM with the
values of input fields. So every member of the zip is rewritten:

- JSON lines (trace.trace, trace.network): typed text is masked whatever it was (a TOTP code is
  known to nobody but the browser), input values in DOM snapshots are masked, request bodies,
  cookies and Cookie / Set-Cookie / Authorization headers are dropped, and every string goes
  through `Scrubber.text`;
- text resources (HTML, JSON, CSS, JS, ...) go through `Scrubber.html`;
- request bodies saved as resources are left out; images are kept (a password field shows dots);
- last, any member that still holds a secret's bytes in any encoding is left out.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from loginprobe.redact import MASK, Redactor

# Query/form/fragment parameters whose values are credentials or one-time OAuth material.
SECRET_PARAMS = (
    "code",
    "state",
    "session_state",
    "id_token",
    "access_token",
    "refresh_token",
    "token",
    "code_verifier",
    "code_challenge",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "passwd",
    "otp",
    "totp",
    "nonce",
    "samlresponse",
    "relaystate",
    "_xsrf",
)
_PARAM = re.compile(
    r"(?i)((?:^|[?&;#\s\"'/])(?:" + "|".join(map(re.escape, SECRET_PARAMS)) + r")=)"
    r"(?!\*\*\*(?:[&#;\s\"'<>]|$))[^&#;\s\"'<>]+"
)
# The same inside a URL that rides in another's query, percent-encoded (GitHub's
# /login?return_to=%2Flogin%2Foauth%2Fauthorize%3F...%26state%3D..., a hub's ?next=...%3Fcode%3D...).
_PARAM_ENCODED = re.compile(
    r"(?i)((?:%3F|%26|%23|%3B)(?:" + "|".join(map(re.escape, SECRET_PARAMS)) + r")(?:=|%3D))"
    r"(?!\*\*\*)(?:(?!%26|%23|%3B)[^&#;\s\"'<>])+"
)
_JSON_FIELD = re.compile(
    r'(?i)("(?:access_token|id_token|refresh_token|client_secret|password|code|state)"\s*:\s*")'
    r'(?!\*\*\*")[^"]*(")'
)
_INPUT_TAG = re.compile(r"(?is)<input\b[^>]*>")
_VALUE_ATTR = re.compile(r"""(?is)(\bvalue\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)""")
_TYPE_ATTR = re.compile(r"""(?is)\btype\s*=\s*["']?([a-z]+)""")
# Inputs whose value is harmless to show (a checkbox's "on", a button's label).
_SHOWN_INPUT_TYPES = frozenset({"checkbox", "radio", "submit", "button", "reset", "image"})
# Methods of Playwright's protocol that type text into the page: their text is never kept.
TYPING_METHODS = frozenset(
    {"fill", "type", "pressSequentially", "insertText", "keyboardType", "keyboardInsertText"}
)
# Playwright's own log lines echo what was typed: `  fill("654321")` (a TOTP code nobody else knows).
_TYPED_LOG = re.compile(
    r'(\b(?:fill|type|pressSequentially|insertText|keyboardType|keyboardInsertText)\(\\?")'
    r'((?:[^"\\]|\\.)*)(\\?"\))'
)
DROP_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
IMAGE_SUFFIXES = (".png", ".jpeg", ".jpg", ".webp", ".gif", ".ico", ".avif", ".bmp")
FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".otf", ".eot")
_SNAPSHOT_VALUE = "__playwright_value_"


def secret_forms(secret: str) -> set[str]:
    """A secret as it may appear in a page, a URL, a form body or JSON."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
    }


@dataclass(frozen=True)
class Scrubber:
    """Knows the secret values of a probe and every form they take."""

    secrets: tuple[str, ...]
    # Short one-time values (TOTP codes typed this probe): six digits also occur inside hashes
    # and numbers, so they are masked, and looked for, only where they stand alone.
    tokens: tuple[str, ...] = ()
    _redactor: Redactor = field(init=False, repr=False, compare=False)
    _needles: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _token_text: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _token_bytes: re.Pattern[bytes] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        forms = {f for s in self.secrets for f in secret_forms(s)}
        object.__setattr__(self, "_redactor", Redactor(forms))
        needles = {f.encode() for f in forms if len(f) >= 4}
        object.__setattr__(self, "_needles", tuple(sorted(needles, key=len, reverse=True)))
        alone = "|".join(re.escape(t) for t in self.tokens if t)
        pattern = rf"(?<![0-9A-Za-z])(?:{alone})(?![0-9A-Za-z])" if alone else None
        object.__setattr__(self, "_token_text", re.compile(pattern) if pattern else None)
        object.__setattr__(self, "_token_bytes", re.compile(pattern.encode()) if pattern else None)

    @classmethod
    def of(cls, secrets: Iterable[str], tokens: Iterable[str] = ()) -> Scrubber:
        return cls(tuple(s for s in secrets if s), tuple(t for t in tokens if t))

    def text(self, value: str) -> str:
        value = _TYPED_LOG.sub(rf"\g<1>{MASK}\g<3>", value)
        value = self._redactor.text(value)
        if self._token_text is not None:
            value = self._token_text.sub(MASK, value)
        value = _PARAM.sub(rf"\g<1>{MASK}", value)
        value = _PARAM_ENCODED.sub(rf"\g<1>{MASK}", value)
        return _JSON_FIELD.sub(rf"\g<1>{MASK}\g<2>", value)

    def html(self, value: str) -> str:
        """Text, and the values of <input> fields (hidden ones carry CSRF tokens and OAuth state)."""
        return self.text(_INPUT_TAG.sub(_mask_input_tag, value))

    def leaks(self, data: bytes) -> bool:
        if self._token_bytes is not None and self._token_bytes.search(data):
            return True
        return any(n in data for n in self._needles)

    # -- Playwright trace events ------------------------------------------------------------------
    def event(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            if (
                len(value) > 1
                and isinstance(value[0], str)
                and value[0].upper() in ("INPUT", "TEXTAREA")
                and isinstance(value[1], dict)
                and str(value[1].get("type", "")).lower() not in _SHOWN_INPUT_TYPES
                and value[1].get("value")
            ):
                # A DOM snapshot's element: [tag, attributes, ...]. A hidden input's value
                # attribute carries OAuth code/state (form_post) or a CSRF token.
                value = [value[0], {**value[1], "value": MASK}, *value[2:]]
            if key == "headers":
                value = [
                    h
                    for h in value
                    if not (isinstance(h, dict) and str(h.get("name", "")).lower() in DROP_HEADERS)
                ]
            if key == "cookies":
                return []
            return [self.event(v) for v in value]
        if isinstance(value, dict):
            return self._event_dict(value)
        return value

    def _event_dict(self, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        typing = value.get("type") == "before" and value.get("method") in TYPING_METHODS
        for k, v in value.items():
            if k == "postData" and isinstance(v, dict):
                out[k] = {
                    "mimeType": self.text(str(v.get("mimeType", ""))),
                    "text": "",
                    "params": [],
                }
            elif k == "params" and typing and isinstance(v, dict):
                out[k] = {
                    pk: (MASK if pk in ("value", "text") else self.event(pv, pk))
                    for pk, pv in v.items()
                }
            elif (
                k == _SNAPSHOT_VALUE
                and str(value.get("type", "")).lower() not in _SHOWN_INPUT_TYPES
            ):
                out[k] = MASK if v else v
            else:
                out[k] = self.event(v, k)
        return out

    def json_lines(self, data: bytes) -> bytes:
        lines = []
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                lines.append(json.dumps(self.event(json.loads(line)), ensure_ascii=False))
            except ValueError:
                lines.append(self.text(line))
        return ("\n".join(lines) + "\n").encode()


def _mask_input_tag(match: re.Match[str]) -> str:
    tag = match.group(0)
    kind = _TYPE_ATTR.search(tag)
    if kind is not None and kind.group(1).lower() in _SHOWN_INPUT_TYPES:
        return tag
    return _VALUE_ATTR.sub(rf'\g<1>"{MASK}"', tag)


def post_body_files(network: bytes) -> set[str]:
    """The resources that hold request bodies (a login form's POST: the password)."""
    files: set[str] = set()
    for line in network.decode("utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        post = ((event.get("snapshot") or {}).get("request") or {}).get("postData") or {}
        for key in ("_file", "_sha1"):
            if isinstance(post.get(key), str):
                files.add(post[key] if "/" in post[key] else f"resources/{post[key]}")
    return files


@dataclass(frozen=True)
class ScrubReport:
    kept: tuple[str, ...]
    dropped: tuple[str, ...]  # left out: request bodies, and anything still holding a secret


def scrub_trace(raw: bytes, scrubber: Scrubber) -> tuple[bytes, ScrubReport]:
    """A Playwright trace zip, rewritten member by member; the new zip and what was left out."""
    out = io.BytesIO()
    kept: list[str] = []
    dropped: list[str] = []
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        names = src.namelist()
        bodies: set[str] = set()
        for name in names:
            if name.endswith(".network"):
                bodies |= post_body_files(src.read(name))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for name in names:
                if name in bodies:
                    dropped.append(name)
                    continue
                data = _scrub_member(name, src.read(name), scrubber)
                if scrubber.leaks(data):
                    dropped.append(name)
                    continue
                dst.writestr(name, data)
                kept.append(name)
    return out.getvalue(), ScrubReport(tuple(kept), tuple(dropped))


def _scrub_member(name: str, data: bytes, scrubber: Scrubber) -> bytes:
    lower = name.lower()
    if lower.endswith((".trace", ".network")):
        return scrubber.json_lines(data)
    if lower.endswith(IMAGE_SUFFIXES + FONT_SUFFIXES):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # binary: kept only if it holds no secret (checked by the caller)
    return scrubber.html(text).encode()
