"""What a credential nobody told us about looks like, in text from a page.

The secrets loginprobe knows (the test password, the client secret) are found in every form by
secretforms.py. A page also carries credentials of its own: session tokens, CSRF tokens, OAuth
codes, CAS tickets, SAML artifacts, JWTs. They are recognised by their shape and their place:

- a long run of base64, base64url or hex characters that is not made of words;
- a JWT;
- the value after a credential word (`token`, `ticket`, `code`, `secret`, `sid`, `session`,
  `password`, `nonce`, ... in any case or spelling: `"session_token": "…"`, `accessToken = …`,
  `id_token : …`, `auth_code=…`), unless it is an error code or a number;
- the value of any query parameter outside a short list of diagnostics, also inside another URL's
  percent-encoded query (`next=/x%3Fcode%3D…`);
- `Bearer …` and `Basic …` credentials.

Pure: strings in, strings out, each value replaced by MASK.
"""

from __future__ import annotations

import base64
import binascii
import re

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
        "response_mode",
        "scope",
        "prompt",
        "next",
    }
)
# Safe keys whose value is itself a URL, with a query of its own to mask.
URL_VALUED_KEYS = frozenset({"next", "redirect_uri", "error_uri"})

_WORDS = (
    r"token|ticket|code|secret|sid|session|passw(?:or)?d|pwd|otp|nonce|assertion|samlart"
    r"|saml(?:response|request)|relaystate|[cx]srf|credential|api_?key|jwt|cookie"
)
_CREDENTIAL_VALUE = re.compile(
    rf"(?i)(?P<key>[\w.-]*(?:{_WORDS})[\w.-]*)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'<>&,;|(){}\[\]]+)"
)
# Values after a credential word that say what went wrong, not who someone is.
_HARMLESS_VALUE = re.compile(
    r"(?i)\*\*\*|\d{1,3}|AADSTS\d+|[a-z]+(?:_[a-z]+)+|true|false|null|none|undefined"
)
_QUERY_VALUE = re.compile(
    r"(?P<pre>^|[?&;#\s\"'(/])(?P<key>[A-Za-z_][\w.\-\[\]]*)=(?P<value>[^&#;\s\"'<>|]+)"
)
# The same inside a URL that rides in another's query, percent-encoded (once or twice).
_ENCODED_QUERY_VALUE = re.compile(
    r"(?i)(?P<pre>%(?:25)?(?:3F|26|23|3B))(?P<key>[\w.\-]+)(?P<eq>=|%(?:25)?3D)"
    r"(?P<value>(?:(?!%(?:25)?(?:26|23|3B))[^&#;\s\"'<>|])+)"
)
_BEARER = re.compile(r"(?i)\b(?P<kind>bearer|basic)(?P<sp>\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_RUN = re.compile(r"(?<![A-Za-z0-9+/=_~-])[A-Za-z0-9+/=_~-]{16,}(?![A-Za-z0-9+/=_~-])")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _token_part(part: str) -> bool:
    digits = sum(c.isdigit() for c in part)
    upper = sum(c.isupper() for c in part)
    lower = sum(c.islower() for c in part)
    if _HEX.fullmatch(part) or (digits and not upper + lower):
        # Hex: a 12-digit group of a UUID (an id worth quoting) is not a secret; 16 and more is.
        return len(part) >= 16 and bool(digits) and bool(upper + lower)
    if len(part) >= 12 and digits and upper + lower:
        return True
    return len(part) >= 20 and upper >= 3 and lower >= 3


def token_shaped(piece: str) -> bool:
    """A run of 16 or more base64/hex characters that is not words joined by `-` or `_`
    (`client_secret_expired`, `spawn-pending-alice2024`, a UUID are words; a session id is not)."""
    if len(piece) < 16:
        return False
    if ("+" in piece or piece.endswith("=")) and len(piece) >= 20:
        return True  # standard base64
    return any(_token_part(p) for p in re.split(r"[-_~=]", piece))


def _mask_run(m: re.Match[str]) -> str:
    run = m.group(0)
    if token_shaped(run.replace("/", "")) and ("+" in run or run.endswith("=")):
        return MASK
    return "/".join(MASK if token_shaped(p) else p for p in run.split("/"))


def mask_token_runs(text: str) -> str:
    """JWTs and other token-shaped runs."""
    return _RUN.sub(_mask_run, _JWT.sub(MASK, text))


def _mask_credential(m: re.Match[str]) -> str:
    if _HARMLESS_VALUE.fullmatch(m.group("value")):
        return m.group(0)
    return f"{m.group('key')}{m.group('sep')}{MASK}"


def mask_credential_values(text: str) -> str:
    """Values after credential words, and Bearer/Basic credentials."""
    text = _CREDENTIAL_VALUE.sub(_mask_credential, text)
    return _BEARER.sub(_mask_bearer, text)


def _mask_bearer(m: re.Match[str]) -> str:
    value = m.group("value")
    if m.group("kind").lower() == "basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return m.group(0)
        if b":" not in decoded:
            return m.group(0)  # prose ("Basic authentication"), not user:password
    return f"{m.group('kind')}{m.group('sp')}{MASK}"


def _query(m: re.Match[str]) -> str:
    # A safe key's value stays; a URL in it (`next=/x%3Fcode%3D…`) has its own query masked by
    # the percent-encoded rule.
    if m.group("value") == MASK or m.group("key").lower() in SAFE_QUERY_KEYS:
        return m.group(0)
    return m.group(0)[: m.start("value") - m.start(0)] + MASK


def mask_query_values(text: str) -> str:
    """Query values (plain, and percent-encoded inside another URL) outside SAFE_QUERY_KEYS."""
    text = _QUERY_VALUE.sub(_query, text)
    return _ENCODED_QUERY_VALUE.sub(_query, text)


_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_.-]+")


def looks_like_a_secret(value: str) -> bool:
    """A value given where a name belongs (a `*_env` key) that is probably the secret itself,
    pasted in by mistake: shaped like a token, mixing upper and lower case
    (`CorrectHorseBatteryStaple9`), or holding characters no variable name has. `H_PASS` and the
    typo `H-PASS` are names."""
    if token_shaped(value) or _NAME_CHARACTERS.fullmatch(value) is None:
        return True
    return any(c.isupper() for c in value) and any(c.islower() for c in value)
