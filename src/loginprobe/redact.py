"""Keeping secrets out of everything loginprobe writes.

Three layers:
- URLs lose userinfo, fragment, path segments shaped like tokens, and the values of query
  parameters except a short list that only ever carries diagnostics (and a `next=` URL keeps its
  own query masked);
- `mask_unknown` masks what looks like a credential in text that came from a page (tokens.py);
- a Redactor knows the secret values of the loaded config and masks them in every form they take
  (secretforms.py) in any text, as a structlog processor and before output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loginprobe.secretforms import secrets_pattern
from loginprobe.tokens import (
    MASK,
    SAFE_QUERY_KEYS,
    URL_VALUED_KEYS,
    mask_credential_values,
    mask_query_values,
    mask_token_runs,
    token_shaped,
)

__all__ = ["MASK", "SAFE_QUERY_KEYS", "Redactor", "mask_unknown", "redact_url"]


def _safe_value(key: str, value: str) -> str:
    if key in URL_VALUED_KEYS and ("?" in value or "/" in value):
        return redact_url(value)
    return mask_token_runs(mask_credential_values(value))


def redact_url(url: str) -> str:
    """The URL without userinfo, fragment, token-shaped path segments, or the values of query
    parameters that may be secret."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed host or port
        return "<unparseable url>"
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc = f"{netloc}:{port}"
    path = "/".join(MASK if token_shaped(seg) else seg for seg in parts.path.split("/"))
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode(
            [(k, _safe_value(k, v) if k in SAFE_QUERY_KEYS else MASK) for k, v in pairs],
            safe="*/:",
        )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


_URL_IN_TEXT = re.compile(r"(?i)\b(?:https?|wss?)://[^\s\"'<>|\\]+")
_TRAILING = ".,;:!?)]}"


def _url_in_text(m: re.Match[str]) -> str:
    url = m.group(0)
    tail = len(url) - len(url.rstrip(_TRAILING))
    core, rest = (url[:-tail], url[-tail:]) if tail else (url, "")
    return redact_url(core) + rest


def mask_unknown(text: str) -> str:
    """Text from a page with whatever looks like a credential masked (tokens.py): URLs redacted,
    values after credential words, query values, JWTs and token-shaped runs."""
    text = _URL_IN_TEXT.sub(_url_in_text, text)
    text = mask_credential_values(text)
    text = mask_query_values(text)
    return mask_token_runs(text)


class Redactor:
    """Replaces known secret values, in every form they take, in text and nested JSON-like data.

    `tokens` are short one-time values (TOTP codes typed this probe): six digits also occur inside
    hashes and numbers, so they are masked only where they stand alone."""

    def __init__(self, secrets: Iterable[str] = (), tokens: Iterable[str] = ()) -> None:
        # Very short values would mask ordinary words; the config refuses secrets that short.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}))
        self._tokens = tuple(sorted({t for t in tokens if t}))
        self._pattern = secrets_pattern(self._secrets)
        alone = "|".join(re.escape(t) for t in self._tokens)
        self._token_pattern = (
            re.compile(rf"(?<![0-9A-Za-z])(?:{alone})(?![0-9A-Za-z])") if alone else None
        )

    def extend(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *secrets], self._tokens)

    def with_tokens(self, tokens: Iterable[str]) -> Redactor:
        return Redactor(self._secrets, [*self._tokens, *tokens])

    def text(self, value: str) -> str:
        if self._pattern is not None:
            value = self._pattern.sub(MASK, value)
        if self._token_pattern is not None:
            value = self._token_pattern.sub(MASK, value)
        return value

    def found(self, value: str) -> bool:
        """Whether a known secret (or a one-time token) is anywhere in the text."""
        return bool(
            (self._pattern is not None and self._pattern.search(value))
            or (self._token_pattern is not None and self._token_pattern.search(value))
        )

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        """structlog processor: scrub every value of the event."""
        return {
            k: self.data(v) if not isinstance(v, BaseException) else self.text(repr(v))
            for k, v in event.items()
        }
