"""Keeping secrets out of everything loginprobe writes.

Two layers: URLs lose their query values (OAuth `code`, `state`, tokens, PKCE challenges ride there)
except a short list that only ever carries diagnostics; and a Redactor knows the secret values of the
loaded config and scrubs them from any text, as a structlog processor and before output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Query parameters that carry diagnostics and never secrets: kept so evidence stays useful.
SAFE_QUERY_KEYS = frozenset(
    {
        "error",
        "error_description",
        "error_uri",
        "error_codes",
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "prompt",
        "next",
    }
)


def redact_url(url: str) -> str:
    """The URL without userinfo, fragment, or the values of query parameters that may be secret."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a malformed host or port
        return "<unparseable url>"
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc = f"{netloc}:{port}"
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(k, v if k in SAFE_QUERY_KEYS else MASK) for k, v in pairs], safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class Redactor:
    """Replaces known secret values in text and nested JSON-like data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole. Very short values
        # would mask ordinary words, and no real secret is that short.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def extend(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self._secrets, *secrets])

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

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
