"""Playwright trace files in miniature, for the scrubber's tests: a zip of members, and a member
as JSON lines of events."""

from __future__ import annotations

import io
import json
import zipfile


def trace_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def event_lines(*events: object) -> bytes:
    return ("\n".join(json.dumps(e) for e in events) + "\n").encode()
