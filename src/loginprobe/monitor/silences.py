"""Silences: a hub (or a group's IdP, `idp:GROUP`) whose outages page nobody for a while — a deploy
(`probe silence HUB --for 30m`) or a weekly maintenance window (`maintenance = ["Sun 02:00-03:00
UTC"]` in the hub's config).

Pure. A silence holds triggers back, never resolves: probes go on, verdicts are recorded, and an
incident already open stays open. When the silence ends with the hub still failing, its next probe
pages, saying since when (pipeline.py, the holding of triggers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"(?i)\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})"
    r"(?:\s+utc)?\s*"
)
IDP_PREFIX = "idp:"


@dataclass(frozen=True)
class WeeklyWindow:
    """A window every week, in UTC: starts on `weekday` (0 = Monday) at `start` minutes after
    midnight and lasts `length` minutes (an end before the start crosses midnight)."""

    weekday: int
    start: int
    length: int

    def end_if_inside(self, now: datetime) -> datetime | None:
        """The window's end if `now` is inside it, else None."""
        week_start = (now - timedelta(days=now.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        for weeks_back in (0, 1):  # a window late on Sunday may run into Monday
            begins = week_start + timedelta(days=self.weekday - 7 * weeks_back, minutes=self.start)
            ends = begins + timedelta(minutes=self.length)
            if begins <= now < ends:
                return ends
        return None


def parse_window(text: str) -> WeeklyWindow:
    """'Sun 02:00-03:00 UTC' -> WeeklyWindow; ValueError naming what is wrong."""
    m = _WINDOW.fullmatch(text)
    if m is None:
        raise ValueError(
            f'invalid maintenance window {text!r} (use e.g. "Sun 02:00-03:00 UTC"; times in UTC)'
        )
    day, h1, m1, h2, m2 = m.groups()
    if int(h1) > 23 or int(h2) > 24 or int(m1) > 59 or int(m2) > 59:
        raise ValueError(f"invalid time of day in maintenance window {text!r}")
    start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
    if start == end:
        raise ValueError(f"maintenance window {text!r} is empty")
    length = end - start if end > start else end + 24 * 60 - start
    return WeeklyWindow(DAYS.index(day.lower()), start, length)


@dataclass(frozen=True)
class Silence:
    """One stored silence: `target` is a hub's name or `idp:<group>`."""

    target: str
    starts: float  # Unix time
    until: float
    reason: str
    created_by: str = ""
    id: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "target": self.target,
            "starts": _iso(self.starts),
            "until": _iso(self.until),
            "reason": self.reason,
            "created_by": self.created_by,
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def active(
    silences: Iterable[Silence],
    maintenance: Mapping[str, Iterable[WeeklyWindow]],
    now: float,
) -> dict[str, float]:
    """Target (hub, or `idp:<group>`) -> when its silence ends, for every silence in force at
    `now` (the latest end where several overlap)."""
    out: dict[str, float] = {}
    for s in silences:
        if s.starts <= now < s.until:
            out[s.target] = max(out.get(s.target, 0.0), s.until)
    at = datetime.fromtimestamp(now, UTC)
    for hub, windows in maintenance.items():
        for w in windows:
            end = w.end_if_inside(at)
            if end is not None:
                out[hub] = max(out.get(hub, 0.0), end.timestamp())
    return out


def silenced_until(
    silenced: Mapping[str, float], hub: str, group: str | None, idp_side: bool
) -> float | None:
    """When the silence covering a page about `hub` ends, or None: the hub's own silence covers all
    its login pages; its group's (`idp:<group>`) covers the IdP-side ones."""
    ends = [silenced[hub]] if hub in silenced else []
    if idp_side and group is not None and IDP_PREFIX + group in silenced:
        ends.append(silenced[IDP_PREFIX + group])
    return max(ends) if ends else None


def parse_until(text: str, now: float) -> float:
    """`--until`: an ISO 8601 time (UTC unless it names its zone) or "HH:MM" UTC (the next one to
    come); ValueError otherwise."""
    t = text.strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", t)
    if m:
        at = datetime.fromtimestamp(now, UTC).replace(
            hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0
        )
        if at.timestamp() <= now:
            at += timedelta(days=1)
        return at.timestamp()
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f'invalid time {text!r} (use "2026-12-01T14:30Z" or "14:30", in UTC)'
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
