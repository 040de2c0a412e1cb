"""Availability: the share of a window's time in which a hub could be logged in to.

Pure. A probe speaks for the time from its start until the next probe of the hub starts, at most
`COVER_S`: a longer gap (the monitor was down, the hub was not configured) is time without data and
counts neither way. What that time counts as follows the probe's verdict:

- `ok`: up;
- `probe_error`: the prober's own failure (our browser, our flow, our clock), never the hub's: not
  counted;
- silenced time (a silence an operator set, when the store has them): not counted;
- every other code: down (the test account could not log in).

availability = up / (up + down); None when the window holds no up or down time at all.

The store keeps these seconds per hub and hour (`hourly`), credited when the next probe is
written; the latest probe's own span is added at reading time (`open_span`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from loginprobe.model import Code
from loginprobe.prober.classify import SEVERITY

COVER_S = 900.0
HOUR_S = 3600

UP, DOWN, PROBER, SILENCED = "up", "down", "prober", "silenced"
KINDS = (UP, DOWN, PROBER, SILENCED)

# The windows `probe list`, /api/status and the hub page show, in seconds.
WINDOWS: dict[str, int] = {"24h": 24 * HOUR_S, "7d": 7 * 24 * HOUR_S, "30d": 30 * 24 * HOUR_S}

# A silence: (start, end) in Unix time during which a hub's verdicts do not count.
Span = tuple[float, float]


def kind(code: str) -> str:
    """What a verdict code's time counts as: UP, DOWN or PROBER."""
    if code == Code.OK:
        return UP
    if code == Code.PROBE_ERROR:
        return PROBER
    return DOWN


def rank(code: str | None) -> int:
    """How bad a code is, for "the worst verdict of an hour": no data 0, ok 1, probe_error 2,
    a warning (the test account, a changed login page) 3, an outage 4."""
    if not code:
        return 0
    if code == Code.OK:
        return 1
    if code == Code.PROBE_ERROR:
        return 2
    try:
        severity = SEVERITY.get(Code(code))
    except ValueError:
        return 4
    return 3 if severity is not None and severity.value == "warning" else 4


def _minus(start: float, end: float, silences: Iterable[Span]) -> list[Span]:
    """[start, end) with the silences cut out."""
    left = [(start, end)]
    for s_start, s_end in silences:
        cut: list[Span] = []
        for a, b in left:
            if s_end <= a or s_start >= b:
                cut.append((a, b))
                continue
            if a < s_start:
                cut.append((a, s_start))
            if s_end < b:
                cut.append((s_end, b))
        left = cut
    return left


def _by_hour(start: float, end: float) -> dict[int, float]:
    seconds: dict[int, float] = {}
    t = start
    while t < end:
        hour = int(t // HOUR_S)
        stop = min(end, (hour + 1) * HOUR_S)
        seconds[hour] = seconds.get(hour, 0.0) + (stop - t)
        t = stop
    return seconds


def credit(
    start: float,
    code: str,
    until: float,
    silences: Iterable[Span] = (),
    cover: float = COVER_S,
) -> dict[int, dict[str, float]]:
    """The seconds a probe that started at `start` with `code` speaks for, split by hour
    (Unix time // 3600) and kind: from `start` to `until` (the next probe's start), at most
    `cover`; silenced parts as SILENCED."""
    end = min(until, start + cover)
    out: dict[int, dict[str, float]] = {}
    if end <= start:
        return out
    silences = list(silences)
    counted = _minus(start, end, silences)
    what = kind(code)
    for a, b in counted:
        for hour, s in _by_hour(a, b).items():
            out.setdefault(hour, {})[what] = out.get(hour, {}).get(what, 0.0) + s
    total = {h: s for h, s in _by_hour(start, end).items()}
    for hour, s in total.items():
        rest = s - sum(out.get(hour, {}).values())
        if rest > 1e-9:
            out.setdefault(hour, {})[SILENCED] = rest
    return out


def open_span(
    start: float, code: str, now: float, silences: Iterable[Span] = (), cover: float = COVER_S
) -> dict[int, dict[str, float]]:
    """The latest probe's span, not yet credited in the store: up to now (at most `cover`)."""
    return credit(start, code, now, silences, cover)


@dataclass(frozen=True)
class Availability:
    """One hub's seconds over one window."""

    up_s: float = 0.0
    down_s: float = 0.0
    prober_s: float = 0.0
    silenced_s: float = 0.0
    window_s: float = 0.0

    @property
    def ratio(self) -> float | None:
        counted = self.up_s + self.down_s
        return self.up_s / counted if counted > 0 else None

    @property
    def no_data_s(self) -> float:
        return max(0.0, self.window_s - self.up_s - self.down_s - self.prober_s - self.silenced_s)

    def to_json(self) -> dict[str, float | None]:
        ratio = self.ratio
        return {
            "availability": None if ratio is None else round(ratio, 6),
            "up_s": round(self.up_s, 1),
            "down_s": round(self.down_s, 1),
            "probe_error_s": round(self.prober_s, 1),
            "silenced_s": round(self.silenced_s, 1),
            "no_data_s": round(self.no_data_s, 1),
            "window_s": self.window_s,
        }


def window_start_hour(now: float, window_s: float) -> int:
    """The first whole hour a window ending at `now` counts: windows are measured to the hour
    (the hour `now` is in counts as far as it has gone)."""
    return int((now - window_s) // HOUR_S) + 1


def summarize(
    hours: Mapping[int, Mapping[str, float]], now: float, window_s: float
) -> Availability:
    """A window's availability from seconds per hour and kind (the store's rollup plus the open
    span)."""
    first = window_start_hour(now, window_s)
    sums = dict.fromkeys(KINDS, 0.0)
    for hour, kinds in hours.items():
        if hour >= first:
            for k, s in kinds.items():
                sums[k] = sums.get(k, 0.0) + s
    span = now - first * HOUR_S
    return Availability(sums[UP], sums[DOWN], sums[PROBER], sums[SILENCED], span)


def combine(
    sums: Mapping[str, float],
    span: Mapping[int, Mapping[str, float]],
    now: float,
    window_s: float,
) -> Availability:
    """A window's availability from the store's sums over its hours (`sums`: seconds by kind) and
    the latest probe's open span (seconds per hour and kind)."""
    extra = summarize(span, now, window_s)
    return Availability(
        sums.get(UP, 0.0) + extra.up_s,
        sums.get(DOWN, 0.0) + extra.down_s,
        sums.get(PROBER, 0.0) + extra.prober_s,
        sums.get(SILENCED, 0.0) + extra.silenced_s,
        extra.window_s,
    )


def merge(*parts: Mapping[int, Mapping[str, float]]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for part in parts:
        for hour, kinds in part.items():
            row = out.setdefault(hour, {})
            for k, s in kinds.items():
                row[k] = row.get(k, 0.0) + s
    return out


def percent(ratio: float | None, digits: int = 2) -> str:
    """99.95%; 100% only when nothing at all was down; "—" without data."""
    if ratio is None:
        return "—"
    if ratio < 1.0:
        # Never round a down hub up to 100%.
        scale = 10**digits
        shown = min(int(ratio * 100 * scale) / scale, 100 - 1 / scale)
        return f"{shown:.{digits}f}%"
    return "100%"


def worst(codes: Sequence[str | None]) -> str | None:
    return max(codes, key=rank, default=None) if any(codes) else None
