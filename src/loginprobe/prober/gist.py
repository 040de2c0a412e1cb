"""Quoting a page: the one way text from a hub's or an IdP's page enters a verdict.

A verdict's summary and its steps' details go to the terminal, `--json`, the store, the logs and
PagerDuty. What a page says is kept only as far as it is known to be harmless: error codes and
short human messages stay; control characters go (they would act on a terminal); known secrets in
any form, and anything shaped like a credential (tokens.py), become `***`. Lines are joined with
` | ` and the whole is cut to `limit` characters.
"""

from __future__ import annotations

from loginprobe.controlchars import strip_controls
from loginprobe.redact import Redactor, mask_unknown

GIST_LIMIT = 240


def gist(text: str, redactor: Redactor | None = None, limit: int = GIST_LIMIT) -> str:
    # Known secrets first, while a secret split across lines is still where the page put it; the
    # shapes of credentials next, while a value is still on the line of its name.
    if redactor is not None:
        text = redactor.text(text)
    text = mask_unknown(strip_controls(text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return " | ".join(line for line in lines if line)[:limit]
