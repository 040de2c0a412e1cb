"""A store's URL as people may see it: never with its password, in an error, a log or an output.

The URL may carry a database password (`postgresql+psycopg://user:PASSWORD@host/db`); everything
that shows the URL or a driver's error about it goes through here.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url


def shown_url(url: str) -> str:
    """The store's URL as logs, errors and pages may show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _password(url: str) -> str | None:
    try:
        return make_url(url).password or None
    except Exception:
        return None


def url_secrets(url: str) -> list[str]:
    """The secret a store URL carries (its password), for the redactor of what a command
    prints and logs."""
    password = _password(url)
    return [password] if password else []


# What a driver puts before the reason: SQLAlchemy's "(psycopg.OperationalError) ", libpq's
# "connection failed: connection to server at "HOST", port N failed: " (the URL names both) and
# the server's "FATAL:  ".
_REASON_PREFIXES = re.compile(
    r"^(\([\w.]+\) )?(connection failed: )?"
    r"(connection to server (at|on) .*? failed: )?(FATAL: +)?"
)


def store_error_reason(err: BaseException, url: str = "") -> str:
    """The first line of a database error, without the driver's prefixes and without the URL's
    password (whole, or wherever the driver echoes it)."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    line = _REASON_PREFIXES.sub("", line) or line
    if url:
        line = line.replace(url, shown_url(url))
        password = _password(url)
        if password:
            line = line.replace(password, "***")
    return line
